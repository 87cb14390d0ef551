"""``autodistill study``: ship this project's runs, write its study page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import render
from cli.app import study_app
from cli.options import StoreOpt, TimeLimitOpt
from engine import AutodistillError


@study_app.command("export")
def study_export(
    folder: Annotated[Path | None, typer.Option(help="where to write (default: the shipped meta_data/study/)")] = None,
    store: StoreOpt = None,
) -> None:
    """Write the store's own runs, trials and dataset features as the shipped study (commit the folder)."""
    from autodistill.shipped import STUDY_DIR, export_study
    from autodistill.store import open_store

    folder = folder or STUDY_DIR
    with open_store(store, must_exist=True) as runs_store:
        counts = export_study(runs_store, folder)
    render.say(
        f"wrote {counts['runs']} runs, {counts['trials']} trials and {counts['features']} data sets' features "
        f"to {folder}"
    )


@study_app.command("report")
def study_report(
    out: Annotated[
        Path | None, typer.Option(help="the markdown page; plots go to <its stem>/ (default: docs/study.md)")
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
) -> None:
    """Write the study page (paper §5: Figures 2-6, Table 3) from the store's runs of ours, tables and PNG plots."""
    from autodistill.predictor import PredictorSettings
    from autodistill.shipped import shipped_store
    from autodistill.store import open_store
    from study.report import DEFAULT_HOLDOUT, DEFAULT_OUT, write_report

    if shipped and (store is not None or run_missing):
        raise AutodistillError("--shipped reports the committed runs as they are: drop --store and --run-missing")
    chosen = tuple(d.strip() for d in holdout.split(",") if d.strip()) if holdout else DEFAULT_HOLDOUT
    with shipped_store() if shipped else open_store(store, must_exist=True) as runs_store:
        path = write_report(
            runs_store, out or DEFAULT_OUT, holdout=chosen, run_missing=run_missing,
            settings=PredictorSettings(time_limit=time_limit),
            source="the shipped study `meta_data/study/`" if shipped else None, on_status=render.say,
        )  # fmt: skip
    render.say(f"wrote {path} (plots in {path.parent / path.stem})")
