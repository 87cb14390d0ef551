"""Would a speed probe at recommend time make predicted minutes right? An upper bound from the study.

recommend's cost model misses a new data set's speed (``benchmarks/advice_heldout.py``: about 0.57
of held-out runs within ±30 %). A probe, a short logit-KD run on the user's data and machine, could
tell the model how fast logit KD is there, and the model would predict the other pipelines
relative to it. This script measures the best such a probe could do: each run's *anchor* is the
median time of logit KD's runs in the same setting (data set, student, device, split version,
budget), known exactly. A gradient-boosting model on the cost model's inputs learns log(seconds /
anchor); each family of data sets is held out in turn, as in the advice benchmark, and both models
are checked on the same anchored runs. Nothing is trained beyond the two regressors; the figures
come from the committed study export.

    python benchmarks/cost_anchor.py      # about a minute on 2 cores; benchmarks/results/cost_anchor.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from autodistill.advice.cost import SPEED_PROBE, cost_columns, out_of_family, run_seconds
from autodistill.advice.sessions import SESSION
from autodistill.evaluation.advice import COST_TOLERANCE
from autodistill.store.configurations import is_logit_kd
from autodistill.store.shipped import shipped_store
from engine import dataset_family

RESULTS = Path(__file__).parent / "results" / "cost_anchor.json"
#: What makes two runs' work alike but for the pipeline: a logit-KD run in the same setting is the anchor.
SETTING = ["dataset", "student_name", "device", "split_version", "max_length", "train_examples", "epochs"]


def anchored_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Timed runs with ``seconds`` (the cost model's :func:`run_seconds`) and ``anchor``, the median of
    logit KD's in their setting (NaN where none ran)."""
    timed = runs.assign(seconds=run_seconds(runs))
    timed = timed[timed["seconds"] > 0].copy()
    timed[SETTING] = timed[SETTING].fillna(-1)
    logit = is_logit_kd(timed)
    anchors = timed[logit].groupby(SETTING)["seconds"].median().rename("anchor")
    return timed.join(anchors, on=SETTING).assign(logit=logit)


def held_out_errors(runs: pd.DataFrame, anchored: bool) -> pd.Series:
    """Per run, the relative error of a model fitted without the run's family; ``anchored``: it learns
    seconds relative to the setting's logit-KD time and is told that time."""
    offset = np.log(runs["anchor"]) if anchored else 0.0
    target = (np.log(runs["seconds"]) - offset).to_numpy()
    if anchored:  # a time relative to the anchor's holds no machine for a probe or a session to divide out
        runs = runs.drop(columns=[SPEED_PROBE, SESSION], errors="ignore")
    missed = out_of_family(runs, target, runs["dataset"].map(dataset_family).to_numpy())
    return pd.Series(np.exp(-missed) - 1.0, index=runs.index)  # predicted / measured - 1


def main() -> None:
    with shipped_store() as store:
        runs = anchored_runs(cost_columns(store.runs(source="ours")))
    runs = runs[runs["anchor"].notna()]
    rows = []
    for anchored in (False, True):
        within = held_out_errors(runs, anchored).abs() <= COST_TOLERANCE
        for group, mask in {
            "all anchored runs": pd.Series(True, index=runs.index),
            "pipelines other than logit KD": ~runs["logit"],
            "sized splits (version 2)": runs["split_version"] >= 2,
            "first splits (version 1)": runs["split_version"] < 2,
        }.items():
            rows.append({"model": "anchored" if anchored else "cost model", "runs": group,
                         "n": int(mask.sum()), "within": round(float(within[mask].mean()), 3)})  # fmt: skip
    table = pd.DataFrame(rows).pivot(index=["runs", "n"], columns="model", values="within").reset_index()
    print(f"held-out runs predicted within ±{COST_TOLERANCE:.0%}, each family held out")
    print(table.to_string(index=False))
    RESULTS.write_text(json.dumps({"rows": rows, "anchored_runs": len(runs)}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
