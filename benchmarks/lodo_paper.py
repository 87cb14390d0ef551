"""Leave-one-dataset-out evaluation of AutoDistiller on the Distiller authors' 1,239 runs.

Reproduces the protocol of the paper's Figure 5 (mean Spearman 0.33 over the 8
GLUE tasks) with our predictor: the runs and dataset features are the authors'
(meta_data/reference/), the predictor is ours (autodistill/predictor/model.py).

    .venv/bin/python benchmarks/lodo_paper.py                     # 60 s per fold, all 8 tasks
    .venv/bin/python benchmarks/lodo_paper.py --time-limit 20 --datasets cola rte
    .venv/bin/python benchmarks/lodo_paper.py --target ratio      # the paper's raw target
    .venv/bin/python benchmarks/lodo_paper.py --models trees      # AutoGluon's tree ensemble
    .venv/bin/python benchmarks/lodo_paper.py --design lgbm       # another design (autodistill/predictor/designs/)

The default is the ``autogluon`` design, whose settings these figures chose (tuned figures;
benchmarks/nested_lodo.py gives the nested ones).

Trained predictors are cached under <home>/predictors, so a rerun with the same
settings only predicts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from autodistill.evaluation.lodo import PAPER_MEAN_SPEARMAN, evaluate_lodo
from autodistill.predictor.designs import DESIGNS
from autodistill.predictor.model import MODEL_FAMILIES, TARGETS, VALIDATIONS, PredictorSettings
from autodistill.store.database import RunStore
from autodistill.store.reference import import_reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0, help="AutoGluon seconds per fold")
    parser.add_argument("--datasets", nargs="*", help="hold out only these tasks (default: all 8)")
    parser.add_argument("--design", choices=DESIGNS.names(), default="autogluon")
    parser.add_argument("--models", choices=MODEL_FAMILIES, default=PredictorSettings.models)
    parser.add_argument("--target", choices=TARGETS, default=PredictorSettings.target)
    parser.add_argument("--validation", choices=VALIDATIONS, default=PredictorSettings.validation)
    parser.add_argument("--no-embeddings", action="store_true", help="drop the 100 dataset embedding columns")
    parser.add_argument("--cache-dir", type=Path, help="predictor cache (default <home>/predictors)")
    args = parser.parse_args()

    settings = replace(
        PredictorSettings(),
        time_limit=args.time_limit,
        design=args.design,
        models=args.models,
        target=args.target,
        validation=args.validation,
        dataset_embeddings=not args.no_embeddings,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder, RunStore(Path(folder) / "runs.sqlite") as store:
        import_reference(store)
        table = evaluate_lodo(
            store, source="paper", settings=settings, datasets=args.datasets, cache_dir=args.cache_dir
        )
    elapsed = time.monotonic() - started

    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print(table.to_string(index=False))
    mean = table.loc[table["dataset"] == "mean", "spearman"].item()
    print(f"\nmean Spearman {mean:.3f}  (paper, Figure 5: {PAPER_MEAN_SPEARMAN:.2f})")
    print(f"settings: {settings}")
    print(f"wall time: {elapsed:.0f} s")


if __name__ == "__main__":
    main()
