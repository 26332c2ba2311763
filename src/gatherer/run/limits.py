"""The venue limits a plan uses, and where each came from: the config, `gatherer probe-limits`'s
measurement (``run.probe``), or the conservative defaults (LS publishes none, LS_OPENAPI.md §2.7).

A measured value replaces a limit the config leaves at its default; a value the config sets wins.
A limit the probe could not pin down (``null`` in the file: "at least N") keeps the default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from gatherer.config import Config, VenueConfig
from gatherer.errors import ConfigError
from gatherer.run.probe import limits_path

LIMITS = ("connections_per_key", "registrations_per_connection", "registrations_per_s")
_DEFAULTS = VenueConfig()


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"venue limits file {path}: unreadable ({exc}); run `gatherer probe-limits` again"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"venue limits file {path}: not a JSON object; run `gatherer probe-limits` again")
    return data


def with_measured_limits(cfg: Config) -> tuple[Config, str]:
    """The config with measured limits applied, and one line saying where every limit came from."""
    explicit = cfg.venue.limits_file is not None
    path = Path(cfg.venue.limits_file) if cfg.venue.limits_file is not None else limits_path(cfg.storage.root)
    if explicit and not path.exists():
        raise ConfigError(
            f"venue.limits_file: {str(path)!r} does not exist; run `gatherer probe-limits --config …` first"
        )
    data = _read(path) if path.exists() else {}
    changes: dict[str, Any] = {}
    source: dict[str, str] = {}
    for name in LIMITS:
        value, default = getattr(cfg.venue, name), getattr(_DEFAULTS, name)
        measured = data.get(name)
        if value != default:
            source[name] = "the config"
        elif isinstance(measured, int | float) and not isinstance(measured, bool) and measured > 0:
            changes[name] = type(default)(measured)
            source[name] = "measured"
        else:
            source[name] = "default"
    venue = msgspec.structs.replace(cfg.venue, **changes)
    out: Config = msgspec.structs.replace(cfg, venue=venue)
    v = out.venue
    parts = [
        f"{v.connections_per_key} connections ({source['connections_per_key']})",
        f"{v.registrations_per_connection} registrations each ({source['registrations_per_connection']})",
        f"{v.registrations_per_s:g} registrations/s ({source['registrations_per_s']})",
    ]
    line = "venue limits per app key: " + ", ".join(parts)
    if "measured" in source.values():
        line += f"; measured by `gatherer probe-limits` at {data.get('measured_at', '?')} ({path})"
    if "default" in source.values():
        line += "; defaults are conservative (LS publishes no limits): `gatherer probe-limits` measures yours"
    return out, line
