"""What a data set asks of a model: its task type's name, labels and headline metric.

A task type is a name in the task-head registry (:data:`engine.tasks.head.TASK_HEADS`);
:class:`TaskType` only spells the built-in ones, so that code naming one cannot mistype
it. A task type added by a module of its own needs no member here: ``TaskSpec`` takes
any registered name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TaskType(StrEnum):
    """The built-in task types' names (each is its module's registry key)."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    SPAN = "span"
    TOKEN = "token"


@dataclass(frozen=True)
class TaskSpec:
    """What a data set asks of a model: enough to build heads, losses and metrics.

    ``task_type`` is any registered task type's name (a :class:`TaskType` member or a
    plain string); ``metric`` defaults to the type's headline metric.
    """

    name: str
    task_type: str
    description: str
    label_names: tuple[str, ...] = ()
    paired: bool = False
    metric: str = ""
    #: Regression only: (mean, std) of the training targets. Models train on standardized
    #: targets (a raw target such as a year, ~2000, would leave a freshly initialised head
    #: thousands of units off and the loss in the millions) and predictions are mapped back.
    label_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        from engine.tasks.head import TASK_HEADS  # the registry fills as engine.tasks imports its types

        head = TASK_HEADS.get(str(self.task_type))
        object.__setattr__(self, "task_type", head.name)
        if not self.metric:
            object.__setattr__(self, "metric", head.default_metric)

    @property
    def num_labels(self) -> int:
        """Output width of the head: one per class or tag (1 for task types without label names)."""
        return len(self.label_names) or 1

    @property
    def kind(self) -> str:
        """The paper's four task kinds (single/pair classification, regression, span), and token."""
        from engine.tasks.head import TASK_HEADS

        return TASK_HEADS.get(self.task_type).kind(self)
