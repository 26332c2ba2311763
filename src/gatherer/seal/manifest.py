"""The manifest of a trading day, ``manifest/date=D.json``, and sealing.

A day's files live under ``<dir>/date=D/`` for each of ``DAY_DIRS``. The manifest lists every one of
them (path relative to the root, size, rows, seq range where the file has one, SHA-256); sealing
writes it and makes the files read-only (mode 0444; directories stay writable so a forced rebuild
can swap files in). ``verify_day`` reads every file again and names each that changed, went
missing or appeared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pyarrow.parquet as pq

from gatherer.capture import Block, scan_file
from gatherer.errors import GathererError

DAY_DIRS = ("parquet", "backfill", "quarantine", "gaps", "ledger", "quality", "masters", "journal")
"""Where a trading day's files are, each under ``<dir>/date=D/``."""
FORMAT = 1
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class Entry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One file of the day."""

    path: str
    """Relative to the storage root, with ``/``."""
    size: int
    sha256: str
    rows: int | None = None
    """Parquet rows, JSONL lines, or journal records; None for other files."""
    seq_min: int | None = None
    """The lowest journal ``seq`` the file holds (Parquet from its metadata, journal from its blocks)."""
    seq_max: int | None = None


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: int
    trading_day: str
    sealed_at: str
    """When the manifest was written (UTC, ISO 8601), by the sealing clock."""
    version: str
    """The gatherer version that wrote it."""
    files: list[Entry]


class Problem(msgspec.Struct, frozen=True):
    path: str
    what: str
    """``changed``, ``missing`` or ``appeared``."""
    detail: str = ""


def manifest_path(root: Path, day: dt.date) -> Path:
    return Path(root) / "manifest" / f"date={day.isoformat()}.json"


def day_files(root: Path, day: dt.date) -> Iterator[Path]:
    """Every regular file of the day, in a stable order (temporary files of a writer included)."""
    for name in DAY_DIRS:
        base = Path(root) / name / f"date={day.isoformat()}"
        if base.is_dir():
            yield from sorted(p for p in base.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _parquet_facts(path: Path) -> tuple[int | None, int | None, int | None]:
    try:
        meta = pq.read_metadata(path)
    except (OSError, ValueError):
        return None, None, None
    kv = meta.metadata or {}
    lo, hi = kv.get(b"gatherer.seq_min"), kv.get(b"gatherer.seq_max")
    return meta.num_rows, int(lo) if lo else None, int(hi) if hi else None


def _journal_facts(path: Path) -> tuple[int | None, int | None, int | None]:
    blocks = [b for b in scan_file(path, decode=False) if isinstance(b, Block)]
    if not blocks:
        return 0, None, None
    return sum(b.record_count for b in blocks), blocks[0].first_seq, blocks[-1].end_seq - 1


def describe(root: Path, path: Path) -> Entry:
    rel = path.relative_to(root).as_posix()
    rows: int | None = None
    lo: int | None = None
    hi: int | None = None
    if path.suffix == ".parquet":
        rows, lo, hi = _parquet_facts(path)
    elif path.suffix == ".jsonl":
        with open(path, "rb") as f:
            rows = sum(1 for _ in f)
    elif rel.startswith("journal/"):
        rows, lo, hi = _journal_facts(path)
    return Entry(rel, path.stat().st_size, _sha256(path), rows, lo, hi)


def build_manifest(root: Path, day: dt.date, *, now: dt.datetime, version: str) -> Manifest:
    files = [describe(root, p) for p in day_files(root, day)]
    return Manifest(FORMAT, day.isoformat(), now.isoformat(timespec="seconds"), version, files)


def read_manifest(root: Path, day: dt.date) -> Manifest:
    path = manifest_path(root, day)
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except FileNotFoundError:
        raise GathererError(
            f"{day} is not sealed: no {path}; `gatherer seal --date {day}` seals it"
        ) from None
    except msgspec.DecodeError as exc:
        raise GathererError(f"{path}: not a manifest ({exc}); seal the day again with --force") from None


def is_sealed(root: Path, day: dt.date) -> bool:
    return manifest_path(root, day).exists()


def _chmod_all(paths: list[Path], writable: bool) -> None:
    for p in paths:
        mode = p.stat().st_mode
        new = (mode | stat.S_IWUSR) if writable else (mode & ~0o222) | _READ_ONLY
        if new != mode:
            os.chmod(p, new)


def seal_day(root: Path, day: dt.date, *, now: dt.datetime, version: str) -> Manifest:
    """Write the day's manifest (replacing an earlier one) and make its files read-only."""
    manifest = build_manifest(root, day, now=now, version=version)
    if not manifest.files:
        raise GathererError(f"nothing to seal for {day} under {root}: no files under */date={day}/")
    path = manifest_path(root, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        os.chmod(path, path.stat().st_mode | stat.S_IWUSR)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(manifest), indent=1) + b"\n")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _chmod_all([Path(root) / e.path for e in manifest.files] + [path], writable=False)
    return manifest


def unseal_day(root: Path, day: dt.date) -> None:
    """Make a sealed day's files writable again and remove its manifest (before a forced rebuild)."""
    path = manifest_path(root, day)
    _chmod_all(list(day_files(root, day)), writable=True)
    if path.exists():
        os.chmod(path, path.stat().st_mode | stat.S_IWUSR)
        path.unlink()


def verify_day(root: Path, day: dt.date) -> tuple[Manifest, list[Problem]]:
    """Every file of the manifest read again; the files that changed, went missing or appeared."""
    manifest = read_manifest(root, day)
    problems: list[Problem] = []
    listed = {e.path: e for e in manifest.files}
    for e in manifest.files:
        p = Path(root) / e.path
        if not p.is_file():
            problems.append(Problem(e.path, "missing"))
            continue
        size = p.stat().st_size
        if size != e.size:
            problems.append(Problem(e.path, "changed", f"size {e.size:,} -> {size:,} bytes"))
        elif _sha256(p) != e.sha256:
            problems.append(Problem(e.path, "changed", "same size, different SHA-256"))
    for p in day_files(root, day):
        rel = p.relative_to(root).as_posix()
        if rel not in listed:
            problems.append(Problem(rel, "appeared", f"{p.stat().st_size:,} bytes"))
    return manifest, problems
