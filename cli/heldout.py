"""``autodistill heldout``: the picks against random configurations and fixed defaults, data set by data set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli import render
from cli.app import STUDY_PANEL, typer_app
from cli.options import BUDGET, BaselineOpt, SeedOpt, StoreOpt, StudentOpt, TeacherOpt, out_option, with_flags
from engine import TrainSettings

if TYPE_CHECKING:
    from autodistill import HeldoutSummary


@typer_app.command("heldout", rich_help_panel=STUDY_PANEL)
@with_flags(budget=BUDGET)
def heldout_command(
    budget: TrainSettings,
    datasets: Annotated[
        str | None,
        typer.Option(
            help="comma-separated catalog data sets to hold out (default: every one of the store's study); one "
            "without runs in the store is a prospective test"
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="picks, and random configurations, per data set")] = 3,
    random: Annotated[
        int | None, typer.Option(help="random configurations per data set (default: as many as --k; 0: none)")
    ] = None,
    seeds: Annotated[
        int, typer.Option(help="training seeds per configuration: the budget's seed and the next ones")
    ] = 1,
    seed: SeedOpt = 0,
    fidelity: Annotated[
        str | None,
        typer.Option(
            help="cheap | realistic: each data set's budget from the study's plan (realistic: epochs from its "
            "no-KD probe), so the arms the study runs too are not trained twice; replaces the budget flags"
        ),
    ] = None,
    student: StudentOpt = "tiny",
    teacher: TeacherOpt = "minilm-l6",
    trial: Annotated[
        int,
        typer.Option(
            help="also run the K alternatives `recommend --trial K` would try beside logit KD, and score what "
            "the trial then picks on dev (0: none)"
        ),
    ] = 0,
    workers: Annotated[int, typer.Option(help="trials at a time (0: in this process)")] = 0,
    retry_failed: Annotated[bool, typer.Option(help="rerun arms logged as failed (an interrupted run)")] = False,
    baseline: BaselineOpt = "bilstm",
    out: Annotated[
        Path | None, out_option("results file, one row per run (default: meta_data/heldout/results.csv)")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Hold out each data set in turn: the advice's picks against random and default ones; resumable.

    Per data set: the advice's top k picks made without its family, k random
    configurations, the fixed defaults and the no-KD baseline, under one budget.

    Writes one row per run to --out and a markdown report beside it, which the
    study page includes.
    """
    from autodistill import (
        HELDOUT_RESULTS,
        BaselineSettings,
        HeldoutSettings,
        evaluate_heldout,
        heldout_markdown,
        open_store,
        sampling_errors,
        summarize_heldout,
    )

    settings = HeldoutSettings(
        k=k, random=random, seeds=seeds, draw_seed=seed, teacher=teacher, student=student, budget=budget,
        baseline=BaselineSettings(model=baseline), workers=workers,
        fidelity=fidelity, retry_failed=retry_failed, trial=trial,
    )  # fmt: skip
    chosen = [d.strip() for d in datasets.split(",") if d.strip()] if datasets else None
    path = out or HELDOUT_RESULTS
    with open_store(store) as runs_store:
        rows = evaluate_heldout(runs_store, settings, datasets=chosen, out=path, on_status=render.say)
        sampling = sampling_errors(runs_store.runs(source="ours"), student)
    summary = summarize_heldout(rows, sampling)
    report = path.with_suffix(".md")
    report.write_text(heldout_markdown(summary))
    show(summary)
    render.say(f"wrote {len(rows)} rows to {path} and the report to {report}")


def show(summary: HeldoutSummary) -> None:
    """The report's tables on the terminal, long rather than wide so that they fit (the .md file has the wide ones)."""
    render.console.print(render.frame_table(summary.means, "mean test ratio per arm"))
    oracle = summary.per_dataset.filter(like="oracle_").reset_index()
    render.console.print(render.frame_table(oracle, "oracle (the study's best run)"))
    render.console.print(render.frame_table(summary.overall, "over data sets"))
    if not summary.comparisons.empty:
        render.console.print(render.frame_table(summary.comparisons, "picks against each arm"))
    if not summary.top_comparisons.empty:
        render.console.print(render.frame_table(summary.top_comparisons, "the top pick alone against each arm"))
    if not summary.dev_comparisons.empty:
        render.console.print(render.frame_table(summary.dev_comparisons, "selected on dev (the best dev run's test)"))
    if not summary.losses.empty:
        render.console.print(render.frame_table(summary.losses, "where the picks lose"))
