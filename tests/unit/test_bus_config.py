"""The `[bus]` table and the `gatherer sink` flags: defaults, and every bad value named with what to
write instead."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatherer.cli import main
from gatherer.config import parse_config
from gatherer.errors import ConfigError
from gatherer.sinks.bus import collector_id, split_subject, subject


def test_a_bus_table_with_a_url_takes_the_defaults() -> None:
    cfg = parse_config('[bus]\nurl = "nats://127.0.0.1:4222"\ncollector = "seoul_a"\n')
    assert cfg.bus is not None
    assert (cfg.bus.stream, cfg.bus.subject_prefix, cfg.bus.replicas, cfg.bus.batch_frames) == (
        "GATHERER", "gatherer", 1, 50,
    )  # fmt: skip
    assert collector_id(cfg.bus) == "seoul_a"
    assert parse_config("").bus is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('url = "http://127.0.0.1:4222"', "bus.url: 'http://127.0.0.1:4222' is not a nats:// or tls:// URL"),
        ('url = "nats://a:4222,ws://b"', "bus.url: 'ws://b'"),
        ('url = "nats://a:4222"\ncollector = "a.b"', "bus.collector: 'a.b'; expected letters, digits and _"),
        ('url = "nats://a:4222"\nreplicas = 2', "bus.replicas: 2; expected 1, 3 or 5"),
        ('url = "nats://a:4222"\nbatch_frames = 0', "bus.batch_frames: 0; expected a number above 0"),
        ('url = "nats://a:4222"\nsubject_prefix = "a..b"', "bus.subject_prefix: 'a..b'"),
        ('url = "nats://a:4222"\nstrem = "X"', "bus: Object contains unknown field `strem`"),
        ('collector = "x"', "bus: Object missing required field `url`"),
    ],
)
def test_bad_bus_values_name_their_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(f"[bus]\n{text}\n")
    assert expected in str(exc.value)


def test_a_bad_shard_is_named() -> None:
    with pytest.raises(ConfigError, match=r"run.shard: '3/2'; expected K/N"):
        parse_config('[run]\nshard = "3/2"\n')


def test_subjects_name_collector_and_worker() -> None:
    assert subject("gatherer", "a", "w00") == "gatherer.a.w00"
    assert split_subject("gatherer", "gatherer.a.w00") == ("a", "w00")
    assert split_subject("gatherer", "other.a.w00") is None
    assert split_subject("gatherer", "gatherer.a.w00.x") is None


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`main` sets up this process's logging; put back what pytest had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--bus", "http://127.0.0.1:4222"], "--bus: 'http://127.0.0.1:4222' is not a nats:// or tls:// URL"),
        (["--bus", "nats://127.0.0.1:4222", "--durable", "a.b"], "--durable 'a.b'"),
        (["--bus", "nats://127.0.0.1:4222", "--flush-s", "0"], "--flush-s 0.0: expected a number above 0"),
    ],
)
def test_sink_refuses_bad_flags_with_what_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], expected: str
) -> None:
    assert main(["sink", "--root", str(tmp_path), *flags]) == 2
    assert expected in capsys.readouterr().err.replace("\n", " ")
