"""The README is a front door a newcomer reads in minutes: short, with an index of every docs page, and
every relative link in it and in the docs leads to a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

#: A markdown link or image, ``[text](target)``; the target stops at a space (an optional title follows).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def relative_targets(text: str) -> list[str]:
    """The link targets in ``text`` that name a file of this repository (no scheme, not only an anchor)."""
    targets = (m.group(1) for m in LINK.finditer(text))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def docs_index() -> str:
    """The README's ``## Documentation`` section, up to the next heading of the same level."""
    text = README.read_text()
    found = re.search(r"^## Documentation\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert found, "the README has no '## Documentation' section"
    return found.group(1)


def test_readme_is_at_most_150_lines() -> None:
    assert len(README.read_text().splitlines()) <= 150


def test_every_docs_page_is_in_the_readme_index() -> None:
    linked = {(README.parent / t.split("#")[0]).resolve() for t in relative_targets(docs_index())}
    missing = [p.name for p in DOCS if p.resolve() not in linked]
    assert DOCS and not missing, f"docs pages missing from the README's index: {missing}"


def test_every_relative_link_resolves() -> None:
    broken = [
        f"{page.relative_to(ROOT)} -> {target}"
        for page in [README, *DOCS]
        for target in relative_targets(page.read_text())
        if not (page.parent / target.split("#")[0]).exists()
    ]
    assert not broken, f"links to missing files: {broken}"


def test_the_link_pattern_finds_links_and_skips_urls_and_anchors() -> None:
    text = '[a](docs/x.md#part) ![b](img.png "title") [c](https://example.org) [d](#here)'
    assert relative_targets(text) == ["docs/x.md#part", "img.png"]


def test_readme_and_docs_cite_no_tracker_issues() -> None:
    cited = [
        f"{page.relative_to(ROOT)}:{n}"
        for page in [README, *DOCS]
        for n, line in enumerate(page.read_text().splitlines(), 1)
        if re.search(r"\bissues? #?\d", line, flags=re.IGNORECASE)
    ]
    assert not cited, f"tracker issue numbers in the docs: {cited}"
