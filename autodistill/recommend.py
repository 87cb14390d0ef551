"""AutoDistiller's recommendation (paper §3.4, §5.4): the pipelines to try on a data set it has never seen.

Given a data set, a teacher and a student, :func:`recommend`

1. refuses early what cannot work: a data set too small or degenerate to
   featurize (:func:`autodistill.features.check_task`), a store with no runs
   featurized like the new data set will be;
2. fine-tunes the teacher (cached; its dev score is the "teacher score" feature);
3. computes the data set's features (Table 7) or reuses the store's;
4. trains the predictor on the store's runs (cached by content), or loads a
   given one, refused if it was trained on another featurizer version;
5. scores every configuration of the search space the task can run and keeps
   the top ones, one per pipeline (:func:`distinct_pipelines`: the best
   ``aug_p``/``repeated_aug`` of each combination of the four components).

**What the score is.** The predictor's default target is each run's
*within-data-set percentile rank* of the distillation ratio
(:mod:`autodistill.predictor` explains why): a pick's ``score`` of 0.8 means
"expected to beat about 80 % of the configurations tried on a data set",
not a ratio. For display, a second model of the same family is fitted to the
raw ratio (student / teacher dev score) and its prediction is shown as
``predicted_ratio``; across data sets it is the less reliable of the two
(LODO Spearman 0.22 vs 0.44 on the authors' runs), so the order follows
``score``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from autodistill import legacy
from autodistill.baseline import BaselineSettings
from autodistill.bridge import engine_config, make_budget, space_for
from autodistill.features import check_task, featurize, featurizer_version, load_described
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
#: 3: ``pkd`` is BERT-PKD's [CLS] loss; an earlier file's ``pkd`` picks are read as ``pkd-tokens``.
RECOMMENDATION_VERSION = 3
PKD_CLS_RECOMMENDATION = 3
DEFAULT_STUDENT = "layers=0,2,4"
SCORE_MEANING = (
    "score: predicted within-data-set percentile rank of the distillation ratio (1.0 = better than every "
    "configuration tried on a data set, 0.5 = a typical one); predicted_ratio: a separate model's estimate "
    "of student / teacher dev score, less reliable across data sets"
)


@dataclass(frozen=True)
class Pick:
    """One recommended configuration, with the engine config that runs it."""

    rank: int
    config: Pipeline
    score: float
    predicted_ratio: float | None
    engine: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": self.score,
            "predicted_ratio": self.predicted_ratio,
            "config": self.config.to_dict(),
            "engine": self.engine,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pick:
        return cls(
            rank=int(data["rank"]),
            config=Pipeline.from_engine(parse_config(dict(data["engine"]), source="recommended engine config")),
            score=float(data["score"]),
            predicted_ratio=None if data.get("predicted_ratio") is None else float(data["predicted_ratio"]),
            engine=dict(data["engine"]),
        )


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


def _descriptors(
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

    Long only in its keyword options and this docstring: the body is six timed steps (runs,
    teacher, features, model descriptors, predictors, scoring), each a call.
    """
    from engine import TEACHER_SETTINGS, finetune_teacher  # looked up per call, so tests can replace them

    if top < 1:
        raise AutodistillError(f"--top must be at least 1, got {top}")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    baseline = baseline or BaselineSettings()
    version = featurizer_version(baseline.model)
    check_task(task)  # before anything expensive
    runs = training_runs(store, source, version, task.spec.name, unseen=unseen, shipped=shipped, on_status=on_status)
    loaded = load_predictor(predictor, version) if predictor is not None else None  # refuses another version
    with _timed(timings, "teacher_s"):
        on_status(f"teacher {teacher} on {task.spec.name}: fine-tuning if not cached")
        finetuned = finetune_teacher(teacher, task, TEACHER_SETTINGS, show_progress=show_progress)
    with _timed(timings, "features_s"):
        features, _ = _features_for(task, store, baseline, on_status)
    with _timed(timings, "models_s"):
        teacher_d, student_d = _descriptors(runs, teacher, student, finetuned.model_dir, task)
    with _timed(timings, "predictor_s"):
        table = model_inputs(
            runs, store.features(version), embeddings=(settings or PredictorSettings()).dataset_embeddings
        )
        rank_model: Predictor = loaded or fit_predictor(table, version, settings or PredictorSettings(), cache_dir)
        ratio_settings = PredictorSettings(**{**_settings_dict(rank_model.settings), "target": "ratio"})
        ratio_model = fit_predictor(table, version, ratio_settings, cache_dir)
    with _timed(timings, "scoring_s"):
        configs = list(space_for(task.spec.task_type).configurations())
        described = (features, teacher_d, student_d, finetuned.dev_score)
        ranked = distinct_pipelines(rank_model.rank(*described, configs)).head(top)
        engine_of = partial(
            engine_config,
            dataset=dataset or task.spec.name,
            teacher=teacher,
            student=student,
            budget=budget or make_budget(),
            columns=columns,
        )
        picks = _picks(ranked, ratio_model, described, engine_of)
    timings["total_s"] = time.perf_counter() - started
    return Recommendation(
        dataset=dataset or task.spec.name,
        dataset_name=task.spec.name,
        task_kind=task.spec.kind,
        metric=task.spec.metric,
        teacher=teacher,
        student=student,
        teacher_score=float(finetuned.dev_score),
        featurizer_version=version,
        source=source,
        trained_on=tuple(sorted(set(runs["dataset"]))),
        n_runs=len(runs),
        candidates=len(configs),
        predictor=str(rank_model.path),
        picks=picks,
        timings={k: round(v, 2) for k, v in timings.items()},
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


def _picks(
    ranked: pd.DataFrame, ratio_model: Predictor, described: tuple, engine_of: Callable[[Pipeline], Any]
) -> tuple[Pick, ...]:
    """The ranked pipelines as picks, each with its predicted ratio and its engine config."""
    chosen: list[Pipeline] = list(ranked["config"])
    features = described[0]
    inputs = model_inputs(
        candidates(*described, chosen), [features], embeddings=ratio_model.settings.dataset_embeddings
    )
    ratios = ratio_model.predict(inputs)
    return tuple(
        Pick(
            rank=k,
            config=config,
            score=float(score),
            predicted_ratio=float(ratio),
            engine=engine_of(config).model_dump(mode="json"),
        )
        for k, (config, score, ratio) in enumerate(zip(chosen, ranked["predicted"], ratios, strict=True), start=1)
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


def distinct_pipelines(ranked: pd.DataFrame) -> pd.DataFrame:
    """Keep the best-scored row of each pipeline: configurations that differ only in ``aug_p`` or
    ``repeated_aug`` are one pipeline (the four components of Eq. 1 are the same), so the top
    picks are different pipelines rather than one pipeline with its knobs turned."""
    keys = [(c.inter_level, c.mapping, c.pred_loss, c.policy) for c in ranked["config"]]
    return ranked[~pd.Series(keys, index=ranked.index).duplicated()].reset_index(drop=True)


def _settings_dict(settings: PredictorSettings) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(settings)
