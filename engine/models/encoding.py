"""Turn a split's text into token ids once, and batch it with dynamic padding.

Tokenising once per (tokenizer, split, max length) and padding per batch keeps
short-text data sets cheap: most of our data sets have sentences far shorter than
the length cap, and attention cost grows with the padded length.

Span tasks are encoded SQuAD-style: (question, context) pairs truncated on the
context only, with the answer's character span mapped to start/end token
positions. Training examples whose answer falls outside the kept context are
dropped and counted (never silently kept with a wrong target).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from engine.data.schema import TaskSpec, TaskType
from engine.errors import AutodistillError


@dataclass
class EncodedSplit:
    """Token ids per example plus targets; ``rows`` maps back to the frame's rows."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: np.ndarray
    rows: np.ndarray
    offsets: list[list[tuple[int, int]]] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_split(
    frame: pd.DataFrame, spec: TaskSpec, tokenizer: PreTrainedTokenizerBase, max_length: int, *, train: bool
) -> EncodedSplit:
    if frame.empty:
        raise AutodistillError(f"data set {spec.name!r} has an empty split; nothing to train or evaluate on")
    texts = frame["text"].astype(str).tolist()
    pairs = frame["text_pair"].astype(str).tolist() if spec.paired else None
    if spec.task_type is TaskType.SPAN:
        return _encode_span(frame, tokenizer, max_length, train=train)
    enc = tokenizer(texts, pairs, truncation=True, max_length=max_length, return_token_type_ids=True)
    dtype = np.float32 if spec.task_type is TaskType.REGRESSION else np.int64
    return EncodedSplit(
        input_ids=enc["input_ids"],
        token_type_ids=enc["token_type_ids"],
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


def collate(split: EncodedSplit, indices: list[int] | np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the chosen examples to their longest member."""
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
        "labels": torch.as_tensor(split.labels[np.asarray(indices)]),
        "index": torch.as_tensor(np.asarray(indices), dtype=torch.long),
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
