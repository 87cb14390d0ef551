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


#: Pages written by a command from committed files; they may carry dates and run ids.
GENERATED = {"study.md"}

#: A fenced code block: sample output there may show run ids and dates.
FENCE = re.compile(r"^```.*?^```", flags=re.MULTILINE | re.DOTALL)

#: Words of a lab notebook: a guide says what is, git keeps what was.
HISTORY = {
    "'earlier'": re.compile(r"\bearlier\b", flags=re.IGNORECASE),
    "a commit hash": re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b"),
    "a date": re.compile(r"\b20\d\d-\d\d-\d\d\b"),
}


def guides() -> list[Path]:
    """The docs pages a person writes (the generated ones are left to their generator)."""
    return [page for page in DOCS if page.name not in GENERATED]


def history_in(text: str) -> list[str]:
    """What in ``text``'s prose (code blocks aside) records history rather than guides."""
    prose = FENCE.sub("", text)
    return [f"{what} ({m.group(0)!r})" for what, pattern in HISTORY.items() for m in pattern.finditer(prose)]


def test_each_guide_answers_its_question_in_at_most_150_lines() -> None:
    long = {page.name: n for page in guides() if (n := len(page.read_text().splitlines())) > 150}
    assert not long, f"docs pages over 150 lines: {long}"


def test_readme_and_guides_record_no_history() -> None:
    found = {page.name: hits for page in [README, *guides()] if (hits := history_in(page.read_text()))}
    assert not found, f"history in the docs (git keeps it): {found}"


def test_the_history_check_sees_prose_and_skips_code_blocks() -> None:
    text = "An earlier fix (9e789cc) on 2026-11-22.\n```\nrun 0a211541faf1 on 2026-11-22\n```\n"
    assert len(history_in(text)) == 3
    assert not history_in("Pick 1 scored 0.943 in 99 s; the teacher has 12 layers.")


def heading_anchor(heading: str) -> str:
    """The anchor a heading gets on GitHub: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_anchor_leads_to_a_heading() -> None:
    broken = []
    for page in [README, *DOCS]:
        for target in relative_targets(page.read_text()) + re.findall(r"\]\((#[^)\s]+)\)", page.read_text()):
            path, _, anchor = target.partition("#")
            linked = (page.parent / path) if path else page
            if anchor and linked.suffix == ".md" and linked.exists():
                headings = re.findall(r"^#+ (.*)$", linked.read_text(), flags=re.MULTILINE)
                if anchor not in {heading_anchor(h) for h in headings}:
                    broken.append(f"{page.name} -> {target}")
    assert not broken, f"links to missing headings: {broken}"


def test_heading_anchors_follow_github() -> None:
    assert (
        heading_anchor("The study's fixed plan: `autodistill study sweep`")
        == "the-studys-fixed-plan-autodistill-study-sweep"
    )


def test_your_data_names_every_column_name_a_file_is_read_by() -> None:
    from engine.data.loaders import USUAL_NAMES

    page = (ROOT / "docs" / "your-data.md").read_text()
    missing = sorted({name for names in USUAL_NAMES.values() for name in names if f"`{name}`" not in page})
    assert not missing, f"your-data.md does not name these columns a file is read by: {missing}"
