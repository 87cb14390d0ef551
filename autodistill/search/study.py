"""A search's Optuna study: where it lives, what it was made for, and what it has spent.

Each search keeps its study in the autodistill home (``<home>/search/<name>.journal``,
Optuna's journal file storage: plain appends, safe to kill), named by default after
the data set, the student, the per-trial budget and the search space, so that rerunning
the same command resumes it. The study records what it was made for; resuming it for
another data set, student, teacher, budget or search space (one an older autodistill
searched) is refused in one line that says which, before Optuna meets a parameter whose
choices changed.

A trial counts against the budget once it has an outcome (completed, pruned, or failed
in the engine) and runs a pipeline the study has not run before; a trial left running by
a killed search is closed as failed on resume and its pipeline queued again (its engine
run resumes from its checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from autodistill.store.database import RunStore
from engine import AutodistillError, RunResult, dev_standard_error, paths

#: The user attribute a trial gets when it has an outcome: the seconds it took.
SECONDS = "seconds"


def result_attrs(result: RunResult) -> dict[str, Any]:
    """What a trial keeps of its run: the dev and test ratio, its folder, the epochs it ran, the dev
    examples it was scored on with its dev ratio's standard error (:func:`engine.dev_standard_error`: how
    finely the split tells trials apart; absent where the run did not record them), and the answer its
    student gave every dev example where it gave one only (a majority guess scores a ratio all the same)."""
    attrs: dict[str, Any] = {"dev_ratio": result.ratio, "test_ratio": result.test_ratio,
                             "output_dir": result.output_dir, "epochs": len(result.history)}  # fmt: skip
    if result.one_answer is not None:
        attrs["one_answer"] = result.one_answer
    if n := result.scored_examples.get("dev"):
        attrs |= {
            "dev_examples": n,
            "dev_ratio_se": dev_standard_error(result) / result.teacher_score if result.teacher_score > 0 else math.nan,
        }
    return attrs


@dataclass(frozen=True)
class SearchKey:
    """What a study searches for: a resume must ask for the same."""

    dataset: str
    student: str
    teacher: str
    budget: dict[str, Any]  # the engine's training settings of every trial
    space: dict[str, Any]  # the search space's fields, as JSON reads them back
    columns: dict[str, Any] | None = None  # how a file is read, its --metric too (None: as found)

    def default_name(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if v is not None}  # a key without columns: its old name
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
        return f"{Path(self.dataset).stem}__{self.student.replace('=', '').replace(',', '-')}__{digest}"


def study_path(name: str) -> Path:
    return paths.subdir("search") / f"{name}.journal"


def open_study(
    key: SearchKey, name: str | None, sampler: optuna.samplers.BaseSampler, pruner: optuna.pruners.BasePruner
) -> optuna.Study:
    """The study ``name`` (default: the key's), created or resumed; another key's study is refused."""
    name = name or key.default_name()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(study_path(name))))
    study = optuna.create_study(
        study_name=name, storage=storage, sampler=sampler, pruner=pruner, direction="maximize", load_if_exists=True
    )
    made_for = study.user_attrs.get("key")
    if made_for is None:
        study.set_user_attr("key", asdict(key))
    else:
        _refuse_another(name, made_for, asdict(key))
    _close_interrupted(study)
    return study


def _refuse_another(name: str, made_for: dict[str, Any], asked: dict[str, Any]) -> None:
    for field in ("dataset", "student", "teacher", "budget"):
        if made_for[field] != asked[field]:
            what = "data set" if field == "dataset" else field
            raise AutodistillError(
                f"search study {name!r} was made for {what} {made_for[field]!r}, not {asked[field]!r}; "
                "leave out --study to start a search of its own"
            )
    if made_for.get("columns") != asked["columns"]:  # a study made before the key had columns read a file as found
        raise AutodistillError(
            f"search study {name!r} was made for columns {made_for.get('columns')!r}, not {asked['columns']!r}; "
            "leave out --study to start a search of its own"
        )
    if made_for.get("space") != asked["space"]:  # studies made before the key had a space searched another
        raise AutodistillError(
            f"search study {name!r} was made for another search space than this autodistill's; "
            "leave out --study to start a search of its own"
        )


def _close_interrupted(study: optuna.Study) -> None:
    """Trials a killed search left running: closed as failed (uncounted), their pipelines queued again."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"resumed": trial.number})


def counted(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that spent budget: every one with an outcome."""
    return [t for t in study.get_trials(deepcopy=False) if SECONDS in t.user_attrs]


def distinct_pipelines(study: optuna.Study) -> int:
    """How many different pipelines the study has run: TPE over a categorical space may propose one
    it has run already (the engine returns that run at once), which does not spend a trial."""
    return len({t.user_attrs.get("trial_id") for t in counted(study)})


def repeats_at_end(study: optuna.Study) -> int:
    """How many of the last trials in a row re-ran a pipeline run before (the sampler has converged)."""
    seen: set[object] = set()
    repeats = 0
    for trial in counted(study):
        name = trial.user_attrs.get("trial_id")
        repeats = repeats + 1 if name in seen else 0
        seen.add(name)
    return repeats


def spent_seconds(study: optuna.Study) -> float:
    return sum(float(t.user_attrs[SECONDS]) for t in counted(study))


def trial_seconds(study: optuna.Study, store: RunStore, key: SearchKey) -> tuple[float, str] | None:
    """About how long one whole trial takes here, and from what: this study's completed trials, else
    the store's finished trials of the same data set, student and budget (a sweep's or a search's)."""
    own = [float(t.user_attrs[SECONDS]) for t in counted(study) if t.state == TrialState.COMPLETE]
    if own:
        return statistics.median(own), f"median of this search's {len(own)} whole trials"
    log = store.trials(status="done")
    budget = json.dumps(key.budget, sort_keys=True)
    alike = log[
        (log["dataset"] == key.dataset)
        & (log["student_name"] == key.student)
        & (log["kind"] == "distill")
        & (log["budget_json"] == budget)
        & log["pruned_after_epoch"].isna()
    ]
    if alike.empty:
        return None
    return float(alike["wall_time_s"].median()), f"median of {len(alike)} stored runs with this budget"
