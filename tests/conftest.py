"""Shared tiny fixtures: a toy sentiment task and an isolated autodistill home."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import torch

from engine.data.schema import TaskData
from engine.tasks.spec import TaskSpec, TaskType


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist's workers share the machine's cores: one thread each, for PyTorch and for the
    OpenMP libraries loaded later (scikit-learn's boosting). A run on its own gives PyTorch two."""
    worker = "PYTEST_XDIST_WORKER" in os.environ
    if worker:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1 if worker else 2)


@pytest.fixture(autouse=True)
def _seeded_torch() -> None:
    """Every test draws the same tensors each run, so a result cannot hang on the draw."""
    torch.manual_seed(0)


_WORDS = {0: "good great fine happy nice lovely", 1: "bad awful sad poor ugly dull"}


def toy_frame(n: int, seed: int) -> pd.DataFrame:
    """Two-class texts separable by their words: any working trainer learns them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    texts = [" ".join(rng.choice(_WORDS[int(label)].split(), 4)) + " movie" for label in labels]
    return pd.DataFrame({"text": texts, "label": labels})


def toy_task_data() -> TaskData:
    """The toy task itself, for module-scoped fixtures that cannot take the ``toy_task`` fixture."""
    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "Is this toy review positive or negative?", ("neg", "pos"))
    return TaskData(spec, toy_frame(96, 0), toy_frame(32, 1), toy_frame(32, 2))


@pytest.fixture
def toy_task() -> TaskData:
    return toy_task_data()


@pytest.fixture(autouse=True)
def _no_shipped_patient_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """recommend weighs training longer on the study's shipped patient runs and reads the pretrained
    students' realistic runs there; a test's advice comes from its own store alone, so that shipping
    more patient runs changes no test (those of training longer give their own)."""
    import pandas as pd

    from autodistill.advice import recommend

    monkeypatch.setattr(recommend, "patient_runs", lambda: pd.DataFrame())
    monkeypatch.setattr(recommend, "patient_baselines", lambda: pd.DataFrame())


@pytest.fixture(autouse=True)
def _no_probe_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """recommend trains the student alone once (the probe) where its store holds no such run; a test's
    recommend trains nothing unless it gives its own runner (the probe's tests do)."""
    from autodistill.advice import recommend
    from autodistill.sweep.runner import SweepReport

    monkeypatch.setattr(recommend, "run_trials", lambda trials, *_args, **_kwargs: SweepReport(list(trials)))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test writes its caches into a fresh folder, never the user's home.

    The folder goes when the test ends: kept, the suite's homes (fine-tuned teachers, run folders)
    add up to gigabytes per session, and pytest keeps three sessions' folders.
    """
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("AUTODISTILL_HOME", str(home))
    # As a user's own thread count: `cli.app()` then leaves the test process's thread variables alone
    # (engine.cores), which would otherwise outlive the test.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS") or str(torch.get_num_threads()))
    yield
    shutil.rmtree(home, ignore_errors=True)
