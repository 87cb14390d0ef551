"""The two part-of-speech tasks from WordNet: a definition alone (wordnet-pos) and a word marked in an
example sentence (wordnet-usage-pos). Built from the installed database, balanced over the four
parts of speech; in the usage task the same word takes different classes in different sentences."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from installed import installed_source

from engine.data.builders import DATASETS
from engine.data.sources import wordnet_tasks

MARKED = re.compile(r"\[([^\[\]]+)\]")


@pytest.fixture(scope="module")
def root():
    return installed_source("wordnet-pos")


def test_both_tasks_share_four_sorted_classes_and_their_families_siblings():
    pos, usage = DATASETS.get("wordnet-pos"), DATASETS.get("wordnet-usage-pos")
    assert pos.spec.label_names == usage.spec.label_names == ("adjective", "adverb", "noun", "verb")
    assert pos.family == DATASETS.get("wordnet-lexname").family, "the same definitions"
    assert usage.family == DATASETS.get("wordnet-span").family, "the same example sentences"


def test_definitions_are_drawn_balanced_over_parts_of_speech(root):
    built = wordnet_tasks.build_pos(root, seed=4)
    counts = built.frame["label"].value_counts()
    assert set(counts) == {wordnet_tasks.CAP // 4} and len(counts) == 4
    assert not set(built.frame["text"]) & set(built.pool["text"])
    assert built.pool["label"].value_counts()["noun"] > 50_000, "the pool keeps WordNet's own skew"


def test_each_usage_marks_one_word_and_context_decides_its_class(root):
    built = wordnet_tasks.build_usage_pos(root, seed=1998)
    rows = pd.concat([built.frame, built.pool], ignore_index=True)
    marked = rows["text"].map(MARKED.findall)
    assert (marked.str.len() == 1).all(), "exactly one bracketed word or phrase per sentence"
    assert set(built.frame["label"].value_counts()) == {wordnet_tasks.CAP // 4}
    word = marked.str[0].str.lower()
    classes_per_word = rows.assign(word=word).groupby("word")["label"].nunique()
    assert (classes_per_word > 1).sum() > 100, "many words are nouns in one sentence and verbs in another"
    assert not rows["text"].duplicated().any()
