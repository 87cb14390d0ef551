"""The engine's one entry point: ``run(config) -> RunResult``.

A run fine-tunes (or reuses) the teacher, builds the student, distils it with the
configured Eq. 1 objective, and leaves behind what a user keeps:

    <output>/config.yaml     the validated config, so the run can be repeated
    <output>/result.json     scores, distillation ratio, sizes, speed (written last)
    <output>/student/        a standard Hugging Face model folder with a model card

Runs are keyed by their config, so rerunning an interrupted command resumes it
from its checkpoint, and rerunning a finished one returns the stored result. The
meta layer (sweeps, recommendations) calls only :func:`run` and :func:`finetune`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import yaml
from torch import nn
from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification, PreTrainedModel

from engine.training import distributed
from engine.augment import build_policy
from engine.augment.training import AugmentingTrainer, build_feed
from engine.config import DistillConfig
from engine.data import load_task
from engine.data.schema import TaskData, TaskSpec, TaskType
from engine.models.encoding import EncodedSplit, collate, encode_split, limit_examples
from engine.training.finetune import TEACHER_SETTINGS, FinetunedModel, finetune_teacher
from engine.kd.objective import DistillationObjective, SupervisedObjective
from engine.paths import subdir
from engine.kd.teacher_cache import TeacherCache
from engine.teachers.team import prepare_team
from engine.training.trainer import Objective, Trainer, evaluate_model, model_inputs, seed_everything
from engine.models.zoo import build_student, count_parameters, load_tokenizer

RESULT_FILE = "result.json"


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
    history: list[dict[str, float]] = field(default_factory=list)
    team: dict = field(default_factory=dict)  # team runs: members, mode, learned θ and candidates
    augmentation: dict = field(default_factory=dict)  # augmented runs: policy, backends, drops, trainer wait

    @classmethod
    def load(cls, output_dir: Path) -> RunResult:
        return cls(**json.loads((Path(output_dir) / RESULT_FILE).read_text()))


def run_id(config: DistillConfig, kind: str) -> str:
    # Fields added after runs were stored are hashed only when set, so that those runs keep their ids.
    unset_later_fields = {name for name in ("columns",) if getattr(config, name) is None}
    payload = json.dumps({"kind": kind, **config.model_dump(mode="json", exclude=unset_later_fields)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def default_output_dir(config: DistillConfig, kind: str) -> Path:
    dataset = Path(config.dataset).stem if Path(config.dataset).suffix else config.dataset
    return subdir("runs", dataset.replace("/", "_")) / f"{kind}-{run_id(config, kind)}"


def run(
    config: DistillConfig,
    *,
    output_dir: Path | None = None,
    show_progress: bool = True,
    task: TaskData | None = None,
) -> RunResult:
    """Distil ``config.student`` from ``config.teacher`` on ``config.dataset`` (Eq. 1)."""
    return _execute(config, "distill", output_dir, show_progress, task)


def finetune(
    config: DistillConfig,
    *,
    output_dir: Path | None = None,
    show_progress: bool = True,
    task: TaskData | None = None,
) -> RunResult:
    """The no-KD baseline: the same student and settings, trained on labels alone."""
    return _execute(config, "finetune", output_dir, show_progress, task)


def _execute(
    config: DistillConfig, kind: str, output_dir: Path | None, show_progress: bool, task: TaskData | None
) -> RunResult:
    output_dir = Path(output_dir) if output_dir else default_output_dir(config, kind)
    if (output_dir / RESULT_FILE).exists():
        return RunResult.load(output_dir)
    started = time.perf_counter()
    if distributed.is_main():
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    task = task or load_task(config.dataset, **(config.columns.model_dump() if config.columns else {}))
    spec, settings = task.spec, config.train
    # Augmentation backends are checked before any training: a missing translator fails in seconds.
    policy = build_policy(config, spec) if kind == "distill" and config.augment else None
    # A team run reports its best member as "the teacher"; the student shares config.teacher's tokenizer.
    team = None
    if config.team is not None and kind == "distill":
        team = prepare_team(config.team, task, TEACHER_SETTINGS, show_progress=show_progress)
        teacher_info = team.reference.info
    else:
        teacher_info = finetune_teacher(config.teacher, task, TEACHER_SETTINGS, show_progress=show_progress)
    teacher = _load_finetuned(teacher_info.model_dir, spec)
    tokenizer = load_tokenizer(config.teacher if team else str(teacher_info.model_dir))
    seed_everything(settings.seed)  # the student's fresh layers and head
    student = build_student(config.student, config.teacher, spec)
    train_frame = limit_examples(task.train, settings.max_train_examples, settings.seed)
    train = encode_split(
        train_frame,
        spec,
        tokenizer,
        settings.max_length,
        train=True,
    )
    dev = encode_split(
        limit_examples(task.dev, settings.max_eval_examples, settings.seed),
        spec,
        tokenizer,
        settings.max_length,
        train=False,
    )
    # Augmentation workers start now, loading their resources while the teacher cache is built.
    augmenting = {} if policy is None else {"feed": build_feed(policy, config, student, train_frame, train, tokenizer)}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    objective: Objective
    if kind == "finetune":
        objective = SupervisedObjective(spec)
    elif team is not None:
        objective, train = team.objective(
            config, task, train, tokenizer.pad_token_id, device=device, show_progress=show_progress
        )
    else:
        with distributed.main_first():
            cache = TeacherCache.build_or_load(
                teacher.to(device),
                str(teacher_info.model_dir),
                spec,
                train,
                tokenizer.pad_token_id,
                device=device,
                show_progress=show_progress,
            )
        objective = DistillationObjective(
            spec,
            config,
            teacher,
            student_layers=student.config.num_hidden_layers,
            student_width=student.config.hidden_size,
            cache=cache,
            augmentation=policy,
        )
    trainer = (AugmentingTrainer if policy else Trainer)(
        student,
        spec,
        train,
        dev,
        settings,
        objective,
        output_dir / "work",
        tokenizer.pad_token_id,
        show_progress=show_progress,
        description=f"{kind} {config.student} on {spec.name}",
        **augmenting,
    )
    fitted = trainer.fit()
    teacher_dev, teacher_pad = team.reference_dev(task, settings) if team else (dev, tokenizer.pad_token_id)
    with distributed.main_first():
        teacher_metrics = _teacher_dev_metrics(teacher_info, teacher, spec, teacher_dev, teacher_pad, device)
    student = trainer.accelerator.unwrap_model(trainer.student).cpu()
    teacher_score = teacher_metrics[spec.metric]
    result = RunResult(
        run_id=run_id(config, kind),
        kind=kind,
        dataset=spec.name,
        task_kind=spec.kind,
        metric=spec.metric,
        config=config.model_dump(mode="json"),
        student_score=fitted.dev_score,
        teacher_score=teacher_score,
        ratio=fitted.dev_score / teacher_score if teacher_score else float("nan"),
        student_dev_metrics=fitted.dev_metrics,
        teacher_dev_metrics=teacher_metrics,
        student_params=count_parameters(student),
        teacher_params=count_parameters(teacher),
        student_layers=student.config.num_hidden_layers,
        student_hidden=student.config.hidden_size,
        teacher_layers=teacher.config.num_hidden_layers,
        teacher_hidden=teacher.config.hidden_size,
        train_examples=len(train),
        best_epoch=fitted.best_epoch,
        train_seconds=fitted.train_seconds,
        wall_seconds=0.0,
        examples_per_second=fitted.examples_per_second,
        teacher_latency_ms=cpu_latency_ms(teacher, teacher_dev, teacher_pad),
        student_latency_ms=cpu_latency_ms(student, dev, tokenizer.pad_token_id),
        output_dir=str(output_dir),
        history=fitted.history,
        team=team.report(objective) if team else {},
        augmentation=trainer.augmentation_report() if policy else {},
    )
    result.wall_seconds = time.perf_counter() - started
    if distributed.is_main():
        save_student(student, tokenizer, spec, result, output_dir / "student")
        (output_dir / RESULT_FILE).write_text(json.dumps(asdict(result), indent=2))  # last: marks the run complete
        shutil.rmtree(output_dir / "work", ignore_errors=True)
    distributed.barrier()
    return result


def _load_finetuned(model_dir: Path, spec: TaskSpec) -> PreTrainedModel:
    cls = AutoModelForQuestionAnswering if spec.task_type is TaskType.SPAN else AutoModelForSequenceClassification
    return cls.from_pretrained(model_dir, attn_implementation="eager")


def _teacher_dev_metrics(
    info: FinetunedModel, teacher: nn.Module, spec: TaskSpec, dev: EncodedSplit, pad_id: int, device: str
) -> dict[str, float]:
    """The teacher's metrics on exactly the dev examples the student is scored on.

    A run may cap its dev set; the ratio must compare like with like. Results are
    cached beside the fine-tuned teacher, keyed by the dev tokens.
    """
    from engine.kd.teacher_cache import split_fingerprint

    cache_file = info.model_dir.parent / "dev_scores.json"
    scores = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    key = split_fingerprint(dev)
    if key not in scores:
        scores[key] = evaluate_model(teacher.to(device), spec, dev, pad_id, 64, device)
        cache_file.write_text(json.dumps(scores, indent=2))
    return scores[key]


@torch.no_grad()
def cpu_latency_ms(model: nn.Module, split: EncodedSplit, pad_id: int, examples: int = 16) -> float:
    """Mean CPU milliseconds per single-example forward (batch size 1), after a warm-up."""
    model = model.to("cpu").eval()
    indices = list(range(min(examples, len(split))))
    batches = [collate(split, [i], pad_id) for i in indices]
    model(**model_inputs(model, batches[0]))
    start = time.perf_counter()
    for batch in batches:
        model(**model_inputs(model, batch))
    return 1000 * (time.perf_counter() - start) / len(batches)


def save_student(student: PreTrainedModel, tokenizer, spec: TaskSpec, result: RunResult, folder: Path) -> None:
    """Save a standard HF folder (loads with plain ``transformers``) plus a model card."""
    student.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "autodistill_task.json").write_text(
        json.dumps(
            {
                "name": spec.name,
                "task_type": spec.task_type.value,
                "label_names": list(spec.label_names),
                "paired": spec.paired,
                "metric": spec.metric,
                "description": spec.description,
                "label_scale": spec.label_scale,
            },
            indent=2,
        )
    )
    config_yaml = yaml.safe_dump(result.config, sort_keys=False)
    what = "Knowledge-distilled" if result.kind == "distill" else "Fine-tuned (no distillation)"
    (folder / "README.md").write_text(
        f"""---
library_name: transformers
tags: [knowledge-distillation, autodistill]
---
# {spec.name} student ({result.student_params / 1e6:.1f}M parameters)

{what} with autodistill from teacher `{result.config["teacher"]}` (fine-tuned on `{spec.name}`,
{result.teacher_params / 1e6:.1f}M parameters) on data set `{spec.name}` ({spec.kind}).

| | dev {spec.metric} | parameters | CPU latency / example |
| --- | --- | --- | --- |
| teacher | {result.teacher_score:.4f} | {result.teacher_params:,} | {result.teacher_latency_ms:.1f} ms |
| student | {result.student_score:.4f} | {result.student_params:,} | {result.student_latency_ms:.1f} ms |

Distillation ratio (student / teacher dev score): **{result.ratio:.4f}**.

Task: {spec.description}

Load it with plain transformers:

```python
from transformers import AutoModelFor{
            "QuestionAnswering" if spec.task_type is TaskType.SPAN else "SequenceClassification"
        }, AutoTokenizer
model = AutoModelFor{
            "QuestionAnswering" if spec.task_type is TaskType.SPAN else "SequenceClassification"
        }.from_pretrained("path/to/this/folder")
```

## Distiller configuration (paper Eq. 1)

```yaml
{config_yaml}```
"""
    )
