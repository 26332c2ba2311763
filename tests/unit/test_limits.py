"""``run.limits``: measured limits replace the defaults a config leaves, never a value it sets; a
limit the probe could not pin down keeps its default; the line says where each came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatherer.config import parse_config
from gatherer.errors import ConfigError
from gatherer.run.limits import with_measured_limits


def _write(root: Path, **limits: object) -> None:
    (root / "state").mkdir(parents=True)
    data = {"measured_at": "2026-11-25T20:00:31+09:00", "ws_url": "ws://x", **limits}
    (root / "state" / "venue-limits.json").write_text(json.dumps(data))


def test_measured_replace_defaults_and_the_config_wins(tmp_path: Path) -> None:
    _write(tmp_path, connections_per_key=5, registrations_per_connection=40, registrations_per_s=None)
    cfg = parse_config(f'[venue]\nregistrations_per_connection = 100\n[storage]\nroot = "{tmp_path}"\n')
    out, line = with_measured_limits(cfg)
    assert (out.venue.connections_per_key, out.venue.registrations_per_connection) == (5, 100)
    assert out.venue.registrations_per_s == 20.0  # not pinned down: the default
    assert line.startswith(
        "venue limits per app key: 5 connections (measured), 100 registrations each (the config),"
        " 20 registrations/s (default); measured by `gatherer probe-limits` at 2026-11-25T20:00:31+09:00"
    )


def test_without_a_measurement_the_defaults_say_so(tmp_path: Path) -> None:
    cfg = parse_config(f'[storage]\nroot = "{tmp_path}"\n')
    out, line = with_measured_limits(cfg)
    assert out == cfg
    assert "3 connections (default)" in line and "gatherer probe-limits` measures yours" in line


def test_a_named_limits_file_must_exist(tmp_path: Path) -> None:
    cfg = parse_config(f'[venue]\nlimits_file = "{tmp_path / "nope.json"}"\n')
    with pytest.raises(ConfigError, match=r"venue\.limits_file: .* does not exist; run `gatherer probe"):
        with_measured_limits(cfg)
