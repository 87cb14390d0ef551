"""Task types: one module each, holding everything that differs between them.

A task type's module defines one :class:`TaskHead` subclass, registered under the
type's name with ``@register``: how its columns are recognised, checked and numbered
(the loaders), how the catalog stratifies and summarises its splits, which text
augmentation may rewrite, how its examples are encoded, what its model head is and how
the losses, the teacher cache and the decoder read it, and its metrics (which the meta
layer's baseline feature uses too). Adding a task type is one module here and its line
below; :class:`~engine.tasks.spec.TaskSpec` then accepts its name.

>>> from engine.tasks import task_head
>>> task_head(spec).metrics(preds, gold)[spec.metric]
"""

from engine.tasks import classification, regression, span, token_tagging
from engine.tasks.head import (
    IGNORE,
    TASK_HEADS,
    TaskHead,
    encode_split,
    fitted_label_space,
    head_of,
    one_answer_note,
    real_valued,
    task_head,
    task_kinds,
    task_metrics,
    text_augmentable,
)

__all__ = [
    "IGNORE",
    "TASK_HEADS",
    "TaskHead",
    "classification",
    "encode_split",
    "fitted_label_space",
    "head_of",
    "one_answer_note",
    "real_valued",
    "regression",
    "span",
    "task_head",
    "task_kinds",
    "task_metrics",
    "text_augmentable",
    "token_tagging",
]
