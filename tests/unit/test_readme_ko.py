"""README.ko.md stays in step with README.md: the same sections in the same order, the same
commands and code blocks byte for byte, the same images (the prose is translated, nothing else)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def outline(path: Path) -> tuple[list[int], list[str], list[str]]:
    """Heading levels (outside code blocks), fenced code blocks, image targets, in file order."""
    levels: list[int] = []
    blocks: list[str] = []
    images: list[str] = []
    block: list[str] | None = None
    for line in path.read_text(encoding="utf-8").split("\n"):
        if block is not None:
            block.append(line)
            if line.startswith("```"):
                blocks.append("\n".join(block))
                block = None
            continue
        if line.startswith("```"):
            block = [line]
            continue
        if m := re.match(r"(#{1,6}) ", line):
            levels.append(len(m.group(1)))
        images += re.findall(r"!\[[^\]]*\]\(([^)]+)\)", line)
    assert block is None, f"{path.name}: a code block is never closed"
    return levels, blocks, images


@pytest.mark.parametrize("part", ["headings", "code blocks", "images"])
def test_the_korean_readme_has_the_english_ones_sections_commands_and_images(part: str) -> None:
    index = ("headings", "code blocks", "images").index(part)
    english = outline(ROOT / "README.md")[index]
    korean = outline(ROOT / "README.ko.md")[index]
    assert english, f"README.md has no {part}"
    for n, (en, ko) in enumerate(zip(english, korean, strict=False)):
        assert en == ko, f"{part} #{n + 1}: README.md {str(en)[:300]!r}, README.ko.md {str(ko)[:300]!r}"
    assert len(english) == len(korean), f"{part}: README.md has {len(english)}, README.ko.md {len(korean)}"
