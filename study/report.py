"""This project's Distiller study, written up: ``docs/study.md`` from a runs store in one command.

``autodistill study report`` turns the runs of ``autodistill sweep`` (source
``ours``) into a markdown page with tables and PNG plots: a headline section
with the figures the README quotes (:func:`study.tables.headline`: each data set's best
ratio, with the student's parameter reduction and CPU speed-up over the
teacher; the leave-one-dataset-out mean; top 5 against random), then one
section per analysis of the paper (He et al., 2021, ``distiller-paper.md``):

* component importance by fANOVA (§5.1, Figures 2 and 6), through
  :mod:`autodistill.evaluation.importance`;
* the intermediate losses in each data set's top-5 runs (§5.2, Figure 3, Table 9);
* the augmentation effect by student size (§5.3, Table 3);
* leave-one-dataset-out Spearman per data set (§5.4, Figure 5), through
  :func:`autodistill.evaluation.lodo.evaluate_lodo`;
* AutoDistiller's top 5 against 5 random configurations on two held-out data
  sets, actual ratios (§5.4, Figure 4), through :mod:`study.figure4`.

Every number on the page is computed from the store when the page is written,
but for the headline's CPU latencies, which are timed then on the machine that
writes it (:func:`study.latency.cpu_latencies`, one thread, batch 1, untrained models); the
paper's numbers appear only as quoted comparisons, each with its section, figure
or table. Each section ends with a paragraph on where our runs agree with the
paper whose wording is chosen from the computed values, so that it stays
true whatever the runs say.

**Figure 4's picks are frozen in a file.** ``recommend`` is deterministic for a given
store, but the store grows with every sweep trial, so the same command a day later can pick
other configurations; the actual ratios must belong to the picks that were run.
The first ``--run-missing`` therefore saves each held-out data set's
recommendation next to the page (``<out stem>/fig4-picks-<data set>.json``, the
``autodistill recommend`` format) and every later report reuses it; delete the
file to pick again. Without ``run_missing`` nothing is trained or run: a data set
without a picks file, or whose trials the store lacks, gets a "not run yet" note
with the command that runs them (trial ids are deterministic hashes, see
:func:`autodistill.sweep.trial_id`, so the lookup needs no run).

The runs of AutoDistiller's picks are not random search: they are left out of
the random-search sections (the store summary, Figures 2 and 3, Table 3) so that
the advice's preferences do not leak into what it is compared with. The
leave-one-dataset-out section evaluates every stored run, as ``autodistill
evaluate`` does.

The page is assembled here; the numbers come from :mod:`study.tables` and
:mod:`study.latency`, the prose and tables from :mod:`study.sections` (whose
closing paragraphs are :mod:`study.agreement`'s), the figures from :mod:`study.plots`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from autodistill import (
    HELDOUT_RESULTS,
    PredictorSettings,
    RunStore,
    default_version,
    evaluate_lodo,
    evaluate_nested,
    latest_splits,
    sampling_errors,
)
from autodistill.evaluation.nested import NestedResult, Reported
from autodistill.evaluation.noise import Resolver, catalog_resolution, resolutions, study_outcomes
from autodistill.sweep import TrialFn
from engine import AutodistillError, paths
from study.figure4 import VersusRandom, finished_versus, picked_run_ids, versus_random
from study.latency import LatencyFn, cpu_latencies, latency_plan, measure_latencies, speedup_map
from study.sections import (
    augmentation_section,
    header_section,
    headline_section,
    headroom_section,
    heldout_section,
    importance_section,
    lodo_section,
    noise_section,
    top_losses_section,
    versus_section,
)
from study.tables import by_setting, dropped_fidelities, headline

DEFAULT_OUT = paths.META_DATA.parent / "docs" / "study.md"

#: Two catalog data sets for Figure 4 (the paper used BoolQ and cloth, §5.4).
DEFAULT_HOLDOUT = ("wordnet-lexname", "sotu-party")


#: What the page's nested figure reports: test ratios of the realistic runs (what the held-out targets are set on).
NESTED_REPORTED = Reported("test_ratio", "realistic")


def report_command(store: RunStore, out: Path, holdout: Sequence[str], settings: PredictorSettings) -> str:
    """The command that writes this page and runs what Figure 4 is missing."""
    command = f"autodistill study report --store {store.path} --out {out} --holdout {','.join(holdout)} --run-missing"
    if settings.time_limit != PredictorSettings().time_limit:
        command += f" --time-limit {settings.time_limit:g}"
    return command


def _versus_items(
    store: RunStore,
    holdout: Sequence[str],
    figures: Path,
    *,
    run_missing: bool,
    trial_fn: TrialFn | None,
    on_status: Callable[[str], None],
) -> list[VersusRandom]:
    """Figure 4 on each held-out data set; one that cannot be picked or run keeps its one-line reason."""
    items = []
    for dataset in holdout:
        on_status(f"Figure 4 on {dataset}" + (": picking and running what is missing" if run_missing else ""))
        try:
            item = versus_random(
                store,
                dataset,
                figures / f"fig4-picks-{dataset}.json",
                run_missing=run_missing,
                trial_fn=trial_fn,
            )
        except AutodistillError as error:
            item = VersusRandom(dataset, error=str(error))
            on_status(f"Figure 4 on {dataset}: {error}")
        items.append(item)
    return items


def _predictor_figures(
    store: RunStore, settings: PredictorSettings, on_status: Callable[[str], None]
) -> tuple[pd.DataFrame | AutodistillError, NestedResult | AutodistillError]:
    """Plain and nested leave-one-dataset-out figures of ``settings``' predictor; a figure that cannot
    be computed (too few data sets or runs) comes back as its error, which the page prints."""
    on_status("leave-one-dataset-out evaluation")
    lodo: pd.DataFrame | AutodistillError
    try:
        lodo = evaluate_lodo(store, source="ours", settings=settings)
    except AutodistillError as error:
        lodo = error
    on_status("nested leave-one-dataset-out, scored on test at the realistic budget")
    nested: NestedResult | AutodistillError
    try:
        version = default_version("ours")
        nested = evaluate_nested(
            store, version, source="ours", designs=[settings.design], base=settings, reported=NESTED_REPORTED
        )
    except AutodistillError as error:
        nested = error
    return lodo, nested


def write_report(
    store: RunStore,
    out: Path = DEFAULT_OUT,
    *,
    holdout: Sequence[str] = DEFAULT_HOLDOUT,
    run_missing: bool = False,
    settings: PredictorSettings | None = None,
    trial_fn: TrialFn | None = None,
    latency_fn: LatencyFn | None = None,
    source: str | None = None,
    heldout: Path = HELDOUT_RESULTS,
    on_status: Callable[[str], None] = lambda _text: None,
    allow_mixed_splits: bool = False,
    latest: bool = False,
    resolve: Resolver = catalog_resolution,
) -> Path:
    """Write the study page to ``out`` and its plots (and Figure 4's picks) to ``<out stem>/``.

    ``source`` names where the runs came from on the page (default: the store's path); ``heldout``
    is the held-out evaluation's results file, shown as it is (``autodistill heldout`` writes it).

    ``run_missing`` lets Figure 4 train the predictor, pick, and run the trials the
    store lacks (``trial_fn`` replaces the engine in tests); without it nothing is
    trained or run. The headline's CPU latencies are timed by ``latency_fn``
    (:func:`study.latency.cpu_latencies`, untrained models, by default). Other sections that cannot
    be computed (too few runs) say why on the page instead of failing it.

    A store whose runs on one data set span several split versions is refused unless
    ``allow_mixed_splits``, or ``latest`` keeps each data set's latest; ``resolve`` gives each data
    set's test split for the noise model.
    """
    settings = settings or PredictorSettings()
    latency_fn = latency_fn or cpu_latencies
    if len(holdout) != len(set(holdout)):
        raise AutodistillError(f"a held-out data set is listed twice in {','.join(holdout)}")
    if store.runs(source="ours").empty:
        raise AutodistillError(f"the runs store {store.path} has no runs of ours; fill it with `autodistill sweep`")
    figures = out.parent / out.stem
    figures.mkdir(parents=True, exist_ok=True)
    items = _versus_items(store, holdout, figures, run_missing=run_missing, trial_fn=trial_fn, on_status=on_status)
    picked = picked_run_ids(store, items)
    runs = store.runs(source="ours")
    runs = runs[~runs["run_id"].isin(picked)].reset_index(drop=True)
    trials = store.trials(source="ours")
    if latest:
        runs, trials = latest_splits(runs).reset_index(drop=True), latest_splits(trials).reset_index(drop=True)
    outcomes = study_outcomes(runs, trials, allow_mixed=allow_mixed_splits)
    predictions = store.test_predictions(outcomes["predictions_key"])
    resolved = resolutions(outcomes, resolve)
    claims = {name: r.claims_note for name, r in resolved.items() if r is not None}
    latencies = measure_latencies(latency_plan(runs, trials), latency_fn, on_status)
    lodo, nested = _predictor_figures(store, settings, on_status)
    on_status("tables, fANOVA and plots")
    settings_runs, settings_trials = by_setting(runs, trials)
    sections = [
        header_section(
            source or f"`{store.path}`", settings_runs, settings_trials, len(picked), dropped_fidelities(runs)
        ),
        headline_section(
            headline(settings_runs, settings_trials, speedup_map(latencies)), latencies, lodo, finished_versus(items)
        ),
        noise_section(runs, outcomes, resolved, predictions),
        headroom_section(runs, outcomes, resolved, claims, predictions, figures),
        importance_section(settings_runs, figures),
        top_losses_section(settings_runs, figures),
        augmentation_section(settings_runs, figures),
        lodo_section(lodo, nested, settings, figures),
        versus_section(items, report_command(store, out, holdout, settings), figures),
        heldout_section(heldout, lambda student: sampling_errors(runs, student, resolve)),
    ]
    out.write_text("\n\n".join(sections) + "\n")
    return out
