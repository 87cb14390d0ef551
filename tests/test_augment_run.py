"""Distillation with augmentation (Eq. 1's β2/γ2 terms): every policy trains end to end,
teacher soft labels are computed live for x̂, drops are counted, and the run records
its backends and how long the trainer waited for augmented batches."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification, BertConfig

import engine.pipelines.run
import engine.teachers.finetune
from engine.augment import backtranslation as bt_module
from engine.augment import build_policy
from engine.augment.backtranslation import apertium_modes
from engine.augment.training import AugmentedCopies, build_feed
from engine.config import DistillConfig, TrainSettings
from engine.data.schema import TaskData
from engine.errors import AutodistillError
from engine.kd.objective import DistillationObjective
from engine.models.zoo import load_tokenizer
from engine.tasks import encode_split
from engine.tasks.spec import TaskSpec, TaskType
from engine.training.callbacks import TrainerCallback
from engine.training.trainer import Trainer

SETTINGS = TrainSettings(epochs=1, batch_size=8, lr=1e-3, max_length=16, seed=0)
needs_apertium = pytest.mark.skipif("eng-spa" not in apertium_modes(), reason="Apertium eng-spa missing")

REGRESSION = TaskSpec("toy-reg", TaskType.REGRESSION, "How positive is this toy review?")
SPAN = TaskSpec("toy-span", TaskType.SPAN, "Which animal is it?", paired=True)
_ANIMALS = ["fox", "dog", "cat", "horse"]


def _toy_regression(toy_task: TaskData) -> TaskData:
    def frame(f: pd.DataFrame) -> pd.DataFrame:
        return f.assign(label=f["label"].astype(float) * 2 - 1)

    return TaskData(REGRESSION, frame(toy_task.train), frame(toy_task.dev), frame(toy_task.test))


def _toy_span(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        animal = str(rng.choice(_ANIMALS))
        context = f"yesterday the quick {animal} jumped over a lazy fence near the river"
        start = context.index(f" {animal} ") + 1
        rows.append({"text": "which animal?", "text_pair": context, "answer_start": start, "answer_text": animal})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm-l6")


def _tiny(spec: TaskSpec, seed: int) -> torch.nn.Module:
    """A one-layer BERT on the teacher's vocabulary: teacher and student of these tests."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2 if spec.task_type == TaskType.SPAN else spec.num_labels,
        problem_type="regression" if spec.task_type == TaskType.REGRESSION else None,
    )
    cls = AutoModelForQuestionAnswering if spec.task_type == TaskType.SPAN else AutoModelForSequenceClassification
    return cls.from_config(config)


class RecordingObjective(DistillationObjective):
    """Eq. 1 as trained, keeping each step's logged terms."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.logs: list[dict[str, float]] = []

    def __call__(self, student, batch):
        loss, logs = super().__call__(student, batch)
        self.logs.append({**logs, "loss": float(loss.detach())})
        return loss, logs


def make_trainer(task: TaskData, augment: tuple[str, ...], tokenizer, workdir: Path, *callbacks, **overrides):
    train_settings = overrides.pop("train", SETTINGS)
    config = DistillConfig(
        dataset=task.spec.name, student="tiny", augment=augment, aug_p=0.3, aug_workers=0, train=train_settings,
        **{"mapping": "skip", "inter_loss": "mse", **overrides},
    )  # fmt: skip
    frame = task.train.iloc[:16]
    train = encode_split(frame, task.spec, tokenizer, 16, train=True)
    dev = encode_split(task.dev.iloc[:8], task.spec, tokenizer, 16, train=False)
    policy = build_policy(config, task.spec)
    teacher, student = _tiny(task.spec, 1).eval(), _tiny(task.spec, 2)
    objective = RecordingObjective(task.spec, config, teacher, student_layers=1, student_width=32, augmentation=policy)
    feed = build_feed(policy, config, student, frame, train, tokenizer)
    trainer = Trainer(
        student, task.spec, train, dev, config.train, objective, workdir, tokenizer.pad_token_id,
        show_progress=False, callbacks=[AugmentedCopies(feed), *callbacks],
    )  # fmt: skip
    return trainer, objective, teacher


def distil(task: TaskData, augment: tuple[str, ...], tokenizer, workdir: Path, **overrides):
    trainer, objective, teacher = make_trainer(task, augment, tokenizer, workdir, **overrides)
    before = copy.deepcopy(teacher.state_dict())
    copies = trainer.callbacks[0]
    with copies.feed:
        result = trainer.fit()
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())  # the teacher only labels
    return result, copies.report(), objective.logs


def _check_terms(logs: list[dict[str, float]], steps: int) -> None:
    assert len(logs) == steps
    for step in logs:
        assert {"inter", "kd", "gt", "kd_aug", "gt_aug"} <= step.keys()
        assert all(np.isfinite(v) for v in step.values())


@pytest.mark.parametrize(
    "augment",
    [("ca",), ("ra",), pytest.param(("bt",), marks=needs_apertium), ("mixup",), ("ra", "mixup", "ca")],
    ids=lambda a: "+".join(a),
)
def test_each_policy_distils_a_classifier(augment, toy_task, tokenizer, tmp_path):
    result, report, logs = distil(toy_task, augment, tokenizer, tmp_path, repeated_aug=2)
    _check_terms(logs, steps=2)
    assert all(step["aug_examples"] == 16 for step in logs)  # 8 examples x repeated_aug 2
    assert report["policy"] == list(augment) and report["augmented_examples"] == 32
    assert set(report["backends"]) == set(augment) and report["dropped"] == {}
    assert 0 <= report["trainer_wait_share"] <= 1 and "accuracy" in result.dev_metrics


def test_mixup_distils_a_regressor(toy_task, tokenizer, tmp_path):
    _, report, logs = distil(_toy_regression(toy_task), ("mixup", "ra"), tokenizer, tmp_path, pred_loss="mse")
    _check_terms(logs, steps=2)
    assert report["backends"]["mixup"].startswith("word-embedding mixup")


@pytest.mark.parametrize("augment", [("ra", "mixup"), pytest.param(("bt",), marks=needs_apertium)], ids="+".join)
def test_span_tasks_distil_with_answers_kept_or_counted(augment, tokenizer, tmp_path):
    task = TaskData(SPAN, _toy_span(32, 0), _toy_span(16, 1), _toy_span(16, 2))
    result, report, logs = distil(task, augment, tokenizer, tmp_path)
    _check_terms(logs, steps=2)
    lost = sum(report["dropped"].values())
    assert report["augmented_examples"] + lost == 16 and "f1" in result.dev_metrics
    if augment == ("ra", "mixup"):
        assert lost == 0  # word operations never lose the answer
    else:
        assert set(report["dropped"]) <= {"bt", "truncated"}  # whatever was lost is named


def test_a_resumed_run_sees_the_same_augmented_batches(toy_task, tokenizer, tmp_path):
    settings = SETTINGS.model_copy(update={"epochs": 2, "checkpoint_every": 1})
    whole, objective, _ = make_trainer(toy_task, ("ra", "mixup"), tokenizer, tmp_path / "a", train=settings)
    whole.fit()

    class CrashAtTheFourthBatch(TrainerCallback):
        calls = 0

        def on_batch_begin(self, state, position, batch):
            self.calls += 1
            if self.calls == 4:
                raise KeyboardInterrupt

    crashing, _, _ = make_trainer(
        toy_task, ("ra", "mixup"), tokenizer, tmp_path / "b", CrashAtTheFourthBatch(), train=settings
    )
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    resumed, resumed_objective, _ = make_trainer(toy_task, ("ra", "mixup"), tokenizer, tmp_path / "b", train=settings)
    resumed.fit()
    assert len(resumed_objective.logs) == 1  # only epoch 1's second batch was left
    assert resumed_objective.logs[0] == objective.logs[-1]  # same x̂, same mixup pairs, same loss
    for a, b in zip(whole.student.parameters(), resumed.student.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_augmented_copies_are_required_in_the_batch_once_augmentation_is_on(toy_task, tokenizer):
    config = DistillConfig(dataset="toy", augment=("ra",), train=SETTINGS)
    objective = DistillationObjective(
        toy_task.spec, config, _tiny(toy_task.spec, 1), student_layers=1, student_width=32,
        augmentation=build_policy(config, toy_task.spec),
    )  # fmt: skip
    split = encode_split(toy_task.train.iloc[:4], toy_task.spec, tokenizer, 16, train=True)
    from engine.tasks.encoding import collate

    with pytest.raises(AutodistillError, match="came without augmented examples"):
        objective(_tiny(toy_task.spec, 2), collate(split, [0, 1], tokenizer.pad_token_id))


# --------------------------------------------------------------------------- through run()


@pytest.fixture
def quick_teacher(monkeypatch):
    settings = TrainSettings(epochs=1, batch_size=16, max_length=16, max_train_examples=16, max_eval_examples=8)
    monkeypatch.setattr(engine.pipelines.run, "TEACHER_SETTINGS", settings)
    monkeypatch.setattr(engine.teachers.finetune, "TEACHER_SETTINGS", settings)


@pytest.mark.slow
def test_run_distils_with_a_stacked_policy_in_a_worker_process(toy_task, quick_teacher, tmp_path):
    augment = ("ca", "ra", "bt", "mixup") if "eng-spa" in apertium_modes() else ("ca", "ra", "mixup")
    train = SETTINGS.model_copy(update={"max_train_examples": 16, "max_eval_examples": 8})
    config = DistillConfig(dataset="toy", student="tiny", augment=augment, aug_workers=1, train=train)
    result = engine.pipelines.run.run(config, task=toy_task, output_dir=tmp_path / "run", show_progress=False)
    report = result.augmentation
    assert report["policy"] == list(augment) and report["source"] == "live (1 worker process)"
    assert report["backends"]["ca"].startswith("glove:")  # the offline CA mode, named as such
    assert report["augmented_examples"] == 16 and 0 <= report["trainer_wait_share"] <= 1
    stored = json.loads((tmp_path / "run" / "result.json").read_text())
    assert stored["augmentation"] == report


def test_a_missing_translator_fails_before_any_training(toy_task, monkeypatch, tmp_path):
    monkeypatch.setattr(bt_module, "apertium_modes", lambda: ())
    bt_module.translator.cache_clear()
    config = DistillConfig(dataset="toy", student="tiny", augment=("ra", "bt"), train=SETTINGS)
    try:
        with pytest.raises(AutodistillError, match="apt-get install apertium apertium-eng-spa"):
            engine.pipelines.run.run(config, task=toy_task, output_dir=tmp_path / "run", show_progress=False)
    finally:
        bt_module.translator.cache_clear()
    assert not (tmp_path / "home" / "finetuned").exists()
