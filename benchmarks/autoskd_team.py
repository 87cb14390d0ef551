"""AutoSKDBERT vs. single-teacher KD, AvgKD and fixed uniform sampling, on catalog data sets.

One student, one budget, one teacher team of different capacities (by default
MiniLM-L6 and its first 4, 3 and 2 layers, each fine-tuned on the task):

    single-<teacher>   KD from each member alone; "single best" is the best of them
    avgkd              the mean of the members' logits (Hinton et al. 2015)
    uniform            one member per step, drawn from the uniform distribution
    learned-cr         AutoSKDBERT with the continuous-relaxation update, then its
                       candidates retrained from scratch (sample runs) and the best kept
    learned-sswo       the same with stochastic single-weight optimisation

Scores are dev scores (the task's headline metric); ratio is student / best
teacher. Learned rows count the search plus every retrain in their wall time,
shown against AvgKD's. Small on CPU:

    python benchmarks/autoskd_team.py --datasets bbc-news --max-train-examples 200 \\
        --epochs 2 --teacher-epochs 1 --max-length 64 --retrain 2
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import engine.pipelines.run
import engine.teachers.finetune
from engine.config import DistillConfig, TeamConfig, TrainSettings
from engine.data import TaskData, load_task
from engine.models.zoo import load_tokenizer
from engine.pipelines.candidates import retrain_candidates
from engine.pipelines.run import RunResult, run
from engine.tasks import encode_split, real_valued
from engine.tasks.encoding import limit_examples
from engine.teachers.team import Team, prepare_team

DEFAULT_TEAM = ("minilm-l6", "minilm-l6:layers=0,1,2,3", "minilm-l6:layers=0,1,2", "minilm-l6:layers=0,1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbc-news", "wordnet-gloss-pair"])
    parser.add_argument("--teachers", nargs="+", default=list(DEFAULT_TEAM), help="teacher specs (≥ 2)")
    parser.add_argument("--student", default="tiny")
    parser.add_argument("--max-train-examples", type=int, default=400)
    parser.add_argument("--max-eval-examples", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3, help="student epochs (every method, retrains too)")
    parser.add_argument("--teacher-epochs", type=int, default=2)
    parser.add_argument("--teacher-lr", type=float, default=5e-5)
    parser.add_argument(
        "--teacher-max-train-examples",
        type=int,
        default=None,
        help="rows each member is fine-tuned on (default: the whole training split; the students' cap "
        "leaves the cut-down members near chance)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3, help="student learning rate")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--theta-lr", type=float, default=1e-2, help="paper: 3e-4..1e-3 over far longer runs")
    parser.add_argument("--theta-loss", choices=["kd", "labels"], default="kd", help="L_val of the θ step")
    parser.add_argument("--unroll-lr", type=float, default=None, help="α of the unroll (default: theta lr)")
    parser.add_argument("--drop-m", type=int, default=1)
    parser.add_argument("--candidates", type=int, default=5, help="candidates saved along phase 2")
    parser.add_argument("--retrain", type=int, default=2, help="candidates retrained per learned run")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None, help="write all results as JSON here")
    return parser.parse_args(argv)


def _row(name: str, result: RunResult, wall: float, avg_wall: float | None, theta=None) -> dict:
    return {
        "method": name,
        "score": result.student_score,
        "ratio": result.ratio,
        "wall_s": wall,
        "wall_vs_avgkd": wall / avg_wall if avg_wall else None,
        "theta": theta,
    }


#: Builds the team config of one method from its team fields.
MakeConfig = Callable[..., DistillConfig]


def _budgets(args: argparse.Namespace) -> tuple[TrainSettings, TrainSettings]:
    """The members' fine-tuning settings and the student's budget, from the command line."""
    teacher = TrainSettings(
        epochs=args.teacher_epochs,
        batch_size=args.batch_size,
        lr=args.teacher_lr,
        max_length=args.max_length,
        max_train_examples=args.teacher_max_train_examples,
        seed=args.seed,
    )
    student = TrainSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_length=args.max_length,
        max_train_examples=args.max_train_examples,
        max_eval_examples=args.max_eval_examples,
        seed=args.seed,
    )
    return teacher, student


def _warm_up(config: DistillConfig, task: TaskData, train: TrainSettings, teacher_settings: TrainSettings) -> Team:
    """Untimed: fine-tune every member and cache its outputs, so that no method pays for it."""
    started = time.perf_counter()
    team = prepare_team(config.team, task, teacher_settings)
    student_tokenizer = load_tokenizer(config.teacher)
    rows = limit_examples(task.train, train.max_train_examples, train.seed)
    team.caches(task, train, encode_split(rows, task.spec, student_tokenizer, train.max_length, train=True))
    print(f"[{task.spec.name}] team ready in {time.perf_counter() - started:.0f}s")
    for member in team.members:
        print(f"  teacher {member.name:28s} layers={member.layers} dev {task.spec.metric}={member.info.dev_score:.4f}")
    return team


def _fixed_rules(args: argparse.Namespace, config: MakeConfig, task: TaskData) -> tuple[list[dict], RunResult]:
    """Each member alone, the best of them, AvgKD and uniform sampling; AvgKD's result is the yardstick."""
    avg = run(config(mode="average"), task=task, show_progress=False)
    avg_wall = avg.wall_seconds
    rows, singles = [], []
    for i, name in enumerate(args.teachers):
        single = run(config(mode="single", pick=i), task=task, show_progress=False)
        singles.append(single)
        rows.append(_row(f"single-{name}", single, single.wall_seconds, avg_wall))
    best_single = max(singles, key=lambda r: r.student_score)
    rows.append(_row("single best", best_single, best_single.wall_seconds, avg_wall))
    rows.append(_row("avgkd", avg, avg_wall, avg_wall))
    uniform = run(config(mode="sample"), task=task, show_progress=False)
    rows.append(_row("uniform", uniform, uniform.wall_seconds, avg_wall, uniform.team.get("theta")))
    return rows, avg


def _learned(args: argparse.Namespace, config: MakeConfig, task: TaskData, avg_wall: float) -> list[dict]:
    """AutoSKDBERT's learned distribution (both θ updates): search, then retrain from the candidates."""
    learned_team = {
        "drop_m": args.drop_m,
        "theta_lr": args.theta_lr,
        "theta_loss": args.theta_loss,
        "unroll_lr": args.unroll_lr,
        "candidates": args.candidates,
    }
    rows = []
    for update in ("cr", "sswo"):
        cfg = config(mode="learned", update=update, **learned_team)
        search = run(cfg, task=task, show_progress=False)
        retrained = retrain_candidates(cfg, search, limit=args.retrain, task=task, show_progress=False)
        wall = search.wall_seconds + sum(r.result.wall_seconds for r in retrained)
        best = retrained[0]
        rows.append(_row(f"learned-{update}", best.result, wall, avg_wall, list(best.theta)))
        rows[-1].update(
            search_student_score=search.student_score,
            final_theta=search.team["theta"],
            phase1_theta=search.team["phase1_theta"],
            dropped=search.team["dropped"],
            candidate_scores={r.step: r.result.student_score for r in retrained},
        )
    return rows


def benchmark_dataset(args: argparse.Namespace, dataset: str) -> dict:
    task = load_task(dataset)
    teacher_settings, train = _budgets(args)
    # run() fine-tunes every member with these, and the fine-tune's plan line reads them as the teacher's own
    engine.pipelines.run.TEACHER_SETTINGS = engine.teachers.finetune.TEACHER_SETTINGS = teacher_settings
    base = {
        "dataset": dataset,
        "student": args.student,
        "pred_loss": "mse" if real_valued(task.spec.task_type) else "ce",
        "train": train.model_dump(),
    }

    def config(**team) -> DistillConfig:
        return DistillConfig.model_validate({**base, "team": {"teachers": args.teachers, **team}})

    team = _warm_up(config(mode="average"), task, train, teacher_settings)
    fixed, avg = _fixed_rules(args, config, task)
    return {
        "dataset": dataset,
        "metric": task.spec.metric,
        "teachers": [m.to_json() for m in team.members],
        "best_teacher_score": avg.teacher_score,
        "results": fixed + _learned(args, config, task, avg.wall_seconds),
    }


def print_report(report: dict) -> None:
    print(f"\n== {report['dataset']} ({report['metric']}; best teacher {report['best_teacher_score']:.4f})")
    print(f"{'method':34s} {'score':>7s} {'ratio':>7s} {'wall s':>8s} {'×AvgKD':>7s}  θ")
    for row in report["results"]:
        theta = "" if row["theta"] is None else "(" + ", ".join(f"{w:.3f}" for w in row["theta"]) + ")"
        ratio = f"{row['wall_vs_avgkd']:.2f}" if row["wall_vs_avgkd"] is not None else "-"
        print(f"{row['method']:34s} {row['score']:7.4f} {row['ratio']:7.4f} {row['wall_s']:8.1f} {ratio:>7s}  {theta}")
        if "final_theta" in row:
            final = ", ".join(f"{w:.3f}" for w in row["final_theta"])
            print(
                f"{'':34s} search student {row['search_student_score']:.4f}; final θ ({final}); "
                f"dropped {row['dropped']}; candidates {row['candidate_scores']}"
            )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    TeamConfig(teachers=tuple(args.teachers), drop_m=args.drop_m)  # bad teams fail before any training
    reports = []
    for dataset in args.datasets:
        reports.append(benchmark_dataset(args, dataset))
        print_report(reports[-1])
    if args.out is not None:
        args.out.write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "reports": reports}, indent=2)
        )
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
