"""The trainer learns, keeps the best epoch, and resumes a killed run exactly."""

from __future__ import annotations

import copy
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import toy_task_data

from engine.config import TrainSettings
from engine.kd.objective import SupervisedObjective
from engine.models.batch import model_inputs
from engine.models.zoo import build_student, load_tokenizer
from engine.tasks import encode_split
from engine.tasks.encoding import EncodedSplit
from engine.teachers.finetune import train_supervised
from engine.training.trainer import Trainer, batch_logits, iterate_batches, predict

SETTINGS = TrainSettings(epochs=2, batch_size=8, lr=1e-3, checkpoint_every=3, max_length=16)


def test_fine_tuning_learns_a_separable_task(toy_task, tmp_path):
    torch.manual_seed(0)
    model = build_student("tiny", "minilm-l6", toy_task.spec)
    result = train_supervised(
        model,
        load_tokenizer("minilm-l6"),
        toy_task,
        SETTINGS,
        tmp_path,
        description="toy",
        show_progress=False,
    )
    assert result.dev_score > 0.9
    assert result.steps == 24
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.examples_per_second > 0
    # each epoch's one-answer check is kept with the run, so a resumed run still knows its best epoch's
    assert result.one_answer is None and torch.load(tmp_path / "checkpoint.pt", weights_only=False)["one_answers"] == {
        1: None,
        2: None,
    }


_SCRIPT = textwrap.dedent(
    """
    import sys, time, torch
    sys.path.insert(0, {tests!r})
    from conftest import toy_frame
    from engine.config import TrainSettings
    from engine.data.schema import TaskData
    from engine.tasks.spec import TaskSpec, TaskType
    from engine.teachers.finetune import train_supervised
    import engine.training.trainer as trainer
    from engine.models.zoo import build_student, load_tokenizer

    if len(sys.argv) > 2:  # slow the loop down so the parent can kill it mid-epoch
        original = trainer.Trainer._train_batch
        def slow(self, *args):
            time.sleep(0.2)
            return original(self, *args)
        trainer.Trainer._train_batch = slow
    torch.set_num_threads(1)
    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "toy", ("neg", "pos"))
    task = TaskData(spec, toy_frame(96, 0), toy_frame(32, 1), toy_frame(32, 2))
    torch.manual_seed(0)
    model = build_student("tiny", "minilm-l6", spec)
    settings = TrainSettings(epochs=2, batch_size=8, lr=1e-3, checkpoint_every=3, max_length=16)
    result = train_supervised(model, load_tokenizer("minilm-l6"), task, settings, sys.argv[1], description="t",
                              show_progress=False)
    print("CHECKSUM", sum(float(p.double().sum()) for p in model.parameters()))
    print("LOSSES", *(epoch["train/loss"] for epoch in result.history))
    """
)


def _run(script: Path, workdir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), str(workdir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ},
    )


def _checksum(proc: subprocess.Popen) -> tuple[float, list[float]]:
    """The trained weights' sum and each epoch's mean training loss."""
    out, _ = proc.communicate(timeout=300)
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("CHECKSUM", "LOSSES"))}
    return float(lines["CHECKSUM"][0]), [float(value) for value in lines["LOSSES"]]


def test_killed_run_resumes_to_the_same_result(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT.format(tests=str(Path(__file__).parent)))
    uninterrupted = _checksum(_run(script, tmp_path / "a"))

    proc = _run(script, tmp_path / "b", "slow")
    checkpoint = tmp_path / "b" / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    position = torch.load(checkpoint, weights_only=False)["position"]
    assert position["epoch"] == 0 and 0 < position["batch"] < 12  # really killed mid-epoch

    resumed = _checksum(_run(script, tmp_path / "b"))
    assert resumed[0] == uninterrupted[0]
    assert resumed[1] == pytest.approx(uninterrupted[1], rel=1e-6), "epoch 1's loss covers the steps before the kill"


def test_min_steps_raises_the_epoch_count_for_small_data(toy_task, tmp_path):
    settings = TrainSettings(epochs=1, batch_size=8, lr=1e-3, max_length=16, min_steps=30)
    model = build_student("tiny", "minilm-l6", toy_task.spec)
    result = train_supervised(
        model, load_tokenizer("minilm-l6"), toy_task, settings, tmp_path, description="toy", show_progress=False
    )
    assert result.steps == 36  # 12 steps per epoch, raised from 1 to 3 epochs
    assert len(result.history) == 3


def test_regression_on_targets_far_from_zero_learns_and_predicts_in_their_units(toy_task, tmp_path):
    """Years (~2000) as targets: trained standardized, predicted back in years (SOTU paragraph -> year)."""
    import pandas as pd

    from engine.data import load_task
    from engine.tasks import encode_split
    from engine.training.trainer import predict

    frames = [
        getattr(toy_task, s).assign(label=lambda f: 1900.0 + 100.0 * f["label"]) for s in ("train", "dev", "test")
    ]
    path = tmp_path / "years.csv"
    pd.concat(frames).to_csv(path, index=False)
    task = load_task(str(path), task_type="regression")
    mean, std = task.spec.label_scale
    assert 1900 < mean < 2000 and 40 < std <= 50
    torch.manual_seed(0)
    model = build_student("tiny", "minilm-l6", task.spec)
    tokenizer = load_tokenizer("minilm-l6")
    result = train_supervised(model, tokenizer, task, SETTINGS, tmp_path / "r", description="y", show_progress=False)
    assert result.dev_score > 0.8  # Spearman; raw targets left the head ~2000 off and this near 0
    split = encode_split(task.dev, task.spec, tokenizer, 16, train=False)
    years = predict(model, task.spec, split, 0, 16)
    assert min(years) > 1850 and max(years) < 2050  # in years, not in standard deviations


class _DtypeSpy(SupervisedObjective):
    """The supervised objective, noting the precision each batch was computed in (autocast's, or
    None without it) and the dtype the student's logits came back in."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.dtypes: set[tuple[torch.dtype | None, torch.dtype]] = set()

    def __call__(self, student, batch):
        computed = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
        self.dtypes.add((computed, student(**model_inputs(student, batch)).logits.dtype))
        return super().__call__(student, batch)


def test_runs_of_one_process_each_train_in_their_own_precision(toy_task, tmp_path):
    tokenizer = load_tokenizer("minilm-l6")
    train = encode_split(toy_task.train.head(16), toy_task.spec, tokenizer, 16, train=True)
    dev = encode_split(toy_task.dev.head(8), toy_task.spec, tokenizer, 16, train=False)
    built, seen = build_student("tiny", "minilm-l6", toy_task.spec), []
    for run, precision in enumerate(("fp32", "bf16", "fp32")):  # accelerate alone refuses the second precision
        settings = TrainSettings(epochs=1, batch_size=8, lr=1e-3, max_length=16, precision=precision)
        spy = _DtypeSpy(toy_task.spec)
        student = copy.deepcopy(built)
        result = Trainer(
            student, toy_task.spec, train, dev, settings, spy, tmp_path / str(run), 0, show_progress=False
        ).fit()
        assert result.steps == 2 and math.isfinite(result.dev_score)
        seen.append(spy.dtypes)
    # bf16 arithmetic, its outputs handed to the losses in fp32 (as accelerate's mixed precision did)
    assert seen == [{(None, torch.float32)}, {(torch.bfloat16, torch.float32)}, {(None, torch.float32)}]
    assert "forward" not in built.__dict__ and "forward" not in student.__dict__  # the model's own forward is back


def test_scoring_batches_rows_by_length_and_returns_each_result_to_its_row():
    rng = np.random.default_rng(0)
    words = ["good", "bad", "fine", "awful", "movie", "plot", "acting"]
    frame = pd.DataFrame(
        {"text": [" ".join(rng.choice(words, n)) for n in rng.integers(1, 30, 40)], "label": rng.integers(0, 2, 40)}
    )
    spec = toy_task_data().spec
    tokenizer = load_tokenizer("minilm-l6")
    split: EncodedSplit = encode_split(frame, spec, tokenizer, 64, train=False)
    batches = list(iterate_batches(split, 8))
    assert sorted(i for b in batches for i in b) == list(range(40))
    assert [split.lengths()[b].max() for b in batches] == sorted(split.lengths()[b].max() for b in batches)
    torch.manual_seed(0)
    model = build_student("tiny", "minilm-l6", spec).eval()
    alone = [
        logits[0] for _, logits in (next(batch_logits(model, spec, _one(split, i), 0, 1, "cpu")) for i in range(40))
    ]
    for indices, logits in batch_logits(model, spec, split, tokenizer.pad_token_id, 8, "cpu"):
        for row, values in zip(indices, logits[0], strict=True):
            torch.testing.assert_close(values, alone[row][0], atol=1e-5, rtol=1e-4)  # padding changes nothing
    assert predict(model, spec, split, tokenizer.pad_token_id, 8) == [int(a[0].argmax()) for a in alone]


def _one(split: EncodedSplit, row: int) -> EncodedSplit:
    """Row ``row`` of ``split`` alone: scored without any padding."""
    return EncodedSplit([split.input_ids[row]], [split.token_type_ids[row]], split.labels[[row]], np.arange(1))
