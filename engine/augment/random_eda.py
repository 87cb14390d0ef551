"""Random augmentation ``ra`` (§3.1, after EDA, Wei and Zou 2019).

Each example gets one of four word-level edits, picked at random:

* synonym replacement: ``n`` content words replaced by a WordNet synonym;
* random insertion: ``n`` times, a synonym of a random content word inserted at a
  random position;
* random swap: ``n`` times, two random words swap places;
* random deletion: every word deleted with probability ``aug_p`` (one always stays),

with ``n = max(1, round(aug_p · words))`` (:func:`~engine.augment.base.changes_for`).
A span task's answer block is locked: never replaced, moved or deleted.

Synonyms come from WordNet 3.0 as Debian's ``wordnet-base`` installs it
(``/usr/share/wordnet``, or ``$WNSEARCHDIR``), read straight from the ``data.*``
files: two lemmas are synonyms when they share a synset. Capitalised lemmas (names,
acronyms) are left out, so "far" never becomes an army.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np

from engine.augment.base import (
    AUGMENTERS,
    TextItem,
    TextOperation,
    Unit,
    changes_for,
    content_positions,
    join_units,
    split_units,
)
from engine.errors import AutodistillError

WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")

#: Inflection endings tried when a word is not a WordNet lemma itself (a small
#: subset of WordNet's morphy rules: enough to find "movies" -> "movie").
_ENDINGS = (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"))


def wordnet_dir() -> Path:
    return Path(os.environ.get("WNSEARCHDIR", "/usr/share/wordnet"))


def _check_wordnet(root: Path) -> None:
    missing = [name for name in WORDNET_FILES if not (root / name).exists()]
    if missing:
        raise AutodistillError(
            f"random augmentation 'ra' needs WordNet 3.0 but {root} lacks {', '.join(missing)}; "
            "install it with: apt-get install wordnet-base (or set WNSEARCHDIR)"
        )


def _lemmas(line: str) -> list[str]:
    """Lemmas of one data-file line: ``offset lex_filenum ss_type w_cnt word lex_id ...``."""
    fields = line.split()
    words = fields[4 : 4 + 2 * int(fields[3], 16) : 2]
    return [w.split("(")[0].replace("_", " ") for w in words]


@cache
def load_synonyms(root: str) -> dict[str, tuple[str, ...]]:
    """lemma -> its WordNet synonyms (all synsets, sorted, itself excluded)."""
    path = Path(root)
    _check_wordnet(path)
    found: dict[str, set[str]] = {}
    for name in WORDNET_FILES:
        with (path / name).open(encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("  "):  # licence header
                    continue
                # capitalised lemmas are names and acronyms ("FAR" is an army, not "far")
                lemmas = [lemma for lemma in _lemmas(line) if lemma.islower()]
                for lemma in lemmas:
                    found.setdefault(lemma, set()).update(lemmas)
    return {lemma: tuple(sorted(s - {lemma})) for lemma, s in found.items() if len(s) > 1}


def synonyms_of(word: str, table: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Synonyms of ``word`` or, failing that, of its base form."""
    word = word.lower()
    if word in table:
        return table[word]
    for ending, base in _ENDINGS:
        if word.endswith(ending) and len(word) > len(ending) + 2:
            stem = word[: -len(ending)] + base
            if stem in table:
                return table[stem]
    return ()


@AUGMENTERS.register("ra")
class RandomAugmentation(TextOperation):
    """EDA's four random edits, one per example, with WordNet synonyms."""

    name = "ra"
    EDITS = ("synonym", "insert", "swap", "delete")

    def check(self) -> None:
        _check_wordnet(wordnet_dir())

    def prepare(self) -> None:
        load_synonyms(str(wordnet_dir()))

    def backend(self) -> str:
        return f"EDA edits with WordNet 3.0 synonyms ({wordnet_dir()})"

    @property
    def table(self) -> dict[str, tuple[str, ...]]:
        return load_synonyms(str(wordnet_dir()))

    def augment(self, items: list[TextItem], rngs: list[np.random.Generator]) -> list[TextItem | None]:
        return [self.augment_one(item, rng) for item, rng in zip(items, rngs, strict=True)]

    def augment_one(self, item: TextItem, rng: np.random.Generator, edit: str | None = None) -> TextItem:
        units, offset = split_units(item)
        edit = edit or self.EDITS[int(rng.integers(len(self.EDITS)))]
        p = self.settings.aug_p
        free = [i for i, u in enumerate(units) if not u.locked]
        if edit == "synonym":
            units = self._replace(units, rng, changes_for(len(free), p))
        elif edit == "insert":
            units = self._insert(units, rng, changes_for(len(free), p))
        elif edit == "swap":
            units = self._swap(units, free, rng, changes_for(len(free), p))
        else:
            units = self._delete(units, rng, p)
        return join_units(units, offset, item)

    def _replace(self, units: list[Unit], rng: np.random.Generator, n: int) -> list[Unit]:
        units = list(units)
        candidates = [i for i in content_positions(units) if synonyms_of(units[i].word, self.table)]
        for i in rng.permutation(candidates)[:n] if candidates else []:
            choices = synonyms_of(units[i].word, self.table)
            units[i] = units[i].replaced(choices[int(rng.integers(len(choices)))])
        return units

    def _insert(self, units: list[Unit], rng: np.random.Generator, n: int) -> list[Unit]:
        units = list(units)
        for _ in range(n):
            candidates = [i for i in content_positions(units) if synonyms_of(units[i].word, self.table)]
            if not candidates:
                break
            source = units[candidates[int(rng.integers(len(candidates)))]]
            choices = synonyms_of(source.word, self.table)
            units.insert(int(rng.integers(len(units) + 1)), Unit(choices[int(rng.integers(len(choices)))]))
        return units

    @staticmethod
    def _swap(units: list[Unit], free: list[int], rng: np.random.Generator, n: int) -> list[Unit]:
        units = list(units)
        if len(free) < 2:
            return units
        for _ in range(n):
            i, j = rng.choice(free, size=2, replace=False)
            units[i], units[j] = units[j], units[i]
        return units

    @staticmethod
    def _delete(units: list[Unit], rng: np.random.Generator, p: float) -> list[Unit]:
        if p <= 0:
            return list(units)
        drop = rng.random(len(units)) < p
        kept = [u for u, d in zip(units, drop, strict=True) if u.locked or not d]
        if not kept and units:  # EDA keeps one word rather than return an empty text
            kept = [units[int(rng.integers(len(units)))]]
        return kept
