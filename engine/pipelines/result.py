"""What a run leaves behind: :class:`RunResult` (``result.json``) and where runs live.

Runs are keyed by their config (:func:`run_id`), so rerunning an interrupted
command resumes it and rerunning a finished one returns the stored result.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from engine.config import DistillConfig, result_exclude
from engine.data.catalog import latest_split_version
from engine.data.resolution import metric_standard_error, parts_standard_error
from engine.errors import AutodistillError
from engine.paths import subdir
from engine.tasks.head import head_of, task_metrics

RESULT_FILE = "result.json"
#: The phase in which a run gets its teacher: fine-tunes it where none is cached (or waits for the
#: process that does), or loads the cached one.
TEACHER_PHASE = "teacher"
#: The phase in which a run times the machine (:func:`engine.training.speed.speed_probe_seconds`).
SPEED_PROBE_PHASE = "speed probe"
#: The phase in which a run gets its teacher's outputs: builds the teacher-output cache, or finds it ready.
TEACHER_CACHE_PHASE = "teacher cache"
#: The file in a run's folder that keeps its per-example test predictions (:class:`ExamplePredictions`).
PREDICTIONS_FILE = "test_predictions.json"


@dataclass(frozen=True)
class ExamplePredictions:
    """A run's predictions on its test split and the references, in the task's label space and the split's
    row order (``test_predictions.json``): two runs on one split can then be compared example by example
    (:mod:`engine.pipelines.example_predictions` says why and gets them for runs stored before)."""

    task_type: str
    metric: str
    predictions: list
    references: list
    #: The names of the label ids (a tagger's entity F1 reads them); none in files written before.
    label_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_names", tuple(self.label_names))  # JSON gives a list

    def metrics(self, rows: Iterable[int] | None = None) -> dict[str, float]:
        """Every metric of the task on ``rows`` of the split (all of them by default; repeats allowed)."""
        preds, refs = self.predictions, self.references
        if rows is not None:
            preds, refs = [preds[i] for i in rows], [refs[i] for i in rows]
        return task_metrics(self.task_type, preds, refs, self.label_names)

    def score(self, rows: Iterable[int] | None = None) -> float:
        """The headline metric on ``rows`` of the split."""
        return self.metrics(rows)[self.metric]

    def parts(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The headline metric's per-example terms where it is one sum over another (``TaskHead.example_parts``:
        a resample is scored as ``w @ numerator / w @ denominator``, ``w`` counting each example's draws)."""
        return head_of(self.task_type).example_parts(self.predictions, self.references).get(self.metric)

    def standard_error(self, at: int | None = None) -> float | None:
        """How finely this split resolves the headline metric, measured on its examples where the metric is
        one sum over another (:func:`engine.data.resolution.parts_standard_error`); None where it is not.
        ``at``: for a split of that many examples like these (another split of the data set), as a
        standard error shrinks with the root of the examples."""
        parts = self.parts()
        if parts is None:
            return None
        return parts_standard_error(*parts) * (1.0 if at is None else math.sqrt(len(self.references) / at))

    def to_json(self) -> str:
        """The predictions as JSON, each float written with the digits its float32 holds (a model's outputs and
        a regression's labels are float32: the 17 digits of their float64 repr are noise, and half the size)."""
        fields = {"task_type": self.task_type, "metric": self.metric, "label_names": list(self.label_names)}
        return json.dumps(
            {**fields, "predictions": _float32(self.predictions), "references": _float32(self.references)}
        )


def _float32(values: list) -> list:
    """A task's labels (one per example: a class id, a float, an answer, or a sentence's tags) with each float
    at the shortest decimal that reads back as its float32; a task's labels are all of one type."""
    if values and isinstance(values[0], float):
        return [float(text) for text in np.asarray(values, dtype=np.float32).astype(str)]
    return values


def write_predictions(output_dir: Path, found: ExamplePredictions) -> None:
    """Keep ``found`` in the run's folder, beside its result, for whoever compares the run with another."""
    (Path(output_dir) / PREDICTIONS_FILE).write_text(found.to_json())


def written_predictions(output_dir: str | Path) -> ExamplePredictions | None:
    """The test predictions the run in ``output_dir`` wrote when it scored its test split (None: it wrote none)."""
    path = Path(output_dir) / PREDICTIONS_FILE
    return ExamplePredictions(**json.loads(path.read_text())) if path.exists() else None


def dev_standard_error(result: RunResult) -> float:
    """How finely a run's dev split resolves its score: measured on the test predictions the run wrote, at
    dev's size (a standard error shrinks as one over the root of the examples), where its metric is one
    sum over another; else the bound :func:`engine.data.resolution.metric_standard_error` gives on dev's
    examples, which on a tagger's sentences is several times too wide. NaN where dev's size is not known."""
    dev, test = result.scored_examples.get("dev"), result.scored_examples.get("test")
    if not dev:
        return math.nan
    found = written_predictions(result.output_dir) if test and result.output_dir else None
    measured = found.standard_error(at=dev) if found is not None else None
    if measured is not None and math.isfinite(measured):
        return measured
    return metric_standard_error(result.metric, result.student_score, dev)


@dataclass
class RunResult:
    """Everything the runs store records about one run."""

    run_id: str
    kind: str  # "distill" or "finetune" (the no-KD baseline)
    dataset: str
    task_kind: str
    metric: str
    config: dict
    student_score: float
    teacher_score: float
    ratio: float
    student_dev_metrics: dict[str, float]
    teacher_dev_metrics: dict[str, float]
    student_params: int
    teacher_params: int
    student_layers: int
    student_hidden: int
    teacher_layers: int
    teacher_hidden: int
    train_examples: int
    best_epoch: int
    train_seconds: float
    wall_seconds: float
    examples_per_second: float
    teacher_latency_ms: float
    student_latency_ms: float
    output_dir: str
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch: dev metrics, train/<term> means
    team: dict = field(default_factory=dict)  # team runs: members, mode, learned θ and candidates
    augmentation: dict = field(default_factory=dict)  # augmented runs: policy, backends, drops, trainer wait
    # The untouched test split, read once after training (the dev split chose the epoch, so it
    # is not the score to report). Runs stored before test scoring have none.
    student_test_metrics: dict[str, float] = field(default_factory=dict)
    teacher_test_metrics: dict[str, float] = field(default_factory=dict)
    test_ratio: float | None = None
    # Seconds per step of the run (engine.training.clock), their sum about wall_seconds.
    phases: dict[str, float] = field(default_factory=dict)
    # Set when an epoch callback (a search's pruner) stopped the run after this epoch, before its
    # last: the scores are then the best of the epochs it ran. None: it ran all its epochs.
    pruned_after_epoch: int | None = None
    # The models whose latency was timed on a busy machine (engine.pipelines.latency): maybe too high.
    latency_busy: list[str] = field(default_factory=list)
    # Examples each score was computed on, by split ("dev", "test"): a seeded sample (max_eval_examples)
    # or the whole split. Runs stored before this was recorded have none.
    scored_examples: dict[str, int] = field(default_factory=dict)
    # Which version of the data set's splits the scores are on (runs before versions existed: 1).
    split_version: int = 1
    # The device the student trained on (engine.training.device: "cpu", "cuda:<GPU name>"); the
    # wall time was measured there. None: stored before the device was recorded.
    device: str | None = None
    # CPU seconds this process's threads used over the run, and PyTorch's intra-op threads: on a CPU,
    # cpu_seconds well under wall_seconds (under one busy core) says the run waited for its cores.
    # None: stored before they were recorded.
    cpu_seconds: float | None = None
    cpu_threads: int | None = None
    # Seconds of a fixed workload timed on the run's device before it started (engine.training.speed):
    # the machine's speed beside the run's own seconds. None: stored before it was recorded.
    speed_probe_seconds: float | None = None
    # The answer the student gave every dev example, where it gave one only (TaskHead.one_answer): its
    # score is then the label counts', not anything learned. None: its answers differ, or not checked.
    one_answer: str | None = None

    @property
    def teacher_seconds(self) -> float | None:
        """Seconds spent getting the teacher: its fine-tune, once per data set and machine, or a load
        (None: the run kept no phases)."""
        return self.phases.get(TEACHER_PHASE)

    @property
    def teacher_cache_seconds(self) -> float | None:
        """Seconds spent on the teacher's outputs before training (None: the run kept no phases)."""
        return self.phases.get(TEACHER_CACHE_PHASE)

    @classmethod
    def load(cls, output_dir: Path) -> RunResult:
        return cls(**json.loads((Path(output_dir) / RESULT_FILE).read_text()))


#: Config fields added after runs were stored, with the value every earlier run had.
LATER_FIELDS: dict[str, object] = {"columns": None, "teacher_cache": True, "aug_mode": "fresh", "aug_copies": None}


#: Intermediate losses whose name changed meaning after runs were stored, and the name each is
#: hashed under. ``pkd`` computed per token until it became BERT-PKD's [CLS] loss: the per-token
#: loss, now ``pkd-tokens``, is hashed as ``pkd`` so its earlier runs keep their ids (and resume or
#: return their stored results), and the [CLS] ``pkd`` is hashed apart, so that no per-token run
#: folder is ever taken for one of its runs.
HASHED_INTER_LOSS: dict[str, str] = {"pkd-tokens": "pkd", "pkd": "pkd-cls"}


#: A no-KD run ignores the pipeline; its id hashes these fields at the values every earlier no-KD run
#: was hashed with (the defaults before logit KD became the default pipeline), so the default changes
#: neither their ids nor whether a baseline finds its finished folder.
FINETUNE_HASHED: dict[str, str] = {"mapping": "skip", "inter_loss": "mse", "pred_loss": "ce"}


def inert_fields(config: DistillConfig) -> set[str]:
    """Fields that change nothing in this run: the cached mode's without text augmentation."""
    return set() if any(op != "mixup" for op in config.augment) else {"aug_mode", "aug_copies"}


def split_version_of(config: DistillConfig) -> int:
    """The split version a run of ``config`` is scored on: the one it names, else its data set's latest."""
    return config.split_version or latest_split_version(config.dataset)


def with_split_version(config: DistillConfig) -> DistillConfig:
    """``config`` naming the split version it runs on, so its ``config.yaml`` reruns on the same splits."""
    return config.model_copy(update={"split_version": split_version_of(config)})


def run_id(config: DistillConfig, kind: str) -> str:
    """The hash of what a run computes: watch-only fields (``train.report_to``) and fields inert in
    this run are left out, a later field is hashed only when it differs from what earlier runs
    had, and a renamed loss under :data:`HASHED_INTER_LOSS`, so those runs keep their ids.

    The split version is hashed as resolved (unset means the latest) and only when it is not 1,
    the version every run before it had: a run on new splits never returns an old run's scores."""
    earlier = {name: True for name, value in LATER_FIELDS.items() if getattr(config, name) == value}
    exclude = {**earlier, **dict.fromkeys(inert_fields(config), True), **result_exclude(config), "split_version": True}
    if config.columns is not None:  # later fields, left out at the value earlier runs had: UTF-8, the type's metric
        exclude["columns"] = {name: True for name in ("encoding", "metric") if getattr(config.columns, name) is None}
    fields = config.model_dump(mode="json", exclude=exclude)
    if (version := split_version_of(config)) != 1:
        fields["split_version"] = version
    if kind == "finetune":
        fields.update(FINETUNE_HASHED)
    if fields.get("inter_loss") in HASHED_INTER_LOSS:
        fields["inter_loss"] = HASHED_INTER_LOSS[fields["inter_loss"]]
    payload = json.dumps({"kind": kind, **fields}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def default_output_dir(config: DistillConfig, kind: str) -> Path:
    return run_folder(config.dataset, kind, run_id(config, kind))


def run_folder(dataset: str, kind: str, run: str) -> Path:
    """Where the home keeps the run ``run`` (:func:`run_id`) of ``kind`` on ``dataset`` (a catalog name or a file)."""
    name = Path(dataset).stem if Path(dataset).suffix else dataset
    return subdir("runs", name.replace("/", "_")) / f"{kind}-{run}"


def check_same_run(output_dir: Path, config: DistillConfig, kind: str) -> None:
    """Refuse a run folder that holds another run (its ``config.yaml`` hashes to another :func:`run_id`):
    it would have returned that run's stored result for this one, or resumed its checkpoint under other
    settings. A config no longer readable (a field since renamed) is left to the run's own checks."""
    saved = output_dir / "config.yaml"
    if not saved.exists():
        return
    try:
        before = DistillConfig.model_validate(yaml.safe_load(saved.read_text()))
    except (ValueError, yaml.YAMLError):
        return
    stored_kind = RunResult.load(output_dir).kind if (output_dir / RESULT_FILE).exists() else kind
    if stored_kind == kind and run_id(before, kind) == run_id(config, kind):
        return
    differ = _differences(before, config) if stored_kind == kind else [f"a {stored_kind} run, not {kind}"]
    raise AutodistillError(
        f"{output_dir} holds another run ({'; '.join(differ[:3]) or 'other settings'}); give another output "
        "folder, or delete this one to train the run asked for"
    )


def _differences(before: DistillConfig, now: DistillConfig) -> list[str]:
    """``train.epochs 6, not 8``: the fields, dotted, in which a folder's run differs from the one asked for."""

    def flat(model: DistillConfig) -> dict[str, object]:
        dumped = model.model_dump(mode="json", exclude=result_exclude(model))
        out: dict[str, object] = {}
        for key, value in dumped.items():
            inner = value.items() if isinstance(value, dict) else [("", value)]
            out.update({f"{key}.{sub}" if sub else key: item for sub, item in inner})
        return out

    old, new = flat(before), flat(now)
    return [f"{key} {old.get(key)}, not {new.get(key)}" for key in old | new if old.get(key) != new.get(key)]


def run_config(model_dir: Path) -> DistillConfig:
    """The config of the run that wrote ``model_dir`` (its ``config.yaml`` one folder up):
    the data set to score on and the length the student was trained at."""
    path = model_dir.parent / "config.yaml"
    if not path.exists():
        raise AutodistillError(f"no run config beside {str(model_dir)!r} ({path} is missing)")
    return DistillConfig.model_validate(yaml.safe_load(path.read_text()))
