"""The simulator's market model: books, tapes and the frames LS would send (see ``model``)."""

from gatherer.sim.market.model import MarketModel

__all__ = ["MarketModel"]
