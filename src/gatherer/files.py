"""File-system helpers shared by the stages that write (capture, sinks, run)."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (POSIX: the directory entry needs its own fsync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old file or the new one, never part:
    written under ``<name>.tmp``, fsync'd, renamed over ``path``, the folder fsync'd."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


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


def rewrite_jsonl(path: Path, keep: Callable[[dict[str, Any]], bool]) -> int:
    """Keep only the JSON lines of ``path`` that ``keep`` accepts (a torn or unreadable line is
    dropped); rewritten through a temporary file and a rename. Returns how many lines went."""
    kept: list[str] = []
    dropped = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
            ok = isinstance(data, dict) and keep(data)
        except (ValueError, KeyError, TypeError):
            ok = False
        if ok:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(f"{k}\n" for k in kept), encoding="utf-8")
        os.replace(tmp, path)
    return dropped


def write_parquet_atomic(table: pa.Table, final: Path) -> None:
    """Write ``table`` as zstd Parquet under a hidden temporary name, fsync, rename, fsync the folder."""
    import pyarrow.parquet as pq

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def swap_in_dir(new: Path, final: Path) -> None:
    """Make the directory ``new`` (which may not exist: an empty one) the content of ``final``, in one
    rename where the platform can (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames,
    during which ``final`` is briefly absent but never half-written). After an exchange ``new``
    holds the old content: the caller removes it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if not new.exists():
        new.parent.mkdir(parents=True, exist_ok=True)
        new.mkdir()
    if final.exists():
        if not _exchange(new, final):
            os.rename(final, new.with_name(new.name + ".old"))
            os.rename(new, final)
        # after an exchange ``new`` holds the old day; the staging cleanup removes it
    else:
        os.rename(new, final)
    fsync_dir(final.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported here."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))
