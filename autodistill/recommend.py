"""AutoDistiller's recommendation (paper §3.4, §5.4): the pipelines to try on a data set it has never seen.

Given a data set, a teacher and a student, :func:`recommend`

1. refuses early what cannot work: a data set too small or degenerate to
   featurize (:func:`autodistill.features.check_task`), a store with no runs
   featurized like the new data set will be;
2. fine-tunes the teacher (cached; its dev score is the "teacher score" feature);
3. computes the data set's features (Table 7) or reuses the store's;
4. trains the predictor (the design of ``settings``, :mod:`autodistill.designs`) on the
   store's runs (cached by content), or loads a given one, refused if it was trained on
   another featurizer version; and its bootstrap refits, for the picks' uncertainty;
5. scores every configuration of the search space the task can run and picks
   different pipelines, each with its uncertainty and a reason (:mod:`autodistill.picks`).

**What the score is.** The default designs' target is each run's
*within-data-set percentile rank* of the distillation ratio
(:mod:`autodistill.predictor` explains why): a pick's ``score`` of 0.8 means
"expected to beat about 80 % of the configurations tried on a data set",
not a ratio (``lambdarank`` scores are ranking scores, only their order means
something). For display, AutoGluon's linear model is fitted to the raw ratio
(student / teacher dev score) and its prediction is shown as ``predicted_ratio``;
across data sets it is the less reliable of the two (LODO Spearman 0.22 vs 0.44 on
the authors' runs), so the order follows ``score``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autodistill import legacy
from autodistill.baseline import BaselineSettings
from autodistill.bridge import engine_config, make_budget, space_for
from autodistill.features import check_task, featurize, featurizer_version, load_described
from autodistill.picks import BAGS, MIN_DIFFERENT, bagged, choose, components, reasons
from autodistill.predictor import (
    Predictor,
    PredictorSettings,
    candidates,
    fit_predictor,
    load_predictor,
    model_inputs,
)
from autodistill.reference import PAPER_FEATURIZER
from autodistill.shipped import STUDY_DIR, import_study, shipped_versions
from autodistill.space import Pipeline
from autodistill.store import SOURCES, DatasetFeatures, ModelDescriptor, RunStore
from engine import (
    DEFAULT_TEACHER,
    AutodistillError,
    DataColumns,
    TaskData,
    TrainSettings,
    choices_error,
    parse_config,
    paths,
)

RECOMMENDATION_FORMAT = "autodistill-recommendation"
#: 2: a pick's ``config`` holds the pipeline's DistillConfig fields (1: the first vocabulary).
#: Either is read back from the pick's engine config, the one thing that runs.
#: 3: picks carry ``uncertainty`` and ``reason``, the recommendation its ``design`` (older files: none, autogluon).
#: 4: ``pkd`` is BERT-PKD's [CLS] loss; an earlier file's ``pkd`` picks are read as ``pkd-tokens``.
RECOMMENDATION_VERSION = 4
PKD_CLS_RECOMMENDATION = 4
DEFAULT_STUDENT = "layers=0,2,4"
SCORE_MEANING = (
    "score: predicted within-data-set percentile rank of the distillation ratio (1.0 = better than every "
    "configuration tried on a data set, 0.5 = a typical one; lambdarank: a ranking score); ±: its spread over "
    f"{BAGS} refits on bootstrap samples of the training data sets; predicted_ratio: a separate model's "
    "estimate of student / teacher dev score, less reliable across data sets; why: the dataset features that "
    f"raised (+) or lowered (-) the pick's score most against the average candidate; every two picks differ in "
    f"{MIN_DIFFERENT}+ of the four components unless a note says the predictor is confident"
)


@dataclass(frozen=True)
class Pick:
    """One recommended configuration, with the engine config that runs it."""

    rank: int
    config: Pipeline
    score: float
    predicted_ratio: float | None
    engine: dict[str, Any]
    uncertainty: float | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": self.score,
            "uncertainty": self.uncertainty,
            "predicted_ratio": self.predicted_ratio,
            "reason": self.reason,
            "config": self.config.to_dict(),
            "engine": self.engine,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pick:
        return cls(
            rank=int(data["rank"]),
            config=Pipeline.from_engine(parse_config(dict(data["engine"]), source="recommended engine config")),
            score=float(data["score"]),
            predicted_ratio=_number(data.get("predicted_ratio")),
            engine=dict(data["engine"]),
            uncertainty=_number(data.get("uncertainty")),
            reason=str(data.get("reason", "")),
        )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Recommendation:
    """The top configurations for one data set, teacher and student, and what they were learned from."""

    dataset: str  # as the engine loads it (catalog name or path)
    dataset_name: str
    task_kind: str
    metric: str
    teacher: str
    student: str
    teacher_score: float
    featurizer_version: str
    source: str
    trained_on: tuple[str, ...]
    n_runs: int
    candidates: int
    predictor: str
    picks: tuple[Pick, ...]
    timings: dict[str, float] = field(default_factory=dict)
    design: str = "autogluon"
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def pick(self, k: int) -> Pick:
        """The k-th pick, 1-based as printed."""
        if not 1 <= k <= len(self.picks):
            raise AutodistillError(f"pick {k} is out of range: this recommendation has picks 1..{len(self.picks)}")
        return self.picks[k - 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECOMMENDATION_FORMAT,
            "version": RECOMMENDATION_VERSION,
            "dataset": self.dataset,
            "dataset_name": self.dataset_name,
            "task_kind": self.task_kind,
            "metric": self.metric,
            "teacher": self.teacher,
            "student": self.student,
            "teacher_score": self.teacher_score,
            "featurizer_version": self.featurizer_version,
            "source": self.source,
            "trained_on": {"datasets": list(self.trained_on), "runs": self.n_runs},
            "candidates": self.candidates,
            "predictor": self.predictor,
            "design": self.design,
            "score_meaning": SCORE_MEANING,
            "timings_s": self.timings,
            "created_at": self.created_at,
            "picks": [p.to_json() for p in self.picks],
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path


def _picks_today(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A file's picks in today's vocabulary: before format 3, ``pkd`` was the per-token loss."""
    if int(data.get("version", 0)) < PKD_CLS_RECOMMENDATION:
        return legacy.rename_pkd(data["picks"])
    return data["picks"]


def load_recommendation(path: str | Path) -> Recommendation:
    """Read a file written by ``autodistill recommend``; anything else is refused in one line."""
    path = Path(path)
    if not path.exists():
        raise AutodistillError(f"recommendation file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AutodistillError(f"{path} is not a recommendation (not JSON)") from None
    if not isinstance(data, dict) or data.get("format") != RECOMMENDATION_FORMAT:
        raise AutodistillError(f"{path} is not a recommendation written by `autodistill recommend`")
    if int(data.get("version", 0)) > RECOMMENDATION_VERSION:
        raise AutodistillError(f"{path} has recommendation format {data['version']}; upgrade autodistill")
    return Recommendation(
        dataset=data["dataset"],
        dataset_name=data["dataset_name"],
        task_kind=data["task_kind"],
        metric=data["metric"],
        teacher=data["teacher"],
        student=data["student"],
        teacher_score=float(data["teacher_score"]),
        featurizer_version=data["featurizer_version"],
        source=data["source"],
        trained_on=tuple(data["trained_on"]["datasets"]),
        n_runs=int(data["trained_on"]["runs"]),
        candidates=int(data["candidates"]),
        predictor=data["predictor"],
        picks=tuple(Pick.from_json(p) for p in _picks_today(data)),
        timings=dict(data.get("timings_s", {})),
        created_at=data.get("created_at", ""),
        design=data.get("design", "autogluon"),
    )


# -- the runs the predictor learns from ---------------------------------------------------------------


def usable_runs(store: RunStore, source: str, version: str) -> pd.DataFrame:
    """Runs of ``source`` recorded with featurizer ``version`` whose data sets have features of it."""
    if source not in SOURCES:
        raise choices_error("run source", source, SOURCES)
    if source == "paper":
        raise AutodistillError(
            f"the authors' runs carry the authors' own dataset features ({PAPER_FEATURIZER!r}), which cannot be "
            "computed for a new data set; recommend from --source ours (fill the store with `autodistill sweep`)"
        )
    runs = store.runs(source=source)
    featured = {f.dataset for f in store.features(version)}
    usable = runs[(runs["featurizer_version"] == version) & runs["dataset"].isin(featured)]
    if usable.empty:
        other = sorted(set(runs["featurizer_version"]) - {version})
        held = f"it holds {len(runs)} {source!r} runs" + (f" of featurizer {', '.join(other)}" if other else "")
        raise AutodistillError(
            f"the runs store {store.path} has no {source!r} runs featurized with {version!r} ({held}); fill it "
            "with `autodistill sweep --datasets a,b,c --students tiny --n 20` (runs on 3+ data sets), "
            "or `autodistill runs import --from study` (the project's shipped runs)"
        )
    return usable


def _import_shipped_if_empty(store: RunStore, version: str, folder: Path, on_status: Callable[[str], None]) -> None:
    """The default predictor learns from the shipped study runs until the user has runs of their own."""
    if not store.runs(source="ours").empty or version not in shipped_versions(folder):
        return
    added = import_study(store, folder)
    on_status(f"the store had no runs of ours: imported the {added} runs of the project's study ({folder})")


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
    settings: PredictorSettings | None = None,
    predictor: str | Path | None = None,
    unseen: bool = False,
    show_progress: bool = True,
    cache_dir: Path | None = None,
    shipped: Path | None = STUDY_DIR,
    columns: DataColumns | None = None,
    on_status: Callable[[str], None] = lambda _text: None,
) -> Recommendation:
    """The ``top`` configurations for ``task`` (loaded from ``dataset``), best predicted first.

    ``columns`` is how ``dataset`` was read (a file's column mapping); each pick's engine
    config carries it, so that ``autodistill run --recommendation`` reads the file the same way.

    ``unseen`` leaves the data set's own runs out of training (the paper's
    protocol for a data set new to AutoDistiller); ``predictor`` loads a saved
    predictor folder instead of training one on the store. A store without runs
    of ours is first filled from the project's shipped study (``shipped``, see
    :mod:`autodistill.shipped`; None turns that off), said through ``on_status``.

    Long only in its keyword options and this docstring: the body is the timed steps (runs;
    teacher, features and model sizes in :func:`_prepare`; predictors; scoring), each a call.
    """
    if top < 1:
        raise AutodistillError(f"--top must be at least 1, got {top}")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    baseline = baseline or BaselineSettings()
    version = featurizer_version(baseline.model)
    check_task(task)  # before anything expensive
    runs = training_runs(store, source, version, task.spec.name, unseen=unseen, shipped=shipped, on_status=on_status)
    loaded = load_predictor(predictor, version) if predictor is not None else None  # refuses another version
    target = _prepare(task, store, runs, teacher, student, baseline, timings, show_progress, on_status)
    with _timed(timings, "predictor_s"):
        models = train_models(runs, store.features(version), version, settings, loaded, cache_dir)
    with _timed(timings, "scoring_s"):
        configs = list(space_for(task.spec.task_type).configurations())
        budget = budget or make_budget()
        engine_of = partial(
            engine_config,
            dataset=dataset or task.spec.name,
            teacher=teacher,
            student=student,
            budget=budget,
            columns=columns,
        )
        picks = _picks(models, target.described, configs, top, engine_of, budget_inputs(budget, len(task.train)))
    timings["total_s"] = time.perf_counter() - started
    return _assemble(target, dataset or task.spec.name, source, runs, len(configs), models, picks, timings)


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

    @property
    def described(self) -> tuple[DatasetFeatures, ModelDescriptor, ModelDescriptor, float]:
        """The arguments :func:`autodistill.predictor.candidates` describes a candidate with."""
        return (self.features, self.teacher_d, self.student_d, self.finetuned.dev_score)


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
    """The three timed steps before the predictor: teacher (fine-tuned unless cached), features, model sizes."""
    from engine import TEACHER_SETTINGS, finetune_teacher  # looked up per call, so tests can replace them

    with _timed(timings, "teacher_s"):
        on_status(f"teacher {teacher} on {task.spec.name}: fine-tuning if not cached")
        finetuned = finetune_teacher(teacher, task, TEACHER_SETTINGS, show_progress=show_progress)
    with _timed(timings, "features_s"):
        features, _ = _features_for(task, store, baseline, on_status)
    with _timed(timings, "models_s"):
        teacher_d, student_d = model_descriptors(runs, teacher, student, finetuned.model_dir, task)
    return _Target(task, teacher, student, finetuned, features, teacher_d, student_d)


def _assemble(
    target: _Target,
    dataset: str,
    source: str,
    runs: pd.DataFrame,
    n_candidates: int,
    models: Models,
    picks: tuple[Pick, ...],
    timings: dict[str, float],
) -> Recommendation:
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
        candidates=n_candidates,
        predictor=str(models.rank.path),
        picks=picks,
        timings={k: round(v, 2) for k, v in timings.items()},
        design=models.rank.settings.design,
    )


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Record how long the block took under ``key`` (the recommendation reports where time went)."""
    mark = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - mark


def training_runs(
    store: RunStore,
    source: str,
    version: str,
    name: str,
    *,
    unseen: bool,
    shipped: Path | None,
    on_status: Callable[[str], None],
) -> pd.DataFrame:
    """The runs the predictor learns from: the store's (filled from the shipped study when it has
    none of ours), without ``name``'s own runs when it is to be treated as ``unseen``."""
    if source == "ours" and shipped is not None:
        _import_shipped_if_empty(store, version, shipped, on_status)
    runs = usable_runs(store, source, version)
    if unseen:
        runs = runs[runs["dataset"] != name]
        if runs.empty:
            raise AutodistillError(
                f"every usable run in {store.path} is on {name!r}; --unseen leaves none to learn from"
            )
    return runs


@dataclass(frozen=True)
class Models:
    """What scores candidates: the ranking predictor, its bootstrap refits, the ratio model shown
    for display, and the training rows (the reasons' typical data set is taken from them)."""

    rank: Predictor
    bags: list[Predictor]
    ratio: Predictor
    table: pd.DataFrame


def train_models(
    runs: pd.DataFrame,
    features: list[DatasetFeatures],
    version: str,
    settings: PredictorSettings | None,
    loaded: Predictor | None,
    cache_dir: Path | None,
) -> Models:
    """Fit (or load from cache) the ranking predictor, its :data:`autodistill.picks.BAGS` bootstrap
    refits and AutoGluon's linear ratio model, all on the same runs."""
    settings = loaded.settings if loaded is not None else settings or PredictorSettings()
    table = model_inputs(runs, features, embeddings=settings.dataset_embeddings)
    rank_model = loaded or fit_predictor(table, version, settings, cache_dir)
    ratio_settings = replace(settings, design="autogluon", params=(), target="ratio")
    return Models(
        rank_model,
        bagged(table, version, settings, cache_dir),
        fit_predictor(table, version, ratio_settings, cache_dir),
        table,
    )


def budget_inputs(budget: TrainSettings, n_train: int) -> dict[str, int]:
    """What the predictor's budget columns will read for runs at ``budget`` on a training split of
    ``n_train`` examples: the picks are scored at the budget they will run at."""
    examples = min(budget.max_train_examples or n_train, n_train)
    return {"train_examples": examples, "epochs": budget.epochs, "max_length": budget.max_length}


@dataclass(frozen=True)
class ChosenPipelines:
    """The picks among scored candidates: the candidates' model inputs and scores, and for each
    pick its row among them and what :func:`autodistill.picks.choose` said of it."""

    inputs: pd.DataFrame
    scores: np.ndarray
    rows: list[int]
    choices: list[Any]


def choose_pipelines(
    rank: Predictor, bags: Sequence[Predictor], described: tuple, configs: list[Pipeline], top: int, budget: dict
) -> ChosenPipelines:
    """Score every configuration at ``budget`` and choose ``top`` different pipelines with their
    uncertainty (:func:`autodistill.picks.choose`): what ``recommend`` and the held-out picks share."""
    inputs = model_inputs(
        candidates(*described, configs, budget), [described[0]], embeddings=rank.settings.dataset_embeddings
    )
    scores = rank.predict(inputs)
    keys = [components(c) for c in configs]
    # One row per pipeline: the best-scored aug_p/repeated_aug of each combination of the four components.
    order = pd.Series(keys, index=range(len(keys))).iloc[np.argsort(-scores, kind="stable")]
    rows = order[~order.duplicated()].index.to_numpy()
    spread = np.stack([bag.predict(inputs.iloc[rows]) for bag in bags])
    choices = choose(scores[rows], spread, [keys[r] for r in rows], top)
    return ChosenPipelines(inputs, scores, [int(rows[c.row]) for c in choices], choices)


def _picks(
    models: Models,
    described: tuple,
    configs: list[Pipeline],
    top: int,
    engine_of: Callable[[Pipeline], Any],
    budget: dict[str, int],
) -> tuple[Pick, ...]:
    """The chosen pipelines (:func:`choose_pipelines`) with their reason, predicted ratio and engine config."""
    chosen = choose_pipelines(models.rank, models.bags, described, configs, top, budget)
    why = reasons(models.rank, chosen.inputs, chosen.rows, models.table)
    ratios = models.ratio.predict(chosen.inputs.iloc[chosen.rows])
    return tuple(
        Pick(
            rank=k,
            config=configs[row],
            score=float(chosen.scores[row]),
            predicted_ratio=float(ratio),
            engine=engine_of(configs[row]).model_dump(mode="json"),
            uncertainty=c.uncertainty,
            reason="; ".join(part for part in (reason, c.note) if part),
        )
        for k, (row, c, reason, ratio) in enumerate(zip(chosen.rows, chosen.choices, why, ratios, strict=True), start=1)
    )


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
    ``description`` checked, see :func:`autodistill.features.load_described`), :func:`recommend`
    with ``options``, and save the picks to ``out`` (default: ``<home>/recommendations/NAME.json``).
    Returns the recommendation, the data it was made for and where it was saved."""
    task = load_described(dataset, description, columns, on_status)
    rec = recommend(task, store, dataset=dataset, columns=columns, on_status=on_status, **options)
    path = rec.save(out or paths.subdir("recommendations") / f"{rec.dataset_name}.json")
    return rec, task, path
