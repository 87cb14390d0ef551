"""Which trials a sweep runs: a fixed list, a pure function of what the user asked for.

:func:`plan` turns (seed, data sets, students, n) — plus the teacher and the
per-trial budget — into trials:

* per data set, ``n`` distinct pipelines drawn with
  :meth:`SearchSpace.sample <autodistill.space.search_space.SearchSpace.sample>` from a
  generator seeded by (seed, data set), so adding a data set or raising ``n``
  keeps every trial planned before (the first ``n`` draws do not change);
* every pipeline is run with every student (paired comparisons);
* plus each student's no-KD baseline, the reference a distillation has to beat.

Nothing here runs anything; :mod:`autodistill.sweep.execute` does.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autodistill.bridge import BUDGET_FIELDS, baseline_config, engine_config, make_budget, space_for
from autodistill.space import DEFAULT_SPACE, Pipeline, SearchSpace, legacy
from engine import (
    DEFAULT_TEACHER,
    AutodistillError,
    DataColumns,
    DistillConfig,
    TaskData,
    TrainSettings,
    split_version_of,
)


@dataclass(frozen=True)
class Trial:
    """One unit of a sweep: a distillation of one pipeline, or a student's no-KD baseline."""

    trial_id: str
    kind: str  # "distill" (engine.run) or "finetune" (engine.finetune)
    dataset: str
    student: str
    engine: DistillConfig
    config: Pipeline | None = None  # None for a baseline
    fidelity: str | None = None  # the study budget it belongs to (autodistill.sweep.study_plan), if any

    @classmethod
    def make(
        cls, kind: str, engine: DistillConfig, student: str, config: Pipeline | None = None, fidelity: str | None = None
    ) -> Trial:
        return cls(trial_id(kind, engine, config), kind, engine.dataset, student, engine, config, fidelity)


def trial_id(kind: str, engine: DistillConfig, config: Pipeline | None) -> str:
    """A trial's identity: what the sweep chose (kind, data set, models, pipeline, budget).

    Not the engine's run id, which hashes every engine field: a field the engine
    adds later (with a default) would otherwise make every logged trial look new.
    The pipeline enters in the form the first sweeps hashed (:func:`legacy.trial_key`),
    so trials logged before keep their ids.
    """
    chosen = {
        "kind": kind,
        "dataset": engine.dataset,
        "teacher": engine.teacher,
        "student": engine.student,
        "distiller": legacy.trial_key(config) if config is not None else None,
        "budget": {name: getattr(engine.train, name) for name in BUDGET_FIELDS},
    }
    if (version := split_version_of(engine)) != 1:
        chosen["split_version"] = version  # trials on the first splits keep their ids
    if engine.aug_mode != "fresh" and any(op != "mixup" for op in engine.augment):
        chosen["cached_copies"] = engine.kept_copies  # trials with fresh copies keep their ids
    if engine.columns is not None:  # a file read under other columns is another task; usual names keep their ids
        chosen["columns"] = engine.columns.model_dump(exclude_none=True)
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:12]


def parse_students(text: str) -> list[str]:
    """``"tiny,layers=0,2,4,mini"`` -> ``["tiny", "layers=0,2,4", "mini"]`` (layer indices stay together)."""
    students: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if token.isdigit() and students and students[-1].startswith("layers"):
            students[-1] += f",{token}"
        else:
            students.append(token)
    if not students:
        raise AutodistillError("no students given; e.g. --students tiny,layers=0,2,4")
    return students


def sample_configs(space: SearchSpace, n: int, rng: random.Random) -> list[Pipeline]:
    """``n`` distinct random pipelines (the §4 random search), in draw order."""
    size = sum(1 for _ in space.configurations())
    if not 1 <= n <= size:
        raise AutodistillError(f"cannot draw {n} distinct configurations from a space of {size}")
    drawn: dict[Pipeline, None] = {}
    while len(drawn) < n:
        drawn.setdefault(space.sample(rng), None)
    return list(drawn)


def plan(
    tasks: Mapping[str, TaskData],
    students: Sequence[str],
    n: int,
    *,
    seed: int = 0,
    teacher: str = DEFAULT_TEACHER,
    budget: TrainSettings | None = None,
    space: SearchSpace = DEFAULT_SPACE,
    baselines: bool = True,
    columns: DataColumns | None = None,
) -> list[Trial]:
    """The sweep's trials, a deterministic function of (seed, data sets, students, n, teacher, budget).

    ``tasks`` maps each data set as the engine will load it (catalog name or path)
    to its loaded data, which decides the valid part of the space (no CE
    prediction loss for regression); ``columns`` says how every file among them is read.
    """
    budget = budget or make_budget()
    trials: dict[str, Trial] = {}
    for dataset, task in tasks.items():
        rng = random.Random(f"autodistill-sweep:{seed}:{dataset}")
        configs = sample_configs(space_for(task.spec.task_type, space), n, rng)
        planned = []
        if baselines:
            planned += [
                Trial.make(
                    "finetune",
                    baseline_config(dataset, teacher=teacher, student=s, budget=budget, columns=columns),
                    s,
                )
                for s in students
            ]
        for config in configs:
            for student in students:
                engine = engine_config(
                    config, dataset, teacher=teacher, student=student, budget=budget, columns=columns
                )
                planned.append(Trial.make("distill", engine, student, config))
        for trial in planned:
            trials.setdefault(trial.trial_id, trial)
    return list(trials.values())


def plan_datasets(
    datasets: Sequence[str], students: Sequence[str], n: int, columns: DataColumns | None = None, **options: Any
) -> list[Trial]:
    """:func:`plan` for data sets named as the engine loads them (``autodistill sweep --dry-run``)."""
    return plan(load_tasks(datasets, columns), students, n, columns=columns, **options)


def load_tasks(datasets: Sequence[str], columns: DataColumns | None = None) -> dict[str, TaskData]:
    """Each data set loaded, keyed by the name its trials and runs carry (a file: its absolute path),
    every file among them read through ``columns``."""
    from engine import column_options, dataset_source, load_task

    read = column_options(columns)
    return {dataset_source(name): load_task(name, **read) for name in datasets}
