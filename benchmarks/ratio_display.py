"""How far recommend's displayed ratio lands from the ratio a run on an unseen family of data sets got.

Each family (data sets sharing source examples) is held out in turn; the display model (AutoGluon's
linear model on the raw ratio, :func:`autodistill.advice.ranking.ratio_settings`) is fitted on the other
families' stored runs, as recommend fits it, and predicts every held-out run's dev ratio. Three
readings are compared by their median absolute error: the raw prediction, the prediction held to the
training runs' range (:func:`autodistill.advice.ranking.display_range`, what recommend shows), and the
training runs' median ratio, the constant a display has to beat to mean anything. Runs of each data
set's latest split version; no run is trained.

    python benchmarks/ratio_display.py      # about three minutes on 2 cores; benchmarks/results/ratio_display.json
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from autodistill.advice.ranking import display_range, ratio_settings, usable_runs
from autodistill.evaluation.noise import latest_splits
from autodistill.features.baseline import BaselineSettings
from autodistill.features.featurize import featurizer_version
from autodistill.predictor.model import PredictorSettings, fit_predictor, model_inputs
from autodistill.store.shipped import shipped_store
from engine import dataset_family

RESULTS = Path(__file__).parent / "results" / "ratio_display.json"


def held_out_errors(table: pd.DataFrame, version: str, cache: Path) -> pd.DataFrame:
    """Per family held out: its runs, and the median |error| of the raw, held and constant readings."""
    families = table["dataset"].map(dataset_family)
    settings = ratio_settings(PredictorSettings())
    rows = []
    for family in sorted(families.unique()):
        train, test = table[families != family].reset_index(drop=True), table[families == family]
        raw = fit_predictor(train, version, settings, cache).predict(test.reset_index(drop=True))
        actual = test["ratio"].to_numpy(dtype=float)
        readings = {"raw": raw, "held": np.clip(raw, *display_range(train["ratio"])), "median": train["ratio"].median()}
        errors = {name: float(np.median(np.abs(value - actual))) for name, value in readings.items()}
        rows.append({"family": family, "runs": len(test), **errors, "raw_min": raw.min(), "raw_max": raw.max()})
    return pd.DataFrame(rows)


def main() -> None:
    started = time.perf_counter()
    version = featurizer_version(BaselineSettings().model)  # what recommend learns from by default
    with shipped_store() as store:
        table = model_inputs(latest_splits(usable_runs(store, "ours", version)), store.features(version))
    with tempfile.TemporaryDirectory() as cache:
        errors = held_out_errors(table, version, Path(cache))
    medians = errors[["raw", "held", "median"]].median()
    print(errors.round(3).to_string(index=False))
    print(f"median over {len(errors)} families of the median |error|: raw {medians['raw']:.3f}, held to the "
          f"training range {medians['held']:.3f}, the training runs' median ratio {medians['median']:.3f}")  # fmt: skip
    figures = {f"median_abs_error_{name}": round(float(value), 4) for name, value in medians.items()}
    RESULTS.write_text(
        json.dumps(
            {
                "figures": figures,
                "families": errors.round(4).to_dict(orient="records"),
                "runs": len(table),
                "seconds": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
