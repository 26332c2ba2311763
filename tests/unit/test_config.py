"""Config decoding and validation: every problem is named by its path."""

from __future__ import annotations

import datetime as dt

import pytest

from gatherer.config import Config, effective, load_config, parse_config
from gatherer.errors import ConfigError


def test_defaults_point_at_ls_and_all_channels() -> None:
    cfg = parse_config('[markets.kospi]\nsymbols = "all"\n')
    assert cfg.venue.rest_url == "https://openapi.ls-sec.co.kr:8080"
    assert cfg.venue.ws_url == "wss://openapi.ls-sec.co.kr:9443/websocket"
    assert cfg.channels_of("kospi") == ["book", "trade", "broker"]
    assert cfg.markets["kospi"].cutoff is None and cfg.cutoffs() == {}  # the exchange's own rule
    assert cfg.markets["kospi"].cutoff_time("kospi") == dt.time(0, 0)  # KRX: the KST calendar date
    assert cfg.markets["kospi"].sessions == ["day"]
    assert effective(cfg)["markets"]["kospi"]["channels"] == ["book", "trade", "broker"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[venue]\nrest_ur = 'x'\n", "venue"),
        ("[venue]\nrest_url = 'ftp://x'\n", "venue.rest_url"),
        ("[markets.kospii]\n", "markets.kospii: unknown market"),
        ("[markets.kospi]\nchannels = ['book', 'tape']\n", "markets.kospi.channels: ['tape']"),
        ("[markets.kfutures]\nchannels = ['broker']\n", "markets.kfutures.channels"),
        ("[markets.kospi]\nsymbols = 'some'\n", "markets.kospi.symbols"),
        ("[markets.kospi]\nsymbols = 5\n", "markets.kospi.symbols"),
        ("[markets.kospi]\ncutoff = '7:30'\n", "markets.kospi.cutoff"),
        ("[markets.kospi\n", "not valid TOML"),
        ("[venue]\nreconnect_stagger_s = 0\n", "venue.reconnect_stagger_s: 0"),
        ("[backfill]\ninterval_s = -1\n", "backfill.interval_s: -1"),
        ("[backfill]\nmax_pages = 0\n", "backfill.max_pages: 0"),
        ("[backfill]\nenable = true\n", "backfill"),
    ],
)
def test_bad_values_name_their_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.toml")
    assert expected in str(info.value)
    assert str(info.value).startswith("test.toml")


def test_all_problems_are_listed_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[markets.kospi]\ncutoff = 'x'\n[markets.nope]\n")
    assert "markets.kospi.cutoff" in str(info.value) and "markets.nope" in str(info.value)


def test_missing_file_says_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="does not exist; pass --config"):
        load_config(tmp_path / "nope.toml")


def test_empty_file_is_a_valid_default_config() -> None:
    assert parse_config("") == Config()


def test_several_app_keys_come_from_numbered_variables() -> None:
    from gatherer.venues.ls.auth import credentials_list_from_env

    env = {
        "GATHERER_LS_APPKEY": "k1",
        "GATHERER_LS_APPSECRET": "s1",
        "GATHERER_LS_APPKEY_2": "k2",
        "GATHERER_LS_APPSECRET_2": "s2",
        "GATHERER_LS_APPKEY_4": "ignored after a gap",
    }
    creds = credentials_list_from_env(env)
    assert [(c.appkey, c.appsecret) for c in creds] == [("k1", "s1"), ("k2", "s2")]
    env["GATHERER_LS_APPKEY_3"] = "k3-without-secret"
    with pytest.raises(ConfigError, match="GATHERER_LS_APPSECRET_3 is empty or unset") as info:
        credentials_list_from_env(env)
    assert "k3-without-secret" not in str(info.value)
