"""Which augmentation mode should be the default? Fresh copies every epoch (the paper) against
copies made once and reused, with the teacher's outputs on them cached.

For each data set and seed the same pipeline and budget runs in both modes:

    pipeline   the README's top pick: PKD / EMD / CE, EDA then contextual augmentation
               (``ra,ca``), 4 copies per example per epoch, ``tiny`` student
    budget     the study's cheap one: 192 training examples, 8 epochs, 48 tokens

The dev split picks each run's epoch; the quality reported is the test ratio (student test
score / teacher test score). Per data set: mean ± std over seeds per mode, the paired
difference, and whether it lies within the seed noise (|mean difference| <= the larger of the
two modes' seed stds). Time: training seconds and whole-run wall seconds per mode.
The cached mode may become the default only if it is within the noise everywhere.

    python benchmarks/aug_mode.py                                # 3 data sets x 3 seeds x 2 modes
    python benchmarks/aug_mode.py --datasets bbc-news --seeds 0  # one pair, to try it

Runs are cached like any engine run: a rerun prints the table without training again.
Figures go to ``benchmarks/results/aug_mode.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from engine import TEACHER_SETTINGS, DistillConfig, finetune_teacher, load_task, run

MODES = ("fresh", "cached")
#: Sets where the cheap budget's student learns beyond the majority class. On drug-review both
#: modes' students predicted the majority class in every epoch (MCC 0): no comparison there.
DATASETS = ("wordnet-lexname", "wordnet-gloss-pair", "bbc-news")
PIPELINE = {
    "student": "tiny",
    "inter_loss": "pkd",
    "mapping": "emd",
    "pred_loss": "ce",
    "augment": ("ra", "ca"),
    "repeated_aug": 4,
}
BUDGET = {"max_train_examples": 192, "epochs": 8, "max_length": 48}
RESULTS = Path(__file__).parent / "results" / "aug_mode.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def one_run(dataset: str, mode: str, seed: int) -> dict:
    config = DistillConfig(dataset=dataset, aug_mode=mode, train={**BUDGET, "seed": seed}, **PIPELINE)
    result = run(config, show_progress=False)
    return {
        "dataset": dataset,
        "mode": mode,
        "seed": seed,
        "test_ratio": result.test_ratio,
        "dev_ratio": result.ratio,
        "train_seconds": result.train_seconds,
        "wall_seconds": result.wall_seconds,
        "run_id": result.run_id,
    }


def summarise(rows: list[dict], dataset: str) -> dict:
    """Mean ± std of each mode's test ratio and time on one data set, and the noise verdict."""
    out: dict = {"dataset": dataset}
    for mode in MODES:
        mine = [r for r in rows if r["dataset"] == dataset and r["mode"] == mode]
        ratios = [r["test_ratio"] for r in mine]
        out[mode] = {
            "test_ratio_mean": statistics.fmean(ratios),
            "test_ratio_std": statistics.stdev(ratios) if len(ratios) > 1 else 0.0,
            "train_seconds_mean": statistics.fmean(r["train_seconds"] for r in mine),
            "wall_seconds_mean": statistics.fmean(r["wall_seconds"] for r in mine),
        }
    difference = out["cached"]["test_ratio_mean"] - out["fresh"]["test_ratio_mean"]
    noise = max(out[m]["test_ratio_std"] for m in MODES)
    out.update(difference=difference, noise=noise, within_noise=abs(difference) <= noise)
    return out


def print_table(summaries: list[dict]) -> None:
    print(f"{'data set':<14} {'fresh ratio':>15} {'cached ratio':>15} {'diff':>7} {'noise':>6}  verdict")
    for s in summaries:
        f, c = s["fresh"], s["cached"]
        verdict = "within noise" if s["within_noise"] else "outside noise"
        print(
            f"{s['dataset']:<14} {f['test_ratio_mean']:.3f} ± {f['test_ratio_std']:.3f}   "
            f"{c['test_ratio_mean']:.3f} ± {c['test_ratio_std']:.3f} "
            f"{s['difference']:+7.3f} {s['noise']:6.3f}  {verdict}"
        )
    print(f"\n{'data set':<14} {'fresh train s':>14} {'cached train s':>15} {'fresh wall s':>13} {'cached wall s':>14}")
    for s in summaries:
        f, c = s["fresh"], s["cached"]
        print(
            f"{s['dataset']:<14} {f['train_seconds_mean']:14.1f} {c['train_seconds_mean']:15.1f} "
            f"{f['wall_seconds_mean']:13.1f} {c['wall_seconds_mean']:14.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows = []
    for dataset in args.datasets:
        # fine-tuned before timing: the first run's wall time should not hold the teacher's training
        finetune_teacher(DistillConfig(dataset=dataset).teacher, load_task(dataset), TEACHER_SETTINGS)
        for seed in args.seeds:
            for mode in MODES:
                rows.append(one_run(dataset, mode, seed))
                print(json.dumps(rows[-1]), flush=True)
    summaries = [summarise(rows, d) for d in args.datasets]
    print_table(summaries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figures = {"pipeline": PIPELINE, "budget": BUDGET, "runs": rows, "summary": summaries}
    args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
