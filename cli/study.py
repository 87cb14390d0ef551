"""``autodistill study``: ship this project's runs, write its study page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import render
from cli.app import study_app
from cli.options import BaselineOpt, StoreOpt, TeacherOpt, TimeLimitOpt, out_option
from engine import AutodistillError


@study_app.command("export")
def study_export(
    folder: Annotated[Path | None, typer.Option(help="where to write (default: the shipped meta_data/study/)")] = None,
    store: StoreOpt = None,
) -> None:
    """Write the store's own runs, trials and dataset features as the shipped study (commit the folder)."""
    from autodistill import STUDY_DIR, export_study, open_store

    folder = folder or STUDY_DIR
    with open_store(store, must_exist=True) as runs_store:
        counts = export_study(runs_store, folder)
    render.say(
        f"wrote {counts['runs']} runs, {counts['trials']} trials, {counts['features']} data sets' features and "
        f"{counts['test predictions']} runs' test predictions to {folder}"
    )


@study_app.command("predictions")
def study_predictions(
    datasets: Annotated[str | None, typer.Option(help="comma-separated data sets (default: every one)")] = None,
    store: StoreOpt = None,
) -> None:
    """Store the per-example test predictions of the store's runs whose folders this home holds (resumable)."""
    from autodistill import open_store
    from study.predictions import collect_test_predictions

    names = [d.strip() for d in datasets.split(",") if d.strip()] if datasets else None
    with open_store(store, must_exist=True) as runs_store:
        counts = collect_test_predictions(runs_store, names, on_status=render.say)
    render.say(
        f"stored the test predictions of {counts['stored']} runs; {counts['no folder']} runs have no folder in this "
        f"home, {counts['refused']} were refused"
    )


@study_app.command("report")
def study_report(
    out: Annotated[
        Path | None, out_option("the markdown page; plots go to <its stem>/ (default: docs/study.md)")
    ] = None,
    holdout: Annotated[
        str | None,
        typer.Option(
            help="two catalog data sets for Figure 4, AutoDistiller's picks against random (default: "
            "wordnet-lexname,sotu-party)"
        ),
    ] = None,
    run_missing: Annotated[
        bool, typer.Option(help="pick for and run the Figure 4 trials the store lacks (else nothing is run)")
    ] = False,
    time_limit: TimeLimitOpt = 60.0,
    shipped: Annotated[
        bool, typer.Option(help="report on the shipped study (meta_data/study/) instead of a store")
    ] = False,
    store: StoreOpt = None,
    allow_mixed_splits: Annotated[
        bool, typer.Option(help="let one data set's runs span split versions (their test scores are not comparable)")
    ] = False,
    latest_splits: Annotated[
        bool, typer.Option(help="report each data set's runs on its latest split version only")
    ] = False,
) -> None:
    """Write the study page (paper §5: Figures 2-6, Table 3) from the store's runs of ours, tables and PNG plots."""
    from autodistill import PredictorSettings, open_store, shipped_store
    from study.report import DEFAULT_HOLDOUT, DEFAULT_OUT, write_report

    if shipped and (store is not None or run_missing):
        raise AutodistillError("--shipped reports the committed runs as they are: drop --store and --run-missing")
    chosen = tuple(d.strip() for d in holdout.split(",") if d.strip()) if holdout else DEFAULT_HOLDOUT
    with shipped_store() if shipped else open_store(store, must_exist=True) as runs_store:
        path = write_report(
            runs_store, out or DEFAULT_OUT, holdout=chosen, run_missing=run_missing,
            settings=PredictorSettings(time_limit=time_limit),
            source="the shipped study `meta_data/study/`" if shipped else None, on_status=render.say,
            allow_mixed_splits=allow_mixed_splits, latest=latest_splits,
        )  # fmt: skip
    render.say(f"wrote {path} (plots in {path.parent / path.stem})")


@study_app.command("sweep")
def study_sweep(
    fidelity: Annotated[str, typer.Option(help="cheap (the shipped study's budget) | realistic | patient")],
    datasets: Annotated[str, typer.Option(help="comma-separated catalog data sets")],
    students: Annotated[str, typer.Option(help="comma-separated students (default: tiny,mini)")] = "tiny,mini",
    configs: Annotated[
        str | None,
        typer.Option(help="comma-separated names from the fixed list (default: all; no-kd alone: the baselines only)"),
    ] = None,
    teacher: TeacherOpt = "minilm-l6",
    workers: Annotated[int, typer.Option(help="trials at a time (0: in this process)")] = 1,
    max_train_examples: Annotated[int | None, typer.Option(help="override the fidelity's training cap")] = None,
    max_eval_examples: Annotated[int | None, typer.Option(help="override the fidelity's dev/test cap")] = None,
    max_length: Annotated[int | None, typer.Option(help="override the fidelity's tokens per example")] = None,
    max_epochs: Annotated[int | None, typer.Option(help="override the no-KD probe's epochs (realistic)")] = None,
    seeds: Annotated[
        int | None, typer.Option(help="seeds per configuration, 0 to N-1 (default: the fidelity's; realistic: 3)")
    ] = None,
    retry_failed: Annotated[bool, typer.Option(help="rerun trials logged as failed")] = False,
    features: Annotated[bool, typer.Option(help="featurize the data sets first (needed to learn from runs)")] = True,
    baseline: BaselineOpt = "bilstm",
    store: StoreOpt = None,
) -> None:
    """Run the study's fixed configurations at one fidelity, seeds and no-KD baselines included; resumable."""
    from autodistill import BaselineSettings, open_store, parse_students, run_study, select_configs
    from autodistill import fidelity as make_fidelity
    from engine import load_task

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    if not names or len(set(names)) != len(names):
        raise AutodistillError(f"--datasets needs distinct data set names, got {datasets!r}")
    chosen = make_fidelity(
        fidelity, max_train_examples=max_train_examples, max_eval_examples=max_eval_examples,
        max_length=max_length, max_epochs=max_epochs, seeds=seeds,
    )  # fmt: skip
    picked = select_configs([c.strip() for c in configs.split(",") if c.strip()] if configs else None, chosen)
    with open_store(store) as runs_store:
        report = run_study(
            {name: load_task(name) for name in names}, parse_students(students), chosen, runs_store,
            configs=picked, teacher=teacher, workers=workers, featurize=features,
            baseline=BaselineSettings(model=baseline), retry_failed=retry_failed, on_status=render.say,
        )  # fmt: skip
    render.sweep(report.sweep, runs_store.path)
