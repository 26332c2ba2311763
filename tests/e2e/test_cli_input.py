"""Bad input gets one clear line and a non-zero exit; the flags people type where they type them work.

Each case runs the installed `gatherer` command as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from gatherer.clock import SystemClock, trading_day_of

GATHERER = str(Path(sys.executable).parent / "gatherer")


def gatherer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATHERER_")} | {"COLUMNS": "80"}
    return subprocess.run(
        [GATHERER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: nothing listens there


def test_journal_verify_of_a_missing_path_fails_naming_it(tmp_path: Path) -> None:
    line = one_error_line(gatherer("journal", "verify", "data/journal/date=2030-01-02", cwd=tmp_path))
    assert "data/journal/date=2030-01-02: no such file or directory" in line


def test_an_unknown_fault_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    result = gatherer("fault", "explode", "--url", "http://127.0.0.1:1", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice: 'explode'" in result.stderr
    assert "expire-token" in result.stderr


def test_an_unreachable_simulator_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    line = one_error_line(gatherer("fault", "drop", "--url", url, cwd=tmp_path))
    assert f"cannot reach a simulator at {url}" in line


def test_an_unreachable_venue_in_the_config_is_one_line(tmp_path: Path) -> None:
    port = closed_port()
    (tmp_path / "g.toml").write_text(
        f'[venue]\nrest_url = "http://127.0.0.1:{port}"\nws_url = "ws://127.0.0.1:{port}/websocket"\n'
        '[storage]\nroot = "d"\n[markets.kospi]\nmax_symbols = 1\n'
    )
    result = subprocess.run(
        [GATHERER, "symbols", "--market", "kospi", "--config", "g.toml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "GATHERER_LS_APPKEY": "k", "GATHERER_LS_APPSECRET": "s", "COLUMNS": "80"},
    )  # fmt: skip
    assert f"cannot reach http://127.0.0.1:{port}" in one_error_line(result)


def test_date_today_and_yesterday_are_trading_days(tmp_path: Path) -> None:
    today = trading_day_of(SystemClock().time_ns())
    for word, day in (("today", today), ("yesterday", today.fromordinal(today.toordinal() - 1))):
        line = one_error_line(gatherer("report", "--date", word, "--root", "d", cwd=tmp_path))
        assert f"no journal for {day}" in line, line
    assert "expected YYYY-MM-DD, today or yesterday" in one_error_line(
        gatherer("report", "--date", "tomorrow", cwd=tmp_path)
    )


def test_config_check_takes_the_path_as_its_usage_says_and_as_a_flag(tmp_path: Path) -> None:
    (tmp_path / "g.toml").write_text('[storage]\nroot = "elsewhere"\n')
    for args in (["g.toml"], ["--config", "g.toml"]):
        result = gatherer("config", "check", *args, cwd=tmp_path)
        assert result.returncode == 0 and '"root": "elsewhere"' in result.stdout, result.stderr
    assert "usage: gatherer config check" in gatherer("config", "check", "--help", cwd=tmp_path).stdout
    assert "give the config file" in one_error_line(gatherer("config", "check", cwd=tmp_path))


def test_internal_commands_are_hidden_and_verbosity_goes_after_the_command_too(tmp_path: Path) -> None:
    help_text = gatherer("--help", cwd=tmp_path).stdout
    assert "_worker" not in help_text and "_store" not in help_text and "demo" in help_text
    (tmp_path / "g.toml").write_text("")
    result = gatherer("config", "check", "g.toml", "-v", "--log-file", "run.log", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run.log").exists()
