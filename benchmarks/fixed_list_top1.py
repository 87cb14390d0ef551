"""Does the predictor choose well among configurations the study has run at the realistic budget?

The held-out protocol (``autodistill heldout``) runs the predictor's picks from the whole
advice space, most of which the study ran only at the cheap budget, so a poor pick can come
from extrapolating to unseen configurations as much as from a poor ordering. This benchmark
removes the extrapolation and the training cost: on each (data set, student)'s realistic runs
(the study's fixed list, the fixed defaults among them, its extras and the held-out arms' runs),
a predictor trained without that data set picks the configuration it rates highest, and the
configuration's stored test ratio (mean over its seeds) is what the pick gets. No run is trained.

Beside it, per (data set, student): plain logit KD, the mean over the list (what a random
configuration of the list gets), the best of the list by dev ratio (what running the whole list
and selecting on dev gives), and the best by test (the oracle, not reachable).

    python benchmarks/fixed_list_top1.py        # about 6 s; benchmarks/results/fixed_list_top1.json
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from autodistill.evaluation.lodo import default_version
from autodistill.predictor.model import PredictorSettings, fit_predictor, model_inputs, training_inputs
from autodistill.space import logit_kd
from autodistill.store.database import RunStore
from autodistill.store.shipped import import_study
from study.noise import configuration

RESULTS = Path(__file__).parent / "results" / "fixed_list_top1.json"
#: Logit KD as :func:`study.noise.configuration` labels it, with either prediction loss.
LOGIT_LABELS = [f"{p.inter_level}/{p.mapping}/{p.pred_loss}/{p.policy}" for p in map(logit_kd, ("ce", "mse"))]
DESIGNS = ("lgbm", "global")  # recommend's default, and the same trees blind to the data set
MIN_CONFIGS = 5  # a list this short leaves the predictor nothing to choose


def _configs(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration of one setting (the study page's labels): its first run's index
    (the model's input row), mean dev and test ratio over seeds, and whether it is plain logit KD."""
    grouped = runs.assign(label=configuration(runs)).groupby("label")
    out = grouped.agg(row=("ratio", lambda s: s.index[0]), dev=("ratio", "mean"), test=("test_ratio", "mean"))
    out["logit"] = out.index.isin(LOGIT_LABELS)
    return out


def _settings(runs: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(data set, student, configurations) for every realistic setting with test scores and a list to choose from."""
    scored = runs[(runs["fidelity"] == "realistic") & runs["test_ratio"].notna()]
    found = []
    for (dataset, student), group in scored.groupby(["dataset", "student_name"]):
        configs = _configs(group)
        if len(configs) >= MIN_CONFIGS and configs["logit"].any():
            found.append((dataset, student, configs))
    return found


def _rows(runs: pd.DataFrame, table: pd.DataFrame, version: str, cache: Path) -> list[dict[str, object]]:
    rows = []
    for dataset, student, configs in _settings(runs):
        train = table[table["dataset"] != dataset]
        row = {
            "dataset": dataset,
            "student": student,
            "configs": len(configs),
            "logit": float(configs.loc[configs["logit"], "test"].iloc[0]),
            "list_mean": float(configs["test"].mean()),
            "best_by_dev": float(configs.loc[configs["dev"].idxmax(), "test"]),
            "oracle": float(configs["test"].max()),
        }
        for design in DESIGNS:
            model = fit_predictor(train, version, replace(PredictorSettings(), design=design), cache)
            predicted = model.predict(table.loc[configs["row"]])
            best = int(np.argmax(predicted))
            row[design] = float(configs["test"].iloc[best])
            row[f"{design}_pick"] = "logit" if configs["logit"].iloc[best] else configs.index[best]
        rows.append(row)
    return rows


def _versus(frame: pd.DataFrame, arm: str, other: str) -> dict[str, object]:
    diff = frame[arm] - frame[other]
    p = stats.wilcoxon(diff[diff != 0]).pvalue if (diff != 0).sum() >= 1 else float("nan")
    return {
        "arm": arm,
        "against": other,
        "wins": int((diff > 0).sum()),
        "losses": int((diff < 0).sum()),
        "mean_diff": round(float(diff.mean()), 4),
        "wilcoxon_p": round(float(p), 3),
    }


def main() -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder, RunStore(Path(folder) / "runs.sqlite") as store:
        import_study(store)
        version = default_version("ours")
        runs, features = training_inputs(store, version, source="ours")
        runs = runs.reset_index(drop=True)
        table = model_inputs(runs, features, embeddings=False)
        frame = pd.DataFrame(_rows(runs, table, version, Path(folder) / "cache"))
    arms = [*DESIGNS, "best_by_dev"]
    others = ["logit", "list_mean", "best_by_dev"]
    versus = [_versus(frame, a, o) for a in arms for o in others if a != o]
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        print(frame.to_string(index=False))
        for design in DESIGNS:
            print(
                f"{design}'s top 1 is logit KD in {(frame[f'{design}_pick'] == 'logit').sum()} of {len(frame)} settings"
            )
        print(
            "\nmean over settings:",
            frame[[*DESIGNS, "logit", "list_mean", "best_by_dev", "oracle"]].mean().round(3).to_dict(),
        )
        print(pd.DataFrame(versus).to_string(index=False))
    RESULTS.write_text(
        json.dumps(
            {
                "settings": frame.round(4).to_dict(orient="records"),
                "versus": versus,
                "wall_s": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
