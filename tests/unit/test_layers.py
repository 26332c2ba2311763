"""Data moves one way: venue -> capture -> decode -> sinks. The parts and the arrows allowed between
them are one table, in docs/design.md ("Parts and arrows"); this reads that table, places every
module of src/gatherer in a part, and fails on an import against it or a module it does not place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "gatherer"
DESIGN = ROOT / "docs" / "design.md"
LEAVES = "leaves"

Table = tuple[dict[str, str], dict[str, set[str]]]


def declared(text: str | None = None) -> Table:
    """(module prefix -> part, part -> parts it may import) from the table in docs/design.md."""
    text = DESIGN.read_text(encoding="utf-8") if text is None else text
    section = text.split("## Parts and arrows", 1)[1].split("\n## ", 1)[0]
    prefixes: dict[str, str] = {}
    allowed: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("part", "") or set(cells[0]) <= {"-"}:
            continue
        part, modules, may = cells
        for name in re.findall(r"`([^`]+)`", modules):
            assert name not in prefixes, f"{name} is in two parts of the table"
            prefixes[name] = part
        others = set() if may == "nothing else" else {m.strip() for m in may.split(",")}
        allowed[part] = others | {part, LEAVES}
    assert prefixes and allowed, "no table under '## Parts and arrows' in docs/design.md"
    unknown = {p for ps in allowed.values() for p in ps} - allowed.keys()
    assert not unknown, f"the table names parts it does not declare: {sorted(unknown)}"
    return prefixes, allowed


def module_name(src: Path, path: Path) -> str:
    """A module's name relative to ``gatherer.``; the package itself is ``gatherer``."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "gatherer"


def part_of(module: str, prefixes: dict[str, str]) -> str | None:
    """The part of a module: the one whose listed name is the longest prefix of it."""
    matches = [p for p in prefixes if module == p or module.startswith(p + ".")]
    return prefixes[max(matches, key=len)] if matches else None


def imports(src: Path, path: Path) -> set[str]:
    """Every gatherer module a file imports (absolute or relative), named as ``module_name`` does."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(src, path)
    package = [] if here == "gatherer" else here.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(["gatherer", *base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)  # `from package import module`
    out = set()
    for name in found:
        if name == "gatherer":
            out.add("gatherer")
        elif name.startswith("gatherer."):
            out.add(name.removeprefix("gatherer."))
    return {n for n in out if _is_module(src, n)}  # names imported from a module: the module counts


def _is_module(src: Path, name: str) -> bool:
    base = src if name == "gatherer" else src.joinpath(*name.split("."))
    return (base / "__init__.py").exists() or base.with_suffix(".py").exists()


def violations(src: Path, table: Table) -> tuple[list[str], list[str]]:
    """(modules the table does not place, imports against its arrows) under a package root."""
    prefixes, allowed = table
    unplaced, bad = [], []
    for path in sorted(src.rglob("*.py")):
        here = module_name(src, path)
        part = part_of(here, prefixes)
        if part is None:
            unplaced.append(here)
            continue
        for target in sorted(imports(src, path)):
            there = part_of(target, prefixes)
            if there is None or there not in allowed[part]:
                bad.append(f"{here} ({part}) imports {target} ({there})")
    return unplaced, bad


def test_every_import_follows_the_declared_arrows() -> None:
    unplaced, bad = violations(SRC, declared())
    assert not unplaced, f"modules the table in docs/design.md does not place: {unplaced}"
    assert not bad, "\n".join(bad)


def test_the_table_places_the_leaves_and_the_stages() -> None:
    prefixes, allowed = declared()
    assert part_of("venues.ls.envelope", prefixes) == LEAVES
    assert part_of("venues.ls.ws", prefixes) == "venues"
    assert part_of("sim.market.books", prefixes) == "sim"
    assert allowed[LEAVES] == {LEAVES}
    assert "run" not in allowed["sinks"] and "venues" not in allowed["capture"]


def test_an_import_against_the_flow_and_an_unplaced_module_are_found(tmp_path: Path) -> None:
    src = tmp_path / "gatherer"
    for name, text in {
        "__init__.py": "",
        "clock.py": "",
        "run/__init__.py": "",
        "run/pipeline.py": "from gatherer.sinks import parquet\n",
        "sinks/__init__.py": "",
        "sinks/parquet.py": "import gatherer.clock\nfrom ..run.pipeline import store_worker\n",
        "sinks/extra.py": "from gatherer.run import pipeline\n",
        "stray/__init__.py": "",
    }.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text, encoding="utf-8")
    unplaced, bad = violations(src, declared())
    assert unplaced == ["stray"]
    assert bad == [
        "sinks.extra (sinks) imports run (run)",
        "sinks.extra (sinks) imports run.pipeline (run)",
        "sinks.parquet (sinks) imports run.pipeline (run)",
    ]
