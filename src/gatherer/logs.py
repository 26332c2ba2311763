"""Logging for every gatherer process: one format, the process named on every line, context shown.

``configure`` is called once per process by the command line. Every line says which process wrote
it (``supervisor``, ``w00``, ``w00/store``, ``sim``), its level and logger, the message, and the
context the caller passed in ``extra=`` (connection id, TR, reason, file, ...) as ``key=value``
pairs: those fields were printed nowhere before, and they are what makes a line usable.

Progress messages meant for the person at the terminal (``gatherer run``'s "fetching the kospi
master", "recording; stop with Ctrl-C") go to the ``gatherer.progress`` logger at INFO, whatever
the verbosity: the terminal shows them as plain sentences, a ``--log-file`` keeps them with a
timestamp like every other line.

``--log-file PATH`` appends to PATH (all processes of a run write to it) through a
``WatchedFileHandler``: when logrotate moves the file away, the next line reopens PATH, so no signal
is needed (SIGHUP stops a run, as a closing terminal should).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import TextIO

PROGRESS = "gatherer.progress"
"""The logger of messages for the person at the terminal."""

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime", "process_name"}
)


def _context(record: logging.LogRecord) -> str:
    fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
    return " ".join(f"{k}={_value(v)}" for k, v in fields.items())


def _value(v: object) -> str:
    text = str(v)
    return repr(text) if (" " in text or not text) else text


class _ProcessName(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = self._name
        return True


class LineFormatter(logging.Formatter):
    """``time LEVEL process logger: message [key=value ...]``; progress lines as plain text if ``plain``."""

    def __init__(self, *, plain_progress: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(process_name)s %(name)s: %(message)s")
        self._plain_progress = plain_progress

    def format(self, record: logging.LogRecord) -> str:
        if self._plain_progress and record.name == PROGRESS:
            return record.getMessage()
        line = super().format(record)
        context = _context(record)
        return f"{line} [{context}]" if context else line


def level_of(verbosity: int) -> int:
    """0: warnings and errors; 1 (-v): lifecycle (INFO); 2 (-vv): DEBUG."""
    return logging.WARNING - 10 * max(0, min(verbosity, 2))


def configure(
    verbosity: int, *, process_name: str, log_file: str | None = None, stream: TextIO | None = None
) -> None:
    """Set up this process's logging (replaces earlier handlers)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level_of(verbosity))
    name_filter = _ProcessName(process_name)
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(LineFormatter(plain_progress=True))
    console.addFilter(name_filter)
    root.addHandler(console)
    if log_file:
        to_file = logging.handlers.WatchedFileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(LineFormatter(plain_progress=False))
        to_file.addFilter(name_filter)
        root.addHandler(to_file)
    logging.getLogger(PROGRESS).setLevel(logging.INFO)


def child_flags(verbosity: int, log_file: str | None) -> list[str]:
    """The flags that give a child process (worker, store) this process's logging."""
    flags = ["-v"] * max(0, min(verbosity, 2))
    if log_file:
        flags += ["--log-file", log_file]
    return flags
