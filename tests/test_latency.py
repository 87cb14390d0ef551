"""Latency you can trust: timed until stable, re-timed and marked when the machine is busy, and one
record per model that the run, its report, its model card and the export all read."""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from torch import nn

import engine.pipelines.latency as latency
from engine.pipelines.deploy import measure
from engine.pipelines.latency import Latency, measure_latency, model_latency
from engine.tasks.encoding import EncodedSplit
from engine.tasks.spec import TaskSpec, TaskType

SPLIT = EncodedSplit([[1, 2, 3]] * 4, [[0, 0, 0]] * 4, np.array([0, 1, 0, 1]), np.arange(4))
SPEC = TaskSpec("toy", TaskType.CLASSIFICATION, "toy", ("neg", "pos"))


class Sleeper(nn.Module):
    """A model whose forward takes a known time: 3 ms, whatever the load (a sleep only ever runs long)."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        time.sleep(0.003)
        return torch.zeros(len(input_ids), 2)


def test_the_figure_is_the_median_forward_timed_by_torch_benchmark(monkeypatch) -> None:
    monkeypatch.setattr(latency, "machine_busy", lambda: False)
    timed = measure_latency(Sleeper(), SPLIT, 0)
    assert 3.0 <= timed.ms < 30.0
    assert timed.spread >= 0


def test_a_busy_machine_is_timed_again_the_fastest_kept_and_the_figure_marked(monkeypatch) -> None:
    tries = iter([Latency(9.0, 0.5, True), Latency(6.0, 0.3, True)])
    monkeypatch.setattr(latency, "_time", lambda *args: next(tries))
    assert measure_latency(Sleeper(), SPLIT, 0) == Latency(6.0, 0.3, True)
    quiet = iter([Latency(5.0, 0.02, False)])
    monkeypatch.setattr(latency, "_time", lambda *args: next(quiet))
    assert measure_latency(Sleeper(), SPLIT, 0) == Latency(5.0, 0.02, False)  # quiet: timed once


def test_a_load_above_the_core_count_or_unsettled_repeats_mark_the_figure_busy(monkeypatch) -> None:
    monkeypatch.setattr(latency, "machine_busy", lambda: True)
    assert latency._time(Sleeper(), SPLIT, 0, 4, 1, 1).busy
    monkeypatch.setattr(latency, "machine_busy", lambda: False)
    monkeypatch.setattr(latency, "STABLE_SPREAD", -1.0)  # no spread is small enough: never settles
    assert latency._time(Sleeper(), SPLIT, 0, 4, 1, 1).busy


def test_the_export_shows_the_figure_the_run_recorded_for_the_same_model(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(latency, "_measured", {})
    monkeypatch.setattr(latency, "machine_busy", lambda: False)
    monkeypatch.setattr("engine.pipelines.deploy.evaluate_model", lambda *args: {"accuracy": 1.0})
    student_dir = tmp_path / "run" / "student"
    student_dir.mkdir(parents=True)
    in_run = model_latency(student_dir, Sleeper(), SPLIT, 0)  # what the run stores in result.json
    assert json.loads((tmp_path / "run" / latency.LATENCY_FILE).read_text())
    monkeypatch.setattr(latency, "_measured", {})  # the export is another process
    monkeypatch.setattr(latency, "_time", lambda *args: Latency(99.0, 0.0, False))  # would differ, if timed
    row = measure("student (PyTorch)", Sleeper(), SPEC, SPLIT, 0, 1.0, student_dir)
    assert row.latency_batch1_ms == in_run.ms  # the run's figure, not a new one
    assert row.latency_batch32_ms == 99.0  # the run timed batch 1 only
