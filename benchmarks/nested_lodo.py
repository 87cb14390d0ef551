"""Which predictor design should ``recommend`` use? Nested leave-one-dataset-out beside the tuned figure.

For each source (the project's shipped study runs, ``meta_data/study``; the Distiller
authors' 1,239 runs) every design of :mod:`autodistill.predictor.designs` and its small grid is
evaluated by :func:`autodistill.evaluation.nested.evaluate_nested`:

    nested   design and hyper-parameters chosen by LODO on the other data sets only,
             refitted, scored on the held-out one (the clean figure)
    tuned    the best mean LODO over all data sets, chosen on the figure it reports

``recommend``'s default design is the one with the best *nested* figure on our runs
(``recommend`` learns from ours: the authors' features cannot be computed for a new data set).

    python benchmarks/nested_lodo.py                    # both sources, all designs (2-15 min per source on 2 cores)
    python benchmarks/nested_lodo.py --sources ours --designs lgbm kernel
    python benchmarks/nested_lodo.py --sources ours --score test --fidelity realistic   # the held-out target's scoring

Figures go to ``benchmarks/results/nested_lodo.json`` (dev, every run) or
``nested_lodo_<score>_<fidelity>.json``; a source not asked for keeps the figures the file holds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from autodistill.evaluation.lodo import default_version
from autodistill.evaluation.nested import SCORE_COLUMNS, Reported, evaluate_nested, reported_on
from autodistill.store.database import RunStore
from autodistill.store.reference import import_reference
from autodistill.store.shipped import import_study

RESULTS = Path(__file__).parent / "results" / "nested_lodo.json"
IMPORTERS = {"ours": import_study, "paper": import_reference}


def evaluate_source(source: str, designs: list[str] | None, reported: Reported) -> dict[str, object]:
    """Nested and tuned figures of one source, in a throwaway store filled from the shipped files."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder, RunStore(Path(folder) / "runs.sqlite") as store:
        IMPORTERS[source](store)
        version = default_version(source)
        result = evaluate_nested(store, version, source=source, designs=designs, reported=reported)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        print(f"\n== {source} runs, scored on {reported} ==")
        print(result.summary.to_string(index=False))
        print(result.folds[result.folds["design"] == result.summary["design"].iloc[-1]].to_string(index=False))
    return {
        "summary": result.summary.round(4).to_dict(orient="records"),
        "folds": result.folds.round(4).to_dict(orient="records"),
        "scored_on": str(reported),
        "wall_s": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="*", choices=sorted(IMPORTERS), default=["ours", "paper"])
    parser.add_argument("--designs", nargs="*", help="designs to compare (default: all registered)")
    parser.add_argument("--score", choices=sorted(SCORE_COLUMNS), default="dev", help="what the held-out figure reads")
    parser.add_argument("--fidelity", help="score only the held-out runs at this study budget (e.g. realistic)")
    args = parser.parse_args()
    reported = reported_on(args.score, args.fidelity)
    results = {source: evaluate_source(source, args.designs, reported) for source in args.sources}
    for source, figures in results.items():
        overall = figures["summary"][-1]  # type: ignore[index]
        best = max(figures["summary"][:-1], key=lambda row: row["nested"])  # type: ignore[index]
        print(
            f"{source}: nested {overall['nested']:.3f} (choosing among designs), tuned {overall['tuned']:.3f}; "
            f"best design by nested figure: {best['design']} {best['nested']:.3f} (tuned {best['tuned']:.3f})"
        )
    out = (
        RESULTS
        if args.score == "dev" and not args.fidelity
        else RESULTS.with_name(f"nested_lodo_{args.score}_{args.fidelity or 'all'}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(out.read_text()) if out.exists() else {}  # sources not rerun keep their figures
    out.write_text(json.dumps(kept | results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
