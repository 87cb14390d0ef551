"""Turn a split's text into token ids once, and batch it with dynamic padding.

Tokenising once per (tokenizer, split, max length) and padding per batch keeps
short-text data sets cheap: most of our data sets have sentences far shorter than
the length cap, and attention cost grows with the padded length.

Span tasks are encoded SQuAD-style: (question, context) pairs truncated on the
context only, with the answer's character span mapped to start/end token
positions. Training examples whose answer falls outside the kept context are
dropped and counted (never silently kept with a wrong target).

Token tasks (a tag per word) are encoded from their pre-split words. Only the first
sub-token of each word carries the word's tag; every other position (special tokens,
a word's continuation pieces, words cut off by truncation, padding) holds
:data:`IGNORE_INDEX`, which losses and metrics skip. ``EncodedSplit.labels`` is then
a 1-D object array holding one int64 array per example, as long as its ``input_ids``;
:func:`collate` pads them to a ``[batch, length]`` tensor with :data:`IGNORE_INDEX`.

Large classification and regression splits (:data:`DISK_MIN_EXAMPLES` rows or more) keep
their token ids on disk, memory-mapped (:mod:`engine.models.token_ids`), instead of as
Python lists: tokenised once per (tokenizer, max length, texts) and re-used by later runs.
Small splits stay in lists, as fast as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from engine.data.schema import TaskSpec, TaskType
from engine.errors import AutodistillError
from engine.models.token_ids import RaggedIds, stored_ids

#: Label of positions that carry no target (PyTorch's cross-entropy ``ignore_index``).
IGNORE_INDEX = -100
#: Rows from which a split's token ids go to the on-disk store: below it, tokenising takes
#: under two seconds and the lists a few tens of MB, so a store would only add files.
DISK_MIN_EXAMPLES = 20_000


@dataclass
class EncodedSplit:
    """Token ids per example plus targets; ``rows`` maps back to the frame's rows.

    ``labels`` is ``[n]`` (class ids or targets), ``[n, 2]`` (span start/end) or, for token
    tasks, an object array of ``n`` per-token int64 arrays (:data:`IGNORE_INDEX` off word starts).
    ``input_ids`` and ``token_type_ids`` are lists of lists, or for large splits
    memory-mapped :class:`RaggedIds` (same ``len``, ``ids[i]`` and iteration, rows as arrays).
    """

    input_ids: list[list[int]] | RaggedIds
    token_type_ids: list[list[int]] | RaggedIds
    labels: np.ndarray
    rows: np.ndarray
    offsets: list[list[tuple[int, int]]] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_split(
    frame: pd.DataFrame,
    spec: TaskSpec,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    *,
    train: bool,
    on_disk: bool | None = None,
) -> EncodedSplit:
    """Token ids and targets of ``frame``. ``on_disk`` puts the ids in the memory-mapped store
    (None: when the split has :data:`DISK_MIN_EXAMPLES` rows or more); only classification and
    regression splits with a fast tokenizer can use it, others are always encoded in memory."""
    if frame.empty:
        raise AutodistillError(f"data set {spec.name!r} has an empty split; nothing to train or evaluate on")
    if spec.task_type is TaskType.TOKEN:
        return _encode_tokens(frame, tokenizer, max_length)
    if spec.task_type is TaskType.SPAN:
        return _encode_span(frame, tokenizer, max_length, train=train)
    texts = frame["text"].astype(str).tolist()
    pairs = frame["text_pair"].astype(str).tolist() if spec.paired else None
    if on_disk is None:
        on_disk = len(frame) >= DISK_MIN_EXAMPLES
    if on_disk and tokenizer.is_fast:
        input_ids, token_type_ids = stored_ids(tokenizer, texts, pairs, max_length)
    else:
        enc = tokenizer(texts, pairs, truncation=True, max_length=max_length, return_token_type_ids=True)
        input_ids, token_type_ids = enc["input_ids"], enc["token_type_ids"]
    dtype = np.float32 if spec.task_type is TaskType.REGRESSION else np.int64
    return EncodedSplit(
        input_ids=input_ids,
        token_type_ids=token_type_ids,
        labels=frame["label"].to_numpy(dtype=dtype),
        rows=np.arange(len(frame)),
    )


def _fit_questions(questions: list[str], tokenizer: PreTrainedTokenizerBase, max_length: int) -> list[str]:
    """Cut questions too long to leave a context token within ``max_length`` (augmentation can
    lengthen one past it); the tokenizer would refuse the pair. Their answers then fall outside,
    and the example is dropped and counted like any other whose answer is truncated away."""
    limit = max(1, max_length - 4)  # [CLS] question [SEP] context [SEP], at least one context token
    offsets = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return [q[: spans[limit - 1][1]] if len(spans) > limit else q for q, spans in zip(questions, offsets, strict=True)]


def _encode_span(
    frame: pd.DataFrame, tokenizer: PreTrainedTokenizerBase, max_length: int, *, train: bool
) -> EncodedSplit:
    questions = _fit_questions(frame["text"].astype(str).tolist(), tokenizer, max_length)
    contexts = frame["text_pair"].astype(str).tolist()
    enc = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        return_offsets_mapping=True,
        return_token_type_ids=True,
    )
    out = EncodedSplit([], [], np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64))
    labels, rows = [], []
    starts = frame["answer_start"].to_numpy()
    answers = frame["answer_text"].astype(str).tolist()
    for i in range(len(frame)):
        sequence_ids = enc.sequence_ids(i)
        offsets = [off if sid == 1 else (0, 0) for off, sid in zip(enc["offset_mapping"][i], sequence_ids, strict=True)]
        char_start, char_end = int(starts[i]), int(starts[i]) + len(answers[i])
        token_start = next((t for t, (s, e) in enumerate(offsets) if s <= char_start < e), None)
        token_end = next((t for t, (s, e) in enumerate(offsets) if s < char_end <= e), None)
        if token_start is None or token_end is None:
            if train:
                out.dropped += 1
                continue
            token_start = token_end = 0  # unreachable answer: scored by text, target unused
        labels.append((token_start, token_end))
        rows.append(i)
        out.input_ids.append(enc["input_ids"][i])
        out.token_type_ids.append(enc["token_type_ids"][i])
        out.offsets.append(offsets)
        out.contexts.append(contexts[i])
        out.answers.append(answers[i])
    if not rows:
        raise AutodistillError("no span example keeps its answer inside max_length; raise --max-length")
    out.labels = np.asarray(labels, dtype=np.int64)
    out.rows = np.asarray(rows, dtype=np.int64)
    return out


def word_start_labels(word_ids: list[int | None], tags: list[int] | np.ndarray) -> np.ndarray:
    """Per-token labels: a word's tag on its first sub-token, :data:`IGNORE_INDEX` elsewhere.

    ``word_ids`` is the fast tokenizer's map from token position to word (None for special
    tokens). Words missing from it (cut off by truncation, or with no sub-token at all)
    get no position, so they are neither trained on nor scored.
    """
    labels = np.full(len(word_ids), IGNORE_INDEX, dtype=np.int64)
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            labels[position] = int(tags[word])
        previous = word
    return labels


def _encode_tokens(frame: pd.DataFrame, tokenizer: PreTrainedTokenizerBase, max_length: int) -> EncodedSplit:
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


def _batch_labels(split: EncodedSplit, indices: np.ndarray, length: int) -> torch.Tensor:
    """The chosen examples' labels; per-token labels are padded to ``length`` with IGNORE_INDEX."""
    picked = split.labels[indices]
    if split.labels.dtype != object:
        return torch.as_tensor(picked)
    padded = torch.full((len(picked), length), IGNORE_INDEX, dtype=torch.long)
    for row, labels in enumerate(picked):
        padded[row, : len(labels)] = torch.as_tensor(labels, dtype=torch.long)
    return padded


def collate(split: EncodedSplit, indices: list[int] | np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the chosen examples to their longest member."""
    if isinstance(split.input_ids, RaggedIds) and isinstance(split.token_type_ids, RaggedIds):
        return _collate_ragged(split, np.asarray(indices, dtype=np.int64), pad_id)
    seqs = [split.input_ids[i] for i in indices]
    length = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    token_type = torch.zeros((len(seqs), length), dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    for row, i in enumerate(indices):
        n = len(split.input_ids[i])
        input_ids[row, :n] = torch.tensor(split.input_ids[i])
        token_type[row, :n] = torch.tensor(split.token_type_ids[i])
        mask[row, :n] = 1
    return {
        "input_ids": input_ids,
        "token_type_ids": token_type,
        "attention_mask": mask,
        "labels": _batch_labels(split, np.asarray(indices), length),
        "index": torch.as_tensor(np.asarray(indices), dtype=torch.long),
    }


def _collate_ragged(split: EncodedSplit, indices: np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """:func:`collate` for ids in a :class:`RaggedIds`: one gather per array, no per-row loop."""
    lengths = split.input_ids.lengths(indices)
    length = int(lengths.max())
    mask = np.arange(length)[None, :] < lengths[:, None]
    return {
        "input_ids": torch.from_numpy(split.input_ids.padded(indices, pad_id, length)),
        "token_type_ids": torch.from_numpy(split.token_type_ids.padded(indices, 0, length)),
        "attention_mask": torch.from_numpy(mask.astype(np.int64)),
        "labels": _batch_labels(split, indices, length),
        "index": torch.from_numpy(indices.copy()),
    }


def span_texts(
    split: EncodedSplit,
    indices: list[int],
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    max_answer_tokens: int = 30,
) -> list[str]:
    """Best legal (start <= end, inside the context) span per example, as text."""
    texts = []
    for row, i in enumerate(indices):
        offsets = split.offsets[i]
        valid = torch.tensor([e > s for s, e in offsets] + [False] * (start_logits.shape[1] - len(offsets)))
        start = start_logits[row].float().masked_fill(~valid, -1e9)
        end = end_logits[row].float().masked_fill(~valid, -1e9)
        scores = start[:, None] + end[None, :]
        n = scores.shape[0]
        legal = torch.triu(torch.ones(n, n, dtype=torch.bool)) & ~torch.triu(
            torch.ones(n, n, dtype=torch.bool), diagonal=max_answer_tokens
        )
        best = int(scores.masked_fill(~legal, -1e18).argmax())
        s_tok, e_tok = divmod(best, n)
        texts.append(split.contexts[i][offsets[s_tok][0] : offsets[e_tok][1]] if valid.any() else "")
    return texts


def limit_examples(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """A seeded random subset of at most ``limit`` rows (the per-run budget cap)."""
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index()
