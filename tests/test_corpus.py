"""The general-distillation corpus: cut and hashed like the catalog's dev and test text, and free of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data import corpus
from engine.data.builders import DATASETS
from engine.errors import AutodistillError
from tests.installed import installed_source


def test_clauses_cut_where_the_catalog_cuts() -> None:
    text = "Call me Ishmael. Some years ago; never mind how long:—having little money"
    cut = ["Call me Ishmael.", "Some years ago;", "never mind how long:", "—having little money"]
    assert corpus.clauses(text) == cut


def test_clause_key_ignores_case_spacing_and_marks() -> None:
    assert corpus.clause_key("The  Whale , he said!") == corpus.clause_key("the whale he said")
    assert corpus.clause_key("the whale") != corpus.clause_key("the whales")
    assert corpus.clause_key(" -- ") is None


def test_overlap_names_the_data_set_and_counts_its_sentences_not_its_phrases() -> None:
    sentence = "the test split holds this sentence of eight words"
    held_out = {corpus.clause_key(sentence): "wordnet-span", corpus.clause_key("thank you"): "sotu-party"}
    documents = [[sentence.capitalize() + ".", "Something else.", "Thank you!"], [sentence.upper()]]
    assert corpus.overlap(documents, held_out) == {"wordnet-span": 2}, "a phrase any English text holds: not counted"
    assert corpus.overlap(documents, held_out, min_words=1) == {"wordnet-span": 2, "sotu-party": 1}


def test_read_documents_splits_on_blank_lines(tmp_path: Path) -> None:
    file = tmp_path / "text.txt"
    file.write_text("One. Two;\nthree\n\n\nFour.\n")
    assert corpus.read_documents(file) == [["One.", "Two;", "three"], ["Four."]]


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"", "holds no text"), (b"\n \n\n", "holds no text"), (b"\x00\x01ELF\x02" * 100, "binary")],
)
def test_read_documents_refuses_what_is_not_text(tmp_path: Path, content: bytes, says: str) -> None:
    file = tmp_path / "corpus.bin"
    file.write_bytes(content)
    with pytest.raises(AutodistillError, match=says):
        corpus.read_documents(file)


def test_a_corpus_holding_test_text_is_found_out_with_its_data_set() -> None:
    installed_source("vader-valence")
    from engine.data import catalog

    test_words = list(catalog.load("vader-valence").test["text"][:3])
    documents = [["nothing of the lexicon's test split here, surely"], test_words]
    held_out = corpus.held_out_keys(["vader-valence"])
    assert corpus.overlap(documents, held_out, min_words=1) == {"vader-valence": 3}
    assert corpus.overlap(documents, held_out) == {}, "a word of a word list is in any text: not a sentence read"


def test_the_default_corpus_holds_no_dev_or_test_clause_of_any_catalog_set(tmp_path: Path) -> None:
    """Every split version of every catalog set, checked by hash against every line the corpus kept."""
    for source in ("brown-pos", "moby-syllables", "sotu-party", "wordnet-span"):
        installed_source(source)
    path = tmp_path / "corpus.txt"
    stats = corpus.write_corpus(path)
    held_out = corpus.held_out_keys()
    assert {name for name in held_out.values()} == {n for n in DATASETS.names() if not corpus.catalog.missing_asset(n)}
    kept = [line for line in path.read_text().splitlines() if line]
    assert len(kept) == stats.clauses and stats.words > 2_000_000 and stats.dropped > 0
    assert not [line for line in kept if corpus.clause_key(line) in held_out]
