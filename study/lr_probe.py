"""The learning rate of a pretrained student at the patient budget, chosen on dev.

A fresh student trains at 5e-4 in the study; a general-distilled one starts from weights worth
keeping, so a smaller rate may suit it (the Distiller paper used 5e-5 for its pretrained students).
The probe fine-tunes the student without KD (the no-KD baseline) at each candidate rate on a few data
sets, seed 0, at the patient budget, and keeps the rate with the best mean dev ratio. Test scores are
not read. ``python -m study.lr_probe --student tiny-gd --datasets vader-valence,wordnet-span``
writes ``meta_data/patient/lr_probe_tiny-gd.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from autodistill.bridge import baseline_config
from autodistill.sweep.study_plan import PATIENT
from engine import DEFAULT_TEACHER, finetune, latest_split_version, paths

RATES = (1e-4, 3e-4, 1e-3)


def out_path(student: str) -> Path:
    """Where a student's probe is written by default: one file per student, so that probing one
    never overwrites another's."""
    return paths.META_DATA / "patient" / f"lr_probe_{student}.json"


def probe(student: str, datasets: list[str], rates: tuple[float, ...] = RATES, seed: int = 0) -> dict:
    """Dev ratio (student over teacher, so that data sets of other metrics average) and wall seconds of
    the no-KD baseline per (data set, rate), and the rate of the best mean dev ratio."""
    rows = []
    for dataset in datasets:
        for lr in rates:
            budget = PATIENT.budget(student, seed=seed, split_version=latest_split_version(dataset))
            budget = budget.model_copy(update={"lr": lr})
            config = baseline_config(dataset, teacher=DEFAULT_TEACHER, student=student, budget=budget)
            started = time.perf_counter()
            result = finetune(config, show_progress=False)
            seconds = round(time.perf_counter() - started, 1)
            rows.append({"dataset": dataset, "lr": lr, "dev_ratio": result.ratio, "best_epoch": result.best_epoch,
                         "seconds": seconds})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    means = {lr: sum(r["dev_ratio"] for r in rows if r["lr"] == lr) / len(datasets) for lr in rates}
    chosen = max(means, key=means.get)
    mean_dev = {str(lr): round(score, 4) for lr, score in means.items()}
    return {"student": student, "budget": PATIENT.name, "seed": seed, "runs": rows, "mean_dev_ratio": mean_dev,
            "chosen": chosen}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", default="tiny-gd")
    parser.add_argument("--datasets", default="vader-valence,wordnet-span")
    parser.add_argument("--out", type=Path, help="default: meta_data/patient/lr_probe_<student>.json")
    args = parser.parse_args()
    found = probe(args.student, [d.strip() for d in args.datasets.split(",") if d.strip()])
    out = args.out or out_path(args.student)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(found, indent=2) + "\n")
    print(f"chosen learning rate for {args.student}: {found['chosen']:g} (mean dev ratio {found['mean_dev_ratio']})")


if __name__ == "__main__":
    main()
