"""Does distillation help, and does augmentation? Dev-score ratios of small students on catalog data sets.

Two protocols, one budget per invocation (every row of a data set trains the
same student on the same examples, epochs, length and learning rate):

``--protocol engine``: for each data set and student,

    no-KD        the student fine-tuned on labels alone
    logit KD     Eq. 1's prediction term only (CE on the teacher's soft labels)
    + MSE        logit KD plus intermediate MSE over the skip mapping
    + MI-α       logit KD plus MI-α (α = 0.9, transformer critics) over the skip mapping

``--protocol augmentation`` (the paper's Table 3): for each data set and
student, the best plain pipeline of the paper (MI-α 0.9, skip, CE) without and with
the ``ca,ra,mixup`` stack (aug_p 0.3, one augmented copy per example).

The ratio is student / teacher dev score, the teacher being MiniLM-L6 fine-tuned
on the data set (cached; trained first if missing). Runs are cached like any
engine run, so a rerun prints the table without training again. On two CPU cores:

    python benchmarks/kd_quality.py --protocol engine --datasets drug-review bbc-news wordnet-lexname
    python benchmarks/kd_quality.py --protocol augmentation --students mini tiny
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from engine.config import DistillConfig
from engine.data import load_task
from engine.pipelines.run import RunResult, finetune, run

ROWS: dict[str, dict[str, dict]] = {
    "engine": {
        "no-KD": {"kind": "finetune"},
        "logit KD": {"mapping": None, "inter_loss": None},
        "+ MSE": {"mapping": "skip", "inter_loss": "mse"},
        "+ MI-α": {"mapping": "skip", "inter_loss": "mi", "alpha": 0.9},
    },
    "augmentation": {
        "without": {"mapping": "skip", "inter_loss": "mi", "alpha": 0.9},
        "ca,ra,mixup": {
            "mapping": "skip",
            "inter_loss": "mi",
            "alpha": 0.9,
            "augment": ("ca", "ra", "mixup"),
            "aug_p": 0.3,
            "repeated_aug": 1,
        },
    },
}
#: The three smallest catalog data sets by training examples (Table 3 is about small data).
SMALLEST = ("drug-review", "bbc-news", "sotu-party")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=sorted(ROWS), default="engine")
    parser.add_argument("--datasets", nargs="+", default=list(SMALLEST))
    parser.add_argument("--students", nargs="+", default=["layers=0,2,4", "tiny"])
    parser.add_argument("--teacher", default="minilm-l6")
    parser.add_argument("--max-train-examples", type=int, default=256)
    parser.add_argument("--max-eval-examples", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def config_for(args: argparse.Namespace, dataset: str, student: str, row: dict) -> DistillConfig:
    fields = {k: v for k, v in row.items() if k != "kind"}
    train = {
        "epochs": args.epochs,
        "max_train_examples": args.max_train_examples,
        "max_eval_examples": args.max_eval_examples,
        "max_length": args.max_length,
        "lr": args.lr,
        "seed": args.seed,
    }
    return DistillConfig.model_validate(
        {"teacher": args.teacher, "student": student, "dataset": dataset, "train": train, **fields}
    )


def main(argv: list[str] | None = None) -> None:
    from transformers.utils import logging as hf_logging

    args = parse_args(argv)
    hf_logging.disable_progress_bar()
    rows = ROWS[args.protocol]
    print(
        f"protocol {args.protocol}: teacher {args.teacher}, {args.max_train_examples} train examples, "
        f"{args.epochs} epochs, max length {args.max_length}, lr {args.lr}, seed {args.seed}"
    )
    ratios: dict[tuple[str, str], list[float]] = {}
    header = f"{'data set':<20}{'student':<14}" + "".join(f"{name:>14}" for name in rows)
    print(header + f"{'seconds':>10}")
    for dataset in args.datasets:
        task = load_task(dataset)
        for student in args.students:
            started = time.perf_counter()
            cells = []
            for name, row in rows.items():
                execute: Callable[..., RunResult] = finetune if row.get("kind") == "finetune" else run
                result = execute(config_for(args, dataset, student, row), task=task, show_progress=False)
                ratios.setdefault((student, name), []).append(result.ratio)
                cells.append(f"{result.ratio:>14.3f}")
            print(f"{dataset:<20}{student:<14}" + "".join(cells) + f"{time.perf_counter() - started:>10.0f}")
    print("mean ratio per student (and how many data sets each row beats the first row on):")
    first = next(iter(rows))
    for student in args.students:
        means = []
        for name in rows:
            values = ratios[(student, name)]
            wins = sum(v > b for v, b in zip(values, ratios[(student, first)], strict=True))
            beats = "" if name == first else f" ({wins}/{len(values)})"
            means.append(f"{name} {statistics.mean(values):.3f}{beats}")
        print(f"  {student}: " + " | ".join(means))


if __name__ == "__main__":
    main()
