"""AutoSKDBERT's evaluation of a learned distribution (§3.3): retrain the student with
each candidate Cat(θ) saved along phase 2, as a fixed ``sample`` team, and rank them.

A pipeline, not a teacher policy: it starts whole runs, so it sits above
:mod:`engine.teachers` (which it only reads results of).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import THETA_TOLERANCE, DistillConfig
from engine.data.schema import TaskData
from engine.errors import AutodistillError
from engine.pipelines.result import RunResult
from engine.pipelines.run import run


@dataclass
class CandidateRun:
    """One candidate distribution retrained from scratch as a ``sample`` run."""

    theta: tuple[float, ...]
    step: int
    result: RunResult


def candidates_of(result: RunResult) -> list[dict[str, Any]]:
    """The candidate distributions a ``learned`` run saved along phase 2, in step order."""
    found = (result.team or {}).get("candidates")
    if not found:
        raise AutodistillError(f"run {result.run_id} saved no candidate distributions (is it a learned-mode run?)")
    return list(found)


def _pick_evenly(items: list, limit: int | None) -> list:
    """``limit`` items spread over ``items``, always including the last (the final θ)."""
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise AutodistillError(f"limit must be at least 1, got {limit}")
    positions = sorted({len(items) - 1 - round(k * (len(items) - 1) / limit) for k in range(limit)})
    return [items[i] for i in positions]


def retrain_candidates(
    config: DistillConfig,
    learned: RunResult,
    *,
    limit: int | None = None,
    task: TaskData | None = None,
    output_root: Path | None = None,
    show_progress: bool = True,
) -> list[CandidateRun]:
    """Evaluate a learned run's candidates (§3.3): retrain the student from scratch
    on the full training data with each θ as a fixed ``sample`` distribution.

    ``limit`` retrains that many candidates spread over phase 2 (the last always
    included) instead of all of them. Returns the runs best first; the first is
    AutoSKDBERT's reported result. Runs are cached like any other run.
    """
    if config.team is None:
        raise AutodistillError("retraining candidates needs a config with a team")
    runs = []
    for candidate in _pick_evenly(candidates_of(learned), limit):
        theta = np.asarray(candidate["theta"], dtype=np.float64).clip(min=0)
        theta = tuple(float(x) for x in theta / theta.sum())
        if abs(sum(theta) - 1) > THETA_TOLERANCE:  # pragma: no cover - normalised just above
            raise AutodistillError(f"candidate at step {candidate['step']} is not a distribution")
        team = {**config.team.model_dump(), "mode": "sample", "theta": theta}
        sampled = DistillConfig.model_validate({**config.model_dump(), "team": team})
        folder = None if output_root is None else Path(output_root) / f"candidate-{candidate['step']}"
        result = run(sampled, output_dir=folder, show_progress=show_progress, task=task)
        runs.append(CandidateRun(theta, int(candidate["step"]), result))
    return sorted(runs, key=lambda r: r.result.student_score, reverse=True)
