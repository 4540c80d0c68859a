"""The docs read on a code host: every relative link in README.md and docs/ leads to a file of this repository
(a link into the research folder beside the checkout, or to a moved page, is dead for every reader)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted(ROOT.glob("*/README.md"))]


def test_every_relative_link_resolves_inside_the_repository() -> None:
    dead = []
    for page in _pages():
        for target in _LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # an absolute URL, or a heading of the same page
            resolved = (page.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                dead.append(f"{page.relative_to(ROOT)}: {target}")
    assert not dead, "\n".join(dead)


def test_the_check_sees_links() -> None:
    assert len([t for page in _pages() for t in _LINK.findall(page.read_text())]) > 50
