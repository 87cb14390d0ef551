"""Does ``autodistill search`` earn its cost? Trials needed to reach the best fixed default.

On each held-out data set and seed, at the same per-trial budget and the same number of
trials, four arms:

    top1     recommend's top pick alone (the predictor trained without this data set's runs)
    random   the paper's §4 random search: pipelines drawn uniformly from the paper's space
    tpe      the search's sampler and pruner without the predictor's picks (``--picks 0``), over
             the paper's space plus logit-only KD (``ADVICE_SPACE``), as ``search`` samples
    search   ``autodistill search``: the predictor's top picks first, then TPE with pruning

The yardstick is the best fixed default (autodistill/space/defaults.py: logit KD, the TinyBERT
recipe, the paper's MI-α), chosen among the three on dev and read on test. After each trial
an arm's incumbent is its best whole run so far on dev; the arm has reached the default once
its incumbent's test ratio is at least the default's. Reported per data set and seed: the
trials each arm needed (None: not within the budget), its final incumbent's test ratio, and
the seconds it spent; overall, the mean over data sets and seeds, and search's trials as a
fraction of random's (the target: at most 1/3).

Runs are cached like any engine run, so a pipeline several arms draw is trained once, and a
rerun prints the figures without training again. The searches' trials are recorded in their
own store (``--store``), not the one the predictor learns from.

    python benchmarks/search_vs_random.py --datasets bbc-news --seeds 0 --trials 2 \\
        --max-train-examples 48 --epochs 2 --max-length 32 --max-eval-examples 100   # a tiny proof that it runs
    python benchmarks/search_vs_random.py --fidelity realistic --datasets simlex-999 --seeds 0   # realistic budget

Figures go to ``benchmarks/results/search_vs_random.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from autodistill.bridge import make_budget, space_for
from autodistill.features.featurize import featurizer_version
from autodistill.search import SearchRequest, make_trial, recommended_picks, run_search
from autodistill.space.defaults import FIXED_DEFAULTS, fixed_default
from autodistill.store.database import RunStore
from autodistill.sweep import execute_trial, sample_configs
from autodistill.sweep.study_plan import FIDELITIES
from autodistill.sweep.study_run import found_plateaus
from engine import DEFAULT_TEACHER, TaskData, TrainSettings, load_task, real_valued

DATASETS = ("bbc-news", "drug-review", "wordnet-lexname", "wordnet-gloss-pair")
RESULTS = Path(__file__).parent / "results" / "search_vs_random.json"
VERSION = featurizer_version("bilstm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=12, help="trials per arm (equal budget)")
    parser.add_argument("--picks", type=int, default=3, help="the predictor's picks the search runs first")
    parser.add_argument("--student", default="tiny")
    parser.add_argument("--max-train-examples", type=int, default=192)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--max-eval-examples", type=int, default=200, help="the study's 200-row dev and test samples")
    parser.add_argument(
        "--fidelity",
        choices=sorted(FIDELITIES),
        help="a study budget per data set (realistic: its no-KD plateau "
        "epochs, read from the home store's probe); overrides the four budget options",
    )
    parser.add_argument("--store", type=Path, default=Path("search_bench.sqlite"), help="where the trials go")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def request(args: argparse.Namespace, dataset: str, seed: int, **changes: object) -> SearchRequest:
    budget = budget_of(args, dataset, seed)
    return SearchRequest(**{"dataset": dataset, "student": args.student, "budget": budget, "seed": seed, **changes})


def budget_of(args: argparse.Namespace, dataset: str, seed: int) -> TrainSettings:
    """The options' budget, or the study's at ``--fidelity`` (the same trials as the study's own runs,
    so the fixed defaults of seed 0 come from the engine's cache)."""
    if args.fidelity is None:
        return make_budget(epochs=args.epochs, max_train_examples=args.max_train_examples,
                           max_eval_examples=args.max_eval_examples, max_length=args.max_length, seed=seed)  # fmt: skip
    chosen = FIDELITIES[args.fidelity]
    if chosen.epochs is not None:
        return chosen.budget(args.student, seed=seed)
    with RunStore() as home:
        found = found_plateaus(home, [dataset], [args.student], chosen, DEFAULT_TEACHER)
    if (dataset, args.student) not in found:
        raise SystemExit(f"no {chosen.name} no-KD probe of {dataset} ({args.student}) in the home store; run "
                         f"`autodistill study sweep --fidelity {chosen.name} --datasets {dataset}` first")  # fmt: skip
    return chosen.budget(args.student, seed=seed, epochs=found[(dataset, args.student)].epochs)


def ran(req: SearchRequest, task: TaskData, pipeline) -> dict:
    """One whole run of ``pipeline`` (cached by the engine), as a trial row."""
    outcome = execute_trial(make_trial(req, pipeline), None, task)
    if outcome.result is None:
        return {"state": "failed", "dev": None, "test": None, "seconds": outcome.seconds}
    result = outcome.result
    return {"state": "complete", "dev": result.ratio, "test": result.test_ratio, "seconds": outcome.seconds}


def best_default(args: argparse.Namespace, task: TaskData, dataset: str, seed: int) -> dict:
    """The fixed default with the best dev ratio, and its test ratio: the yardstick."""
    regression = real_valued(task.spec.task_type)
    rows = {name: ran(request(args, dataset, seed), task, fixed_default(name, regression=regression))
            for name in FIXED_DEFAULTS}  # fmt: skip
    name = max((n for n in rows if rows[n]["dev"] is not None), key=lambda n: rows[n]["dev"])
    return {"name": name, **rows[name]}


def random_arm(args: argparse.Namespace, task: TaskData, dataset: str, seed: int) -> list[dict]:
    rng = random.Random(f"search-bench:{seed}:{dataset}")
    configs = sample_configs(space_for(task.spec.task_type), args.trials, rng)
    return [ran(request(args, dataset, seed), task, config) for config in configs]


def search_arm(args: argparse.Namespace, task: TaskData, dataset: str, seed: int, picks: int, store: RunStore) -> list:
    """A search of ``args.trials`` trials in a study of its own; its trials in order."""
    req = request(args, dataset, seed, trials=args.trials, study=f"bench-{dataset}-{seed}-picks{picks}")

    def first() -> list:
        with RunStore() as shipped:  # the predictor learns from the home's store, without this data set
            return recommended_picks(task, shipped, req, picks, lambda _t: None, unseen=True)

    report = run_search(req, task, store, featurizer_version=VERSION, picks=first)
    rows, seen = [], set()
    for t in report.trials:  # a repeated pipeline spent no trial (the engine returned its run)
        if t.user_attrs["trial_id"] in seen:
            continue
        seen.add(t.user_attrs["trial_id"])
        whole = t.state.name == "COMPLETE"
        rows.append({"state": t.state.name.lower(), "dev": t.value if whole else None,
                     "test": t.user_attrs.get("test_ratio") if whole else None,
                     "seconds": float(t.user_attrs["seconds"])})  # fmt: skip
    return rows


def reached(trials: list[dict], target: float) -> int | None:
    """How many trials until the incumbent (best dev so far among whole runs) is at the target on test."""
    best = None
    for k, row in enumerate(trials, start=1):
        if row["dev"] is not None and (best is None or row["dev"] > best["dev"]):
            best = row
        if best is not None and best["test"] is not None and best["test"] >= target:
            return k
    return None


def incumbent_test(trials: list[dict]) -> float | None:
    whole = [r for r in trials if r["dev"] is not None]
    return max(whole, key=lambda r: r["dev"])["test"] if whole else None


def one_cell(args: argparse.Namespace, dataset: str, seed: int, store: RunStore) -> dict:
    task = load_task(dataset)
    target = best_default(args, task, dataset, seed)
    arms = {
        "top1": search_arm_top1(args, task, dataset, seed),
        "random": random_arm(args, task, dataset, seed),
        "tpe": search_arm(args, task, dataset, seed, 0, store),
        "search": search_arm(args, task, dataset, seed, args.picks, store),
    }
    return {
        "dataset": dataset,
        "seed": seed,
        "default": target,
        "arms": {
            name: {
                "trials": rows,
                "trials_to_default": reached(rows, target["test"]),
                "incumbent_test_ratio": incumbent_test(rows),
                "seconds": sum(r["seconds"] for r in rows),
            }
            for name, rows in arms.items()
        },
    }


def search_arm_top1(args: argparse.Namespace, task: TaskData, dataset: str, seed: int) -> list[dict]:
    req = request(args, dataset, seed)
    with RunStore() as shipped:
        top = recommended_picks(task, shipped, req, 1, lambda _t: None, unseen=True)
    return [ran(req, task, top[0])]


def summarise(cells: list[dict], budget: int) -> dict:
    """Per arm: how often it reached the default, the mean trials to it (a miss counts as ``budget + 1``,
    a lower bound), the mean incumbent test ratio and seconds."""
    out: dict = {}
    for arm in ("top1", "random", "tpe", "search"):
        got = [c["arms"][arm]["trials_to_default"] for c in cells]
        hits = [g for g in got if g is not None]
        ratios = [c["arms"][arm]["incumbent_test_ratio"] for c in cells if c["arms"][arm]["incumbent_test_ratio"]]
        out[arm] = {
            "reached": f"{len(hits)}/{len(got)}",
            "mean_trials_to_default": statistics.fmean(g if g is not None else budget + 1 for g in got),
            "mean_incumbent_test_ratio": statistics.fmean(ratios) if ratios else None,
            "mean_seconds": statistics.fmean(c["arms"][arm]["seconds"] for c in cells),
        }
    out["search_trials_over_random"] = out["search"]["mean_trials_to_default"] / out["random"]["mean_trials_to_default"]
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    cells: list[dict] = []
    with RunStore(args.store) as store:
        for dataset in args.datasets:
            for seed in args.seeds:
                cells.append(one_cell(args, dataset, seed, store))
                figures = write_figures(args, cells, time.perf_counter() - started)  # a stopped run keeps its cells
                print(f"{dataset} seed {seed} done ({len(cells)} cells written to {args.out})", flush=True)
    print(json.dumps(figures["summary"], indent=2))
    print(f"wrote {args.out}")


#: The options a ``--fidelity`` replaces; they are left out of the figures' record when it is given.
BUDGET_OPTIONS = ("max_train_examples", "epochs", "max_length", "max_eval_examples")


def recorded_args(args: argparse.Namespace) -> dict[str, str]:
    """The options that set what ran: under ``--fidelity`` the study's budget ran, not the four budget options."""
    ignored = BUDGET_OPTIONS if args.fidelity is not None else ()
    return {k: str(v) for k, v in vars(args).items() if k not in ignored}


def write_figures(args: argparse.Namespace, cells: list[dict], seconds: float) -> dict:
    figures = {
        "args": recorded_args(args),
        "cells": cells,
        "summary": summarise(cells, args.trials),
        "seconds": seconds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
