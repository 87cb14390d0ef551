"""wordnet-lexname-full, the catalog's large set: one row per WordNet definition labelled with its
lexicographer file (all 45), duplicates dropped like every catalog set, split 90/5/5 so that
train keeps over 100,000 examples. Built here on slices of the database, so it stays fast."""

from __future__ import annotations

import dataclasses
from itertools import islice

import numpy as np
import pandas as pd
import pytest
from wordnet_files import write_wordnet

from engine.data import catalog
from engine.data.builders import DATASETS, LARGE_TRAIN_EXAMPLES, MissingAssetError
from engine.data.sources.wordnet import LEXNAMES, POS_FILES
from engine.data.sources.wordnet_tasks import ASSET, build_lexname_full

NAME = "wordnet-lexname-full"


def synset_line(offset: int, lexfile: int, word: str, gloss: str) -> str:
    return f"{offset:08d} {lexfile:02d} n 01 {word} 0 000 | {gloss}"


def test_the_entry_is_large_with_all_45_files_and_a_90_5_5_split():
    entry = DATASETS.get(NAME)
    assert entry.large and entry.fractions == (0.9, 0.05, 0.05)
    assert entry.spec.label_names == tuple(sorted(LEXNAMES)) and len(entry.spec.label_names) == 45
    assert not any(DATASETS.get(name).large for name in DATASETS.names() if name != NAME)
    # 90% of the ~116,600 de-duplicated definitions: train stays above the large-set threshold
    assert int(116_000 * entry.fractions[0]) >= LARGE_TRAIN_EXAMPLES


def test_every_definition_becomes_a_row_and_duplicates_go(tmp_path):
    root = write_wordnet(
        tmp_path / "wn",
        {
            "noun": [
                synset_line(1, 5, "cat", 'a small feline; "the cat sat"'),
                synset_line(2, 5, "moggy", "a small feline"),  # same definition, same file: a duplicate
                synset_line(3, 6, "hammer", "a hand tool"),
                synset_line(4, 18, "tool", "a hand tool"),  # same definition, other file: both go
            ],
            "verb": [synset_line(5, 38, "run", 'to move fast on foot; "he ran"')],
        },
    )
    built = build_lexname_full(root, seed=0)
    assert built.frame.to_dict("records") == [
        {"text": "a small feline", "label": "noun.animal"},
        {"text": "to move fast on foot", "label": "verb.motion"},
    ]
    assert built.notes == {
        "synsets": 5,
        "synsets_without_definition": 0,
        "duplicates_dropped": 1,
        "conflicting_dropped": 2,
    }


def test_a_slice_of_the_real_database_splits_90_5_5_with_every_class_everywhere(tmp_path):
    try:
        real = ASSET.locate()
    except MissingAssetError as error:
        pytest.skip(str(error))
    slice_lines = {}
    for pos in POS_FILES:
        with (real / f"data.{pos}").open(encoding="utf-8") as lines:
            slice_lines[pos] = [line.rstrip("\n") for line in islice(lines, 3000) if not line.startswith("  ")]
    built = build_lexname_full(write_wordnet(tmp_path / "wn", slice_lines), DATASETS.get(NAME).seed)
    assert len(built.frame) > 8000 and built.frame["text"].str.contains('"').sum() == 0
    entry = DATASETS.get(NAME)
    # the classes of this slice stand in for the 45: the shared encoder then needs just them
    spec = dataclasses.replace(entry.spec, label_names=tuple(sorted(set(built.frame["label"]))))
    splits = catalog._split(catalog._encode(built.frame, spec), spec, entry.seed, entry.fractions)
    sizes = np.array([len(splits[s]) for s in ("train", "dev", "test")]) / len(built.frame)
    assert sizes == pytest.approx([0.9, 0.05, 0.05], abs=0.01)
    every = pd.concat(splits.values())["text"]
    assert not every.duplicated().any()
    counts = built.frame["label"].value_counts()
    for split in splits.values():
        assert set(split["label"]) >= {spec.label_names.index(name) for name in counts[counts >= 20].index}
