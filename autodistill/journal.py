"""What a user runs by hand, kept in the home's runs store beside the sweeps' runs.

``autodistill run``, ``finetune`` and ``teacher train`` each log one trial of source ``user``
(a distillation also its row in ``runs``), so that ``autodistill runs list`` shows what was done
and when. The study's analyses read the source ``ours`` only and never see these rows. A user
trial's id is its engine run id (a teacher's: its cache folder) behind ``user-<kind>-``, so the
same run made twice is one row, and a sweep's trial of the same settings stays its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from autodistill.space import Pipeline
from autodistill.store.database import RunStore, TrialRecord
from autodistill.sweep.execute import Outcome
from autodistill.sweep.plan import Trial
from autodistill.sweep.runner import record_outcome
from engine import FinetunedModel, RunResult, dataset_source, parse_config

SOURCE = "user"


def record_user_run(result: RunResult, store: RunStore) -> TrialRecord:
    """Log a finished ``run`` (kind ``distill``) or ``finetune`` (the no-KD baseline) of the user's, under the
    data set's name as its config holds it (a file: its absolute path), the name a sweep's and recommend's
    runs of that file carry."""
    engine = parse_config(dict(result.config), source="run config")
    pipeline = Pipeline.from_engine(engine) if result.kind == "distill" else None
    trial = Trial(f"{SOURCE}-{result.kind}-{result.run_id}", result.kind, engine.dataset, engine.student, engine,
                  pipeline)  # fmt: skip
    outcome = Outcome(trial.trial_id, result, None, result.wall_seconds)
    return record_outcome(store, trial, outcome, "", source=SOURCE)


def record_user_teacher(finetuned: FinetunedModel, store: RunStore, dataset: str | None = None) -> TrialRecord:
    """Log a teacher fine-tuned (or found ready) by ``teacher train``: its dev score and settings, under
    ``dataset`` as the user named it (:func:`engine.dataset_source`; unset: the task's own name)."""
    record = TrialRecord(
        trial_id=f"{SOURCE}-teacher-{Path(finetuned.model_dir).name}",
        kind="teacher",
        dataset=dataset_source(dataset) if dataset else finetuned.dataset,
        student_name=finetuned.name,
        status="done",
        budget=json.loads(json.dumps(finetuned.settings, default=str)),
        config={"teacher": finetuned.name, "dataset": finetuned.dataset, "model_dir": str(finetuned.model_dir)},
        student_score=finetuned.dev_score,
        wall_time_s=finetuned.train_seconds,
        source=SOURCE,
    )
    store.record_trial(record)
    return record
