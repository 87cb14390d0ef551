"""The task-head registry: everything that differs between task types, in one entry each.

Eq. 1 is the same for every task; what changes is the prediction layer and what
surrounds it. A :class:`TaskHead` says, for one task type, how a user's columns are
recognised, checked and numbered, how its examples become token ids and targets,
which Hugging Face model class carries its head, how that head's outputs become the
logits the prediction losses compare, what the ground-truth targets are, which
positions count, how logits are stored in the teacher-output cache, how predictions
are decoded and how they are scored. The loaders, the encoder, the objective, the
trainer, the teacher cache, the zoo and the meta layer's baseline ask the head; none of
them branches on the task type. Each task type is one module of :mod:`engine.tasks`.

Logits always travel as a list of tensors, one per head output: ``[logits]`` for
classification, regression and token tagging, ``[start, end]`` for spans.

This package imports nothing of :mod:`engine.data` or :mod:`engine.models` (the data package's
loaders ask the heads, so the heads must sit below them), and it imports torch, transformers,
scikit-learn and SciPy only where a hook uses them: listing the catalog, checking a config or
planning augmentation asks the heads without paying for a deep-learning stack.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from engine.errors import AutodistillError, clipped
from engine.registry import Registry
from engine.tasks.encoding import IGNORE_INDEX, EncodedSplit, EncodeSettings

if TYPE_CHECKING:
    from torch import Tensor
    from transformers import PreTrainedTokenizerBase

    from engine.models.batch import Batch
    from engine.tasks.spec import TaskSpec

#: Label id of positions that carry no label (special tokens, word continuations, padding).
IGNORE = IGNORE_INDEX
#: Where a row came from, for error messages: row label -> "row 3 of data.csv".
Where = Callable[[object], str]
#: The user column names a label (a class or a target) is found under.
LABEL_NAMES = ("label", "labels", "target", "score", "sentiment", "class", "category", "topic", "intent", "rating")


class TaskHead:
    """What one task type asks of the data, the model, the losses and the metrics.

    The defaults describe a sequence-level classifier; subclasses override what differs.
    """

    #: The task type's name (its registry key), set by :func:`register`.
    name: str = ""
    #: The task type's name in prose (cards, messages).
    human_name: ClassVar[str] = ""
    #: The headline metric, as the Distiller paper reports the task type (one of :attr:`metric_names`).
    default_metric: ClassVar[str] = ""

    #: The ``transformers`` auto class whose head predicts this task, by name (see :attr:`model_class`).
    auto_class: ClassVar[str] = "AutoModelForSequenceClassification"
    #: Fine-tuning's label loss (``LABEL_LOSSES`` key): CE for classes, MSE for real targets.
    natural_loss: ClassVar[str] = "ce"
    #: The axis of :meth:`pack`'s tensor that runs over tokens, if any: the cache stores such logits
    #: ragged, one row per token of each example, and :meth:`unpack` reads them back at the batch's width.
    token_axis: ClassVar[int | None] = None
    #: How many head outputs :meth:`logits` returns, each ``spec.num_labels`` wide.
    outputs: ClassVar[int] = 1
    #: False where text augmentation (ca, ra, bt) would break the labels (per-word tags).
    text_augmentable: ClassVar[bool] = True
    #: True where the head predicts real values, not classes: no distribution to take a cross-entropy
    #: over, so the CE prediction loss is refused and MSE compares the outputs themselves.
    real_valued: ClassVar[bool] = False
    #: Normalised column -> the user column names it is found under when no ``*_col`` is given
    #: (the columns every task type shares, ``text`` and ``text_pair``, are the loaders').
    usual_names: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: The normalised column that carries the input text (a token task's word lists stand in).
    text_column: ClassVar[str] = "text"
    #: The normalised columns a task of this type keeps, and those it cannot do without.
    columns: ClassVar[tuple[str, ...]] = ("text", "text_pair", "label")
    required_columns: ClassVar[tuple[str, ...]] = ("label",)
    #: The columns that make two rows with the same text different examples (deduplication).
    target_columns: ClassVar[tuple[str, ...]] = ("label",)
    #: The names of the metrics :meth:`metrics` reports (``TaskSpec.metric`` is one of them).
    metric_names: ClassVar[tuple[str, ...]] = ()
    #: Type inference asks the heads in this order; the first that recognises the columns wins.
    inference_rank: ClassVar[int] = 99
    #: Whether a prediction is a softmax over the label names, so class probabilities can be reported.
    class_probabilities: ClassVar[bool] = True
    #: The normalised column whose cells a labelled prediction input is scored against (:meth:`references`).
    reference_column: ClassVar[str] = "label"
    #: A span augmentation must carry over intact: (the column it sits in, its start column, its
    #: text column); None where no column holds a span.
    kept_span: ClassVar[tuple[str, str, str] | None] = None

    @property
    def model_class(self) -> type:
        """The ``transformers`` auto class named by :attr:`auto_class` (imported here, on first use)."""
        import transformers

        return getattr(transformers, self.auto_class)

    def kind(self, spec: TaskSpec) -> str:
        """The Distiller paper's task kind of ``spec`` (its meta-features name it)."""
        return self.name

    def kinds(self) -> tuple[str, ...]:
        """Every value :meth:`kind` can take (the meta layer codes stored runs by it)."""
        return (self.name,)

    def describe(self, spec: TaskSpec) -> str:
        """The task in a few words, for a data set card: its kind and how many labels."""
        return self.kind(spec) + (f", {spec.num_labels} labels" if spec.label_names else "")

    # -- the catalog's splits ---------------------------------------------------------------------

    def frame_columns(self, spec: TaskSpec) -> tuple[str, ...]:
        """The normalised columns a prepared data set's frames carry, in this order: ``text``, then
        this type's columns (``text_pair`` only where the task is paired or cannot do without it)."""
        pair = spec.paired or "text_pair" in self.required_columns
        return ("text", *(c for c in self.columns if c != "text" and (c != "text_pair" or pair)))

    def label_ids(self, frame: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
        """A catalog builder's rows with their targets as the model reads them (names as ids in
        ``spec.label_names`` order); a label the spec does not list is an error."""
        found = sorted(set(frame["label"]))
        if found != sorted(spec.label_names):
            raise ValueError(f"{spec.name}: builder produced labels {found}, spec lists {list(spec.label_names)}")
        ids = {label: i for i, label in enumerate(spec.label_names)}
        return frame.assign(label=frame["label"].map(ids).astype("int64"))

    def strata(self, frame: pd.DataFrame) -> np.ndarray:
        """What a split is stratified on: the class (task types without one per row override this)."""
        return frame["label"].to_numpy()

    def split_groups(self, frame: pd.DataFrame) -> pd.Series | None:
        """Rows that must stay in one split when a user's file is split (None: each row alone)."""
        return None

    def summary(self, splits: Mapping[str, pd.DataFrame], spec: TaskSpec) -> dict[str, dict]:
        """The splits' targets in a few numbers for ``stats.json`` (here: examples per label)."""
        return {
            "labels": {
                name: {label: int((part["label"] == i).sum()) for i, label in enumerate(spec.label_names)}
                for name, part in splits.items()
            }
        }

    def classes_present(self, frame: pd.DataFrame) -> int | None:
        """How many distinct classes ``frame``'s rows carry (None where targets are not classes)."""
        return int(frame["label"].nunique())

    # -- augmentation -----------------------------------------------------------------------------

    def text_sides(self, spec: TaskSpec) -> tuple[str, ...]:
        """The text columns that augmentation rewrites, each on its own."""
        return ("text", "text_pair") if spec.paired else ("text",)

    # -- reading user data ------------------------------------------------------------------------

    def claim_columns(self, frame: pd.DataFrame, columns: Mapping[str, str], named: Collection[str]) -> dict[str, str]:
        """``columns`` with the general roles (``text``, ``label``) renamed to this type's own where the
        user's column plainly holds this type's kind of value, so that the flags every user knows
        (``--text-col``, ``--label-col``) reach a type whose columns have other names; a role in
        ``named`` (the user's flags) wins over a column found by its usual name. Most types claim nothing."""
        return dict(columns)

    def recognises(self, frame: pd.DataFrame, columns: Mapping[str, str]) -> bool:
        """Whether a file with these resolved ``columns`` is, beyond doubt, a task of this type."""
        return False

    def check_rows(self, part: pd.DataFrame, where: Where) -> tuple[pd.DataFrame, dict[str, int]]:
        """One normalised split's rows checked (an error names the row by ``where``), and how many
        were dropped, by reason."""
        return part, {}

    def number_labels(
        self, frames: dict[str, pd.DataFrame], column: str, origin: str, hub_names: Sequence[str] | None
    ) -> tuple[dict[str, pd.DataFrame], tuple[str, ...], dict[str, int]]:
        """Labels as ids (or numbers): the frames, the label names and drop counts by reason.
        ``column`` is the user's label column, ``hub_names`` a hub data set's own class names."""
        return frames, (), {}

    def fit_spec(self, spec: TaskSpec, train: pd.DataFrame) -> TaskSpec:
        """``spec`` with what the model must learn from the training split (regression's scale)."""
        return spec

    def metric_choices(self, spec: TaskSpec) -> tuple[str, ...]:
        """The metrics a user may make the headline (``--metric``): it picks the best epoch and makes
        the ratio, so it must be one where higher is better, and one :meth:`metrics` reports on ``spec``."""
        return self.metric_names

    # -- encoding ---------------------------------------------------------------------------------

    def encode(self, frame: pd.DataFrame, spec: TaskSpec, how: EncodeSettings) -> EncodedSplit:
        """Token ids and targets of a non-empty ``frame`` (see :func:`encode_split`)."""
        raise NotImplementedError

    # -- the model and its losses -----------------------------------------------------------------

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

    def fitted(self, config: Any, labels: tuple[str, ...]) -> tuple[str, ...] | str | None:
        """A saved model's :meth:`label_space` if its ``config.json`` shows it is this type's head."""
        return None

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
        import torch

        return (
            labels.float()
            if labels.is_floating_point()
            else torch.nn.functional.one_hot(labels, spec.num_labels).float()
        )

    def pack(self, logits: list[Tensor]) -> Tensor:
        """One tensor per batch for the cache: [B, ...]."""
        return logits[0]

    def unpack(self, packed: Tensor, width: int) -> list[Tensor]:
        """The cache's tensor back to head outputs, cut to the batch's ``width`` tokens."""
        return [packed]

    def empty_labels(self) -> Tensor:
        """The labels of a batch with no examples (every augmented copy dropped)."""
        import torch

        return torch.zeros((0,), dtype=torch.long)

    # -- predictions and metrics ------------------------------------------------------------------

    def decode(self, logits: list[Tensor], spec: TaskSpec, split: EncodedSplit, indices: list[int]) -> list:
        """Predictions in the task's label space, one per example."""
        return logits[0].argmax(-1).cpu().tolist()

    def gold(self, split: EncodedSplit) -> list:
        """The references the metrics compare predictions with."""
        return split.labels.tolist()

    def metrics(self, preds: Sequence, labels: Sequence, names: Sequence[str] = ()) -> dict[str, float]:
        """Every metric of this task type (``TaskSpec.metric`` names the headline one); ``names`` are
        the label names of the ids in ``preds`` and ``labels``, for a metric that reads them (a tagger's
        entity F1 needs to know which tags begin an entity)."""
        raise NotImplementedError

    def example_parts(self, preds: Sequence, labels: Sequence) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The metrics that are a sum over examples over another (accuracy: right answers over examples),
        each as its two per-example terms: a resample of the examples is then scored by two dot products,
        not by the metric again (a paired bootstrap scores thousands). Others (a correlation, a macro F1)
        are absent."""
        return {}

    def prediction_inputs(self, cells: pd.Series) -> pd.DataFrame:
        """A prediction input's text cells as the rows this type encodes: a ``text`` column of strings."""
        return pd.DataFrame({"text": cells.astype(str).to_numpy()})

    def blank_labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Unlabelled inputs (prediction) with placeholder labels, so they encode like training data."""
        return frame.assign(label=0)

    def named(self, preds: list, spec: TaskSpec) -> list:
        """Predictions as a user reads them (label names rather than ids)."""
        return [spec.label_names[p] for p in preds]

    def references(
        self, cells: pd.Series, inputs: pd.DataFrame, preds: list, spec: TaskSpec, where: Where
    ) -> tuple[list, set[str]]:
        """A labelled prediction input's labels (``cells``, one per prediction in ``preds``, for the rows
        of ``inputs``, :meth:`prediction_inputs`) as :meth:`metrics` compares them with ``preds``, and
        those the model never learned: id -1, scored as wrong, as a run scores a dev label missing from
        train. A column holding none of the model's labels is an error: it is not this model's label column.
        A reference None is a row that has no label the model could give: it is not scored."""
        ids = {name: i for i, name in enumerate(spec.label_names)}
        names = [label_text(cell) for cell in cells]
        return [ids.get(name, -1) for name in names], unknown_labels(set(names), ids, cells.name)

    def one_answer(self, preds: list, spec: TaskSpec) -> str | None:
        """The answer a model gave every example of several, as :meth:`named` gives it, where it gave
        only one: it learned no more than which answer is most common, whatever its score says. None
        where its answers differ."""
        answers = {str(answer) for answer in self.named(preds, spec)}
        return answers.pop() if len(answers) == 1 and len(preds) > 1 else None


def written_value(text: str) -> object:
    """A list or mapping written as text in a CSV cell, as JSON or in the Python form pandas writes
    (``['a', 'b']``, ``{'text': ['a']}``); the text itself where it is neither. numpy's print of an
    array (``['a' 'b']``, which Python reads as the one word ``'ab'``) is refused: it holds more quoted
    words than the list it reads as; of numbers (``[3 0 7]``), it is no Python at all. A text such as
    ``[Music playing]`` stays text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        bare = text.strip()
        if bare[:1] == "[" and bare[-1:] == "]" and _numbers(bare[1:-1].split()) > 1:
            _refuse_numpy_print(text)
        return text
    if isinstance(value, list) and _quoted_words(text) > sum(isinstance(item, str) for item in value):
        _refuse_numpy_print(text)
    return value


def _numbers(items: list[str]) -> int:
    """How many ``items`` there are where each reads as a number (0 where any does not)."""
    try:
        return len([float(item) for item in items])
    except ValueError:
        return 0


def _refuse_numpy_print(text: str) -> None:
    raise AutodistillError(
        f"a cell holds {clipped(text, 40)}, numpy's print of an array (no commas between items): write the lists "
        """with commas, as JSON (["a", "b"]) or a Python list (['a', 'b'])"""
    )


def _quoted_words(text: str) -> int:
    """How many string literals Python's tokenizer finds in ``text``."""
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return sum(token.type == tokenize.STRING for token in tokens)


def label_text(cell: object) -> str:
    """A label cell as the class name a run gave it: an integer read as a float (a CSV column with a
    gap) loses its ``.0``."""
    if isinstance(cell, float | np.floating) and float(cell).is_integer():
        return str(int(cell))
    return str(cell)


def unknown_labels(found: set[str], known: Collection[str], column: object) -> set[str]:
    """The labels in ``found`` that are not ``known``; an error where none is known."""
    if found and not found & set(known):
        example = ", ".join(map(repr, sorted(found)[:3]))
        raise AutodistillError(f"column {column!r} holds none of the model's labels (e.g. {example})")
    return found - set(known)


def one_answer_note(model: str, answer: str) -> str:
    """What every report says of ``model`` ("the student") when it gives ``answer`` to every dev
    example (:meth:`TaskHead.one_answer`); each adds its own remedy."""
    said = "its score is what that answer alone scores, not what it learned"  # its share, under accuracy
    return f"{model} answers {answer!r} to every dev example: {said}"


TASK_HEADS: Registry[TaskHead] = Registry("task type")


def register(name: str) -> Callable[[type[TaskHead]], type[TaskHead]]:
    """Class decorator: put one instance of the head under the task type's name."""

    def add(cls: type[TaskHead]) -> type[TaskHead]:
        head = cls()
        head.name = name
        TASK_HEADS.register(name)(head)
        return cls

    return add


def task_head(spec: TaskSpec) -> TaskHead:
    """The head of ``spec``'s task type."""
    return TASK_HEADS.get(spec.task_type)


def head_of(task_type: str) -> TaskHead:
    """The head of a task type given by name."""
    return TASK_HEADS.get(str(task_type))


def text_augmentable(task_type: str) -> bool:
    """Whether text augmentation (ca, ra, bt) keeps a task type's labels true: not for per-word tags."""
    return head_of(task_type).text_augmentable


def real_valued(task_type: str) -> bool:
    """Whether a task type predicts real values (regression), so that only the MSE prediction loss applies."""
    return head_of(task_type).real_valued


def task_metrics(task_type: str, preds: Sequence, labels: Sequence, names: Sequence[str] = ()) -> dict[str, float]:
    """All metrics of a task type; pick the headline one with ``TaskSpec.metric``."""
    return head_of(task_type).metrics(preds, labels, names)


def task_kinds() -> tuple[str, ...]:
    """Every task kind of the registered task types, in registration order (a type added later comes
    after the others, so codes by position stay put)."""
    return tuple(kind for name in TASK_HEADS for kind in TASK_HEADS.get(name).kinds())


def fitted_label_space(config: Any) -> tuple[str, ...] | str | None:
    """What a saved model already predicts, in :meth:`TaskHead.label_space`'s terms
    (None for a head-less encoder), read from its ``config.json``."""
    labels = tuple(str(config.id2label[i]) for i in sorted(getattr(config, "id2label", None) or {}))
    for name in TASK_HEADS:
        found = TASK_HEADS.get(name).fitted(config, labels)
        if found is not None:
            return found
    return None


def is_continuous(labels: pd.Series) -> bool:
    """Numeric labels with a fractional value: a regression target, not class ids."""
    if not pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
        return False
    values = labels.to_numpy(dtype=float)
    return bool(np.any(values != np.round(values)))


#: The share of a text label column's cells that must read as numbers for the rest to be taken as a
#: regression target's slips (named then, one by one) rather than the names of classes.
MOSTLY_NUMERIC = 0.95


def reads_as_target(labels: pd.Series) -> bool:
    """:func:`is_continuous`, or a column of text whose cells are numbers with fractions but for a few
    (at most 5 %): a target with a slip in it, such as ``unknown`` among similarity scores."""
    if pd.api.types.is_numeric_dtype(labels) or labels.empty:
        return is_continuous(labels)
    numbers = pd.to_numeric(labels, errors="coerce")
    return bool(numbers.notna().mean() >= MOSTLY_NUMERIC) and is_continuous(numbers.dropna())


def row_place(split: str, row: object, origin: str) -> str:
    """``row 3 of data.csv`` or ``dev row 3 of folder``: rows count from 0 in the file they came from."""
    return f"row {row} of {origin}" if split == "all" else f"{split} row {row} of {origin}"


def architectures(config: Any) -> str:
    """The model classes a saved ``config.json`` names, as one string to search."""
    return " ".join(getattr(config, "architectures", None) or [])


def encode_split(
    frame: pd.DataFrame,
    spec: TaskSpec,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    *,
    train: bool,
    on_disk: bool | None = None,
) -> EncodedSplit:
    """Token ids and targets of ``frame``, encoded by its task type's head. ``on_disk`` puts the
    ids in the memory-mapped store (None: when the split is large); only task types that encode
    plain texts with a fast tokenizer can use it, others are always encoded in memory."""
    if frame.empty:
        raise AutodistillError(f"data set {spec.name!r} has an empty split; nothing to train or evaluate on")
    return task_head(spec).encode(frame, spec, EncodeSettings(tokenizer, max_length, train, on_disk))
