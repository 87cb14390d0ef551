"""Token tagging (token classification): a label per word, NER/POS-style.

User data is a column of word lists and a column of tag lists: a JSONL line such as
``{"tokens": ["Paris", "is", "big"], "tags": ["PROPN", "AUX", "ADJ"]}`` (or a Parquet
file with list columns, a CSV whose cells hold JSON lists, or a CoNLL or CoNLL-U file as
:mod:`engine.data.readers` reads one) is one sentence; ``text``
is then the words joined by spaces, as in the catalog's token sets, so what reads a
task's text (data set features, baselines) works unchanged. Tag names are numbered in
sorted order; integer tags are taken as ids already.

Examples are encoded from their pre-split words. Only the first sub-token of each word
carries the word's tag; every other position (special tokens, a word's continuation
pieces, words cut off by truncation, padding) holds :data:`IGNORE`, which losses and
metrics skip. The teacher's per-token distribution is distilled at every real token, the
ground truth only where a word starts. Scored with accuracy over tagged words (how POS
taggers are compared) and macro-F1 over tags; named-entity data (BIO, BIOES or BILOU tags) by entity F1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from engine.errors import AutodistillError
from engine.tasks.encoding import EncodedSplit, EncodeSettings
from engine.tasks.head import (
    IGNORE,
    TaskHead,
    Where,
    architectures,
    label_text,
    register,
    unknown_labels,
    written_value,
)

if TYPE_CHECKING:
    from torch import Tensor
    from transformers import PreTrainedTokenizerBase

    from engine.models.batch import Batch
    from engine.tasks.spec import TaskSpec


# -- user rows --------------------------------------------------------------------------------------


def _as_list(value: object) -> list | None:
    """A cell as a Python list: lists, tuples and arrays as they are, a list written as text (how CSV
    stores one: JSON, or the Python form pandas writes) parsed; anything else is None."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        value = written_value(value)
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return None


def _holds_lists(column: pd.Series) -> bool:
    """Whether a column's first filled cell is a list (or a list written as text)."""
    filled = column.dropna()
    return not filled.empty and _as_list(filled.iloc[0]) is not None


#: General role -> the tagging role it becomes when its column holds lists (:meth:`TokenHead.claim_columns`).
_CLAIMS = {"text": "tokens", "label": "tags"}


def token_rows(part: pd.DataFrame, where: Where) -> tuple[pd.DataFrame, int]:
    """``text``, ``tokens`` (lists of str) and ``tags`` (lists) of one split, and how many rows had
    no words (dropped). A cell that is not a list, or a row whose tags do not pair up with its
    words, is an error naming the row (``where(row)``)."""
    tokens, tags = part["tokens"].map(_as_list), part["tags"].map(_as_list)
    for row, words, labels in zip(part.index, tokens, tags, strict=True):
        if words is None:
            raise AutodistillError(f"the tokens cell of {where(row)} is not a list")
        _check_pairing(words, labels, "tags", where(row))
    empty = tokens.str.len() == 0
    words = tokens[~empty].map(lambda row: [str(word) for word in row])
    frame = pd.DataFrame({"text": words.str.join(" "), "tokens": words, "tags": tags[~empty]})
    return frame, int(empty.sum())


def _check_pairing(words: list, tags: list | None, column: object, place: str) -> None:
    """Refuse a row whose ``column`` cell is no list of tags, one per word, naming it (``place``)."""
    if tags is None:
        raise AutodistillError(f"the {column} cell of {place} is not a list")
    if len(words) != len(tags):
        raise AutodistillError(f"{place} has {len(words)} words but {len(tags)} tags")


def encode_tags(
    frames: dict[str, pd.DataFrame], origin: str, hub_names: Sequence[str] | None = None
) -> tuple[dict[str, pd.DataFrame], tuple[str, ...]]:
    """Tag names -> ids of the sorted names; integer tags are taken as ids already, of the hub's own
    tag names where it has them (a ``ner_tags`` list of ClassLabel), else of names "0", "1", ..."""
    found = {tag for part in frames.values() for row in part["tags"] for tag in row}
    if not found:
        raise AutodistillError(f"no tagged word in {origin}")
    if all(isinstance(tag, int | np.integer) and not isinstance(tag, bool) for tag in found):
        if min(found) < 0:
            raise AutodistillError(f"tag ids in {origin} must be 0 or more; found {min(found)}")
        if hub_names is not None and max(found) >= len(hub_names):
            raise AutodistillError(f"tag id {max(found)} in {origin} is past its {len(hub_names)} tag names")
        names = tuple(hub_names) if hub_names is not None else tuple(str(i) for i in range(int(max(found)) + 1))
        ids = {tag: int(tag) for tag in found}
    else:
        names = tuple(sorted({str(tag) for tag in found}))
        position = {name: i for i, name in enumerate(names)}
        ids = {tag: position[str(tag)] for tag in found}
    encoded = {
        split: part.assign(tags=[[ids[t] for t in row] for row in part["tags"]]) for split, part in frames.items()
    }
    return encoded, names


def _tag_counts(tags: pd.Series, spec: TaskSpec) -> dict[str, int]:
    """How many words carry each tag, in ``spec.label_names`` order."""
    counts = np.bincount(np.concatenate([np.asarray(row, dtype=np.int64) for row in tags]), minlength=spec.num_labels)
    return {name: int(n) for name, n in zip(spec.label_names, counts, strict=True)}


# -- encoding ---------------------------------------------------------------------------------------


def word_start_labels(word_ids: list[int | None], tags: list[int] | np.ndarray) -> np.ndarray:
    """Per-token labels: a word's tag on its first sub-token, :data:`IGNORE` elsewhere.

    ``word_ids`` is the fast tokenizer's map from token position to word (None for special
    tokens). Words missing from it (cut off by truncation, or with no sub-token at all)
    get no position, so they are neither trained on nor scored.
    """
    labels = np.full(len(word_ids), IGNORE, dtype=np.int64)
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            labels[position] = int(tags[word])
        previous = word
    return labels


def encode_words(frame: pd.DataFrame, tokenizer: PreTrainedTokenizerBase, max_length: int) -> EncodedSplit:
    """Pre-split words -> sub-tokens, with each word's tag on its first sub-token."""
    if not tokenizer.is_fast:
        raise AutodistillError("token classification needs a fast tokenizer (word alignment); this one is not")
    words = [[str(word) for word in row] for row in frame["tokens"]]
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length, return_token_type_ids=True)
    labels = np.empty(len(frame), dtype=object)  # filled one by one: equal lengths must not make it 2-D
    for i, tags in enumerate(frame["tags"]):
        if len(tags) != len(words[i]):
            raise AutodistillError(f"row {i} has {len(words[i])} words but {len(tags)} tags")
        labels[i] = word_start_labels(enc.word_ids(i), tags)
    return EncodedSplit(
        input_ids=enc["input_ids"],
        token_type_ids=enc["token_type_ids"],
        labels=labels,
        rows=np.arange(len(frame)),
    )


# -- metrics ----------------------------------------------------------------------------------------


def token_metrics(
    preds: Sequence[Sequence[int]], labels: Sequence[Sequence[int]], names: Sequence[str] = ()
) -> dict[str, float]:
    """Tagging scores over every tagged word of every sentence (one tag list per sentence).

    ``accuracy`` is the share of words tagged right (how POS taggers are compared);
    ``f1`` is the unweighted mean of the per-tag F1s, so rare tags count as much as
    nouns; ``entity_f1``, only where ``names`` are entity tags (:func:`entity_tags`), is the F1 of
    whole entities as CoNLL's conlleval counts them (``seqeval``): a name found is right only
    with all its words and its type. Sentences must pair up word for word: a length mismatch is
    a decoding bug.
    """
    from sklearn.metrics import accuracy_score, f1_score

    for i, (pred, gold) in enumerate(zip(preds, labels, strict=True)):
        if len(pred) != len(gold):
            raise ValueError(f"sentence {i}: {len(pred)} predicted tags for {len(gold)} tagged words")
    flat_preds = np.concatenate([np.asarray(p, dtype=np.int64) for p in preds] or [np.zeros(0, np.int64)])
    flat_gold = np.concatenate([np.asarray(g, dtype=np.int64) for g in labels] or [np.zeros(0, np.int64)])
    entity = {"entity_f1": _entity_f1(preds, labels, names)} if entity_tags(names) else {}
    if not len(flat_gold):
        return {"accuracy": 0.0, "f1": 0.0, **entity}
    return {
        "accuracy": float(accuracy_score(flat_gold, flat_preds)),
        "f1": float(f1_score(flat_gold, flat_preds, average="macro", zero_division=0)),
        **entity,
    }


#: The prefix sets of the entity schemes (``B-PER`` opens a name, ``I-PER`` goes on with it): IOB1 and
#: IOB2 (BIO), BIOES (``E-`` ends a name, ``S-`` is one of a single word) and BILOU (the same as ``L-``
#: and ``U-``).
_ENTITY_SCHEMES = (frozenset("BI"), frozenset("BIES"), frozenset("BILU"))

#: BILOU's prefixes as BIOES names them, which ``seqeval``'s conlleval-style reading knows.
_AS_BIOES = {"L": "E", "U": "S"}


def entity_tags(names: Sequence[str]) -> bool:
    """Whether tag ``names`` follow an entity scheme of named-entity or chunk data (``O``, ``B-PER``,
    ``I-PER``, ...: BIO, BIOES or BILOU): an entity metric then means something."""
    typed = [name.partition("-") for name in names if name != "O"]
    if not typed or not all(dash and kind for _, dash, kind in typed):
        return False
    prefixes = {prefix for prefix, _, _ in typed}
    return any(prefixes <= scheme for scheme in _ENTITY_SCHEMES)


#: The tag that stands for an id with no name (predict's -1: a tag the model never learned): an entity of a
#: type no prediction has, so it counts as missed, as such a label counts as wrong in the other metrics.
_UNLEARNED = "I-?"


def _entity_f1(preds: Sequence[Sequence[int]], labels: Sequence[Sequence[int]], names: Sequence[str]) -> float:
    from seqeval.metrics import f1_score

    readable = [_AS_BIOES.get(name[:1], name[:1]) + name[1:] if name != "O" else name for name in names]

    def tags(rows: Sequence[Sequence[int]]) -> list[list[str]]:
        return [[readable[t] if 0 <= t < len(readable) else _UNLEARNED for t in row] for row in rows]

    return float(f1_score(tags(labels), tags(preds), zero_division=0))


@register("token")
class TokenHead(TaskHead):
    """A label per word (NER/POS-style tagging): softmax over tags at every position.

    Labels sit on each word's first sub-token; other positions hold :data:`IGNORE`.
    """

    human_name = "token classification"
    default_metric = "accuracy"  # share of words tagged right, as POS taggers report
    auto_class = "AutoModelForTokenClassification"
    token_axis = 1  # [B, tokens, tags]
    text_augmentable = False
    class_probabilities = False
    usual_names: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "tokens": ("tokens", "words"),
        "tags": ("tags", "ner_tags", "pos_tags", "upos"),
    }
    text_column = "tokens"
    reference_column = "tags"
    columns = ("tokens", "tags")
    required_columns = ("tokens", "tags")
    target_columns = ("tags",)
    metric_names = ("accuracy", "f1", "entity_f1")  # entity_f1: entity tags only (token_metrics)
    inference_rank = 0

    def claim_columns(self, frame: pd.DataFrame, columns: Mapping[str, str], named: Collection[str]) -> dict[str, str]:
        """A text column of word lists is the ``tokens`` column, a label column of lists the ``tags``:
        ``--text-col words --label-col pos`` reads a tagging file under any names, even one that also
        holds a ``tags`` column. Nothing is claimed unless both columns are then found (a list of tags
        beside plain text is no tagging file)."""
        claimed = dict(columns)
        for general, own in _CLAIMS.items():
            wanted = own not in claimed or general in named
            if wanted and general in claimed and _holds_lists(frame[claimed[general]]):
                claimed[own] = claimed.pop(general)
        return claimed if set(self.required_columns) <= set(claimed) else dict(columns)

    def recognises(self, frame: pd.DataFrame, columns: Mapping[str, str]) -> bool:
        return "tokens" in columns and "tags" in columns

    def check_rows(self, part: pd.DataFrame, where: Where) -> tuple[pd.DataFrame, dict[str, int]]:
        rows, empty = token_rows(part, where)
        return rows, {"missing_dropped": empty}

    def number_labels(
        self, frames: dict[str, pd.DataFrame], column: str, origin: str, hub_names: Sequence[str] | None
    ) -> tuple[dict[str, pd.DataFrame], tuple[str, ...], dict[str, int]]:
        encoded, names = encode_tags(frames, origin, hub_names)
        used = {tag for part in encoded.values() for row in part["tags"] for tag in row}
        if len(used) < 2:
            only = ", ".join(repr(names[tag]) for tag in used)
            raise AutodistillError(
                f"tagging needs at least 2 distinct tags; tag column {column!r} of {origin} has {len(used)} ({only})"
            )
        return encoded, names, {}

    def describe(self, spec: TaskSpec) -> str:
        return f"{self.human_name}, {spec.num_labels} tags"

    def label_ids(self, frame: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
        ids = {tag: i for i, tag in enumerate(spec.label_names)}
        unknown = sorted({tag for row in frame["tags"] for tag in row} - set(ids))
        if unknown:
            raise ValueError(f"{spec.name}: builder produced tags {unknown} that the spec does not list")
        return frame.assign(tags=[[ids[tag] for tag in row] for row in frame["tags"]])

    def strata(self, frame: pd.DataFrame) -> np.ndarray:
        """The builder's ``stratum`` column if it has one (a tag per word leaves no class per row)."""
        return frame["stratum"].to_numpy() if "stratum" in frame else np.zeros(len(frame), dtype=int)

    def summary(self, splits: Mapping[str, pd.DataFrame], spec: TaskSpec) -> dict[str, dict]:
        """How many words carry each tag, per split, in ``spec.label_names`` order."""
        return {"tags": {name: _tag_counts(part["tags"], spec) for name, part in splits.items()}}

    def classes_present(self, frame: pd.DataFrame) -> int:
        return len({tag for row in frame["tags"] for tag in row})

    def encode(self, frame: pd.DataFrame, spec: TaskSpec, how: EncodeSettings) -> EncodedSplit:
        return encode_words(frame, how.tokenizer, how.max_length)

    def label_space(self, spec: TaskSpec) -> tuple[str, ...]:
        return ("token", *spec.label_names)

    def fitted(self, config: Any, labels: tuple[str, ...]) -> tuple[str, ...] | None:
        return ("token", *labels) if "TokenClassification" in architectures(config) else None

    def kd_view(self, logits: list[Tensor], batch: Batch) -> tuple[list[Tensor], Tensor | None]:
        real = batch["attention_mask"].bool()
        return [lg[real] for lg in logits], None

    def label_view(
        self, logits: list[Tensor], targets: Tensor, spec: TaskSpec, batch: Batch
    ) -> tuple[list[Tensor], list[Tensor], Tensor | None]:
        labelled = targets.sum(-1) > 0 if targets.is_floating_point() else targets != IGNORE
        return [lg[labelled] for lg in logits], [targets[labelled]], None

    def soft_targets(self, labels: Tensor, spec: TaskSpec, width: int) -> Tensor:
        import torch

        if labels.is_floating_point():
            return labels.float()
        labelled = labels != IGNORE
        one_hot = torch.nn.functional.one_hot(labels.clamp(min=0), spec.num_labels).float()
        return one_hot * labelled.unsqueeze(-1)

    def unpack(self, packed: Tensor, width: int) -> list[Tensor]:
        return [packed[:, :width]]

    def empty_labels(self) -> Tensor:
        import torch

        return torch.zeros((0, 1), dtype=torch.long)

    def decode(self, logits: list[Tensor], spec: TaskSpec, split: EncodedSplit, indices: list[int]) -> list:
        tags = logits[0].argmax(-1).cpu().numpy()
        preds = []
        for row, i in enumerate(indices):
            labels = np.asarray(split.labels[i])
            preds.append(tags[row, : len(labels)][labels != IGNORE].tolist())
        return preds

    def gold(self, split: EncodedSplit) -> list:
        return [np.asarray(labels)[np.asarray(labels) != IGNORE].tolist() for labels in split.labels]

    def metrics(self, preds: Sequence, labels: Sequence, names: Sequence[str] = ()) -> dict[str, float]:
        return token_metrics(preds, labels, names)

    def fit_spec(self, spec: TaskSpec, train: pd.DataFrame) -> TaskSpec:
        """Named-entity data (BIO, BIOES or BILOU tags) is scored by entity F1: most of its words are
        ``O``, so word accuracy is high for a tagger that finds no name at all."""
        if entity_tags(spec.label_names) and spec.metric == self.default_metric:
            return dataclasses.replace(spec, metric="entity_f1")
        return spec

    def metric_choices(self, spec: TaskSpec) -> tuple[str, ...]:
        """Entity F1 only where the tags name entities (BIO, BIOES or BILOU)."""
        named = entity_tags(spec.label_names)
        return tuple(metric for metric in self.metric_names if named or metric != "entity_f1")

    def example_parts(self, preds: Sequence, labels: Sequence) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        right = np.array([float(np.sum(np.asarray(p) == np.asarray(g))) for p, g in zip(preds, labels, strict=True)])
        return {"accuracy": (right, np.array([float(len(g)) for g in labels]))}

    def prediction_inputs(self, cells: pd.Series) -> pd.DataFrame:
        """Each cell's words: a list (or a JSON list as a CSV holds one) as it is, so a word that holds a
        space stays one word, as in training; plain text split at spaces. ``text`` joins them, as the
        catalog's text is."""
        words = [
            list(map(str, found)) if (found := _as_list(cell)) is not None else str(cell).split() for cell in cells
        ]
        return pd.DataFrame({"text": [" ".join(row) for row in words], "tokens": words})

    def blank_labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(tags=[[0] * len(words) for words in frame["tokens"]])

    def named(self, preds: list, spec: TaskSpec) -> list:
        return [" ".join(spec.label_names[t] for t in tags) for tags in preds]

    def references(
        self, cells: pd.Series, inputs: pd.DataFrame, preds: list, spec: TaskSpec, where: Where
    ) -> tuple[list, set[str]]:
        """Each row's tag ids, for the words its prediction reached (a sentence cut at the token length
        loses its tail words' tags, as in a run's scores)."""
        ids = {name: i for i, name in enumerate(spec.label_names)}
        rows, found = [], set()
        for row, cell, words, pred in zip(cells.index, cells, inputs["tokens"], preds, strict=True):
            tags = _as_list(cell)
            _check_pairing(words, tags, cells.name, where(row))
            names = [label_text(tag) for tag in tags]
            found.update(names)
            rows.append([ids.get(name, -1) for name in names[: len(pred)]])
        return rows, unknown_labels(found, ids, cells.name)

    def one_answer(self, preds: list, spec: TaskSpec) -> str | None:
        """The tag a model gave every word, where it gave one only (a sentence's tags differ in number)."""
        tags = {tag for row in preds for tag in row}
        return spec.label_names[tags.pop()] if len(tags) == 1 and len(preds) > 1 else None
