"""Leave-one-dataset-out (LODO) evaluation of the predictor (paper §5.4, Figure 5).

The question AutoDistiller answers is "which pipeline for a data set I have no
runs on?", so it is scored the same way: for each data set, train on the runs
of all *other* data sets, predict its runs, and compare with what they actually
scored. Nothing of the held-out data set's runs (ratios, student scores, their
ranks) reaches training. What a user would know before any run on it, its
dataset features and the teacher's score, is used at prediction time.

Per held-out data set the table gives the Spearman correlation between
predicted and actual ratio over its runs (Figure 5's number; the paper averages
0.33 over 8 GLUE tasks), the mean actual ratio of the predicted top-k runs, and
the data set's best and mean ratio (what an oracle and a random pick get).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from autodistill.predictor import PredictorSettings, fit_predictor, training_table
from autodistill.reference import PAPER_FEATURIZER
from autodistill.store import SOURCES, RunStore
from engine import AutodistillError, choices_error

#: The paper's mean leave-one-dataset-out Spearman over the 8 GLUE tasks (Figure 5).
PAPER_MEAN_SPEARMAN = 0.33


def default_version(source: str) -> str:
    """The featurizer version a source's runs carry: the authors' own features, or ours with the BiLSTM baseline."""
    if source == "paper":
        return PAPER_FEATURIZER
    from autodistill.features import featurizer_version

    return featurizer_version("bilstm")


def evaluate_lodo(
    store: RunStore,
    *,
    source: str = "paper",
    time_limit: float | None = None,
    settings: PredictorSettings | None = None,
    featurizer_version: str | None = None,
    datasets: Sequence[str] | None = None,
    top_k: int = 5,
    cache_dir: Path | None = None,
) -> pd.DataFrame:
    """One row per held-out data set plus a final ``mean`` row.

    ``datasets`` limits which data sets are held out (all of them are still used
    for training the other folds); ``time_limit`` overrides the settings' one.
    """
    if source not in SOURCES:
        raise choices_error("run source", source, SOURCES)
    settings = settings or PredictorSettings()
    if time_limit is not None:
        settings = replace(settings, time_limit=time_limit)
    version = featurizer_version or default_version(source)
    table = training_table(store, version, source=source, embeddings=settings.dataset_embeddings)
    names = sorted(table["dataset"].unique())
    if len(names) < 2:
        raise AutodistillError(f"leave-one-dataset-out needs runs on 2+ data sets; {source!r} has {len(names)}")
    held_out = list(datasets) if datasets is not None else names
    for name in held_out:
        if name not in names:
            raise choices_error("data set", name, names)
    rows = []
    for name in held_out:
        test = table[table["dataset"] == name]
        predictor = fit_predictor(table[table["dataset"] != name], version, settings, cache_dir)
        predicted = predictor.predict(test)
        actual = test["ratio"].to_numpy()
        top = np.argsort(-predicted, kind="stable")[:top_k]
        rows.append(
            {
                "dataset": name,
                "runs": len(test),
                "spearman": float(stats.spearmanr(predicted, actual).statistic) if len(test) > 1 else np.nan,
                f"top{top_k}_ratio": float(actual[top].mean()),
                "best_ratio": float(actual.max()),
                "mean_ratio": float(actual.mean()),
            }
        )
    result = pd.DataFrame(rows)
    mean = result.drop(columns=["dataset"]).mean(numeric_only=True)
    mean["runs"] = result["runs"].sum()
    result = pd.concat([result, pd.DataFrame([{"dataset": "mean", **mean}])], ignore_index=True)
    return result.astype({"runs": int})
