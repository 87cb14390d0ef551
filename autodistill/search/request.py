"""What a search asks for: data set, student, per-trial budget, trial or time budget, pruner, backend.

:class:`SearchRequest` is checked once at the edge; :func:`search_key` is what its study is
made for (:mod:`autodistill.search.study`); :func:`make_trial` is the unit of work both
backends run, the sweep's own (:class:`autodistill.sweep.Trial`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

import optuna

from autodistill.bridge import engine_config
from autodistill.search.study import SearchKey
from autodistill.space import Pipeline, SearchSpace
from autodistill.sweep import Trial as SweepTrial
from engine import DEFAULT_TEACHER, AutodistillError, DataColumns, TrainSettings, choices_error, dataset_source

#: Multi-fidelity pruners over epochs, by the name ``--pruner`` takes (epochs -> pruner).
PRUNERS: dict[str, Callable[[int], optuna.pruners.BasePruner]] = {
    "halving": lambda epochs: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    "hyperband": lambda epochs: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=max(epochs, 1), reduction_factor=3
    ),
    "none": lambda epochs: optuna.pruners.NopPruner(),
}
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class SearchRequest:
    """What to search for and how much to spend (``trials`` and/or ``time_budget`` seconds)."""

    dataset: str
    student: str
    budget: TrainSettings  # every trial's training settings (epochs are the pruner's resource)
    teacher: str = DEFAULT_TEACHER
    trials: int | None = None
    time_budget: float | None = None
    seed: int = 0
    pruner: str = "halving"
    backend: str = "local"
    workers: int = 1  # trials at a time on Ray
    study: str | None = None  # a study name to resume; default: named after data set, student and budget
    columns: DataColumns | None = None  # how to read a file whose columns have names of their own

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", dataset_source(self.dataset))  # a file: one name in runs and rows

    def check(self) -> None:
        if self.trials is None and self.time_budget is None:
            raise AutodistillError("give a budget: --trials N, --time-budget SECONDS, or both")
        if self.trials is not None and self.trials < 1:
            raise AutodistillError(f"--trials must be at least 1, got {self.trials}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise AutodistillError(f"--time-budget must be positive seconds, got {self.time_budget:g}")
        if self.pruner not in PRUNERS:
            raise choices_error("pruner", self.pruner, tuple(PRUNERS))
        if self.backend not in BACKENDS:
            raise choices_error("search backend", self.backend, BACKENDS)
        if self.workers < 1 or (self.backend == "local" and self.workers != 1):
            raise AutodistillError(
                f"--workers {self.workers}: a local search runs one trial at a time; more need --backend ray"
            )


def search_key(request: SearchRequest, space: SearchSpace) -> SearchKey:
    """The key a study is made for; the budget as the engine will run it (the student's defaults filled in),
    the space as its study will store it (JSON lists for tuples), so that a resume compares like with like."""
    probe = engine_config(
        Pipeline(), request.dataset, teacher=request.teacher, student=request.student, budget=request.budget,
        columns=request.columns,
    )  # fmt: skip
    budget = probe.train.model_dump(mode="json")
    given = request.columns.model_dump(exclude_none=True) if request.columns is not None else {}
    columns = given or None  # none given: the key (and the study's name) of a search before keys had columns
    space_fields = json.loads(json.dumps(asdict(space)))
    return SearchKey(request.dataset, request.student, request.teacher, budget, space_fields, columns)


def make_trial(request: SearchRequest, pipeline: Pipeline) -> SweepTrial:
    """The sweep's unit of work for one pipeline: a search trial and a sweep trial of the same
    pipeline and budget are the same trial, with the same engine run."""
    config = engine_config(
        pipeline, request.dataset, teacher=request.teacher, student=request.student, budget=request.budget,
        columns=request.columns,
    )  # fmt: skip
    return SweepTrial.make("distill", config, request.student, pipeline)
