"""The task-head registry: everything that differs between task types, in one entry each.

Eq. 1 is the same for every task; what changes is the prediction layer. A
:class:`TaskHead` says, for one task type, which Hugging Face model class carries
its head, how that head's outputs become the logits the prediction losses compare,
what the ground-truth targets are, which positions count, how logits are stored in
the teacher-output cache and how predictions are decoded for the metrics. The
objective, the trainer, the teacher cache and the zoo ask the head; none of them
branches on the task type. Adding a task type is one subclass and one
``@TASK_HEADS.register`` line.

Logits always travel as a list of tensors, one per head output: ``[logits]`` for
classification, regression and token tagging, ``[start, end]`` for spans.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import (
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from engine.data.schema import TaskSpec, TaskType
from engine.models.batch import Batch
from engine.models.encoding import IGNORE_INDEX, EncodedSplit, span_texts
from engine.registry import Registry

#: Label id of positions that carry no label (special tokens, word continuations, padding).
IGNORE = IGNORE_INDEX


class TaskHead:
    """What one task type asks of the model, the losses and the metrics.

    The defaults describe a sequence-level classifier; subclasses override what differs.
    """

    #: The ``transformers`` auto class whose head predicts this task.
    model_class: ClassVar[type] = AutoModelForSequenceClassification
    #: Fine-tuning's label loss (``LABEL_LOSSES`` key): CE for classes, MSE for real targets.
    natural_loss: ClassVar[str] = "ce"
    #: The axis of :meth:`pack`'s tensor that runs over tokens, if any (the cache pads it to the
    #: split's longest example and :meth:`unpack` cuts it back to the batch's width).
    token_axis: ClassVar[int | None] = None
    #: False where text augmentation (ca, ra, bt) would break the labels (per-word tags).
    text_augmentable: ClassVar[bool] = True

    def head_kwargs(self, spec: TaskSpec) -> dict[str, Any]:
        """Keyword arguments of ``from_pretrained`` that shape a new head for ``spec``."""
        return {
            "num_labels": spec.num_labels,
            "problem_type": "single_label_classification",
            "id2label": dict(enumerate(spec.label_names)),
            "label2id": {name: i for i, name in enumerate(spec.label_names)},
        }

    def label_space(self, spec: TaskSpec) -> tuple[str, ...] | str:
        """What a model fine-tuned for ``spec`` predicts: named labels, or the kind of output."""
        return tuple(spec.label_names)

    def logits(self, outputs: Any) -> list[Tensor]:
        """The model output's logits, as a list of head outputs."""
        return [outputs.logits]

    def kd_view(self, logits: list[Tensor], batch: Batch) -> tuple[list[Tensor], Tensor | None]:
        """What l^pred(teacher, student) compares: the logits and, for per-position outputs,
        the mask of positions a softmax may put mass on."""
        return logits, None

    def label_view(
        self, logits: list[Tensor], targets: Tensor, spec: TaskSpec, batch: Batch
    ) -> tuple[list[Tensor], list[Tensor], Tensor | None]:
        """What l^pred(y, student) compares: logits, per-head targets and the position mask.

        ``targets`` are the batch's labels, or mixup's soft targets (:meth:`soft_targets`, mixed).
        """
        return logits, [targets], None

    def soft_targets(self, labels: Tensor, spec: TaskSpec, width: int) -> Tensor:
        """Labels as distributions (or real values) that mixup can average (§3.1)."""
        return labels.float() if labels.is_floating_point() else F.one_hot(labels, spec.num_labels).float()

    def pack(self, logits: list[Tensor]) -> Tensor:
        """One tensor per batch for the cache: [B, ...]."""
        return logits[0]

    def unpack(self, packed: Tensor, width: int) -> list[Tensor]:
        """The cache's tensor back to head outputs, cut to the batch's ``width`` tokens."""
        return [packed]

    def cache_slice(self, rows: slice, width: int, dims: int) -> tuple[slice, ...]:
        """Where a packed batch of ``width`` tokens goes in the cache's padded array."""
        return tuple(
            rows if axis == 0 else slice(0, width) if axis == self.token_axis else slice(None) for axis in range(dims)
        )

    def decode(self, logits: list[Tensor], spec: TaskSpec, split: EncodedSplit, indices: list[int]) -> list:
        """Predictions in the task's label space, one per example."""
        return logits[0].argmax(-1).cpu().tolist()

    def gold(self, split: EncodedSplit) -> list:
        """The references the metrics compare predictions with."""
        return split.labels.tolist()

    def blank_labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Unlabelled inputs (prediction) with placeholder labels, so they encode like training data."""
        return frame.assign(label=0)

    def named(self, preds: list, spec: TaskSpec) -> list:
        """Predictions as a user reads them (label names rather than ids)."""
        return [spec.label_names[p] for p in preds]

    def empty_labels(self) -> Tensor:
        """The labels of a batch with no examples (every augmented copy dropped)."""
        return torch.zeros((0,), dtype=torch.long)


TASK_HEADS: Registry[TaskHead] = Registry("task type")


def task_head(spec: TaskSpec) -> TaskHead:
    """The head of ``spec``'s task type."""
    return TASK_HEADS.get(str(spec.task_type))


def text_augmentable(task_type: TaskType | str) -> bool:
    """Whether text augmentation (ca, ra, bt) keeps a task type's labels true: not for per-word tags."""
    return TASK_HEADS.get(str(TaskType(task_type))).text_augmentable


def fitted_label_space(config: Any) -> tuple[str, ...] | str | None:
    """What a saved model already predicts, in :meth:`TaskHead.label_space`'s terms
    (None for a head-less encoder), read from its ``config.json``."""
    architectures = " ".join(getattr(config, "architectures", None) or [])
    labels = tuple(str(config.id2label[i]) for i in sorted(getattr(config, "id2label", None) or {}))
    if "QuestionAnswering" in architectures:
        return "span"
    if "TokenClassification" in architectures:
        return ("token", *labels)
    if "SequenceClassification" not in architectures:
        return None
    if getattr(config, "problem_type", None) == "regression" or config.num_labels == 1:
        return "regression"
    return labels


def _register(name: str):
    def add(cls: type[TaskHead]) -> type[TaskHead]:
        TASK_HEADS.register(name)(cls())
        return cls

    return add


@_register("classification")
class ClassificationHead(TaskHead):
    """One label per text or text pair (softmax over C classes)."""


@_register("regression")
class RegressionHead(TaskHead):
    """One real value per text; trained on standardized targets, decoded back to their units."""

    natural_loss = "mse"

    def head_kwargs(self, spec: TaskSpec) -> dict[str, Any]:
        return {"num_labels": 1, "problem_type": "regression"}

    def label_space(self, spec: TaskSpec) -> str:
        return "regression"

    def label_view(
        self, logits: list[Tensor], targets: Tensor, spec: TaskSpec, batch: Batch
    ) -> tuple[list[Tensor], list[Tensor], Tensor | None]:
        mean, std = spec.label_scale or (0.0, 1.0)
        return logits, [(targets.float().reshape(-1) - mean) / std], None

    def soft_targets(self, labels: Tensor, spec: TaskSpec, width: int) -> Tensor:
        return labels.float().reshape(-1)

    def decode(self, logits: list[Tensor], spec: TaskSpec, split: EncodedSplit, indices: list[int]) -> list:
        mean, std = spec.label_scale or (0.0, 1.0)
        return (logits[0][:, 0].float().cpu() * std + mean).tolist()

    def blank_labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(label=0.0)

    def named(self, preds: list, spec: TaskSpec) -> list:
        return preds

    def empty_labels(self) -> Tensor:
        return torch.zeros((0,), dtype=torch.float32)


@_register("span")
class SpanHead(TaskHead):
    """An answer span in the context: start and end logits over token positions (SQuAD-style)."""

    model_class = AutoModelForQuestionAnswering
    token_axis = 2  # packed as [B, 2 (start, end), tokens]

    def head_kwargs(self, spec: TaskSpec) -> dict[str, Any]:
        return {}

    def label_space(self, spec: TaskSpec) -> str:
        return "span"

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
        return labels.float() if labels.is_floating_point() else F.one_hot(labels, width).float()

    def pack(self, logits: list[Tensor]) -> Tensor:
        return torch.stack(logits, dim=1)

    def unpack(self, packed: Tensor, width: int) -> list[Tensor]:
        return [packed[:, 0, :width], packed[:, 1, :width]]

    def decode(self, logits: list[Tensor], spec: TaskSpec, split: EncodedSplit, indices: list[int]) -> list:
        return span_texts(split, indices, logits[0].cpu(), logits[1].cpu())

    def gold(self, split: EncodedSplit) -> list:
        return list(split.answers)

    def blank_labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(label=0, answer_start=0, answer_text="")

    def named(self, preds: list, spec: TaskSpec) -> list:
        return preds

    def empty_labels(self) -> Tensor:
        return torch.zeros((0, 2), dtype=torch.long)


@_register("token")
class TokenHead(TaskHead):
    """A label per word (NER/POS-style tagging): softmax over tags at every position.

    Labels sit on each word's first sub-token; other positions hold :data:`IGNORE`.
    The teacher's per-token distribution is distilled at every real token, the
    ground truth only where a word starts.
    """

    model_class = AutoModelForTokenClassification
    token_axis = 1  # [B, tokens, tags]
    text_augmentable = False

    def label_space(self, spec: TaskSpec) -> tuple[str, ...]:
        return ("token", *spec.label_names)

    def kd_view(self, logits: list[Tensor], batch: Batch) -> tuple[list[Tensor], Tensor | None]:
        real = batch["attention_mask"].bool()
        return [lg[real] for lg in logits], None

    def label_view(
        self, logits: list[Tensor], targets: Tensor, spec: TaskSpec, batch: Batch
    ) -> tuple[list[Tensor], list[Tensor], Tensor | None]:
        labelled = targets.sum(-1) > 0 if targets.is_floating_point() else targets != IGNORE
        return [lg[labelled] for lg in logits], [targets[labelled]], None

    def soft_targets(self, labels: Tensor, spec: TaskSpec, width: int) -> Tensor:
        if labels.is_floating_point():
            return labels.float()
        labelled = labels != IGNORE
        one_hot = F.one_hot(labels.clamp(min=0), spec.num_labels).float()
        return one_hot * labelled.unsqueeze(-1)

    def unpack(self, packed: Tensor, width: int) -> list[Tensor]:
        return [packed[:, :width]]

    def decode(self, logits: list[Tensor], spec: TaskSpec, split: EncodedSplit, indices: list[int]) -> list:
        tags = logits[0].argmax(-1).cpu().numpy()
        preds = []
        for row, i in enumerate(indices):
            labels = np.asarray(split.labels[i])
            preds.append(tags[row, : len(labels)][labels != IGNORE].tolist())
        return preds

    def gold(self, split: EncodedSplit) -> list:
        return [np.asarray(labels)[np.asarray(labels) != IGNORE].tolist() for labels in split.labels]

    def blank_labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        words = frame["text"].astype(str).str.split()
        return frame.assign(tokens=words, tags=[[0] * len(w) for w in words])

    def named(self, preds: list, spec: TaskSpec) -> list:
        return [" ".join(spec.label_names[t] for t in tags) for tags in preds]

    def empty_labels(self) -> Tensor:
        return torch.zeros((0, 1), dtype=torch.long)
