"""The README stays one screen of orientation, and no relative link in the docs leads nowhere."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README_MAX_LINES = 250
# [text](target) and ![alt](target); the alt text may span lines.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^(```|~~~)")


def documents() -> list[Path]:
    """Returns README.md, every page under docs/ and benchmarks/README.md."""
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "benchmarks" / "README.md",
    ]


def prose(text: str) -> str:
    """Returns the text with fenced code blocks blanked, so code is never read as a link."""
    kept, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            kept.append("")
            continue
        kept.append("" if fenced else line)
    return "\n".join(kept)


def anchors(path: Path) -> set[str]:
    """Returns the fragment ids GitHub gives the headings of a Markdown file."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text()).splitlines():
        match = HEADING.match(line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    """Returns every link target of the file that is not a URL or mail address."""
    targets = LINK.findall(prose(path.read_text()))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t, flags=re.I)]


def broken_links(path: Path) -> list[str]:
    """Returns 'target: why' for each relative link of the file whose file or heading is missing."""
    broken = []
    for target in relative_links(path):
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no file {os.path.relpath(linked, ROOT)}")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading #{fragment} in {os.path.relpath(linked, ROOT)}")
    return broken


def test_readme_fits_on_a_screen_of_orientation() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, at most {README_MAX_LINES}: move reference to docs/"
    )


def test_readme_names_the_ci_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make test" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_somewhere(path: Path) -> None:
    assert broken_links(path) == [], f"{path.relative_to(ROOT)}: fix or remove these links"


def test_the_link_check_catches_a_missing_file_and_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Near-duplicates: `dedup_real.py`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "See [a](other.md#near-duplicates-dedup_real.py), [b](gone.md), [c](https://x.example)\n"
        "and [d](other.md#near-duplicates-dedup_realpy), [e](#nowhere).\n"
        "```sh\n[not a link](nowhere.md)\n```\n"
    )
    assert relative_links(page) == [
        "other.md#near-duplicates-dedup_real.py",
        "gone.md",
        "other.md#near-duplicates-dedup_realpy",
        "#nowhere",
    ]
    problems = broken_links(page)
    assert [problem.split(":")[0] for problem in problems] == [
        "other.md#near-duplicates-dedup_real.py",
        "gone.md",
        "#nowhere",
    ]
    assert "no file" in problems[1]
