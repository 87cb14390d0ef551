"""moby-syllables: each word of a Moby-Dick passage tagged with its syllables from CMUdict. The lookup
rules on small dictionaries; the build on the installed novel and dictionary."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

from engine.data import catalog
from engine.data.builders import DATASETS
from engine.data.sources import moby

COUNTS = {"whale": 1, "whaleman": 2, "sperm": 1, "the": 1, "leviathan": 4, "a": 1}


@pytest.fixture(scope="module")
def root():
    reason = catalog.missing_asset("moby-syllables")
    if reason:
        pytest.skip(reason)
    return DATASETS.get("moby-syllables").asset.locate()


def test_a_word_counts_the_vowels_of_its_first_pronunciation(tmp_path):
    path = tmp_path / "dict.txt"
    path.write_text("EVERY  EH1 V ER0 IY0\nEVERY(1)  EH1 V R IY0\nWHALE  W EY1 L\nTHE  DH AH0\n", encoding="latin-1")
    assert moby.read_dictionary(path) == {"every": 3, "whale": 1, "the": 1}


@pytest.mark.parametrize(
    ("word", "count"), [("Whale", 1), ("whaleman", 2), ("sperm-whale", 2), ("Queequeg", None), ("sperm-queequeg", None)]
)
def test_a_hyphenated_word_missing_whole_counts_its_parts(word, count):
    assert moby.syllables(word, COUNTS) == count


def test_marks_are_tagged_none_and_long_words_fold_into_four_plus():
    tokens, tags = moby.tag_passage("The whaleman\u2019s? No\u2014the leviathan!", {**COUNTS, "whaleman's": 2, "no": 1})
    assert tokens == ["The", "whaleman's", "?", "No", "\u2014", "the", "leviathan", "!"]
    assert tags == ["1", "2", "none", "1", "none", "1", "4+", "none"]


@pytest.mark.parametrize("passage", ["Call me Queequeg.", "A whale of 1851 tons."])
def test_a_passage_with_an_unknown_word_or_a_numeral_is_left_out(passage):
    assert moby.tag_passage(passage, {**COUNTS, "call": 1, "me": 1, "of": 1, "tons": 1}) is None


def test_passages_are_cut_at_sentence_ends_semicolons_and_colons(root):
    rows = moby.passages(root)
    first = rows[rows["group"] == "chapter_1"].iloc[0]
    assert first["tokens"] == ["Call", "me", "Ishmael", "."] and first["tags"] == ["1", "1", "2", "none"]
    unknown = rows[rows["tokens"].map(lambda tokens: "Manhattoes" in tokens)]
    assert len(unknown) == 1 and not unknown.iloc[0]["known"], "a name CMUdict lacks takes its passage out"
    assert rows["group"].nunique() == 136, "135 chapters and the epilogue"
    tagged = rows[rows["known"]]
    assert (tagged["tokens"].str.len() == tagged["tags"].str.len()).all()
    inner = [(a, b) for tokens in tagged["tokens"] for a, b in pairwise(tokens) if a in ";:"]
    assert inner and not any(after[0].isalpha() for _, after in inner), "only a closing quote may follow"


def test_the_prepared_set_keeps_chapters_whole_and_monosyllables_the_majority():
    if catalog.missing_asset("moby-syllables"):
        pytest.skip(catalog.missing_asset("moby-syllables"))
    folder = catalog.prepare("moby-syllables")
    stats = json.loads((folder / catalog.STATS_FILE).read_text())
    assert stats["sizes"]["dev"] == stats["sizes"]["test"] == 2000 and stats["sizes"]["train"] > 2000
    test_tags = stats["tags"]["test"]
    assert 0.5 < test_tags["1"] / sum(test_tags.values()) < 0.75, "monosyllables lead, the rest still count"
    assert DATASETS.get("moby-syllables").family == "moby-dick"
