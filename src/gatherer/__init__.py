"""gatherer: a complete, typed tick archive of the Korean market from the LS Securities Open API."""

__version__ = "0.1.0"
