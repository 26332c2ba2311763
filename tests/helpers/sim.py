"""The simulator as tests meet it: the app key they use, a config pointed at a running simulator,
and how the simulator starts a data frame."""

from __future__ import annotations

from pathlib import Path

from gatherer.config import Config, MarketConfig, StorageConfig, VenueConfig
from gatherer.sim.server import Simulator
from gatherer.venues.ls.auth import Credentials

CREDENTIALS = Credentials("e2e-appkey", "e2e-appsecret")


def sim_config(
    sim: Simulator, root: Path, markets: dict[str, MarketConfig], *, connections_per_key: int = 10
) -> Config:
    """The plan spreads registrations over every connection the key allows: a test about one
    connection asks for ``connections_per_key=1``."""
    return Config(
        venue=VenueConfig(
            rest_url=sim.rest_url,
            ws_url=sim.ws_url,
            connections_per_key=connections_per_key,
            registrations_per_connection=40,
            registrations_per_s=80,
            rest_rate_scale=20,
        ),
        storage=StorageConfig(root=str(root)),
        markets=markets,
    )


def head(tr_cd: str, tr_key: str) -> bytes:
    """How a data frame of (TR, key) starts, as the simulator writes it."""
    return f'{{"header":{{"tr_cd":"{tr_cd}","tr_key":"{tr_key}"}},'.encode()
