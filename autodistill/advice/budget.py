"""Whether a longer budget pays: logit KD at the study's patient budget against the realistic one.

The Distiller paper distilled for 20 epochs; the study's realistic budget stops at the no-KD
baseline's plateau (1-3 epochs). The study ran logit KD at both budgets on a few data sets (the
patient runs ship in ``meta_data/patient/study.sqlite``), so advice can say what training
longer bought there: per (data set, student) pair, the patient runs' mean dev ratio minus the
realistic runs' (same teacher and split version), and how many times the minutes it took. A
new data set's gain is predicted as the other pairs' mean with the spread a new pair falls in,
as :mod:`autodistill.advice.alone` predicts training alone. It is shown beside the picks, not
weighed with them: a handful of pairs ran both budgets, too few to weigh a budget against a pipeline.

Dev ratios only: the test split chooses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from autodistill.advice.gain import GainEstimate, new_draw_estimate
from autodistill.store.configurations import is_logit_kd
from autodistill.store.database import RunStore
from engine import from_scratch, paths

#: The study's patient runs, as ``python -m study.patient`` reads them.
PATIENT_STORE = paths.META_DATA / "patient" / "study.sqlite"
#: The budgets compared: the one advice is given at, and the longer one.
REALISTIC, PATIENT = "realistic", "patient"
#: Fewer (data set, student) pairs than this ran logit KD at both budgets, and nothing is predicted.
MIN_PAIRS = 3
_PAIR = ["dataset", "teacher_name", "student_name", "split_version"]


@dataclass(frozen=True)
class BudgetGain:
    """Logit KD at the patient budget against the realistic one, on a new data set."""

    gain: GainEstimate
    #: The patient runs' minutes as a multiple of the realistic runs', the median over the pairs.
    times: float
    epochs: int


def patient_runs(path: Path = PATIENT_STORE) -> pd.DataFrame:
    """The shipped patient runs (an empty frame where the file is missing)."""
    if not path.exists():
        return pd.DataFrame()
    with RunStore(path, read_only=True) as store:
        return store.runs(source="ours")


def budget_gains(*frames: pd.DataFrame) -> pd.DataFrame:
    """Per pair that ran logit KD at both budgets in ``frames`` (runs tables): the patient mean dev ratio
    minus the realistic one (``gain``), the ratio of their median wall times (``times``) and the patient
    epochs."""
    columns = [*_PAIR, "fidelity", "ratio", "wall_time_s", "epochs"]
    kept = [f.loc[is_logit_kd(f) & f["fidelity"].isin([REALISTIC, PATIENT]), columns] for f in frames if not f.empty]
    logit = pd.concat([f for f in kept if not f.empty] or [pd.DataFrame(columns=columns)], ignore_index=True)
    per = logit.groupby([*_PAIR, "fidelity"]).agg(
        ratio=("ratio", "mean"), seconds=("wall_time_s", "median"), epochs=("epochs", "max")
    )
    wide = per.unstack("fidelity")
    wide = wide.reindex(columns=pd.MultiIndex.from_product([per.columns, [REALISTIC, PATIENT]])).dropna()
    if wide.empty:
        return pd.DataFrame(columns=[*_PAIR, "gain", "times", "epochs"])
    return pd.DataFrame(
        {
            "gain": wide[("ratio", PATIENT)] - wide[("ratio", REALISTIC)],
            "times": wide[("seconds", PATIENT)] / wide[("seconds", REALISTIC)],
            "epochs": wide[("epochs", PATIENT)].astype(int),
        }
    ).reset_index()


def predicted_budget(gains: pd.DataFrame, dataset: str, student: str) -> BudgetGain | None:
    """The patient budget's predicted dev-ratio gain for logit KD on ``dataset``, from the other data
    sets' pairs whose students started as ``student`` does; None with fewer than :data:`MIN_PAIRS`."""
    fresh = from_scratch(student)
    others = gains[(gains["dataset"] != dataset) & (gains["student_name"].map(from_scratch) == fresh)]
    if len(others) < MIN_PAIRS:
        return None
    return BudgetGain(new_draw_estimate(others["gain"]), float(others["times"].median()), int(others["epochs"].max()))
