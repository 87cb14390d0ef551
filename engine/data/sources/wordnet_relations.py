"""Two tasks built from the relations WordNet's lexicographers recorded between synsets (pointers).

- ``wordnet-relation-pair``: two (word: definition) entries -> how the first relates to the second
  (pair classification: kind of, part of, member of, opposite, each way round).
- ``wordnet-genus-span``: (word, its definition) -> the span of the definition that names the
  word's broader class, its hypernym (extractive QA).

The labels are pointers written by hand into the WordNet lexicographer files; nothing here
guesses a relation. The span task only looks up where a hand-recorded hypernym is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.data.builders import EVAL_SIZES, Built, balanced_per_label, register
from engine.data.sources.wordnet import Inflections, Synset, read_exceptions, read_synsets
from engine.data.sources.wordnet_tasks import ASSET, CAP
from engine.data.splits import dedup, stratified_sample
from engine.tasks.spec import TaskSpec, TaskType

#: Pointer symbol -> (label when the pair is read source -> target, label when read the other way).
RELATIONS = {
    "@": ("kind-of", "has-kind"),
    "%p": ("has-part", "part-of"),
    "%m": ("has-member", "member-of"),
    "!": ("opposite", "opposite"),
}
RELATION_LABELS = tuple(sorted({label for pair in RELATIONS.values() for label in pair}))
#: Hypernym pointers: a class (``@``) or, for a named instance such as a city, its kind (``@i``).
HYPERNYMS = ("@", "@i")

RELATION_SPEC = TaskSpec(
    name="wordnet-relation-pair",
    task_type=TaskType.CLASSIFICATION,
    description=(
        "Given two dictionary entries (word: definition), name the relation WordNet's lexicographers "
        "recorded from the first to the second: kind of, has kind, part of, has part, member of, has member "
        "or opposite."
    ),
    label_names=RELATION_LABELS,
    paired=True,
)
GENUS_SPEC = TaskSpec(
    name="wordnet-genus-span",
    task_type=TaskType.SPAN,
    description=(
        "Given a word as the question and its dictionary definition as the context, extract the word or "
        "phrase in the definition that names the word's broader class (its WordNet hypernym)."
    ),
    paired=True,
)

Key = tuple[str, int]


def _index(synsets: list[Synset]) -> dict[Key, Synset]:
    return {(s.pos, s.offset): s for s in synsets}


def _entry(synset: Synset, word: int) -> str:
    """``word: definition``; ``word`` is 1-based for a lexical pointer, 0 (the first lemma) otherwise."""
    return f"{synset.lemmas[max(word, 1) - 1]}: {synset.definition}"


def relation_rows(synsets: list[Synset], rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """One row per related pair of synsets (an antonym pair is recorded at both ends: kept once),
    read in a random direction; returns the rows and how many pairs were seen twice."""
    index = _index(synsets)
    seen: set[frozenset] = set()
    rows, repeated = [], 0
    for synset in synsets:
        for pointer in synset.pointers:
            other = index.get((pointer.pos, pointer.offset))
            if pointer.symbol not in RELATIONS or other is None or not (synset.definition and other.definition):
                continue
            key = frozenset({(synset.pos, synset.offset, pointer.source), (other.pos, other.offset, pointer.target)})
            if key in seen:
                repeated += 1
                continue
            seen.add(key)
            forward, backward = RELATIONS[pointer.symbol]
            first, second = _entry(synset, pointer.source), _entry(other, pointer.target)
            flip = bool(rng.integers(2))
            rows.append(
                {
                    "text": second if flip else first,
                    "text_pair": first if flip else second,
                    "label": backward if flip else forward,
                }
            )
    return pd.DataFrame(rows), repeated


@register(RELATION_SPEC, asset=ASSET, seed=1985, eval_sizes=EVAL_SIZES)
def build_relation_pair(root: Path, seed: int) -> Built:
    """Every kind-of, part-of, member-of and antonym pointer, each read in a random direction,
    then CAP/7 pairs drawn per label so that the seven labels are balanced."""
    rng = np.random.default_rng(seed)
    rows, repeated = relation_rows(read_synsets(root), rng)
    counted = {"related_pairs": len(rows), "antonym_pairs_recorded_at_both_ends": repeated}
    return balanced_per_label(rows, ["text", "text_pair"], CAP // len(RELATION_LABELS), seed, counted)


def genus_span(synset: Synset, hypernyms: list[Synset], inflections: Inflections) -> tuple[int, int] | None:
    """The earliest place in the definition where a lemma of a hypernym is written (in any
    inflection); of two lemmas found at one place, the longer ("hunting dog" over "dog")."""
    hits = [
        hit
        for hypernym in hypernyms
        for lemma in hypernym.lemmas
        if (hit := inflections.find(lemma, synset.pos, synset.definition))
    ]
    return min(hits, key=lambda span: (span[0], -span[1])) if hits else None


def _hypernyms(synset: Synset, index: dict[Key, Synset]) -> list[Synset]:
    targets = (index.get((p.pos, p.offset)) for p in synset.pointers if p.symbol in HYPERNYMS)
    return [target for target in targets if target is not None]


@register(GENUS_SPEC, asset=ASSET, seed=1990, eval_sizes=EVAL_SIZES, family="wordnet-gloss-spans")
def build_genus_span(root: Path, seed: int) -> Built:
    """Each noun or verb synset whose definition names one of its hypernyms; the question is its
    first lemma, the answer the hypernym's words in the definition. CAP drawn, each part of
    speech keeping its share."""
    synsets = read_synsets(root)
    index, inflections = _index(synsets), Inflections(read_exceptions(root))
    with_hypernym = [s for s in synsets if s.definition and any(p.symbol in HYPERNYMS for p in s.pointers)]
    rows = []
    for synset in with_hypernym:
        span = genus_span(synset, _hypernyms(synset, index), inflections)
        if span is not None:
            start, end = span
            rows.append(
                {
                    "text": synset.lemmas[0],
                    "text_pair": synset.definition,
                    "answer_start": start,
                    "answer_text": synset.definition[start:end],
                    "pos": synset.pos,
                }
            )
    frame, notes = dedup(pd.DataFrame(rows), ["text", "text_pair"], ["answer_start", "answer_text"])
    sampled = frame.iloc[stratified_sample(frame["pos"], CAP, seed)].drop(columns="pos")
    return Built(
        sampled.reset_index(drop=True),
        pool=frame.drop(index=sampled.index, columns="pos"),
        notes={
            "synsets_with_hypernym": len(with_hypernym),
            "hypernym_not_in_definition": len(with_hypernym) - len(rows),
            **notes,
            "capped_away": len(frame) - len(sampled),
        },
    )
