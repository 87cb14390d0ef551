"""AutoDistiller's recommendation (paper §3.4, §5.4): the pipelines to try on a data set it has never seen.

Given a data set, a teacher and a student, :func:`recommend`

1. refuses early what cannot work: a data set too small or degenerate to
   featurize (:func:`autodistill.features.featurize.check_task`), a store with no runs
   featurized like the new data set will be;
2. fine-tunes the teacher (cached; its dev score is what the ratios are of) and, unless the store
   holds one, trains the student alone once at the budget: the probe of whether to distil at all
   (:mod:`autodistill.advice.probe`);
3. computes the data set's features (Table 7) or reuses the store's;
4. fits the gain and cost models on the store's runs (:mod:`autodistill.advice.evidence`): every
   configuration of the space the task can run gets a predicted dev-ratio gain over logit KD with an
   interval, and a price in minutes;
5. orders the distinct pipelines by that gain (:mod:`autodistill.advice.proposals`: one model, one
   order) and puts the picks in order (:mod:`autodistill.advice.rules`): pick 1 is logit KD unless the
   evidence backs another pipeline, a longer budget or the student trained alone; the rest go by
   predicted gain per predicted minute, and a budget in minutes keeps the picks whose predicted
   range fits it.

The dataset features are computed and stored with the data set (runs on it later can join the
store's meta-dataset), but no model of the advice reads them: held out by family, they added
nothing beyond noise to a ranking of pipelines (docs/evaluate.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from autodistill.advice.alone import baseline_rows
from autodistill.advice.budget import longer_pick, patient_baselines, patient_runs, with_references
from autodistill.advice.evidence import Evidence, gather_evidence
from autodistill.advice.probe import PERFECT, probe_answer, probe_row
from autodistill.advice.proposals import Proposals, propose
from autodistill.advice.recommendation import Pick, Recommendation
from autodistill.advice.rules import Scored, advise
from autodistill.advice.runs import (
    budget_inputs,
    import_shipped_if_empty,
    other_metric_line,
    same_scoring,
    training_runs,
    without_family,
)
from autodistill.advice.trial import TRIAL_SEEDS, alone_trial, check_trial, plan_trial
from autodistill.bridge import engine_config, make_budget, space_for
from autodistill.features.baseline import BaselineSettings
from autodistill.features.featurize import check_task, featurize, featurizer_version, load_described
from autodistill.space import ADVICE_SPACE, Pipeline
from autodistill.space.defaults import fixed_default
from autodistill.store.database import DatasetFeatures, ModelDescriptor, RunStore
from autodistill.store.schema import fidelity_of
from autodistill.store.shipped import STUDY_DIR
from autodistill.sweep.runner import run_trials
from engine import (
    DEFAULT_TEACHER,
    AutodistillError,
    DataColumns,
    TaskData,
    TrainSettings,
    check_student,
    check_unread_scores,
    data_notes,
    dataset_source,
    length_cut,
    paths,
    real_valued,
)

#: This many times ``top`` pipelines, the highest predicted gains, are priced: the verdict weighs them
#: all against logit KD, and a budget in minutes may leave out the expensive ones.
CHALLENGERS = 3
#: The student a recommendation is for unless one is named: the paper's layer subset of the teacher.
DEFAULT_STUDENT = "layers=0,2,4"


def _features_for(
    task: TaskData, store: RunStore, baseline: BaselineSettings, on_status: Callable[[str], None]
) -> tuple[DatasetFeatures, bool]:
    """The store's features of this data set when they describe the same data, else freshly computed."""
    version = featurizer_version(baseline.model)
    stored = {f.dataset: f for f in store.features(version)}.get(task.spec.name)
    if stored is not None and (stored.n_examples, stored.n_labels, stored.task_kind) == (
        len(task.train),
        task.spec.num_labels,
        task.spec.kind,
    ):
        return stored, True
    on_status(f"computing the features of {task.spec.name} (GloVe context/task embeddings, {baseline.model} baseline)")
    features = featurize(task, store=store, baseline=baseline)
    if stored is None:
        store.put_features(features)  # runs on this data set later (run --recommendation, --run-top) can use them
    return features, False


def model_descriptors(
    runs: pd.DataFrame, teacher: str, student: str, teacher_dir: Path, task: TaskData
) -> tuple[ModelDescriptor, ModelDescriptor]:
    """Teacher and student sizes: from the store's runs when it has them, else by building the models."""

    def from_runs(who: str, rows: pd.DataFrame) -> ModelDescriptor | None:
        if rows.empty:
            return None
        row = rows.iloc[0]
        return ModelDescriptor(
            str(row[f"{who}_name"]), int(row[f"{who}_layers"]), int(row[f"{who}_hidden"]), int(row[f"{who}_params"])
        )

    same_teacher = runs[runs["teacher_name"] == teacher]
    teacher_d = from_runs("teacher", same_teacher)
    student_d = from_runs("student", same_teacher[same_teacher["student_name"] == student])
    if teacher_d is None or student_d is None:
        from engine import build_student, count_parameters, load_task_model

        if teacher_d is None:
            model = load_task_model(str(teacher_dir), task.spec)
            teacher_d = ModelDescriptor(
                teacher, model.config.num_hidden_layers, model.config.hidden_size, count_parameters(model)
            )
        if student_d is None:
            model = build_student(student, teacher, task.spec)
            student_d = ModelDescriptor(
                student, model.config.num_hidden_layers, model.config.hidden_size, count_parameters(model)
            )
    return teacher_d, student_d


# -- recommending -------------------------------------------------------------------------------------


def recommend(
    task: TaskData,
    store: RunStore,
    *,
    dataset: str | None = None,
    teacher: str = DEFAULT_TEACHER,
    student: str = DEFAULT_STUDENT,
    top: int = 5,
    source: str = "ours",
    budget: TrainSettings | None = None,
    baseline: BaselineSettings | None = None,
    unseen: bool = False,
    show_progress: bool = True,
    shipped: Path | None = STUDY_DIR,
    columns: DataColumns | None = None,
    minutes: float | None = None,
    trial: int = 0,
    trial_seeds: int = TRIAL_SEEDS,
    probe: bool = True,
    on_status: Callable[[str], None] = lambda _text: None,
) -> Recommendation:
    """The ``top`` configurations for ``task`` (loaded from ``dataset``), the advised one first.

    ``minutes`` keeps only picks whose predicted range ends within it (wall minutes on this kind of machine).
    ``probe`` trains the student alone once at ``budget`` where the store holds no such run of it (False:
    read one only if stored); :mod:`autodistill.advice.probe` says why.
    ``trial`` > 0 plans a trial of that many alternatives with ``trial_seeds`` seeds on the data set
    itself (:mod:`autodistill.advice.trial`), priced and ranked here; the caller runs it.

    ``columns`` is how ``dataset`` was read (a file's column mapping); each pick's engine
    config carries it, so that ``autodistill run --recommendation`` reads the file the same way.

    ``unseen`` leaves the runs of the data set's family out of the models (the paper's
    protocol for a data set new to AutoDistiller, its siblings' runs too). A store without runs
    of ours is first filled from the project's shipped study (``shipped``, see
    :mod:`autodistill.store.shipped`; None turns that off), said through ``on_status``.

    Long only in its keyword options and this docstring: the body is the steps, each a call (checks;
    the runs to learn from; teacher, features and model sizes in :func:`_prepare`; the gain and cost
    models; weighing the space in :func:`_weigh_space`), the expensive ones timed.
    """
    dataset = dataset_source(dataset) if dataset else None  # a file: one name in runs and store rows
    if top < 1:
        raise AutodistillError(f"--top must be at least 1, got {top}")
    if minutes is not None and not minutes > 0:
        raise AutodistillError(f"--budget is wall minutes and must be positive, got {minutes:g}")
    if trial:
        check_trial(trial, trial_seeds, unseen=unseen)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    baseline = baseline or BaselineSettings()
    version = featurizer_version(baseline.model)
    check_task(task)  # before anything expensive: the teacher's fine-tune can take minutes
    check_student(student, teacher)
    check_unread_scores(student, dataset or task.spec.name)
    budget = budget or make_budget()
    cut = length_cut(task, teacher, budget)  # the picks train on that much of each text
    for note in [*data_notes(task), *([cut] if cut else [])]:  # as `data show` says, for one who came here first
        on_status(f"{task.spec.name}: {note}")
    import_shipped_if_empty(store, source, version, shipped, on_status)
    option = columns.metric if columns is not None else None
    runs = training_runs(store, source, version, task.spec.name, unseen=unseen)
    runs = same_scoring(runs, {task.spec.name, dataset or task.spec.name}, option)
    target = _prepare(task, store, runs, teacher, student, baseline, timings, show_progress, on_status)
    engine_of = partial(
        engine_config,
        dataset=dataset or task.spec.name,
        teacher=teacher,
        student=student,
        budget=budget,
        columns=columns,
    )
    with _timed(timings, "probe_s"):
        name = dataset or task.spec.name
        baselines, row = _probe(target, store, name, columns, budget, source, run=probe,
                                show_progress=show_progress, on_status=on_status)  # fmt: skip
        ratio, answer, score = (None, None, 0.0) if row is None else (
            float(row["ratio"]), probe_answer(row), float(row["student_score"]))  # fmt: skip
    with _timed(timings, "advice_s"):
        patient, patient_alone = _patient_study(task.spec.name, unseen)
        learned_from = baselines[baselines["dataset"].isin(set(runs["dataset"]))]  # --unseen: its family's out
        read, alone = with_references(runs, learned_from, patient, patient_alone)
        on_status(f"the gain and cost models of {len(read):,} runs ({read['dataset'].nunique()} data sets)")
        if line := other_metric_line(read, task.spec.kind, task.spec.metric):
            on_status(f"{task.spec.name}: {line}")
        evidence = _evidence(target, read, budget, alone, patient, ratio)
        if evidence.probe is not None:  # a probe that learned nothing decides nothing; a perfect one, all
            evidence = replace(evidence, probe=replace(evidence.probe, one_answer=answer, perfect=score >= PERFECT))
    on_status("weighing the pipeline space")
    with _timed(timings, "scoring_s"):
        scored = _weigh_space(target, evidence, CHALLENGERS * top, engine_of)
        ((logit_minutes, logit_range),) = evidence.minutes([scored.logit_kd.config])
        task_type = target.task.spec.task_type
        longer = longer_pick(evidence.patient, engine_of, budget, task_type, logit_minutes, logit_range)
        scored = advise(scored, evidence, top, minutes, longer)
    plan = plan_trial(evidence, task_type, scored.logit_kd.config, trial, trial_seeds) if trial else None
    timings["total_s"] = time.perf_counter() - started
    scored_dev = min(len(task.dev), budget.max_eval_examples or len(task.dev))  # what a pick's run scores
    assembled = _assemble(target, dataset or task.spec.name, source, runs, scored, timings)
    measured = _measured_resolution(store, row, scored_dev, float(target.finetuned.dev_score))
    return replace(assembled, trial=plan, dev_examples=scored_dev, dev_ratio_se=measured)


@dataclass(frozen=True)
class _Target:
    """What a recommendation is for: the data set, its teacher's result, features and model sizes."""

    task: TaskData
    teacher: str
    student: str
    finetuned: Any
    features: DatasetFeatures
    teacher_d: ModelDescriptor
    student_d: ModelDescriptor


def _prepare(
    task: TaskData,
    store: RunStore,
    runs: pd.DataFrame,
    teacher: str,
    student: str,
    baseline: BaselineSettings,
    timings: dict[str, float],
    show_progress: bool,
    on_status: Callable[[str], None],
) -> _Target:
    """The three timed steps before the models: teacher (fine-tuned unless cached), features, model sizes."""
    from engine import TEACHER_SETTINGS, finetune_teacher  # looked up per call, so tests can replace them

    with _timed(timings, "teacher_s"):
        on_status(f"teacher {teacher} on {task.spec.name}: fine-tuning if not cached")
        finetuned = finetune_teacher(teacher, task, TEACHER_SETTINGS, show_progress=show_progress)
    with _timed(timings, "features_s"):
        features, _ = _features_for(task, store, baseline, on_status)
    with _timed(timings, "models_s"):
        teacher_d, student_d = model_descriptors(runs, teacher, student, finetuned.model_dir, task)
    return _Target(task, teacher, student, finetuned, features, teacher_d, student_d)


def _weigh_space(target: _Target, evidence: Evidence, top: int, engine_of: Callable[[Pipeline], Any]) -> Scored:
    """Weigh every configuration the task can run by its predicted gain over logit KD, keep the
    ``top`` distinct pipelines, and place logit KD (the default every gain is measured from) and the
    configurations of the data set's own leads (added to the space where it lacks them) among them.
    Without a gain model there is nothing to weigh: logit KD alone is proposed."""
    spec = target.task.spec
    configs = list(space_for(spec.task_type, ADVICE_SPACE).configurations())
    configs += [lead.pipeline for lead in evidence.own if lead.pipeline not in configs]  # α 0.711, say
    default = fixed_default("logit", regression=real_valued(spec.task_type))
    proposals = propose(evidence.gains, configs) if evidence.gains is not None else Proposals(())
    picks = tuple(
        Pick(k, p.config, _engine(engine_of, p.config), gain=p.gain) for k, p in enumerate(proposals.top(top), start=1)
    )
    return Scored(
        candidates=len(configs),
        picks=picks,
        logit_kd=Pick(proposals.place(0.0), default, _engine(engine_of, default)),
        own=tuple((lead, Pick(0, lead.pipeline, _engine(engine_of, lead.pipeline))) for lead in evidence.own),
    )


def _engine(engine_of: Callable[[Pipeline], Any], config: Pipeline) -> dict[str, Any]:
    """The engine config that runs ``config`` here, as the recommendation file stores it."""
    return engine_of(config).model_dump(mode="json")


def _assemble(
    target: _Target,
    dataset: str,
    source: str,
    runs: pd.DataFrame,
    scored: Scored,
    timings: dict[str, float],
) -> Recommendation:
    """The recommendation file's content: what it is for, what it learned from, the picks and the times."""
    spec = target.task.spec
    return Recommendation(
        dataset=dataset,
        dataset_name=spec.name,
        task_kind=spec.kind,
        metric=spec.metric,
        teacher=target.teacher,
        student=target.student,
        teacher_score=float(target.finetuned.dev_score),
        featurizer_version=target.features.featurizer_version,
        source=source,
        trained_on=tuple(sorted(set(runs["dataset"]))),
        n_runs=len(runs),
        candidates=scored.candidates,
        picks=scored.picks,
        logit_kd=scored.logit_kd,
        verdict=scored.verdict,
        command=scored.command,
        alone=scored.alone,
        patient=scored.patient,
        probe=scored.probe,
        teacher_one_answer=target.finetuned.one_answer,
        timings={k: round(v, 2) for k, v in timings.items()},
    )


def _probe(
    target: _Target,
    store: RunStore,
    dataset: str,
    columns: DataColumns | None,
    budget: TrainSettings,
    source: str,
    *,
    run: bool,
    show_progress: bool,
    on_status: Callable[[str], None],
) -> tuple[pd.DataFrame, pd.Series | None]:
    """The store's no-KD baselines (:func:`autodistill.advice.alone.baseline_rows`) and among them the
    target's probe (:func:`autodistill.advice.probe.probe_row`: its ratio, the one answer it may have given
    every dev example, its trial id) on ``dataset`` (the name or file the picks will read, through
    ``columns``; a file's trials carry its path, its runs the name it loads under, and its baselines are
    renamed to the latter, to be read as one data set's), trained first where ``run`` and the store lacks
    it. A run that fails is logged as a failed trial (``--retry-failed`` sweeps rerun it) and said through
    ``on_status``: the advice then goes without a probe."""
    at_budget = budget_inputs(budget, len(target.task.train))

    option = columns.metric if columns is not None else None

    own = target.task.spec.name

    def stored() -> tuple[pd.DataFrame, pd.Series | None]:
        baselines = same_scoring(baseline_rows(store.trials(source=source)), {dataset, own}, option)
        baselines = baselines.assign(dataset=baselines["dataset"].replace({dataset: own}))  # as the runs name it
        return baselines, probe_row(baselines, own, target.teacher, target.student, at_budget)

    baselines, row = stored()
    if row is None and run:
        fidelity = fidelity_of(at_budget["train_examples"], at_budget["max_length"])
        first_seed = budget.model_copy(update={"seed": 0})
        trial = alone_trial(dataset, teacher=target.teacher, student=target.student, budget=first_seed,
                            columns=columns, fidelity=fidelity)  # fmt: skip
        on_status(f"training {target.student} alone once on {target.task.spec.name}: whether to distil at all")
        report = run_trials([trial], store, featurizer_version=target.features.featurizer_version, workers=0,
                            tasks={dataset: target.task}, show_progress=show_progress)  # fmt: skip
        for record in report.failed:
            on_status(f"the run of {target.student} alone failed ({record.error}); the advice goes without it")
        baselines, row = stored()
    return baselines, row


def _measured_resolution(store: RunStore, probe: pd.Series | None, dev: int, teacher_score: float) -> float | None:
    """How finely ``dev`` examples resolve a run's dev ratio, measured on the probe's test predictions
    (:meth:`engine.ExamplePredictions.standard_error`: a tagger's sentences, a span model's questions);
    None without a probe that kept them, or where the metric is not one sum over another (the output
    then states the bound on the examples' count)."""
    if probe is None or not teacher_score > 0:
        return None
    key = str(probe["trial_id"])
    found = store.test_predictions([key]).get(key)
    measured = found.standard_error(at=dev) if found is not None else None
    return measured / teacher_score if measured is not None and math.isfinite(measured) else None


def _patient_study(name: str, unseen: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shipped patient file's runs and runs of the student alone, less ``name``'s family where ``unseen``."""
    runs, alone = patient_runs(), patient_baselines()
    return (without_family(runs, name), without_family(alone, name)) if unseen else (runs, alone)


def _evidence(
    target: _Target,
    runs: pd.DataFrame,
    budget: TrainSettings,
    baselines: pd.DataFrame | None,
    patient: pd.DataFrame,
    probe: float | None,
) -> Evidence:
    """The cost and gain models for this target, fitted on the runs advice learns from (``patient``: the
    study's runs at its patient budget that it may read; ``probe``: the target's own probe)."""
    at_budget = budget_inputs(budget, len(target.task.train))
    models = (target.student_d, target.teacher_d)
    return gather_evidence(runs, target.task, models, at_budget, budget.max_eval_examples, baselines, patient, probe)


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Record how long the block took under ``key`` (the recommendation reports where time went)."""
    mark = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - mark


def recommend_dataset(
    dataset: str,
    store: RunStore,
    *,
    description: str | None = None,
    columns: DataColumns | None = None,
    out: str | Path | None = None,
    on_status: Callable[[str], None] = lambda _text: None,
    **options: Any,
) -> tuple[Recommendation, TaskData, Path]:
    """What ``autodistill recommend`` does: read ``dataset`` (a file through ``columns``; its
    ``description`` checked, see :func:`autodistill.features.featurize.load_described`), :func:`recommend`
    with ``options``, and save the picks to ``out`` (default: ``<home>/recommendations/NAME.json``).
    Returns the recommendation, the data it was made for and where it was saved."""
    task = load_described(dataset, description, columns, on_status)
    rec = recommend(task, store, dataset=dataset, columns=columns, on_status=on_status, **options)
    path = rec.save(out or paths.subdir("recommendations") / f"{rec.dataset_name}.json")
    return rec, task, path
