"""One trial, run where a worker runs it: through the engine's public API, failures as one line.

What travels between the sweep and a worker is a :class:`~autodistill.sweep.plan.Trial`
out and an :class:`Outcome` back, both picklable, so the same function serves
this process, a local process pool and Ray tasks on other machines.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import engine
from autodistill.sweep.plan import Trial
from engine import AutodistillError, EpochCallback, TaskData


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back: the engine's result, or the one-line reason it failed."""

    trial_id: str
    result: object | None  # engine.RunResult
    error: str | None
    seconds: float


TrialFn = Callable[[Trial, int | None, TaskData | None], Outcome]


def error_line(exc: BaseException) -> str:
    """One line for the trials log: our own errors as they are, others with their type and where."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else ""
    if isinstance(exc, AutodistillError):
        return message
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f for f in reversed(frames) if "site-packages" not in f.filename), frames[-1] if frames else None)
    at = f" (at {os.path.basename(where.filename)}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {message}{at}" if message else f"{type(exc).__name__}{at}"


def execute_trial(
    trial: Trial, threads: int | None = None, task: TaskData | None = None, on_epoch: EpochCallback | None = None
) -> Outcome:
    """Run one trial through the engine's public API; a failure comes back as an error line, never raised.
    ``on_epoch`` (a search's pruner) hears each epoch's dev score and may stop the run there."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    entry = engine.run if trial.kind == "distill" else engine.finetune  # looked up now, so tests can replace them
    try:
        result = entry(trial.engine, show_progress=False, task=task, on_epoch=on_epoch)
    except Exception as exc:  # a failed trial must not stop the sweep
        return Outcome(trial.trial_id, None, error_line(exc), time.perf_counter() - started)
    # A resumed run's own clock counts the sittings before this one too; this sitting's timer does not.
    seconds = max(time.perf_counter() - started, result.wall_seconds)
    return Outcome(trial.trial_id, result, None, seconds)


def init_worker(threads: int) -> None:
    """A local worker process: dies with its parent, splits the CPUs, keeps the terminal quiet."""
    import torch
    from transformers.utils import logging as hf_logging

    from engine import exit_with_parent

    exit_with_parent()
    torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
