"""Where a sweep trial's wall time goes, and what a worker's reuse between trials saves.

Runs ``--trials`` study-budget trials (logit KD, ``tiny`` student, 192 examples, 8 epochs,
48 tokens; one seed each, so every trial trains on other examples) one after another in this
process, as a sweep worker does, and prints each trial's phases (``RunResult.phases``). With
``--forget`` the process drops what it kept (data, teacher, tokenizer, encoded splits) before
each trial, which is how every trial ran before the reuse. The summary is the median share of
the wall time spent outside training, for trials 2 and later.

    python benchmarks/run_phases.py --dataset bbc-news            # with reuse
    python benchmarks/run_phases.py --dataset bbc-news --forget   # each trial loads everything

The teacher is fine-tuned first if it is not cached (not timed). Output folders go under
``--out`` and are removed first, so every trial trains.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

from engine import TEACHER_SETTINGS, DistillConfig, finetune_teacher, load_task, run
from engine.pipelines import reuse

BUDGET = {"max_train_examples": 192, "epochs": 8, "max_length": 48}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="bbc-news")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--forget", action="store_true", help="drop what the process kept before each trial")
    parser.add_argument("--out", type=Path, default=Path("runs/run_phases"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    finetune_teacher(DistillConfig(dataset=args.dataset).teacher, load_task(args.dataset), TEACHER_SETTINGS)
    reuse.forget()
    shares = []
    for trial in range(args.trials):
        if args.forget:
            reuse.forget()
        config = DistillConfig(
            dataset=args.dataset,
            student="tiny",
            mapping=None,
            inter_loss=None,
            train={**BUDGET, "seed": 1000 + 100 * args.forget + trial},  # each mode builds its own caches
        )
        result = run(config, show_progress=False, output_dir=args.out / f"trial-{trial}")
        outside = result.wall_seconds - result.phases["training"]
        print(f"trial {trial}: wall {result.wall_seconds:.1f} s, outside training {outside:.1f} s")
        print("  " + json.dumps(result.phases))
        if trial:
            shares.append(outside / result.wall_seconds)
    if shares:
        mode = "each trial loads everything" if args.forget else "with reuse"
        print(f"\n{mode}: median share outside training (trials 2+): {statistics.median(shares):.1%}")


if __name__ == "__main__":
    main()
