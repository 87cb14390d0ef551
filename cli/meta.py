"""The meta layer (AutoDistiller): ``features``, ``runs``, ``evaluate``, ``importance``, ``sweep``, ``recommend``."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import render
from cli.app import STUDY_PANEL, runs_app, typer_app
from cli.options import (
    BUDGET,
    COLUMNS,
    BaselineOpt,
    DatasetOpt,
    DescriptionOpt,
    DesignOpt,
    SeedOpt,
    SourceOpt,
    StoreOpt,
    StudentOpt,
    TeacherOpt,
    out_option,
    with_flags,
)
from engine import AutodistillError, DataColumns, TrainSettings


@typer_app.command("features", rich_help_panel=STUDY_PANEL)
@with_flags(columns=COLUMNS)
def features_command(
    dataset: DatasetOpt,
    columns: DataColumns | None,
    description: DescriptionOpt = None,
    baseline: BaselineOpt = "bilstm",
    save: Annotated[bool, typer.Option(help="store them in the runs store (recommend and sweeps reuse them)")] = True,
    store: StoreOpt = None,
) -> None:
    """Compute a data set's AutoDistiller features (paper Table 7) and print them."""
    from autodistill import BaselineSettings, featurize_dataset, open_store

    with open_store(store) as runs_store:
        done = featurize_dataset(
            dataset, runs_store, description=description, columns=columns,
            baseline=BaselineSettings(model=baseline), save=save, on_status=render.say,
        )  # fmt: skip
    render.features(done, runs_store.path if save else None)


@runs_app.command("import")
def runs_import(
    origin: Annotated[
        str,
        typer.Option(
            "--from",
            help="paper: the Distiller authors' 1,239 runs and 10 tasks' features; study: this project's own "
            "runs on the catalog (meta_data/study/)",
        ),
    ] = "paper",
    store: StoreOpt = None,
) -> None:
    """Import published runs into the store (idempotent: runs already there are skipped)."""
    from autodistill import import_runs, open_store

    with open_store(store) as runs_store:
        done = import_runs(runs_store, origin)
    if origin == "paper":
        what = f"{done['stored']} paper runs stored) and the features of {done['tasks']} tasks"
    else:
        what = f"{done['stored']} runs of ours stored) from {done['folder']}"
    render.say(f"imported {done['added']} new runs ({what} into {runs_store.path}")


@runs_app.command("export")
def runs_export(
    file: Annotated[Path, typer.Argument(help="output file: .csv or .parquet")],
    store: StoreOpt = None,
) -> None:
    """Write every stored run (one row per run, config as columns) to CSV or Parquet."""
    from autodistill import open_store

    with open_store(store, read_only=True) as runs_store:
        path = runs_store.export(file)
        counts = runs_store.runs()["source"].value_counts().to_dict()
    listed = ", ".join(f"{n} {source}" for source, n in sorted(counts.items())) or "no runs"
    render.say(f"wrote {listed} runs to {path}")


@runs_app.command("list")
def runs_list(
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="only this data set's runs")] = None,
    student: Annotated[str | None, typer.Option(help="only this student's runs (e.g. tiny, layers=0,2,4)")] = None,
    fidelity: Annotated[str | None, typer.Option(help="only runs at this study budget (cheap | realistic)")] = None,
    source: Annotated[str | None, typer.Option(help="only ours (sweeps), paper (the authors') or user (yours)")] = None,
    limit: Annotated[int, typer.Option(help="show at most this many, newest first (0: all)")] = 30,
    store: StoreOpt = None,
) -> None:
    """List the stored runs, newest first, with what tells them apart and their dev and test scores."""
    from autodistill import list_runs, open_store

    with open_store(store, read_only=True) as runs_store:
        runs = list_runs(runs_store, source=source, dataset=dataset, student=student, fidelity=fidelity)
    render.run_list(runs, limit, runs_store.path)


@typer_app.command("evaluate", rich_help_panel=STUDY_PANEL)
def evaluate_command(
    lodo: Annotated[bool, typer.Option("--lodo/--no-lodo", help="leave-one-dataset-out (the only protocol)")] = True,
    source: SourceOpt = "paper",
    design: DesignOpt = None,
    nested: Annotated[
        bool,
        typer.Option(
            help="choose design and hyper-parameters inside the training folds; print nested and tuned figures"
        ),
    ] = False,
    designs: Annotated[
        str | None, typer.Option(help="--nested: comma-separated designs to choose among (default all)")
    ] = None,
    score: Annotated[
        str, typer.Option(help="--nested: what the held-out figure is scored on: dev | test (choosing uses dev)")
    ] = "dev",
    fidelity: Annotated[
        str | None, typer.Option(help="--nested: score only the held-out runs at this study budget (cheap | realistic)")
    ] = None,
    time_limit: Annotated[float | None, typer.Option(help="AutoGluon seconds per fold")] = None,
    models: Annotated[str, typer.Option(help="autogluon design's family: linear | trees | linear+trees")] = "linear",
    top_k: Annotated[int, typer.Option(help="k of the top-k column")] = 5,
    store: StoreOpt = None,
) -> None:
    """How well the predictor ranks configurations on data sets it has not seen (paper §5.4, Figure 5)."""
    from autodistill import (
        PAPER_MEAN_SPEARMAN,
        PredictorSettings,
        default_version,
        evaluate_lodo,
        evaluate_nested,
        open_store,
        parse_designs,
        reported_on,
        stored_runs,
    )

    if not lodo:
        raise AutodistillError("only leave-one-dataset-out evaluation is implemented; drop --no-lodo")
    settings = PredictorSettings(models=models, **({"design": design} if design else {}))
    chosen = parse_designs(designs)
    with open_store(store, must_exist=True) as runs_store:
        stored_runs(runs_store, source)  # refuses an empty source, naming the command that fills it
        if nested:
            on = reported_on(score, fidelity)
            version = default_version(source)
            result = evaluate_nested(runs_store, version, source=source, designs=chosen, base=settings, reported=on)
            render.nested_evaluation(result, source=source, reported=str(on))
            return
        result = evaluate_lodo(runs_store, source=source, time_limit=time_limit, settings=settings, top_k=top_k)
    render.evaluation(result, source=source, models=settings.design, top_k=top_k, paper_mean=PAPER_MEAN_SPEARMAN)


@typer_app.command("importance", rich_help_panel=STUDY_PANEL)
def importance_command(
    source: SourceOpt = "paper",
    plot: Annotated[Path | None, typer.Option(help="also save Figures 2 and 6 style bar plots (PNG)")] = None,
    pooled: Annotated[
        bool, typer.Option(help="one fANOVA per data set over every teacher and student, not per (teacher, student)")
    ] = False,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="only this data set's runs (a catalog name or your file)")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """fANOVA importance of the four Distiller components and their pairs (paper §5.1, Figures 2 and 6)."""
    from autodistill import COMPONENTS, importance_report, open_store, stored_runs

    with open_store(store, read_only=True) as runs_store:
        report = importance_report(stored_runs(runs_store, source), by_pair=not pooled, dataset=dataset)
    render.importance(report, source, COMPONENTS, pooled=pooled)
    if plot is not None:
        render.say(f"plot saved to {report.plot(plot)}")


@typer_app.command("sweep", rich_help_panel=STUDY_PANEL)
@with_flags(budget=BUDGET, columns=COLUMNS)
def sweep_command(
    datasets: Annotated[str, typer.Option(help="comma-separated data sets (catalog names or files)")],
    budget: TrainSettings,
    columns: DataColumns | None,
    students: Annotated[str, typer.Option(help="comma-separated students, e.g. tiny,layers=0,2,4")] = "tiny",
    n: Annotated[int, typer.Option("--n", help="random configurations per data set (each with every student)")] = 10,
    teacher: TeacherOpt = "minilm-l6",
    workers: Annotated[int, typer.Option(help="trials at a time (0: in this process)")] = 1,
    backend: Annotated[str, typer.Option(help="local (worker processes) | ray")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local Ray)")] = None,
    seed: SeedOpt = 0,
    retry_failed: Annotated[bool, typer.Option(help="rerun trials logged as failed")] = False,
    features: Annotated[bool, typer.Option(help="featurize the data sets first (needed to learn from runs)")] = True,
    baseline: BaselineOpt = "bilstm",
    dry_run: Annotated[bool, typer.Option(help="list the trials and exit")] = False,
    store: StoreOpt = None,
) -> None:
    """Random search over the Distiller space (paper §4) plus each student's no-KD baseline; resumable."""
    from autodistill import BaselineSettings, open_store, parse_students, plan_datasets, run_sweep

    names, student_list = [d.strip() for d in datasets.split(",") if d.strip()], parse_students(students)
    if dry_run:
        render.trials(plan_datasets(names, student_list, n, columns, seed=seed, teacher=teacher, budget=budget))
        return
    with open_store(store) as runs_store:
        report = run_sweep(
            names, student_list, n, runs_store, seed=seed, teacher=teacher, budget=budget, workers=workers,
            backend=backend, address=address, retry_failed=retry_failed, featurize=features,
            baseline=BaselineSettings(model=baseline), on_status=render.say, columns=columns,
        )  # fmt: skip
    render.sweep(report, runs_store.path)


@typer_app.command("recommend")
@with_flags(budget=BUDGET, columns=COLUMNS)
def recommend_command(
    dataset: DatasetOpt,
    budget: TrainSettings,
    columns: DataColumns | None,
    description: DescriptionOpt = None,
    teacher: TeacherOpt = "minilm-l6",
    student: StudentOpt = "layers=0,2,4",
    top: Annotated[int, typer.Option(help="how many picks to print and save")] = 5,
    out: Annotated[Path | None, out_option("write the picks here (default: <home>/recommendations/)")] = None,
    source: SourceOpt = "ours",
    unseen: Annotated[bool, typer.Option(help="leave the runs of this data set's family out of the models")] = False,
    shipped: Annotated[
        bool, typer.Option(help="a store without runs of ours first imports the project's study (meta_data/study/)")
    ] = True,
    baseline: BaselineOpt = "bilstm",
    minutes: Annotated[
        float | None,
        typer.Option("--budget", help="wall minutes a pick may take: only picks whose predicted range fits are shown"),
    ] = None,
    run_top: Annotated[int, typer.Option(help="then run the top N picks (paper Figure 4)")] = 0,
    vs_random: Annotated[int, typer.Option(help="... and N random configurations, to compare")] = 0,
    seed: SeedOpt = 0,
    trial: Annotated[
        int, typer.Option(help="then run logit KD and the K alternatives most likely to beat it here, and advise again")
    ] = 0,
    trial_seeds: Annotated[int, typer.Option(help="seeds per configuration of --trial")] = 3,
    probe: Annotated[
        bool, typer.Option(help="train the student alone once here, unless stored, to say whether to distil at all")
    ] = True,
    explain: Annotated[bool, typer.Option(help="every pick with its evidence, and a legend")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the saved record instead")] = False,
    store: StoreOpt = None,
) -> None:
    """Recommend Distiller pipelines for a data set from the store's runs (paper §3.4, §5.4).

    With --run-top N and --vs-random M, the top N picks and M random configurations then run on
    the data set and their scores are compared (the paper's Figure 4). With --trial K, logit KD and
    K alternatives run with --trial-seeds seeds each on the data set, and the advice reads them.
    """
    from autodistill import LEGEND, STUDY_DIR, BaselineSettings, open_store, recommend_dataset, trial_readout
    from autodistill import run_trial as run_own_trial
    from study.figure4 import group_stats, run_versus_random

    with open_store(store, must_exist=not shipped) as runs_store:  # the shipped study fills a new store
        advise = partial(
            recommend_dataset, dataset, runs_store, description=description, columns=columns, out=out,
            teacher=teacher, student=student, top=max(top, run_top), source=source, budget=budget,
            baseline=BaselineSettings(model=baseline), unseen=unseen, shipped=STUDY_DIR if shipped else None,
            minutes=minutes, probe=probe, on_status=render.note,
        )  # fmt: skip
        show = partial(_show_advice, top=top, explain=explain, as_json=as_json, meaning=LEGEND)
        rec, task, path = advise(trial=trial, trial_seeds=trial_seeds)
        show(rec, path)
        if rec.trial is not None:
            render.trial_plan(rec.trial)
            trialled = run_own_trial(rec, runs_store, budget)
            render.sweep(trialled, runs_store.path)
            render.say_wrapped(trial_readout(rec.trial, trialled), hanging="  ")
            rec, task, path = advise()
            show(rec, path)
        if run_top or vs_random:
            results = run_versus_random(
                rec, task, runs_store, top=run_top, random_n=vs_random, seed=seed, budget=budget
            )
            render.versus_random(results, group_stats(results))


def _show_advice(rec: Any, path: Path, *, top: int, explain: bool, as_json: bool, meaning: str) -> None:
    """The advice as asked: a dozen lines, every pick explained, or the record as JSON."""
    if as_json:
        render.console.print_json(data=rec.to_json())
    elif explain:
        render.recommendation(rec, top, path, meaning)
    else:
        render.advice(rec, top, path)


@typer_app.command("search")
@with_flags(budget=BUDGET, columns=COLUMNS)
def search_command(
    dataset: DatasetOpt,
    budget: TrainSettings,
    columns: DataColumns | None,
    student: StudentOpt = "tiny",
    trials: Annotated[int | None, typer.Option(help="how many trials in all (a resume counts earlier ones)")] = None,
    time_budget: Annotated[float | None, typer.Option(help="seconds of trials in all (a resume counts)")] = None,
    picks: Annotated[int, typer.Option(help="recommend's top N picks run first (0: none)")] = 3,
    pruner: Annotated[str, typer.Option(help="pruning over epochs: halving | hyperband | none")] = "halving",
    backend: Annotated[str, typer.Option(help="local (one trial at a time, here) | ray (Ray Tune)")] = "local",
    workers: Annotated[int, typer.Option(help="trials at a time (ray)")] = 1,
    teacher: TeacherOpt = "minilm-l6",
    seed: Annotated[int, typer.Option(help="seed of the sampler")] = 0,
    study: Annotated[
        str | None, typer.Option(help="resume this study (default: named after data set, student and budget)")
    ] = None,
    out: Annotated[Path | None, out_option("where the best student goes (default: <home>/search/)")] = None,
    store: StoreOpt = None,
) -> None:
    """Search the Distiller space on one data set from recommend's picks; resumable (beyond the paper).

    Recommend's picks first, then TPE with successive-halving pruning over epochs; every trial is stored."""
    from autodistill import (
        BaselineSettings,
        SearchRequest,
        featurizer_version,
        open_store,
        recommended_picks,
        run_search,
    )
    from engine import column_options, load_task

    request = SearchRequest(
        dataset=dataset, student=student, budget=budget, teacher=teacher, trials=trials, time_budget=time_budget,
        seed=seed, pruner=pruner, backend=backend, workers=workers, study=study, columns=columns,
    )  # fmt: skip
    request.check()
    task = load_task(dataset, **column_options(columns))
    with open_store(store) as runs_store:
        report = run_search(
            request, task, runs_store, featurizer_version=featurizer_version(BaselineSettings().model),
            picks=lambda: recommended_picks(task, runs_store, request, picks, render.say), out=out,
            on_status=render.say,
        )  # fmt: skip
    render.search(report, runs_store.path)
