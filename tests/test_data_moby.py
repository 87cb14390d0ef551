"""moby-syllables and moby-stress: each word of a Moby-Dick passage tagged with its syllables, or the
syllable of its primary stress, from CMUdict. The lookup rules on small dictionaries; the builds on the
installed novel and dictionary."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from installed import installed_source

from engine.data import catalog
from engine.data.builders import DATASETS
from engine.data.sources import moby

PHONES = {
    "whale": "W EY1 L",
    "whaleman": "W EY1 L M AH0 N",
    "sperm": "S P ER1 M",
    "the": "DH AH0",
    "leviathan": "L AH0 V AY1 AH0 TH AH0 N",
    "a": "AH0",
    "about": "AH0 B AW1 T",
    "no": "N OW1",
}
DICTIONARY = {word: phones.split() for word, phones in PHONES.items()}


def syllables(word: str) -> str | None:
    phones = moby.phonemes_of(word, DICTIONARY)
    return None if phones is None else moby.syllable_tag(phones)


@pytest.fixture(scope="module")
def root():
    return installed_source("moby-syllables")


def test_a_word_counts_the_vowels_of_its_first_pronunciation(tmp_path):
    path = tmp_path / "dict.txt"
    path.write_text("EVERY  EH1 V ER0 IY0\nEVERY(1)  EH1 V R IY0\nWHALE  W EY1 L\nTHE  DH AH0\n", encoding="latin-1")
    dictionary = moby.read_dictionary(path)
    assert dictionary == {"every": ["EH1", "V", "ER0", "IY0"], "whale": ["W", "EY1", "L"], "the": ["DH", "AH0"]}
    assert [moby.syllable_tag(phones) for phones in dictionary.values()] == ["3", "1", "1"]


@pytest.mark.parametrize(
    ("word", "count"),
    [("Whale", "1"), ("whaleman", "2"), ("sperm-whale", "2"), ("Queequeg", None), ("sperm-queequeg", None)],
)
def test_a_hyphenated_word_missing_whole_counts_its_parts(word, count):
    assert syllables(word) == count


@pytest.mark.parametrize(
    ("word", "stress"),
    [("whale", "1"), ("about", "2"), ("leviathan", "2"), ("the", "unstressed"), ("sperm-whale", None)],
)
def test_stress_names_the_primary_syllable_and_refuses_two_primaries(word, stress):
    assert moby.stress_tag(moby.phonemes_of(word, DICTIONARY)) == stress


def test_marks_are_tagged_none_and_long_words_fold_into_four_plus():
    dictionary = {**DICTIONARY, "whaleman's": ["W", "EY1", "L", "M", "AH0", "N", "Z"]}
    tokens, tags = moby.tag_passage("The whaleman\u2019s? No\u2014the leviathan!", dictionary, moby.syllable_tag)
    assert tokens == ["The", "whaleman's", "?", "No", "\u2014", "the", "leviathan", "!"]
    assert tags == ["1", "2", "none", "1", "none", "1", "4+", "none"]


@pytest.mark.parametrize("passage", ["Call me Queequeg.", "A whale of 1851 tons."])
def test_a_passage_with_an_unknown_word_or_a_numeral_is_left_out(passage):
    more = {word: ["AH1"] for word in ("call", "me", "of", "tons")}
    assert moby.tag_passage(passage, {**DICTIONARY, **more}, moby.syllable_tag) is None


def test_passages_are_cut_at_sentence_ends_semicolons_and_colons(root):
    rows = moby.passages(root, moby.syllable_tag)
    first = rows[rows["group"] == "chapter_1"].iloc[0]
    assert first["tokens"] == ["Call", "me", "Ishmael", "."] and first["tags"] == ["1", "1", "2", "none"]
    unknown = rows[rows["tokens"].map(lambda tokens: "Manhattoes" in tokens)]
    assert len(unknown) == 1 and not unknown.iloc[0]["known"], "a name CMUdict lacks takes its passage out"
    assert rows["group"].nunique() == 136, "135 chapters and the epilogue"
    tagged = rows[rows["known"]]
    assert (tagged["tokens"].str.len() == tagged["tags"].str.len()).all()
    inner = [(a, b) for tokens in tagged["tokens"] for a, b in pairwise(tokens) if a in ";:"]
    assert inner and not any(after[0].isalpha() for _, after in inner), "only a closing quote may follow"


@pytest.mark.parametrize("name", ["moby-syllables", "moby-stress"])
def test_the_prepared_sets_hold_2000_dev_and_test_passages_and_a_first_tag_that_leads(root, name):
    stats = json.loads((catalog.prepare(name) / catalog.STATS_FILE).read_text())
    assert stats["sizes"]["dev"] == stats["sizes"]["test"] == 2000 and stats["sizes"]["train"] > 1800
    test_tags = stats["tags"]["test"]
    assert 0.5 < test_tags["1"] / sum(test_tags.values()) < 0.75, "short first-stressed words lead, not all"
    assert DATASETS.get(name).family == "moby-dick"
