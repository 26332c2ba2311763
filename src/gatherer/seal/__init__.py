"""seal: a finished trading day's manifest (every file with its size, rows, seq range and SHA-256),
the files made read-only, and the check that nothing changed since (docs/formats.md, "Manifest")."""

from gatherer.seal.manifest import (
    DAY_DIRS,
    Entry,
    Manifest,
    Problem,
    build_manifest,
    day_files,
    describe,
    is_sealed,
    manifest_path,
    read_manifest,
    seal_day,
    unseal_day,
    verify_day,
)

__all__ = [
    "DAY_DIRS",
    "Entry",
    "Manifest",
    "Problem",
    "build_manifest",
    "day_files",
    "describe",
    "is_sealed",
    "manifest_path",
    "read_manifest",
    "seal_day",
    "unseal_day",
    "verify_day",
]
