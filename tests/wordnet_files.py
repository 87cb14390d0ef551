"""A WordNet database on disk for the builders' tests: data files in the wndb(5WN) layout from a few
hand-written lines, so that each rule of a builder is checked on a case one can read."""

from __future__ import annotations

from pathlib import Path

from engine.data.sources.wordnet import POS_FILES


def write_wordnet(root: Path, lines: dict[str, list[str]], exceptions: bool = True) -> Path:
    """``lines`` per part of speech as data files, each after a licence header line (which readers
    skip); with ``exceptions``, empty ``*.exc`` lists beside them, as the span builders read."""
    root.mkdir(parents=True, exist_ok=True)
    for pos in POS_FILES:
        body = ["  1 This software and database is being provided ...", *lines.get(pos, [])]
        (root / f"data.{pos}").write_text("\n".join(body) + "\n", encoding="utf-8")
        if exceptions:
            (root / f"{pos}.exc").write_text("", encoding="utf-8")
    return root
