"""gatherer: a complete, typed tick archive of the Korean market from the LS Securities Open API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gatherer.reader import read

__all__ = ["__version__", "read"]


def __getattr__(name: str) -> Any:
    # ``gatherer.read`` loads pyarrow.dataset on first use, so processes that never read
    # (workers, the simulator) do not pay for it at ``import gatherer``.
    if name == "read":
        from gatherer.reader import read

        return read
    raise AttributeError(f"module 'gatherer' has no attribute {name!r}")
