"""Leave-one-dataset-out (LODO) evaluation of the predictor (paper §5.4, Figure 5).

The question AutoDistiller answers is "which pipeline for a data set I have no
runs on?", so it is scored the same way: for each data set, train on the runs
of all *other* data sets, predict its runs, and compare with what they actually
scored. Nothing of the held-out data set's runs (ratios, student scores, their
ranks) reaches training, nor its siblings' (:func:`training_names`): data sets
built from the same source examples (one family, named on the data cards) would
tell the model much of what it is asked. What a user would know before any run on it, its
dataset features and the teacher's score, is used at prediction time.

Per held-out data set the table gives the Spearman correlation between
predicted and actual ratio (Figure 5's number; the paper averages 0.33 over 8 GLUE
tasks), the mean actual ratio of the predicted top-k runs, and the data set's best
and mean ratio (what an oracle and a random pick get). The paper pools a task's runs
of every teacher, student and budget; here the Spearman is taken within each such
setting and averaged (:func:`autodistill.predictor.designs.setting_spearman`), since a
recommendation orders configurations for one student at one budget, and a pooled
figure also rewards telling a large student from a small one. The top-k, best and
mean ratios are per setting too (a top-k pooled over settings could pick the larger
students' runs, a choice no user has).

The dataset features are part of what must not leak. A context embedding weighs words
by their IDF over a corpus of data sets (Table 7), and stored features were computed
with every data set in it, the held-out one included. So each fold rebuilds the context
embeddings of our runs' data sets with the held-out data set left out of the IDF corpus
(:func:`fold_features`): the training data sets' embeddings are computed among
themselves, and the held-out one's against them, as a new data set would be featurized
against the store. The authors' features come as published vectors, computed by them
over their 10 tasks; they cannot be rebuilt, so the paper's folds use them as they are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from autodistill.predictor.designs import setting_key, setting_spearman
from autodistill.predictor.model import Predictor, PredictorSettings, fit_predictor, model_inputs, training_inputs
from autodistill.store.database import SOURCES, DatasetFeatures, RunStore
from autodistill.store.reference import PAPER_FEATURIZER
from engine import AutodistillError, choices_error, dataset_family, load_task

#: The paper's mean leave-one-dataset-out Spearman over the 8 GLUE tasks (Figure 5).
PAPER_MEAN_SPEARMAN = 0.33


def default_version(source: str) -> str:
    """The featurizer version a source's runs carry: the authors' own features, or ours with the BiLSTM baseline."""
    if source == "paper":
        return PAPER_FEATURIZER
    from autodistill.features.featurize import featurizer_version

    return featurizer_version("bilstm")


def corpus_text(names: Sequence[str]) -> tuple[dict[str, Counter[str]], Mapping[str, np.ndarray]]:
    """Each data set's word counts and the word vectors: what rebuilding a context embedding reads."""
    from autodistill.features.featurize import word_counts
    from autodistill.features.glove import load_glove

    counts = {}
    for name in names:
        try:
            counts[name] = word_counts(load_task(name))
        except AutodistillError as error:
            raise AutodistillError(
                f"leave-one-dataset-out rebuilds each fold's IDF corpus from the data sets' text: {error}"
            ) from None
    return counts, load_glove()


def training_names(held_out: str, names: Iterable[str]) -> frozenset[str]:
    """The data sets of ``names`` a fold holding ``held_out`` out trains on: all but its family
    (:func:`engine.dataset_family`; a data set without siblings is a family of its own)."""
    family = dataset_family(held_out)
    return frozenset(name for name in names if dataset_family(name) != family)


def fold_features(
    features: Sequence[DatasetFeatures],
    held_out: str,
    counts: Mapping[str, Mapping[str, int]],
    vectors: Mapping[str, np.ndarray],
) -> list[DatasetFeatures]:
    """The features of a fold that holds ``held_out`` out: context embeddings over an IDF corpus
    of the data sets it trains on (the held-out one, like any data set, also counts itself)."""
    from autodistill.features.featurize import refit_context

    training = training_names(held_out, [f.dataset for f in features])
    return refit_context(features, [f.dataset for f in features if f.dataset in training], counts, vectors)


def _score_fold(name: str, test: pd.DataFrame, predictor: Predictor, top_k: int) -> dict[str, object]:
    """The held-out data set's row: Spearman of predicted against actual ratio, top-k, best and mean,
    each taken within a setting (one teacher, student and budget: the choice a user faces) and
    averaged over the data set's settings, weighted by their runs."""
    frame = pd.DataFrame(
        {
            "setting": setting_key(test).to_numpy(),
            "predicted": predictor.predict(test),
            "actual": test["ratio"].to_numpy(),
        }
    )
    per_setting = pd.DataFrame(
        [
            {
                "runs": len(group),
                "top": group.sort_values("predicted", ascending=False, kind="stable")["actual"].head(top_k).mean(),
                "best": group["actual"].max(),
                "mean": group["actual"].mean(),
            }
            for _, group in frame.groupby("setting")
        ]
    )
    weights = per_setting["runs"]
    return {
        "dataset": name,
        "runs": len(test),
        "spearman": setting_spearman(test, frame["predicted"].to_numpy(), frame["actual"].to_numpy()),
        **{
            column: float(np.average(per_setting[key], weights=weights))
            for column, key in ((f"top{top_k}_ratio", "top"), ("best_ratio", "best"), ("mean_ratio", "mean"))
        },
    }


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
    runs, features = training_inputs(store, version, source=source)
    names = sorted(runs["dataset"].unique())
    if len(names) < 2:
        raise AutodistillError(f"leave-one-dataset-out needs runs on 2+ data sets; {source!r} has {len(names)}")
    held_out = list(datasets) if datasets is not None else names
    for name in held_out:
        if name not in names:
            raise choices_error("data set", name, names)
    refit = source == "ours" and settings.dataset_embeddings
    if refit:
        features = [f for f in features if f.dataset in names]  # the corpus: data sets with runs
        counts, vectors = corpus_text(names)
    rows = []
    for name in held_out:
        fold = fold_features(features, name, counts, vectors) if refit else features
        table = model_inputs(runs, fold, embeddings=settings.dataset_embeddings)
        training = table["dataset"].isin(training_names(name, names))
        predictor = fit_predictor(table[training], version, settings, cache_dir)
        rows.append(_score_fold(name, table[table["dataset"] == name], predictor, top_k))
    result = pd.DataFrame(rows)
    mean = result.drop(columns=["dataset"]).mean(numeric_only=True)
    mean["runs"] = result["runs"].sum()
    result = pd.concat([result, pd.DataFrame([{"dataset": "mean", **mean}])], ignore_index=True)
    return result.astype({"runs": int})
