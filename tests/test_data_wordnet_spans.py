"""The span tasks of WordNet's example sentences: wordnet-span asks for the defined word by its
definition, wordnet-synonym-span by another lemma of its synset. Built on a small hand-written
database in WordNet's layout, and checked against the installed one."""

from __future__ import annotations

from installed import installed_source
from wordnet_files import write_wordnet

from engine.data import load_task
from engine.data.builders import DATASETS
from engine.data.sources import wordnet_tasks

DATABASE = {
    "noun": [
        '00000001 06 n 03 car 0 auto 0 automobile 0 000 | a motor vehicle; "he parked the cars outside"',
        '00000002 05 n 01 dog 0 000 | a domestic canine; "the dog barked"',
        '00000003 15 n 02 hollow 0 holler 0 000 | a small valley; "a holler, a hollow between hills"',
    ],
    "verb": ['00000004 42 v 03 reside 0 shack 0 live 0 000 | make one\'s home; "my parents resided in Florida"'],
}


def test_a_synonym_the_sentence_lacks_asks_for_the_inflected_lemma(tmp_path):
    built = wordnet_tasks.build_synonym_span(write_wordnet(tmp_path / "wn", DATABASE), seed=0)
    rows = built.frame.set_index("answer_text")
    assert set(rows.index) == {"cars", "resided"}, "the dog has no synonym; both hollow's lemmas are in its sentence"
    assert rows.at["cars", "text"] in {"auto", "automobile"} and rows.at["resided", "text"] in {"shack", "live"}
    for row in built.frame.itertuples():
        assert row.text_pair[row.answer_start :].startswith(row.answer_text)
    assert built.notes["spans_whose_synonyms_all_occur_in_the_sentence"] == 1
    assert built.notes["synsets_with_examples_and_synonyms"] == 3


def test_the_definition_asks_for_the_same_spans(tmp_path):
    built = wordnet_tasks.build_span(write_wordnet(tmp_path / "wn", DATABASE), seed=0)
    assert set(built.frame["answer_text"]) == {"cars", "dog", "hollow", "resided"}
    assert "a motor vehicle" in set(built.frame["text"])


def test_the_installed_database_gives_5000_dev_and_test_spans_asked_by_synonyms():
    root = installed_source("wordnet-synonym-span")
    entry = DATASETS.get("wordnet-synonym-span")
    assert entry.family == DATASETS.get("wordnet-span").family
    built = entry.build(root, entry.seed)
    assert (built.frame["text"].str.lower() != built.frame["answer_text"].str.lower()).all()
    assert len(built.frame) + len(built.pool) > 12_000
    task = load_task("wordnet-synonym-span")
    assert len(task.dev) == len(task.test) == 5000 and list(task.test.columns)[:2] == ["text", "text_pair"]
