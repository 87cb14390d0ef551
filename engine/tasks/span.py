"""Span extraction: an answer span in a context (SQuAD-style), start and end logits over tokens.

Examples are encoded as (question, context) pairs truncated on the context only, with the
answer's character span mapped to start/end token positions; training examples whose
answer falls outside the kept context are dropped and counted (never silently kept with a
wrong target). Scored with exact match and token F1 over normalised answer strings
(SQuAD v1.1), each example's best over its gold answers: a SQuAD ``answers`` cell may hold several
(:data:`GOLD_COLUMN`), and the first is the one trained on.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from engine.errors import AutodistillError
from engine.tasks.encoding import EncodedSplit, EncodeSettings
from engine.tasks.head import TaskHead, Where, architectures, register, written_value

if TYPE_CHECKING:
    import torch
    from torch import Tensor
    from transformers import PreTrainedTokenizerBase

    from engine.models.batch import Batch
    from engine.tasks.spec import TaskSpec


# -- metrics ----------------------------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lowercase, drop punctuation, articles and extra spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def bag_f1(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Bag-of-tokens F1 between a predicted and a gold answer's tokens (0 when none is shared)."""
    overlap = sum((Counter(predicted) & Counter(gold)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def _token_f1(pred: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    return bag_f1(pred_tokens, gold_tokens)


#: An example's gold answers: one text, or several (the first the trained one).
Gold = str | Sequence[str]


def _texts(gold: Gold) -> Sequence[str]:
    return (gold,) if isinstance(gold, str) else gold


def span_metrics(preds: Sequence[str], answers: Sequence[Gold]) -> dict[str, float]:
    if not answers:
        return {"exact_match": 0.0, "f1": 0.0}
    return {name: float(np.mean(scores)) for name, scores in span_scores(preds, answers).items()}


def span_scores(preds: Sequence[str], answers: Sequence[Gold]) -> dict[str, np.ndarray]:
    """Each example's exact match and token F1, the best over its gold answers as SQuAD's own script
    takes it (the metrics are their means)."""
    pairs = [(p, _texts(a)) for p, a in zip(preds, answers, strict=True)]
    return {
        "exact_match": np.array([max(float(normalize_answer(p) == normalize_answer(a)) for a in g) for p, g in pairs]),
        "f1": np.array([max(_token_f1(p, a) for a in g) for p, g in pairs]),
    }


# -- user rows --------------------------------------------------------------------------------------


def _answer_cell(value: object) -> object:
    """A SQuAD ``answers`` cell as a mapping where a CSV holds it as text (:func:`written_value`); any
    other cell as it is."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        parsed = written_value(value)
        return parsed if isinstance(parsed, Mapping) else value
    return value


#: The column that holds every gold answer's text of a row, where some row of the split has more than one.
GOLD_COLUMN = "answer_texts"


def _all_texts(value: object) -> tuple[str, ...]:
    """A cell's distinct non-empty answer texts in their order (a SQuAD cell's every text, else the cell)."""
    texts = value.get("text") if isinstance(value, Mapping) else value
    if not isinstance(texts, list | tuple | np.ndarray):
        texts = [texts]
    return tuple(dict.fromkeys(t for t in texts if isinstance(t, str) and t))


def _first(value: object, key: str) -> object:
    """First answer of a SQuAD-style ``{"text": [...], "answer_start": [...]}`` cell, else the cell."""
    if isinstance(value, Mapping):
        value = value.get(key)
    if isinstance(value, list | tuple | np.ndarray):
        return value[0] if len(value) else None
    return value


def answer_rows(frame: pd.DataFrame, where: Where) -> pd.DataFrame:
    """Answer text and start per row, checked against the context; unanswerable rows are dropped.
    Where some row holds more than one answer (a SQuAD dev split), every row's texts go to
    :data:`GOLD_COLUMN` for scoring; the first answer is the one trained on."""
    answers = frame["answer_text"].map(_answer_cell)
    text = answers.map(lambda v: _first(v, "text"))
    golds = answers.map(_all_texts)
    if golds.map(len).gt(1).any():
        frame = frame.assign(**{GOLD_COLUMN: golds})
    if "answer_start" in frame:
        start = frame["answer_start"].map(lambda v: _first(v, "answer_start"))
    else:
        start = answers.map(lambda v: _first(v, "answer_start") if isinstance(v, Mapping) else None)
    frame = frame.assign(answer_text=text, answer_start=start)
    frame = frame[frame["answer_text"].map(lambda t: isinstance(t, str) and t != "")]
    starts = []
    for row, context, answer, given in zip(
        frame.index, frame["text_pair"], frame["answer_text"], frame["answer_start"], strict=True
    ):
        if given is None or pd.isna(given):
            found = context.find(answer)
            if found < 0:
                raise AutodistillError(f"span answer {answer!r} not found in its context ({where(row)})")
            starts.append(found)
        elif context[int(given) : int(given) + len(answer)] == answer:
            starts.append(int(given))
        else:
            raise AutodistillError(
                f"span answer {answer!r} is not at answer_start {int(given)} of its context ({where(row)})"
            )
    return frame.assign(answer_start=np.asarray(starts, dtype="int64"))


# -- encoding and decoding --------------------------------------------------------------------------


def _fit_questions(questions: list[str], tokenizer: PreTrainedTokenizerBase, max_length: int) -> list[str]:
    """Cut questions too long to leave a context token within ``max_length`` (augmentation can
    lengthen one past it); the tokenizer would refuse the pair. Their answers then fall outside,
    and the example is dropped and counted like any other whose answer is truncated away."""
    limit = max(1, max_length - 4)  # [CLS] question [SEP] context [SEP], at least one context token
    offsets = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return [q[: spans[limit - 1][1]] if len(spans) > limit else q for q, spans in zip(questions, offsets, strict=True)]


def encode_spans(
    frame: pd.DataFrame, tokenizer: PreTrainedTokenizerBase, max_length: int, *, train: bool
) -> EncodedSplit:
    """(question, context) token ids with the answer's (start, end) token positions."""
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
    given = frame[GOLD_COLUMN].tolist() if GOLD_COLUMN in frame else [None] * len(frame)
    golds = [  # a text where there is one, so that one-answer splits score and write as before
        tuple(g) if isinstance(g, list | tuple | np.ndarray) and len(g) > 1 else a
        for g, a in zip(given, answers, strict=True)
    ]
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
        out.answers.append(golds[i])
    if not rows:
        raise AutodistillError("no span example keeps its answer inside max_length; raise --max-length")
    out.labels = np.asarray(labels, dtype=np.int64)
    out.rows = np.asarray(rows, dtype=np.int64)
    return out


def span_texts(
    split: EncodedSplit,
    indices: list[int],
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    max_answer_tokens: int = 30,
) -> list[str]:
    """Best legal (start <= end, inside the context) span per example, as text."""
    import torch

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


@register("span")
class SpanHead(TaskHead):
    """An answer span in the context: start and end logits over token positions (SQuAD-style)."""

    human_name = "span extraction"
    default_metric = "f1"
    auto_class = "AutoModelForQuestionAnswering"
    token_axis = 2  # packed as [B, 2 (start, end), tokens]
    outputs = 2
    class_probabilities = False
    kept_span = ("text_pair", "answer_start", "answer_text")
    reference_column = "answer_text"
    usual_names: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "answer_text": ("answer_text", "answers"),
        "answer_start": ("answer_start",),
    }
    columns = ("text", "text_pair", "answer_start", "answer_text")
    required_columns = ("text_pair", "answer_text")
    target_columns = ("answer_start", "answer_text")
    metric_names = ("exact_match", "f1")
    inference_rank = 1

    def recognises(self, frame: pd.DataFrame, columns: Mapping[str, str]) -> bool:
        return "answer_text" in columns

    def check_rows(self, part: pd.DataFrame, where: Where) -> tuple[pd.DataFrame, dict[str, int]]:
        answered = answer_rows(part, where)
        return answered, {"unanswerable_dropped": len(part) - len(answered)}

    def label_ids(self, frame: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
        return frame.assign(answer_start=frame["answer_start"].astype("int64"))

    def strata(self, frame: pd.DataFrame) -> np.ndarray:
        """Nothing: an answer is no class to balance."""
        return np.zeros(len(frame), dtype=int)

    def split_groups(self, frame: pd.DataFrame) -> pd.Series:
        """The questions on one context: a model tested on a passage it trained on has read the answer."""
        return frame["text_pair"]

    def summary(self, splits: Mapping[str, pd.DataFrame], spec: TaskSpec) -> dict[str, dict]:
        return {}

    def classes_present(self, frame: pd.DataFrame) -> None:
        return None

    def text_sides(self, spec: TaskSpec) -> tuple[str, ...]:
        return ("text", "text_pair")

    def encode(self, frame: pd.DataFrame, spec: TaskSpec, how: EncodeSettings) -> EncodedSplit:
        return encode_spans(frame, how.tokenizer, how.max_length, train=how.train)

    def head_kwargs(self, spec: TaskSpec) -> dict[str, Any]:
        return {}

    def label_space(self, spec: TaskSpec) -> str:
        return "span"

    def fitted(self, config: Any, labels: tuple[str, ...]) -> str | None:
        return "span" if "QuestionAnswering" in architectures(config) else None

    def logits(self, outputs: Any) -> list[Tensor]:
        return [outputs.start_logits, outputs.end_logits]

    def kd_view(self, logits: list[Tensor], batch: Batch) -> tuple[list[Tensor], Tensor | None]:
        return logits, batch["attention_mask"].bool()

    def label_view(
        self, logits: list[Tensor], targets: Tensor, spec: TaskSpec, batch: Batch
    ) -> tuple[list[Tensor], list[Tensor], Tensor | None]:
        # Ids [B, 2] or mixed distributions [B, 2, width]: either way, start then end.
        return logits, [targets[:, 0], targets[:, 1]], batch["attention_mask"].bool()

    def soft_targets(self, labels: Tensor, spec: TaskSpec, width: int) -> Tensor:
        import torch

        return labels.float() if labels.is_floating_point() else torch.nn.functional.one_hot(labels, width).float()

    def pack(self, logits: list[Tensor]) -> Tensor:
        import torch

        return torch.stack(logits, dim=1)

    def unpack(self, packed: Tensor, width: int) -> list[Tensor]:
        return [packed[:, 0, :width], packed[:, 1, :width]]

    def empty_labels(self) -> Tensor:
        import torch

        return torch.zeros((0, 2), dtype=torch.long)

    def decode(self, logits: list[Tensor], spec: TaskSpec, split: EncodedSplit, indices: list[int]) -> list:
        return span_texts(split, indices, logits[0].cpu(), logits[1].cpu())

    def gold(self, split: EncodedSplit) -> list:
        return list(split.answers)

    def metrics(self, preds: Sequence, labels: Sequence, names: Sequence[str] = ()) -> dict[str, float]:
        return span_metrics(preds, labels)

    def example_parts(self, preds: Sequence, labels: Sequence) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {name: (scores, np.ones_like(scores)) for name, scores in span_scores(preds, labels).items()}

    def references(
        self, cells: pd.Series, inputs: pd.DataFrame, preds: list, spec: TaskSpec, where: Where
    ) -> tuple[list, set[str]]:
        """Each cell's answer texts (every one of a SQuAD ``answers`` cell), a prediction scored by
        the best of them as a run scores one; None for a row with no answer (it is not scored, as a
        run drops it from its splits)."""
        texts = [_all_texts(_answer_cell(cell)) for cell in cells]
        return [found or None for found in texts], set()

    def blank_labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(label=0, answer_start=0, answer_text="")

    def named(self, preds: list, spec: TaskSpec) -> list:
        return preds
