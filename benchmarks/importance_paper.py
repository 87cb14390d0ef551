"""fANOVA importance of the Distiller components on the authors' 1,239 runs (paper Figures 2 and 6).

    .venv/bin/python benchmarks/importance_paper.py                   # per (teacher, student) group, averaged
    .venv/bin/python benchmarks/importance_paper.py --pair TinyBERT4 BERT_BASE
    .venv/bin/python benchmarks/importance_paper.py --pooled          # every run of a task in one fANOVA
    .venv/bin/python benchmarks/importance_paper.py --out importance.png

By default each (teacher, student) group is analysed apart (Figure 2's setting), so
that architecture changes do not count as noise the forest must explain with the
four components; ``--pair`` keeps one group only, ``--pooled`` is the earlier reading.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from autodistill.evaluation.importance import fanova_importance, plot_importance
from autodistill.store.database import RunStore
from autodistill.store.reference import import_reference
from engine import paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=2, metavar=("STUDENT", "TEACHER"), help="only runs of this pair")
    parser.add_argument("--pooled", action="store_true", help="one fANOVA per task over every teacher and student")
    parser.add_argument("--out", type=Path, default=paths.subdir("reports") / "importance_paper.png")
    args = parser.parse_args()

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder, RunStore(Path(folder) / "runs.sqlite") as store:
        import_reference(store)
        runs = store.runs(source="paper")
    if args.pair:
        runs = runs[(runs["student_name"] == args.pair[0]) & (runs["teacher_name"] == args.pair[1])]
    table = fanova_importance(runs, by_pair=not args.pooled)
    png = plot_importance(table, args.out)

    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 140):
        print(table.T.to_string())
    print(f"\nplot: {png}")
    print(f"wall time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
