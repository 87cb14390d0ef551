"""Turn a split's text into token ids once, and batch it with dynamic padding.

Tokenising once per (tokenizer, split, max length) and padding per batch keeps
short-text data sets cheap: most of our data sets have sentences far shorter than
the length cap, and attention cost grows with the padded length.

Each task type encodes its own examples (:meth:`engine.tasks.TaskHead.encode`); this
module holds what they share: the encoded split, the encoding of whole texts with one
label each, and batching. Per-position labels (token tagging) are a 1-D object array of
one int64 array per example, as long as its ``input_ids``; :func:`collate` pads them to a
``[batch, length]`` tensor with :data:`IGNORE_INDEX`, which losses and metrics skip.

Large classification and regression splits (:data:`DISK_MIN_EXAMPLES` rows or more) keep
their token ids on disk, memory-mapped (:mod:`engine.tasks.token_ids`), instead of as
Python lists: tokenised once per (tokenizer, max length, texts) and re-used by later runs.
Small splits stay in lists, as fast as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.tasks.token_ids import RaggedIds, stored_ids

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

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
    answers: list[str | tuple[str, ...]] = field(default_factory=list)  # a span example's answer (or answers)
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> np.ndarray:
        """Tokens per row (special tokens included): what a batch of these rows is padded by."""
        if isinstance(self.input_ids, RaggedIds):
            return self.input_ids.lengths()
        return np.fromiter(map(len, self.input_ids), dtype=np.int64, count=len(self.input_ids))


@dataclass(frozen=True)
class EncodeSettings:
    """How a split is encoded: the tokenizer, the length cap, whether it is for training (span
    examples whose answer is cut off are then dropped) and whether ids go to the on-disk store
    (None: when the split has :data:`DISK_MIN_EXAMPLES` rows or more)."""

    tokenizer: PreTrainedTokenizerBase
    max_length: int
    train: bool
    on_disk: bool | None = None


def encode_texts(frame: pd.DataFrame, how: EncodeSettings, *, paired: bool, label_dtype: type) -> EncodedSplit:
    """Token ids of ``text`` (and ``text_pair``) with one ``label`` per row: how the task types
    that label whole texts encode. Only a fast tokenizer can write the on-disk store."""
    tokenizer, max_length, on_disk = how.tokenizer, how.max_length, how.on_disk
    texts = frame["text"].astype(str).tolist()
    pairs = frame["text_pair"].astype(str).tolist() if paired else None
    if on_disk is None:
        on_disk = len(frame) >= DISK_MIN_EXAMPLES
    if on_disk and tokenizer.is_fast:
        input_ids, token_type_ids = stored_ids(tokenizer, texts, pairs, max_length)
    else:
        enc = tokenizer(texts, pairs, truncation=True, max_length=max_length, return_token_type_ids=True)
        input_ids, token_type_ids = enc["input_ids"], enc["token_type_ids"]
    return EncodedSplit(
        input_ids=input_ids,
        token_type_ids=token_type_ids,
        labels=frame["label"].to_numpy(dtype=label_dtype),
        rows=np.arange(len(frame)),
    )


def _batch_labels(split: EncodedSplit, indices: np.ndarray, length: int) -> torch.Tensor:
    """The chosen examples' labels; per-token labels are padded to ``length`` with IGNORE_INDEX."""
    import torch

    picked = split.labels[indices]
    if split.labels.dtype != object:
        return torch.as_tensor(picked)
    padded = torch.full((len(picked), length), IGNORE_INDEX, dtype=torch.long)
    for row, labels in enumerate(picked):
        padded[row, : len(labels)] = torch.as_tensor(labels, dtype=torch.long)
    return padded


def collate(split: EncodedSplit, indices: list[int] | np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the chosen examples to their longest member."""
    import torch

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
    import torch

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


def limit_examples(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """A seeded random subset of at most ``limit`` rows (the per-run budget cap)."""
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed).sort_index()
