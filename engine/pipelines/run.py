"""The engine's one entry point: ``run(config) -> RunResult``, as plain steps.

A run fine-tunes (or reuses) the teacher, builds the student, distils it with the
configured Eq. 1 objective, and leaves behind what a user keeps:

    <output>/config.yaml     the validated config, so the run can be repeated
    <output>/result.json     scores, distillation ratio, sizes, speed (written last)
    <output>/student/        a standard Hugging Face model folder with a model card
    <output>/test_predictions.json  the student's per-example test predictions and the references
    <output>/tracking/       TensorBoard event files and an MLflow store, if ``train.report_to`` asks

Runs are keyed by their config, so rerunning an interrupted command resumes it
from its checkpoint, and rerunning a finished one returns the stored result. The
meta layer (sweeps, recommendations, searches) calls only :func:`run` and :func:`finetune`.

An ``on_epoch`` callback (:data:`engine.training.callbacks.EpochCallback`) hears each epoch's
dev score and may stop the run there: the run then ends as any run does (the best student
so far, scored on test, exported) with ``pruned_after_epoch`` set, and keeps its checkpoint,
so calling it again carries on from there like an interrupted run. The callback is no part
of the config, so it leaves the run id alone.

The steps: :func:`prepare` (data, teacher, student, encoded splits), one objective
builder (:data:`OBJECTIVES`: the no-KD baseline, single-teacher KD, or a team),
the one trainer, then :func:`collect` and :func:`publish`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from engine.augment import AugmentPolicy, build_policy
from engine.augment.copies import CachedCopies
from engine.augment.training import AugmentedCopies, build_feed
from engine.components import check_components
from engine.config import DistillConfig, TrainSettings
from engine.data.cards import data_notes
from engine.data.schema import TaskData
from engine.errors import AutodistillError
from engine.kd.objective import DistillationObjective, SupervisedObjective
from engine.kd.sampled_cache import SampleRows, sample_cache
from engine.kd.teacher_cache import TeacherCache, split_fingerprint
from engine.models.general import check_unread_scores
from engine.models.zoo import build_student, check_length, check_student, count_parameters, load_config
from engine.pipelines import reuse
from engine.pipelines.example_predictions import ExamplePredictions, split_predictions, write_predictions
from engine.pipelines.export import save_student
from engine.pipelines.latency import model_latency
from engine.pipelines.lengths import cut_line
from engine.pipelines.result import (
    RESULT_FILE,
    SPEED_PROBE_PHASE,
    TEACHER_CACHE_PHASE,
    TEACHER_PHASE,
    RunResult,
    check_same_run,
    default_output_dir,
    run_id,
    with_split_version,
)
from engine.tasks import task_head
from engine.tasks.encoding import EncodedSplit, limit_examples
from engine.tasks.spec import TaskSpec
from engine.teachers.finetune import TEACHER_SETTINGS, FinetunedModel, finetune_teacher
from engine.teachers.team import Team, prepare_team
from engine.tracking import open_tracking
from engine.training import distributed
from engine.training.callbacks import EpochCallback, EpochListener, TrainerCallback
from engine.training.clock import Clock
from engine.training.device import device_label
from engine.training.progress import announce
from engine.training.speed import speed_probe_seconds
from engine.training.trainer import Objective, Trainer, TrainResult, evaluate_model, predict, seed_everything


def run(
    config: DistillConfig,
    *,
    output_dir: Path | None = None,
    show_progress: bool = True,
    task: TaskData | None = None,
    on_epoch: EpochCallback | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> RunResult:
    """Distil ``config.student`` from ``config.teacher`` on ``config.dataset`` (Eq. 1); ``callbacks``
    hear the trainer's events (:class:`~engine.training.callbacks.TrainerCallback`) before the run's own."""
    return _execute(config, "distill", output_dir, show_progress, task, on_epoch, callbacks)


def finetune(
    config: DistillConfig,
    *,
    output_dir: Path | None = None,
    show_progress: bool = True,
    task: TaskData | None = None,
    on_epoch: EpochCallback | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> RunResult:
    """The no-KD baseline: the same student and settings, trained on labels alone."""
    return _execute(config, "finetune", output_dir, show_progress, task, on_epoch, callbacks)


@dataclass
class Prepared:
    """Everything a run's objective and trainer are built from."""

    config: DistillConfig
    kind: str
    task: TaskData
    teacher_info: FinetunedModel
    teacher: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    student: PreTrainedModel
    train_frame: object
    train: EncodedSplit
    dev: EncodedSplit
    test: EncodedSplit | None  # None: the data set has no test rows
    policy: AugmentPolicy | None
    team: Team | None
    show_progress: bool
    feed: object | None = None  # augmented copies in the making (engine.augment.feed.AugmentFeed)
    copies: CachedCopies | None = None  # cached mode: every kept augmented copy, encoded once
    device: str = "cuda" if torch.cuda.is_available() else "cpu"

    @property
    def spec(self) -> TaskSpec:
        return self.task.spec


def _execute(
    config: DistillConfig,
    kind: str,
    output_dir: Path | None,
    show_progress: bool,
    task: TaskData | None,
    on_epoch: EpochCallback | None,
    callbacks: Sequence[TrainerCallback],
) -> RunResult:
    check_components(config)
    config = with_split_version(config)
    config, task = with_task_defaults(config, task)
    output_dir = Path(output_dir) if output_dir else default_output_dir(config, kind)
    check_same_run(output_dir, config, kind)
    stored = _finished(output_dir)
    if stored is not None:
        return stored
    load_config(config.teacher)  # every name is checked before the teacher's fine-tune, which takes minutes
    check_student(config.student, config.teacher)
    check_unread_scores(config.student, config.dataset)
    check_length(config.train.max_length, config.student, config.teacher)
    # The same run started twice on one home (two sweeps sharing a baseline, say) is trained once:
    # the second waits for the folder's lock and then returns the first one's result.
    with distributed.exclusive_run(output_dir, f"running {kind} {output_dir.name}"):
        stored = _finished(output_dir)
        if stored is not None:
            return stored
        return _train(config, kind, output_dir, show_progress, task, on_epoch, callbacks)


def with_task_defaults(config: DistillConfig, task: TaskData | None) -> tuple[DistillConfig, TaskData]:
    """``config`` with what it leaves to the task filled in (an unset prediction loss is the task head's
    natural one: CE for classes, MSE for a real-valued target), and the task. The task is loaded here,
    before a run folder is made, so that a misspelt data set or a bad file leaves nothing behind; it is
    handed on so that the run does not load it twice."""
    task = task or reuse.task(config.dataset, config.data_options())
    if config.pred_loss is None:
        config = config.model_copy(update={"pred_loss": task_head(task.spec).natural_loss})
    return config, task


def _finished(output_dir: Path) -> RunResult | None:
    """The result a run folder holds, if its run finished (a stopped run carries on from its checkpoint)."""
    if not (output_dir / RESULT_FILE).exists():
        return None
    stored = RunResult.load(output_dir)
    return stored if stored.pruned_after_epoch is None else None


def _train(
    config: DistillConfig,
    kind: str,
    output_dir: Path,
    show_progress: bool,
    task: TaskData | None,
    on_epoch: EpochCallback | None,
    given: Sequence[TrainerCallback],
) -> RunResult:
    clock = Clock()
    with clock(SPEED_PROBE_PHASE):
        probe_seconds = speed_probe_seconds()
    if distributed.is_main():
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    prepared = prepare(config, kind, task, show_progress, clock)
    with clock(TEACHER_CACHE_PHASE):
        objective, train = OBJECTIVES[objective_kind(prepared)](prepared)
    tracked = config.model_dump(mode="json")
    callbacks: list[TrainerCallback] = list(given)
    if on_epoch is not None:
        callbacks.append(EpochListener(on_epoch, prepared.spec.metric))
    if prepared.feed is not None:
        callbacks.append(AugmentedCopies(prepared.feed))
    if prepared.team is not None:
        callbacks.extend(prepared.team.callbacks(objective, prepared.student))
    with (
        open_tracking(config.train.report_to, output_dir / "tracking", output_dir.name, tracked) as tracking,
        prepared.feed or nullcontext(),  # its workers stop however training ends
    ):
        trainer = build_trainer(prepared, objective, train, output_dir, [tracking, *callbacks])
        with clock("training"):  # batches, the dev evaluation after each epoch, checkpoints
            fitted = trainer.fit()
        clock.carry_over(fitted.earlier_seconds, fitted.earlier_cpu_seconds, step="training")
        student = trainer.accelerator.unwrap_model(trainer.student).cpu()
        result = collect(prepared, student, fitted, objective, trainer, output_dir, clock)
        result.speed_probe_seconds = probe_seconds
        tracking.log_metrics(result_metrics(result), fitted.steps)
    publish(prepared, student, result, output_dir, clock)
    return result


def prepare(config: DistillConfig, kind: str, task: TaskData | None, show_progress: bool, clock: Clock) -> Prepared:
    """Load the data, fine-tune (or reuse) the teacher or team, build the student, encode the splits."""
    with clock("data"):
        task = task or reuse.task(config.dataset, config.data_options())
        check_split_version(config, task)
        for note in data_notes(task) if show_progress and distributed.is_main() else []:
            announce(f"{task.spec.name}: {note}")
        # Augmentation backends are checked before any training: a missing translator fails in seconds.
        policy = build_policy(config, task.spec) if kind == "distill" and config.augment else None
    with clock("tokenise"):
        # The teacher's own tokenizer, which its fine-tune keeps and a team's members share: the splits are
        # encoded, and a cut at max_length said, before the minutes a teacher's fine-tune may take.
        tokenizer = reuse.tokenizer(config.teacher)
        frames, splits = _encode_splits(task, config.train, tokenizer)
    cut = cut_line(splits["train"], config.train.max_length)
    if show_progress and cut and distributed.is_main():
        announce(f"{task.spec.name}: {cut}")
    with clock(TEACHER_PHASE):
        team, teacher_info = _teacher_or_team(config, kind, task, show_progress)
        teacher = reuse.teacher(str(teacher_info.model_dir), task.spec)
    with clock("student"):
        seed_everything(config.train.seed)  # the student's fresh layers and head
        student = build_student(config.student, config.teacher, task.spec)
    prepared = Prepared(
        config=config,
        kind=kind,
        task=task,
        teacher_info=teacher_info,
        teacher=teacher,
        tokenizer=tokenizer,
        student=student,
        train_frame=frames["train"],
        **splits,
        policy=policy,
        team=team,
        show_progress=show_progress,
    )
    if policy is not None:
        with clock("augmented copies"):
            _start_augmentation(prepared)
    return prepared


def check_split_version(config: DistillConfig, task: TaskData) -> None:
    """A task handed in ready-made must be on the splits the config names, or the run would record
    scores under the wrong split version."""
    found = task.extra.get("split_version", 1)
    if config.split_version is not None and found != config.split_version:
        raise AutodistillError(
            f"the run asks for split version {config.split_version} of {config.dataset!r}, "
            f"but the data handed to it is split version {found}"
        )


def _teacher_or_team(
    config: DistillConfig, kind: str, task: TaskData, show_progress: bool
) -> tuple[Team | None, FinetunedModel]:
    """The fine-tuned teacher, or a team whose best member is reported as "the teacher"
    (the student then shares ``config.teacher``'s tokenizer)."""
    if config.team is not None and kind == "distill":
        team = prepare_team(config.team, task, TEACHER_SETTINGS, show_progress=show_progress)
        return team, team.reference.info
    return None, finetune_teacher(config.teacher, task, TEACHER_SETTINGS, show_progress=show_progress)


def _encode_splits(
    task: TaskData, settings: TrainSettings, tokenizer: PreTrainedTokenizerBase
) -> tuple[dict[str, pd.DataFrame], dict[str, EncodedSplit | None]]:
    """The run's rows of each split (seeded caps) and their tokens; an empty test split gives None."""
    frames = {
        "train": limit_examples(task.train, settings.max_train_examples, settings.seed),
        "dev": limit_examples(task.dev, settings.max_eval_examples, settings.seed),
        "test": limit_examples(task.test, settings.max_eval_examples, settings.seed),
    }
    splits = {
        name: None
        if frame.empty and name == "test"
        else reuse.encoded(
            frame, task.spec, tokenizer, settings.max_length, train=name == "train", source=getattr(task, name)
        )
        for name, frame in frames.items()
    }
    return frames, splits


def _start_augmentation(prepared: Prepared) -> None:
    """Cached mode's copies (made or found), then the feed, whose workers load their resources
    while the teacher cache is built."""
    config, policy = prepared.config, prepared.policy
    assert policy is not None
    if config.aug_mode == "cached" and policy.text_steps:
        with distributed.main_first():
            prepared.copies = CachedCopies.prepare(
                prepared.task, config, policy, prepared.train_frame, prepared.tokenizer
            )
    prepared.feed = build_feed(
        policy, config, prepared.student, prepared.train_frame, prepared.train, prepared.tokenizer, prepared.copies
    )


# --------------------------------------------------------------------------- objectives


def objective_kind(prepared: Prepared) -> str:
    """Which objective a run trains: the no-KD baseline, a team, or one teacher."""
    if prepared.kind == "finetune":
        return "supervised"
    return "team" if prepared.team is not None else "single"


def _supervised(prepared: Prepared) -> tuple[Objective, EncodedSplit]:
    return SupervisedObjective(prepared.spec), prepared.train


def _team(prepared: Prepared) -> tuple[Objective, EncodedSplit]:
    assert prepared.team is not None
    return prepared.team.objective(
        prepared.config,
        prepared.task,
        prepared.train,
        prepared.tokenizer.pad_token_id,
        device=prepared.device,
        show_progress=prepared.show_progress,
    )


def _single(prepared: Prepared) -> tuple[Objective, EncodedSplit]:
    """Eq. 1 from one teacher, its outputs on the original examples read from the cache
    (only the hidden states the mapping reads), or computed live with ``teacher_cache: false``."""
    teacher = prepared.teacher.to(prepared.device)
    objective = DistillationObjective(
        prepared.spec,
        prepared.config,
        teacher,
        student_layers=prepared.student.config.num_hidden_layers,
        student_width=prepared.student.config.hidden_size,
        augmentation=prepared.policy,
    )
    if prepared.config.teacher_cache:
        layers = objective.mapping.teacher_layers if objective.mapping is not None else ()
        objective.cache = _train_cache(prepared, teacher, layers)
        if prepared.copies is not None and not objective.mixup_rounds:  # mixup needs the live teacher
            objective.aug_cache = _teacher_cache(prepared, teacher, prepared.copies.split, ())
    return objective, prepared.train


def _teacher_cache(prepared: Prepared, teacher: PreTrainedModel, split: EncodedSplit, layers: tuple) -> TeacherCache:
    """The teacher's outputs on ``split`` (hidden states ``layers``), built once by the main process."""
    with distributed.main_first():
        return TeacherCache.build_or_load(
            teacher,
            str(prepared.teacher_info.model_dir),
            prepared.spec,
            split,
            prepared.tokenizer.pad_token_id,
            layers=layers,
            device=prepared.device,
            show_progress=prepared.show_progress,
        )


def _train_cache(prepared: Prepared, teacher: PreTrainedModel, layers: tuple) -> TeacherCache | SampleRows:
    """The teacher's outputs on the training examples. A capped run's seeded sample may read
    them from a cache over the whole training split (rent or buy: :mod:`engine.kd.sampled_cache`)."""
    task, tok, max_length = prepared.task, prepared.tokenizer, prepared.config.train.max_length
    sampled = len(prepared.train_frame) < len(task.train)
    found = reuse.positions(prepared.train_frame, task.train) if sampled else None
    if found is None:
        return _teacher_cache(prepared, teacher, prepared.train, layers)
    teacher_id = str(prepared.teacher_info.model_dir)
    what = f"{teacher_id}|{tok.name_or_path}|{len(tok)}|{max_length}|{prepared.spec!r}".encode()
    whole_id = hashlib.sha256(reuse.fingerprint(task.train) + what).hexdigest()[:16]
    with distributed.main_first():
        return sample_cache(
            teacher,
            teacher_id,
            prepared.spec,
            prepared.train,
            found,
            whole_id,
            lambda: reuse.encoded(task.train, prepared.spec, tok, max_length, train=True),
            len(task.train),
            tok.pad_token_id,
            layers=layers,
            device=prepared.device,
            show_progress=prepared.show_progress,
        )


OBJECTIVES: dict[str, Callable[[Prepared], tuple[Objective, EncodedSplit]]] = {
    "supervised": _supervised,
    "team": _team,
    "single": _single,
}


# --------------------------------------------------------------------------- training and results


def build_trainer(
    prepared: Prepared,
    objective: Objective,
    train: EncodedSplit,
    output_dir: Path,
    callbacks: list[TrainerCallback],
) -> Trainer:
    """The one training loop, told its events through ``callbacks`` (tracking, a pruner, the
    augmentation feed, a learned team's θ step)."""
    return Trainer(
        prepared.student,
        prepared.spec,
        train,
        prepared.dev,
        prepared.config.train,
        objective,
        output_dir / "work",
        prepared.tokenizer.pad_token_id,
        show_progress=prepared.show_progress,
        description=f"{prepared.kind} {prepared.config.student} on {prepared.spec.name}",
        callbacks=callbacks,
    )


def collect(
    prepared: Prepared,
    student: PreTrainedModel,
    fitted: TrainResult,
    objective: Objective,
    trainer: Trainer,
    output_dir: Path,
    clock: Clock,
) -> RunResult:
    """The run's record: student and teacher scores on the same dev and test examples, sizes, speed."""
    spec, config, teacher = prepared.spec, prepared.config, prepared.teacher
    teacher_dev, teacher_test, teacher_pad = teacher_splits(prepared)
    with clock("scoring"), distributed.main_first():
        teacher_metrics = teacher_metrics_on(
            prepared.teacher_info, teacher, spec, teacher_dev, teacher_pad, prepared.device
        )
    teacher_score = teacher_metrics[spec.metric]
    with clock("scoring"):
        test, predictions = score_test(prepared, student, teacher_test, teacher_pad)
    if predictions is not None and distributed.is_main():
        write_predictions(output_dir, predictions)
    # Timed once, into each model's record (the figure every page shows), then read back by the others.
    with clock("latency timing"), distributed.main_first():
        teacher_ms = model_latency(prepared.teacher_info.model_dir, teacher, teacher_dev, teacher_pad)
        student_ms = model_latency(output_dir / "student", student, prepared.dev, prepared.tokenizer.pad_token_id)
    return RunResult(
        run_id=run_id(config, prepared.kind),
        kind=prepared.kind,
        dataset=spec.name,
        task_kind=spec.kind,
        metric=spec.metric,
        config=config.model_dump(mode="json"),
        student_score=fitted.dev_score,
        teacher_score=teacher_score,
        ratio=distillation_ratio(fitted.dev_score, teacher_score),
        student_dev_metrics=fitted.dev_metrics,
        teacher_dev_metrics=teacher_metrics,
        student_params=count_parameters(student),
        teacher_params=count_parameters(teacher),
        student_layers=student.config.num_hidden_layers,
        student_hidden=student.config.hidden_size,
        teacher_layers=teacher.config.num_hidden_layers,
        teacher_hidden=teacher.config.hidden_size,
        train_examples=len(trainer.train_split),
        best_epoch=fitted.best_epoch,
        pruned_after_epoch=fitted.stopped_after_epoch,
        split_version=prepared.task.extra.get("split_version", 1),
        train_seconds=fitted.train_seconds,
        wall_seconds=0.0,
        examples_per_second=fitted.examples_per_second,
        teacher_latency_ms=teacher_ms.ms,
        student_latency_ms=student_ms.ms,
        latency_busy=[who for who, timed in (("teacher", teacher_ms), ("student", student_ms)) if timed.busy],
        scored_examples={"dev": len(prepared.dev), **({"test": len(prepared.test)} if test else {})},
        device=device_label(trainer.accelerator.device),
        output_dir=str(output_dir),
        history=fitted.history,
        team=prepared.team.report(objective) if prepared.team else {},
        augmentation=next((c.report() for c in trainer.callbacks if isinstance(c, AugmentedCopies)), {}),
        one_answer=fitted.one_answer,
        **test,
    )


def teacher_splits(prepared: Prepared) -> tuple[EncodedSplit, EncodedSplit | None, int]:
    """Dev and test examples as the reported teacher reads them (a team's reference may
    tokenise differently from the student), and its pad id."""
    if prepared.team is None:
        return prepared.dev, prepared.test, prepared.tokenizer.pad_token_id
    dev, pad = prepared.team.reference_split(prepared.task, prepared.config.train, "dev")
    test, _ = prepared.team.reference_split(prepared.task, prepared.config.train, "test")
    assert dev is not None  # encode_split refused an empty dev split before training
    return dev, test, pad


def score_test(
    prepared: Prepared, student: PreTrainedModel, teacher_test: EncodedSplit | None, teacher_pad: int
) -> tuple[dict, ExamplePredictions | None]:
    """Student and teacher on the untouched test split, read once, after the dev split chose the epoch:
    the run's test fields, and the student's predictions (None: no test split)."""
    if prepared.test is None or teacher_test is None:
        return {}, None
    spec, device = prepared.spec, prepared.device
    with distributed.main_first():
        teacher = teacher_metrics_on(prepared.teacher_info, prepared.teacher, spec, teacher_test, teacher_pad, device)
    preds = predict(student.to(device), spec, prepared.test, prepared.tokenizer.pad_token_id, 64, device)
    student.cpu()
    found = split_predictions(spec, preds, prepared.test)
    metrics = found.metrics()
    return {
        "student_test_metrics": metrics,
        "teacher_test_metrics": teacher,
        "test_ratio": distillation_ratio(metrics[spec.metric], teacher[spec.metric]),
    }, found


def distillation_ratio(student: float, teacher: float) -> float:
    """Student score / teacher score on the same examples; NaN where the teacher scored 0."""
    return student / teacher if teacher else float("nan")


def result_metrics(result: RunResult) -> dict[str, float]:
    """The run's outcome for the tracking backends, beside its curves."""
    return {
        "result/student_score": result.student_score,
        "result/teacher_score": result.teacher_score,
        "result/ratio": result.ratio,
        "result/student_latency_ms": result.student_latency_ms,
        "result/teacher_latency_ms": result.teacher_latency_ms,
        "result/examples_per_second": result.examples_per_second,
        **({"result/test_ratio": result.test_ratio} if result.test_ratio is not None else {}),
        **{f"result/student_test_{name}": value for name, value in result.student_test_metrics.items()},
    }


def publish(prepared: Prepared, student: PreTrainedModel, result: RunResult, output_dir: Path, clock: Clock) -> None:
    """Save the student, then ``result.json`` with the wall and CPU time and the phases (last: it
    marks the run complete); drop the work folder, unless the run was stopped early (its checkpoint
    lets a later call carry on)."""
    if distributed.is_main():
        with clock("saving"):
            save_student(student, prepared.tokenizer, prepared.spec, result, output_dir / "student")
        result.phases = clock.rounded()
        result.wall_seconds = clock.wall_elapsed()
        result.cpu_seconds, result.cpu_threads = clock.cpu_elapsed(), torch.get_num_threads()
        (output_dir / RESULT_FILE).write_text(json.dumps(asdict(result), indent=2))
        if result.pruned_after_epoch is None:
            shutil.rmtree(output_dir / "work", ignore_errors=True)
    distributed.barrier()


def teacher_metrics_on(
    info: FinetunedModel, teacher: PreTrainedModel, spec: TaskSpec, split: EncodedSplit, pad_id: int, device: str
) -> dict[str, float]:
    """The teacher's metrics on exactly the dev (or test) examples the student is scored on.

    A run may cap its evaluation splits; the ratio must compare like with like. Results
    are cached beside the fine-tuned teacher, keyed by the split's tokens.
    """
    cache_file = info.model_dir.parent / "dev_scores.json"  # the name predates test scores
    scores = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    key = split_fingerprint(split)
    if key not in scores:
        scores[key] = evaluate_model(teacher.to(device), spec, split, pad_id, 64, device)
        cache_file.write_text(json.dumps(scores, indent=2))
    return scores[key]
