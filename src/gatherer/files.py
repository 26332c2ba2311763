"""File-system helpers shared by the stages that write (capture, sinks, run)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (POSIX: the directory entry needs its own fsync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_jsonl(path: Path, lines: list[str]) -> int:
    """Append text lines (each ending in a newline) to ``path`` and fsync; returns how many.

    A line torn by a crash is closed with a newline before appending, so it spoils only itself.
    """
    if not lines:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab+") as fh:
        head = b""
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                head = b"\n"
        fh.write(head + "".join(lines).encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    return len(lines)
