"""``vader-valence``: how positive or negative people rated a word, emoticon or slang term (regression).

The VADER lexicon (Hutto & Gilbert, 2014, "VADER: A Parsimonious Rule-based Model for
Sentiment Analysis of Social Media Text", ICWSM) holds about 7,500 English words, emoticons
(``:-)``), acronyms (``lol``) and slang, each rated by ten screened human raters on -4
(extremely negative) to +4 (extremely positive). The PyPI package ``vaderSentiment`` ships
it as ``vaderSentiment/vader_lexicon.txt``: one ``term<TAB>mean<TAB>std<TAB>[ten ratings]``
line per entry. The target is the raters' mean, as published.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.data.builders import Asset, Built, register
from engine.data.splits import dedup, stratified_sample
from engine.tasks.regression import quantile_bins
from engine.tasks.spec import TaskSpec, TaskType

ASSET = Asset(
    "pypi", "vaderSentiment", "MIT (the vaderSentiment package and its lexicon)", "vaderSentiment/vader_lexicon.txt"
)
#: Entries kept (seeded, every decile of the rating keeping its share): the catalog's CPU size.
CAP = 3000

SPEC = TaskSpec(
    name="vader-valence",
    task_type=TaskType.REGRESSION,
    description=(
        "Given an English word, emoticon or slang term, predict how positive or negative ten human raters "
        "judged it on average, from -4 (extremely negative) to +4 (extremely positive)."
    ),
)


def read_lexicon(path: Path) -> pd.DataFrame:
    """``text`` (the term) and ``label`` (the published mean of its ten ratings)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            term, mean, _std, _ratings = line.split("\t")
            rows.append({"text": term, "label": float(mean)})
    return pd.DataFrame(rows)


#: Dev and test of split version 2: the 4,492 terms the cap left out and version 1's 600, halved.
EVAL_SIZES = (2500, 2500)


@register(SPEC, asset=ASSET, seed=2014, eval_sizes=EVAL_SIZES)
def build_valence(root: Path, seed: int) -> Built:
    """Every term once (a term listed twice with different means is dropped: its target is
    ambiguous); then CAP drawn with each decile of the rating keeping its share."""
    rows = read_lexicon(root)
    frame, notes = dedup(rows, ["text"], ["label"])
    sampled = frame.iloc[stratified_sample(quantile_bins(frame["label"].to_numpy()), CAP, seed)]
    return Built(
        sampled.reset_index(drop=True),
        {"terms_in_lexicon": len(rows), **notes, "capped_away": len(frame) - len(sampled)},
        pool=frame.drop(index=sampled.index),
    )
