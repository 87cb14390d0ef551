"""The runs store's rows as typed records: a run, a sweep trial, a data set's features.

Each record knows its row in the store's tables (``as_row``) and comes back from one
(``*_from_row``), whether SQLite or an export (CSV/Parquet, whose empty cells pandas
reads as NaN) holds it. :mod:`autodistill.store.database` re-exports every public name here,
so callers import them from the store.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from autodistill.space import STACK_SEP, Pipeline, augment_of
from engine import AutodistillError, choices_error, recorded_sizes

#: Where a run comes from: the study's sweeps and searches, the authors' published runs, or a user's
#: own ``autodistill run`` (kept apart so that no analysis of the study reads them).
SOURCES = ("ours", "paper", "user")
#: The dev-split columns under the names an export gives them, beside ``test_score``,
#: ``teacher_test_score`` and ``test_ratio``: the store keeps its older names.
EXPORT_NAMES = {"student_score": "dev_score", "teacher_score": "teacher_dev_score", "ratio": "dev_ratio"}
#: The device of every run of ours stored before runs recorded theirs: the engine's runs until then
#: were collected on CPU machines (the authors' runs keep none: their paper gives none per run),
#: but for the study's MPNet-base -> TinyBERT4 sweep, run on one NVIDIA H100 (docs/performance.md).
EARLIER_DEVICE = "cpu"
EARLIER_GPU_TEACHERS = {"mpnet-base": "cuda:NVIDIA H100"}


def timestamp() -> str:
    """Now, in UTC to the second: when a row was written."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version plus the git commit when running from a checkout, so runs can be traced to code."""
    try:
        version = metadata.version("autodistill")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        if commit:
            version = f"{version}+g{commit}"
    return version


def pipeline_columns(config: Pipeline) -> dict[str, Any]:
    """A pipeline as the runs table's columns hold it: what candidates scored before they run (the
    predictor, the cost and gain models) are laid out in, so that they read like stored runs."""
    return {
        "inter_loss": config.inter_loss,
        "alpha": config.alpha,
        "mapping": config.mapping,
        "pred_loss": config.pred_loss,
        "augmentation": config.stack,
        "mixup": config.mixup,
        "aug_p": config.aug_p,
        "repeated_aug": config.repeated_aug,
    }


@dataclass(frozen=True)
class ModelDescriptor:
    """What the predictor knows of a teacher or student: its size, not its weights."""

    name: str
    layers: int
    hidden: int
    params: int


@dataclass(frozen=True)
class RunRecord:
    """One finished distillation run. ``ratio`` defaults to student score / teacher score (§3.4).

    ``student_score``, ``teacher_score`` and ``ratio`` are on the dev split, which chose the
    run's epoch (selection); the ``test_*`` fields are on the untouched test split (reporting),
    None for runs scored before the test split was read ("dev only"). ``fidelity`` names the
    study budget a run belongs to (``cheap``, ``realistic``; None outside the study) and the
    budget fields say what it was, so the predictor can tell budgets apart. ``device`` (``cpu``,
    ``cuda:<GPU name>``) is where the wall time was measured and ``eval_examples`` the dev examples
    scored after each epoch: with the training work they set what a run costs (None: not known).
    ``cpu_time_s`` is the CPU time the run's process used and ``cpu_threads`` its PyTorch threads: on a
    CPU, CPU time well under the wall time says the run waited for its cores (None: not recorded).
    ``teacher_cache_s`` is what the run spent on its teacher's outputs before training: building the
    teacher-output cache (the first run of a teacher, split and length) or finding it ready, and
    ``teacher_s`` what it spent getting the teacher itself: fine-tuning it (the first run of a data set
    on a machine, or one waiting for that run) or loading it (None: not recorded). ``speed_probe_s``
    is the machine's speed where it trained: seconds of a fixed workload timed before the run
    (``engine.speed_probe_seconds``; None: not recorded).
    """

    dataset: str
    task_kind: str | None
    config: Pipeline
    teacher: ModelDescriptor
    student: ModelDescriptor
    student_score: float
    teacher_score: float
    ratio: float | None = None
    source: str = "ours"
    wall_time_s: float | None = None
    featurizer_version: str = ""
    full_config: Mapping[str, Any] | None = None
    code_version: str = field(default_factory=code_version)
    created_at: str = field(default_factory=timestamp)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    test_score: float | None = None
    teacher_test_score: float | None = None
    test_ratio: float | None = None
    fidelity: str | None = None
    seed: int | None = None
    train_examples: int | None = None
    epochs: int | None = None
    max_length: int | None = None
    split_version: int = 1
    device: str | None = None
    eval_examples: int | None = None
    cpu_time_s: float | None = None
    cpu_threads: int | None = None
    teacher_cache_s: float | None = None
    teacher_s: float | None = None
    speed_probe_s: float | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise choices_error("run source", self.source, SOURCES)
        if self.ratio is None:
            if self.teacher_score <= 0:
                raise AutodistillError(
                    f"teacher score {self.teacher_score!r} on {self.dataset!r} is not positive; "
                    "the distillation ratio (student / teacher) is undefined"
                )
            object.__setattr__(self, "ratio", self.student_score / self.teacher_score)
        if self.full_config is None:
            object.__setattr__(self, "full_config", {"pipeline": self.config.to_dict()})

    def as_row(self) -> tuple[Any, ...]:
        """The values of the ``runs`` table's columns, in :data:`~autodistill.store.schema.RUN_COLUMNS` order."""
        cfg = self.config
        return (
            self.run_id,
            self.source,
            self.dataset,
            self.task_kind,
            cfg.inter_loss,
            cfg.alpha,
            cfg.mapping,
            cfg.pred_loss,
            cfg.stack,
            int(cfg.mixup),
            cfg.aug_p,
            cfg.repeated_aug,
            self.teacher.name,
            self.teacher.layers,
            self.teacher.hidden,
            self.teacher.params,
            self.student.name,
            self.student.layers,
            self.student.hidden,
            self.student.params,
            self.student_score,
            self.teacher_score,
            self.ratio,
            self.wall_time_s,
            self.featurizer_version,
            self.code_version,
            self.created_at,
            json.dumps(self.full_config, sort_keys=True),
            self.test_score,
            self.teacher_test_score,
            self.test_ratio,
            self.fidelity,
            self.seed,
            self.train_examples,
            self.epochs,
            self.max_length,
            self.split_version,
            self.device,
            self.eval_examples,
            self.cpu_time_s,
            self.cpu_threads,
            self.teacher_cache_s,
            self.teacher_s,
            self.speed_probe_s,
        )


def scored_dev_examples(max_eval_examples: int | None, dev_size: int) -> int:
    """The dev examples a run scores after each epoch: a seeded sample of ``max_eval_examples``
    (the budget's cap; None reads the split whole), never more than the split holds."""
    return dev_size if max_eval_examples is None else min(max_eval_examples, dev_size)


def earlier_run_columns(
    source: str, dataset: str, split_version: int | None, config: Mapping[str, Any]
) -> dict[str, Any]:
    """``device`` and ``eval_examples`` of a run from before runs recorded them, from what it kept:
    :data:`EARLIER_DEVICE` for a run of ours (:data:`EARLIER_GPU_TEACHERS` for the teachers swept on
    a GPU), and its budget's ``max_eval_examples`` (``config``'s
    ``budget``, as ``config_json`` holds it) within its split version's dev size as the data cards
    record it. Unknown (None): the authors' runs, a run without our budget, a data set outside the catalog."""
    if source != "ours":
        return {"device": None, "eval_examples": None}
    budget = config.get("budget")
    version = str(int(nullable(split_version) or 1))
    dev_size = recorded_sizes().get(dataset, {}).get(version, {}).get("dev")
    known = budget is not None and dev_size is not None
    teacher = config.get("engine", {}).get("teacher")
    return {
        "device": EARLIER_GPU_TEACHERS.get(teacher, EARLIER_DEVICE),
        "eval_examples": scored_dev_examples(budget.get("max_eval_examples"), dev_size) if known else None,
    }


def earlier_row_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`earlier_run_columns` of a stored or exported run row (its ``config_json`` as text): what a
    store migrated to schema 7 and a study exported before it both give such a run."""
    config = json.loads(row["config_json"])
    return earlier_run_columns(row["source"], row["dataset"], row.get("split_version"), config)


@dataclass(frozen=True)
class DatasetFeatures:
    """The dataset side of the predictor's input (paper Table 7), for one featurizer version.

    ``vocabulary`` is the set of words the data set contains; it is kept so that
    the IDF weights of a data set featurized later can count this one (Table 7's
    N_w). The teacher score is not here: it belongs to a (data set, teacher) pair
    and travels with each run.
    """

    dataset: str
    featurizer_version: str
    task_kind: str | None
    n_examples: int
    n_labels: int
    baseline_score: float | None
    baseline_model: str
    context_embedding: tuple[float, ...]
    task_embedding: tuple[float, ...]
    vocabulary: frozenset[str] = frozenset()

    def as_row(self) -> tuple[Any, ...]:
        """The values of the ``features`` table's columns, stamped with the time of writing."""
        return (
            self.dataset,
            self.featurizer_version,
            self.task_kind,
            self.n_examples,
            self.n_labels,
            self.baseline_score,
            self.baseline_model,
            json.dumps(list(self.context_embedding)),
            json.dumps(list(self.task_embedding)),
            _pack_words(self.vocabulary),
            timestamp(),
        )


@dataclass(frozen=True)
class TrialRecord:
    """One sweep trial's outcome: a distillation (its run is in ``runs``) or a no-KD baseline.

    ``status`` is ``"done"`` or ``"failed"`` (then ``error`` holds the one-line reason
    and the scores are None). ``budget`` and ``config`` are JSON-ready mappings. Scores
    are on dev, ``test_*`` on the test split (None before it was read); ``dev_curve`` is
    the dev score after each epoch, from which the study finds where a baseline plateaus.
    ``pruned_after_epoch``: a search's pruner stopped the run there (its scores are the best
    of the epochs it ran, so it has no ``runs`` row: the predictor learns from whole runs).
    ``source``: ``ours`` for a sweep's or a search's trial, ``user`` for what a user ran by hand
    (:mod:`autodistill.journal`), a teacher's fine-tune among them (kind ``teacher``, its name as the
    student's, its dev score as the student score).
    """

    trial_id: str
    kind: str
    dataset: str
    student_name: str
    status: str
    budget: Mapping[str, Any]
    config: Mapping[str, Any]
    run_id: str | None = None
    student_score: float | None = None
    teacher_score: float | None = None
    ratio: float | None = None
    error: str | None = None
    wall_time_s: float | None = None
    code_version: str = field(default_factory=code_version)
    updated_at: str = field(default_factory=timestamp)
    test_score: float | None = None
    teacher_test_score: float | None = None
    test_ratio: float | None = None
    dev_curve: tuple[float, ...] | None = None
    fidelity: str | None = None
    pruned_after_epoch: int | None = None
    split_version: int = 1
    source: str = "ours"

    def as_row(self) -> tuple[Any, ...]:
        """The values of the ``trials`` table's columns, in table order."""
        return (
            self.trial_id,
            self.kind,
            self.dataset,
            self.student_name,
            self.status,
            self.run_id,
            self.student_score,
            self.teacher_score,
            self.ratio,
            self.error,
            self.wall_time_s,
            json.dumps(self.budget, sort_keys=True),
            json.dumps(self.config, sort_keys=True),
            self.code_version,
            self.updated_at,
            self.test_score,
            self.teacher_test_score,
            self.test_ratio,
            json.dumps(list(self.dev_curve)) if self.dev_curve is not None else None,
            self.fidelity,
            self.pruned_after_epoch,
            self.split_version,
            self.source,
        )


def nullable(value: Any) -> Any:
    """SQLite NULL and a CSV's empty cell (NaN once read by pandas) both mean "absent"."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _optional(row: Mapping[str, Any], name: str, kind: type) -> Any:
    """A column added by a later schema: absent (an older export) or empty means None."""
    value = nullable(row.get(name))
    return None if value is None else kind(value)


def pipeline_of(row: Mapping[str, Any]) -> Pipeline:
    """The pipeline a row of the runs table ran (the inverse of :func:`pipeline_columns`)."""
    stack = tuple(row["augmentation"].split(STACK_SEP)) if nullable(row["augmentation"]) else ()
    return Pipeline(
        mapping=row["mapping"],
        inter_loss=row["inter_loss"],
        alpha=nullable(row["alpha"]),
        pred_loss=row["pred_loss"],
        augment=augment_of(stack, bool(row["mixup"])),
        aug_p=float(row["aug_p"]),
        repeated_aug=int(row["repeated_aug"]),
    )


def record_from_row(row: Mapping[str, Any]) -> RunRecord:
    """A run back from one row of the runs table, as SQLite or an export (CSV/Parquet) holds it;
    an export's dev columns may carry their export names (:data:`EXPORT_NAMES`)."""
    row = {**row, **{name: row[shown] for name, shown in EXPORT_NAMES.items() if shown in row}}
    config = pipeline_of(row)

    def size(value: Any) -> int | None:
        value = nullable(value)
        return None if value is None else int(value)

    teacher, student = (
        ModelDescriptor(
            row[f"{who}_name"], size(row[f"{who}_layers"]), size(row[f"{who}_hidden"]), size(row[f"{who}_params"])
        )
        for who in ("teacher", "student")
    )
    return RunRecord(
        dataset=row["dataset"],
        task_kind=nullable(row["task_kind"]),
        config=config,
        teacher=teacher,
        student=student,
        student_score=float(row["student_score"]),
        teacher_score=float(row["teacher_score"]),
        ratio=float(row["ratio"]),
        source=row["source"],
        wall_time_s=nullable(row["wall_time_s"]),
        featurizer_version=row["featurizer_version"],
        full_config=json.loads(row["config_json"]),
        code_version=row["code_version"],
        created_at=row["created_at"],
        run_id=row["run_id"],
        test_score=_optional(row, "test_score", float),
        teacher_test_score=_optional(row, "teacher_test_score", float),
        test_ratio=_optional(row, "test_ratio", float),
        fidelity=_optional(row, "fidelity", str),
        seed=_optional(row, "seed", int),
        train_examples=_optional(row, "train_examples", int),
        epochs=_optional(row, "epochs", int),
        max_length=_optional(row, "max_length", int),
        split_version=_optional(row, "split_version", int) or 1,
        device=_optional(row, "device", str),
        eval_examples=_optional(row, "eval_examples", int),
        cpu_time_s=_optional(row, "cpu_time_s", float),
        cpu_threads=_optional(row, "cpu_threads", int),
        teacher_cache_s=_optional(row, "teacher_cache_s", float),
        teacher_s=_optional(row, "teacher_s", float),
        speed_probe_s=_optional(row, "speed_probe_s", float),
    )


def trial_from_row(row: Mapping[str, Any]) -> TrialRecord:
    """A trial back from one row of the trials table (SQLite, or a CSV export's empty cells)."""

    def number(name: str) -> float | None:
        value = nullable(row[name])
        return None if value is None else float(value)

    return TrialRecord(
        trial_id=row["trial_id"],
        kind=row["kind"],
        dataset=row["dataset"],
        student_name=row["student_name"],
        status=row["status"],
        budget=json.loads(row["budget_json"]),
        config=json.loads(row["config_json"]),
        run_id=nullable(row["run_id"]),
        student_score=number("student_score"),
        teacher_score=number("teacher_score"),
        ratio=number("ratio"),
        error=nullable(row["error"]),
        wall_time_s=number("wall_time_s"),
        code_version=row["code_version"],
        updated_at=row["updated_at"],
        test_score=_optional(row, "test_score", float),
        teacher_test_score=_optional(row, "teacher_test_score", float),
        test_ratio=_optional(row, "test_ratio", float),
        dev_curve=tuple(json.loads(curve)) if (curve := _optional(row, "dev_curve", str)) else None,
        fidelity=_optional(row, "fidelity", str),
        pruned_after_epoch=_optional(row, "pruned_after_epoch", int),
        split_version=_optional(row, "split_version", int) or 1,
        source=_optional(row, "source", str) or "ours",
    )


def features_from_row(row: Sequence[Any]) -> DatasetFeatures:
    """A data set's features back from the ``features`` table's first ten columns (no ``created_at``)."""
    return DatasetFeatures(
        *row[:7],
        context_embedding=tuple(json.loads(row[7])),
        task_embedding=tuple(json.loads(row[8])),
        vocabulary=_unpack_words(row[9]),
    )


def _pack_words(words: frozenset[str]) -> bytes | None:
    """A vocabulary as one compressed blob: tens of thousands of words would bloat a JSON column."""
    return zlib.compress("\n".join(sorted(words)).encode()) if words else None


def _unpack_words(blob: bytes | None) -> frozenset[str]:
    return frozenset(zlib.decompress(blob).decode().split("\n")) if blob else frozenset()
