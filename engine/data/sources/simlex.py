"""``simlex-999``: how similar in meaning two English words are, as people rated them (regression on pairs).

SimLex-999 (Hill, Reichart & Korhonen, 2015, Computational Linguistics 41(4)) is 999 word
pairs (666 noun, 222 verb and 111 adjective pairs), each rated for similarity, not mere
relatedness ("coast"/"shore" high, "clothes"/"closet" low), on a 0-10 scale by about 50
crowd workers; the target is the mean rating. gensim ships the file in its test data
(``gensim/test/test_data/simlex999.txt``: two comment lines, then ``word1<TAB>word2<TAB>score``),
so the data set needs nothing beyond the project's own dependencies.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.data.builders import Asset, Built, register
from engine.data.splits import dedup
from engine.tasks.spec import TaskSpec, TaskType

ASSET = Asset(
    "pypi",
    "gensim",
    "SimLex-999: free for research use from its authors; shipped in gensim's test data (gensim: LGPL-2.1)",
    "gensim/test/test_data/simlex999.txt",
)

SPEC = TaskSpec(
    name="simlex-999",
    task_type=TaskType.REGRESSION,
    description=(
        "Given two English words, predict how similar in meaning people rated them, from 0 (unrelated or "
        "merely associated) to 10 (synonyms)."
    ),
    paired=True,
)


def read_pairs(path: Path) -> pd.DataFrame:
    """The rated pairs: ``text``, ``text_pair`` and the mean rating as ``label``."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            first, second, score = line.split("\t")
            rows.append({"text": first, "text_pair": second, "label": float(score)})
    return pd.DataFrame(rows)


@register(SPEC, asset=ASSET, seed=999)
def build_simlex(root: Path, seed: int) -> Built:
    """Every pair as rated; a pair listed twice is kept once. The seeded split (stratified on the
    rating's decile) is by pair: a word may appear in pairs of different splits."""
    rows = read_pairs(root)
    frame, notes = dedup(rows, ["text", "text_pair"], ["label"])
    return Built(frame, {"pairs_in_file": len(rows), **notes})
