"""Data moves one way: venue -> capture -> decode -> sinks. This walks every import
in src/gatherer and fails on an edge against that flow."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "gatherer"

# Shared leaves anyone may import: the error types, the clock, the config, logging, and the
# venue's TR catalog and key formats (pure data about the protocol).
LEAVES = {
    "gatherer",
    "gatherer.errors",
    "gatherer.clock",
    "gatherer.files",
    "gatherer.logs",
    "gatherer.config",
    "gatherer.venues.ls.catalog",
    "gatherer.venues.ls.keys",
    # The LS message envelope (header, acks, registration requests): pure protocol, read by every stage.
    "gatherer.venues.ls.envelope",
    # The exchanges' trading hours (data, and pure functions of dates): the simulator must trade
    # when the collector watches; the unit tests state the hours literally.
    "gatherer.venues.ls.hours",
    "gatherer.venues.ls.exchanges",
}
# What each stage may import besides the leaves (itself included).
ALLOWED: dict[str, set[str]] = {
    "venues": {"venues"},
    "capture": {"capture"},
    "decode": {"decode", "capture"},
    "sinks": {"sinks", "decode", "capture"},
    "plan": {"plan"},
    "sim": {"sim"},
    # Gaps: found in decoded trades, filled over the venue's REST, accounted from the journal.
    "ledger": {"ledger", "capture", "decode", "venues"},
    "run": {"run", "venues", "capture", "decode", "sinks", "plan", "ops", "sim", "ledger"},
    "ops": {"ops", "capture", "decode", "sinks", "ledger"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m == "gatherer" or m.startswith("gatherer.")}


def test_no_import_goes_against_the_data_flow() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).parts
        stage = rel[0] if len(rel) > 1 else None
        if stage is None or stage not in ALLOWED:
            continue  # top-level modules (cli, config, clock, errors) wire or are leaves
        for module in _imports(path):
            if module in LEAVES:
                continue
            target = module.split(".")[1]
            if target not in ALLOWED[stage]:
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_walk_sees_the_stages() -> None:
    stages = {p.relative_to(SRC).parts[0] for p in SRC.rglob("*.py") if len(p.relative_to(SRC).parts) > 1}
    assert {"venues", "sim"} <= stages
