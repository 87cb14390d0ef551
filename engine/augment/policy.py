"""The augmentation policy a(x, y) of Eq. 1: Algorithm 1's stack of operations.

Algorithm 1 runs the operations G_1 ... G_n in order on each training example,
feeding each one's output to the next. :class:`AugmentPolicy` does exactly that for
the text operations (``ca``, ``ra``, ``bt``, any order, repeats allowed).

Mixup acts on embeddings, so it runs last, inside the objective, whatever its
position in the stack: a text operation written after ``mixup`` rewrites both
mixed partners' texts before they are embedded, the only meaning it can have.
Each ``mixup`` in the stack is one mixing round.

Reproducibility: an example's augmentation is a pure function of
(seed, draw, example key, position in the stack, text side). ``draw`` counts the
augmented copies of an example: epoch ``e``, copy ``r`` of ``repeated_aug = R`` is
draw ``e·R + r`` while training, and pre-generated copy ``k`` is draw ``k``. The key
is the example's row label in the train split. So which worker process or which
batch an example lands in cannot change its text, and a pre-generated copy is
the very text live augmentation would produce.

Task validity: pair tasks augment each side on its own; span tasks lock the
answer inside the context and recompute ``answer_start``, and an example whose
answer an operation cannot keep (back-translation) is dropped and counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.augment.base import AUGMENTERS, AugmentSettings, Operation, TextItem, TextOperation
from engine.errors import AutodistillError
from engine.tasks import task_head
from engine.tasks.spec import TaskSpec

if TYPE_CHECKING:
    from engine.config import DistillConfig

SEED_MOD = 2**32


@dataclass(frozen=True)
class PolicySpec:
    """Everything that decides augmented text; picklable, for worker processes."""

    ops: tuple[str, ...]
    settings: AugmentSettings
    seed: int
    repeated: int = 1

    @classmethod
    def from_config(cls, config: DistillConfig) -> PolicySpec:
        settings = AugmentSettings(
            aug_p=config.aug_p,
            ca_model=config.ca_model,
            bt_model=config.bt_model,
            bt_pivot=config.bt_pivot,
            mixup_dist=config.mixup_dist,
            mixup_alpha=config.mixup_alpha,
        )
        return cls(tuple(config.augment), settings, config.train.seed, config.repeated_aug)

    @property
    def text_ops(self) -> tuple[str, ...]:
        return tuple(name for name in self.ops if AUGMENTERS.get(name).kind == "text")

    @property
    def mixup_rounds(self) -> int:
        return sum(AUGMENTERS.get(name).kind == "embedding" for name in self.ops)


@dataclass(frozen=True)
class TextExample:
    """One training example in the normalised columns of ``engine.data.schema``."""

    key: int
    text: str
    label: float | int | None = None
    text_pair: str | None = None
    answer_start: int | None = None
    answer_text: str | None = None


def first_words(text: str, max_words: int | None) -> str:
    """``text`` cut to its first ``max_words`` words (unchanged when shorter).

    Every word is at least one token, so words past ``max_length`` can never reach
    the model; augmenting them (back-translating a whole news article for its first
    48 tokens) is pure waste.
    """
    if max_words is None:
        return text
    words = text.split()
    return text if len(words) <= max_words else " ".join(words[:max_words])


def frame_examples(frame: pd.DataFrame, max_words: int | None = None) -> list[TextExample]:
    """The rows of a split as examples, keyed by their row label (stable under subsetting).

    ``max_words`` cuts each text side to the words the model can see (see
    :func:`first_words`); span examples keep their whole context, where the answer must stay findable.
    """
    n = len(frame)
    if "answer_start" in frame:
        max_words = None

    def column(name: str) -> list:
        return frame[name].tolist() if name in frame else [None] * n

    labels, pairs = column("label"), column("text_pair")
    starts, answers = column("answer_start"), column("answer_text")
    return [
        TextExample(
            key=int(key),
            text=first_words(str(text), max_words),
            label=labels[i],
            text_pair=None if pairs[i] is None else first_words(str(pairs[i]), max_words),
            answer_start=None if starts[i] is None else int(starts[i]),
            answer_text=None if answers[i] is None else str(answers[i]),
        )
        for i, (key, text) in enumerate(zip(frame.index, frame["text"].astype(str), strict=True))
    ]


def examples_frame(examples: list[TextExample], spec: TaskSpec) -> pd.DataFrame:
    """Examples back into a frame with the task's normalised columns (plus ``key``)."""
    fields = {"text", "text_pair", "answer_start", "answer_text"}
    kept = [c for c in task_head(spec).frame_columns(spec) if c in fields]
    if any(e.label is not None for e in examples) or "label" in task_head(spec).frame_columns(spec):
        kept.append("label")
    return pd.DataFrame({"key": [e.key for e in examples], **{c: [getattr(e, c) for e in examples] for c in kept}})


def example_rng(seed: int, draw: int, key: int, step: int, side: int) -> np.random.Generator:
    """The generator of one text side of one example at one step of the stack."""
    return np.random.default_rng([seed % SEED_MOD, draw, key % 2**63, step, side])


class AugmentPolicy:
    """Algorithm 1 over a batch of examples, for the text operations of the stack."""

    def __init__(self, spec: PolicySpec, task: TaskSpec) -> None:
        self.spec, self.task = spec, task
        head = task_head(task)
        #: The example's text columns, rewritten one by one, and the span one of them must keep.
        self.sides, self.kept = head.text_sides(task), head.kept_span
        self.operations: list[Operation] = [AUGMENTERS.get(name)(spec.settings) for name in spec.ops]

    @property
    def text_steps(self) -> list[tuple[int, TextOperation]]:
        return [(j, op) for j, op in enumerate(self.operations) if isinstance(op, TextOperation)]

    @property
    def mixup_rounds(self) -> int:
        return self.spec.mixup_rounds

    def check(self) -> None:
        """Fail now, in one line, if an operation's backend is missing (before any training)."""
        for name in dict.fromkeys(self.spec.ops):
            self.operations[self.spec.ops.index(name)].check()

    def prepare(self) -> None:
        """Load every operation's resources now rather than at the first example."""
        for _, op in self.text_steps:
            op.prepare()

    def backends(self) -> dict[str, str]:
        return {op.name: op.backend() for op in self.operations}

    def _sides(self, example: TextExample) -> list[TextItem]:
        items = []
        for column in self.sides:
            span = None
            if self.kept is not None and column == self.kept[0]:
                start = int(getattr(example, self.kept[1]) or 0)
                span = (start, start + len(getattr(example, self.kept[2]) or ""))
            items.append(TextItem(getattr(example, column) or "", span))
        return items

    def _lost_span(self, example: TextExample, sides: list[TextItem]) -> bool:
        """Whether the span to keep is not where the example says it is, before any operation ran."""
        if self.kept is None:
            return False
        return sides[self.sides.index(self.kept[0])].protected != getattr(example, self.kept[2])

    def augment(self, work: list[tuple[TextExample, int]]) -> tuple[list[TextExample], Counter[str]]:
        """Augment each (example, draw); returns the kept examples in order and drop counts
        by reason (the operation that lost a span answer, or ``bad_answer`` for an answer
        that was not at its ``answer_start`` to begin with)."""
        outcomes = self.augment_each(work)
        kept = [o for o in outcomes if isinstance(o, TextExample)]
        return kept, Counter(o for o in outcomes if isinstance(o, str))

    def augment_each(self, work: list[tuple[TextExample, int]]) -> list[TextExample | str]:
        """Per (example, draw): the augmented example, or why it was dropped. Each
        operation gets the whole list in one call (one Apertium call for all of it)."""
        outcomes: list[TextExample | str] = ["" for _ in work]
        alive: list[tuple[int, int, list[TextItem]]] = []  # (work index, draw, sides)
        for n, (example, draw) in enumerate(work):
            sides = self._sides(example)
            if self._lost_span(example, sides):
                outcomes[n] = "bad_answer"
                continue
            alive.append((n, draw, sides))
        for step, op in self.text_steps:
            flat = [(a, s) for a, (_, _, sides) in enumerate(alive) for s in range(len(sides))]
            rngs = [example_rng(self.spec.seed, alive[a][1], work[alive[a][0]][0].key, step, s) for a, s in flat]
            results = op.augment([alive[a][2][s] for a, s in flat], rngs)
            lost: set[int] = set()
            for (a, s), item in zip(flat, results, strict=True):
                if item is None:
                    lost.add(a)
                else:
                    alive[a][2][s] = item
            for a in lost:
                outcomes[alive[a][0]] = op.name
            alive = [entry for a, entry in enumerate(alive) if a not in lost]
        for n, _, sides in alive:
            outcomes[n] = self._rebuild(work[n][0], sides)
        return outcomes

    def _rebuild(self, example: TextExample, sides: list[TextItem]) -> TextExample:
        changes: dict[str, object] = {column: item.text for column, item in zip(self.sides, sides, strict=True)}
        if self.kept is not None:
            item = sides[self.sides.index(self.kept[0])]
            assert item.span is not None
            changes[self.kept[1]], changes[self.kept[2]] = item.span[0], item.protected
        return replace(example, **changes)


def build_policy(config: DistillConfig, task: TaskSpec) -> AugmentPolicy:
    """The run's policy, with every backend checked (one-line errors before training)."""
    if not config.augment:
        raise AutodistillError("no augmentation policy configured (augment is empty)")
    text_ops = [name for name in config.augment if name != "mixup"]
    if text_ops and not task_head(task).text_augmentable:
        raise AutodistillError(
            f"augmentation {', '.join(text_ops)} rewrites words, which would misalign a {task.task_type} task's "
            "per-word labels; use mixup alone for this task"
        )
    policy = AugmentPolicy(PolicySpec.from_config(config), task)
    policy.check()
    return policy
