"""AutoDistiller's performance predictor (paper §3.4, §5.4): which pipeline will distill best here?

A predictor learns how well a run distilled from (dataset features, teacher/student
descriptors, Distiller config); to recommend, every candidate config is scored for a
new data set. *How* it learns is a design (:mod:`autodistill.predictor.designs`, ``--design``):
AutoGluon-Tabular as in the paper (``autogluon``), small LightGBM trees (``lgbm``,
the default), LambdaRank (``lambdarank``), kernel ridge (``kernel``) or the trees shown
nothing about the data set (``global``, the yardstick for data set dependence). This module
holds what they share: the model's input table, settings, training with a cache, loading.

Design choices, and the evidence behind them
--------------------------------------------
The default design is the winner of *nested* leave-one-dataset-out (LODO) on the
project's own runs (:mod:`autodistill.evaluation.nested`, ``benchmarks/nested_lodo.py``; figures
in ``benchmarks/results/nested_lodo*.json``, read in docs/evaluate.md). The ``autogluon`` design's
own settings (rank target, linear model, interaction terms) were chosen by plain LODO
Spearman on the authors' 1,239 runs, the same runs the figures below are reported on, so these are **tuned** figures
(benchmarks/lodo_paper.py; the paper reports 0.33):

=============================================  =====
trees (``medium_quality``), raw ratio target    0.26
trees, rank target, random holdout              0.34
trees, rank target, data-set-disjoint holdout   0.31–0.38 (time limit, features)
linear, raw ratio target                        0.22
linear, rank target                             0.42
linear + trees, rank target                     0.42
linear, rank target, interaction terms          0.44 (``autogluon`` default; deterministic)
=============================================  =====

* **Target.** Only the order of configurations within one data set matters for
  a recommendation, and data sets differ wildly in ratio level and spread
  (CoLA's MCC ratios span 0–1.1, MNLI's 0.96 ± 0.03). ``target="ratio_rank"``
  (default) trains on each run's percentile rank of ratio within its own data
  set (label column ``ratio_rank``), so every data set counts alike and no
  capacity goes into telling data sets' levels apart; predictions are relative
  scores in [0, 1], not ratios. ``target="ratio"`` is the paper's raw target.
* **Model family** (``autogluon`` design). ``models="linear"`` (default)
  is AutoGluon's linear model (one-hot categoricals, scaled numerics, L2);
  ``"trees"`` is the ``medium_quality`` portfolio (LightGBM, CatBoost, XGBoost,
  random forest, extra trees; neural nets and KNN excluded as slow or poor on
  ~1,000 mixed rows), ``"linear+trees"`` both, ensembled.
* **Features.** Besides the paper's (context/task embeddings, baseline score,
  teacher score, #examples, #labels, task kind, config), each run carries its
  teacher and student *sizes* (layers, hidden size, parameters, and their
  student/teacher ratios) rather than names, so that what is learned about a
  4-layer 14M student carries over to another of that size, plus ``headroom``
  (teacher minus baseline score) and five config x data set/student
  interaction terms (:func:`add_interactions`), without which a linear model
  would recommend the same config everywhere (the tree designs find their own).
* **Validation** (``autogluon``). ``validation="by_dataset"`` makes AutoGluon's holdout
  data-set-disjoint (``validation_structure={"group_on": ...}``, the group
  column ignored as a feature), so model selection and ensemble weights reward
  transfer to unseen data sets, then ``refit_full`` retrains on every row.
* **CPU.** ``num_cpus=1``: on a shared 2-core machine multi-threaded tree
  fitting spin-waits; a full ``medium_quality`` fit took 455 s with 2 threads
  and 36 s with 1 (measured here). The linear model fits in about a second,
  the ``lgbm`` design (100 trees, one thread) in a fraction of one. Verbosity 0.
* **Cache.** A predictor is saved under ``<home>/predictors/<hash>``, the hash
  covering the training table, the featurizer version and the settings, so an
  unchanged request loads instead of retraining. The folder records the
  featurizer version; loading it for features of another version is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autodistill.predictor.designs import DESIGNS, feature_columns
from autodistill.space import STACK_SEP, Pipeline, inter_level, text_augmenters
from autodistill.store.database import DatasetFeatures, ModelDescriptor, RunStore
from autodistill.store.records import pipeline_columns
from engine import AutodistillError, choices_error, from_scratch, paths

TARGETS = ("ratio_rank", "ratio")
VALIDATIONS = ("by_dataset", "random")
MODEL_FAMILIES = ("linear", "trees", "linear+trees")
#: Bumped when the model's input columns change, so stale cached predictors are not reused.
#: 3: position columns named by the engine's operations (``pos_ca``, ``pos_ra``, ``pos_bt``).
#: 4: a predictor is one of several designs (:mod:`autodistill.predictor.designs`).
#: 5: the run's budget (:data:`autodistill.predictor.designs.BUDGET_INPUTS`).
#: 6: the target is the rank within a setting (data set, teacher, student, budget), not within a data set.
#: 7: whether the student started from pretrained weights (``student_pretrained``: a general-distilled
#: ``tiny-gd`` has fresh ``tiny``'s shape, and its runs are another setting).
PREDICTOR_FORMAT = 7
#: The design ``recommend`` uses unless told otherwise: the winner of the nested
#: leave-one-dataset-out evaluation on the project's runs (docs/evaluate.md).
DEFAULT_DESIGN = "lgbm"
#: Centres of the interaction terms (10k train examples, a 20M-parameter student), so that the
#: main effects of augmentation and prediction loss keep their meaning at a typical point.
_LOG_EXAMPLES_CENTRE = 4.0
_LOG_PARAMS_CENTRE = 7.3
META_FILE = "autodistill-predictor.json"


@dataclass(frozen=True)
class PredictorSettings:
    """How the predictor is trained (all of it but verbosity is part of the cache key)."""

    time_limit: float = 60.0
    models: str = "linear"
    presets: str = "medium_quality"
    excluded_model_types: tuple[str, ...] = ("NN_TORCH", "FASTAI", "KNN")
    target: str = "ratio_rank"
    validation: str = "by_dataset"
    refit_full: bool = True
    eval_metric: str = "root_mean_squared_error"
    num_cpus: int | None = 1
    dataset_embeddings: bool = True
    verbosity: int = 0
    #: Which learner (:mod:`autodistill.predictor.designs`) and its hyper-parameters over the design's defaults.
    design: str = DEFAULT_DESIGN
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        design = DESIGNS.get(self.design)  # refuses an unknown name, listing the known ones
        object.__setattr__(self, "params", tuple(sorted(self.params)))  # one cache key per request
        unknown = sorted(set(dict(self.params)) - set(design.defaults))
        if unknown:
            known = ", ".join(sorted(design.defaults)) or "none"
            raise AutodistillError(f"design {self.design!r} has no parameter {unknown[0]!r} (it has: {known})")
        if self.target not in TARGETS:
            raise choices_error("predictor target", self.target, TARGETS)
        if self.validation not in VALIDATIONS:
            raise choices_error("predictor validation", self.validation, VALIDATIONS)
        if self.models not in MODEL_FAMILIES:
            raise choices_error("predictor model family", self.models, MODEL_FAMILIES)
        if self.time_limit <= 0:
            raise AutodistillError(f"predictor time limit must be positive seconds, got {self.time_limit!r}")

    def design_params(self) -> dict[str, Any]:
        """The design's defaults with this request's parameters over them."""
        return {**DESIGNS.get(self.design).defaults, **dict(self.params)}

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> PredictorSettings:
        """Settings as a predictor folder records them (lists back to tuples; older folders were AutoGluon's)."""
        saved = {**saved, "design": saved.get("design", "autogluon")}
        saved["excluded_model_types"] = tuple(saved["excluded_model_types"])
        saved["params"] = tuple((str(k), v) for k, v in saved.get("params", ()))
        return cls(**saved)


# -- the table the model sees ---------------------------------------------------------------------------


def _features_frame(features: Sequence[DatasetFeatures], embeddings: bool) -> pd.DataFrame:
    rows = []
    for f in features:
        row: dict[str, object] = {
            "dataset": f.dataset,
            "task_kind": f.task_kind or "unknown",
            "log_examples": float(np.log10(max(f.n_examples, 1))),
            "n_labels": f.n_labels,
            "baseline_score": f.baseline_score,
        }
        if embeddings:
            row.update({f"ctx_{i}": x for i, x in enumerate(f.context_embedding)})
            row.update({f"task_{i}": x for i, x in enumerate(f.task_embedding)})
        rows.append(row)
    return pd.DataFrame(rows)


def model_inputs(runs: pd.DataFrame, features: Sequence[DatasetFeatures], *, embeddings: bool = True) -> pd.DataFrame:
    """Runs (store columns) joined with their dataset features, turned into the model's columns.

    Used both for training rows and for candidates at prediction time, so the two
    can never disagree. Keeps ``dataset`` (and ``ratio`` where present) alongside.
    """
    known = {f.dataset for f in features}
    missing = sorted(set(runs["dataset"]) - known)
    if missing:
        raise AutodistillError(f"no dataset features for {', '.join(missing)}; featurize them first")
    dataset_frame = _features_frame(features, embeddings)
    # The dataset side (task kind included) comes from the features, as it would for a new data set.
    clashes = [c for c in dataset_frame.columns if c in runs.columns and c != "dataset"]
    table = runs.drop(columns=clashes).merge(dataset_frame, on="dataset", how="left")
    mi = table["inter_loss"] == "mi"
    stacks = table["augmentation"].fillna("").str.split(STACK_SEP)
    out = pd.DataFrame(
        {
            "dataset": table["dataset"],
            "inter_loss": table["inter_loss"],
            "alpha": table["alpha"].where(mi),
            "inter_level": [
                inter_level(loss, alpha) for loss, alpha in zip(table["inter_loss"], table["alpha"], strict=True)
            ],
            "mapping": table["mapping"],
            "pred_loss": table["pred_loss"],
            "mixup": table["mixup"].astype(int),
            "n_text_aug": stacks.map(lambda s: len([a for a in s if a])),
            "aug_p": table["aug_p"],
            "repeated_aug": table["repeated_aug"],
        }
    )
    for name in text_augmenters():
        out[f"pos_{name}"] = stacks.map(lambda s, n=name: s.index(n) + 1 if n in s else 0)
    for who in ("teacher", "student"):
        out[f"{who}_layers"] = table[f"{who}_layers"]
        out[f"{who}_hidden"] = table[f"{who}_hidden"]
        out[f"{who}_log_params"] = np.log10(table[f"{who}_params"].astype(float))
    out["student_pretrained"] = (~table["student_name"].map(from_scratch)).astype(int)
    out["param_ratio"] = table["student_params"] / table["teacher_params"]
    out["layer_ratio"] = table["student_layers"] / table["teacher_layers"]
    out["hidden_ratio"] = table["student_hidden"] / table["teacher_hidden"]
    for name, column in _budget_columns(table).items():
        out[name] = column
    out["teacher_score"] = table["teacher_score"]
    out["headroom"] = table["teacher_score"] - table["baseline_score"]
    out = pd.concat([out, table[[c for c in dataset_frame.columns if c != "dataset"]]], axis=1)
    add_interactions(out)
    if "ratio" in table:
        out["ratio"] = table["ratio"]
    return out


def _budget_columns(table: pd.DataFrame) -> dict[str, pd.Series]:
    """:data:`autodistill.predictor.designs.BUDGET_INPUTS` from the store's budget columns (absent or NULL: NaN)."""

    def column(name: str) -> pd.Series:
        values = table[name] if name in table else pd.Series(np.nan, index=table.index)
        return pd.to_numeric(values, errors="coerce").astype(float)

    return {
        "log_train_examples": np.log10(column("train_examples").clip(lower=1)),
        "epochs": column("epochs"),
        "max_length": column("max_length"),
    }


def add_interactions(out: pd.DataFrame) -> None:
    """Config x data set/student terms, so a linear model can recommend differently per data set.

    They encode the paper's readings: augmentation helps most when the data set or the
    student is small (§5.3), and MSE prediction loss wins on the large GLUE tasks (Table 9).
    """
    augmented = (out["n_text_aug"] > 0).astype(float)
    size = out["log_examples"] - _LOG_EXAMPLES_CENTRE
    student = out["student_log_params"] - _LOG_PARAMS_CENTRE
    out["aug_x_size"] = augmented * size
    out["mixup_x_size"] = out["mixup"] * size
    out["aug_x_student"] = augmented * student
    out["mixup_x_student"] = out["mixup"] * student
    out["mse_x_size"] = (out["pred_loss"] == "mse") * size


def candidates(
    features: DatasetFeatures,
    teacher: ModelDescriptor,
    student: ModelDescriptor,
    teacher_score: float,
    configs: Sequence[Pipeline],
    budget: Mapping[str, int | None] | None = None,
) -> pd.DataFrame:
    """Store-shaped rows for configs not yet run on a data set, ready for :func:`model_inputs`;
    ``budget``: the run's ``train_examples``, ``epochs`` and ``max_length`` (unknown: NaN)."""
    return pd.DataFrame(
        [
            {
                "dataset": features.dataset,
                **pipeline_columns(c),
                **{f"teacher_{k}": v for k, v in asdict(teacher).items()},
                **{f"student_{k}": v for k, v in asdict(student).items()},
                "teacher_score": teacher_score,
                **{name: (budget or {}).get(name) for name in ("train_examples", "epochs", "max_length")},
            }
            for c in configs
        ]
    )


# -- training, caching, loading -------------------------------------------------------------------------


class Predictor:
    """A trained AutoDistiller predictor and the featurizer version its inputs must have."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta
        self.featurizer_version = str(meta["featurizer_version"])
        self.settings = PredictorSettings.from_json(dict(meta["settings"]))
        try:
            self._model = DESIGNS.get(self.settings.design)().load(path, meta)
        except (AssertionError, OSError, EOFError) as error:
            raise AutodistillError(f"predictor {path} cannot be loaded ({error}); retrain it") from None

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        """Predicted score for rows of :func:`model_inputs`: higher is a better ratio on that data set
        (a relative rank, a ranking score or a ratio, per the design and target)."""
        return self._model.predict(inputs)

    def contributions(self, inputs: pd.DataFrame) -> pd.DataFrame | None:
        """Per-column additive contributions to each row's score where the design has them (trees)."""
        return self._model.contributions(inputs)

    def rank(
        self,
        features: DatasetFeatures,
        teacher: ModelDescriptor,
        student: ModelDescriptor,
        teacher_score: float,
        configs: Sequence[Pipeline],
        budget: Mapping[str, int | None] | None = None,
    ) -> pd.DataFrame:
        """Candidate configs for a data set, best predicted first, with their predicted score
        (``budget``: as :func:`candidates`)."""
        if features.featurizer_version != self.featurizer_version:
            raise _version_error(self.path, self.featurizer_version, features.featurizer_version)
        inputs = model_inputs(
            candidates(features, teacher, student, teacher_score, configs, budget),
            [features],
            embeddings=self.settings.dataset_embeddings,
        )
        scored = pd.DataFrame({"config": list(configs), "predicted": self.predict(inputs)})
        return scored.sort_values("predicted", ascending=False, kind="stable").reset_index(drop=True)


def _version_error(path: Path, trained: str, given: str) -> AutodistillError:
    return AutodistillError(
        f"predictor {path} was trained on featurizer version {trained!r} but the features are {given!r}; "
        "retrain the predictor on runs featurized with the current version"
    )


def predictor_identity(settings: PredictorSettings) -> dict[str, Any]:
    """What makes two predictors trained on the same rows the same model: the format and every setting
    but how loudly it trains. Choices made by a predictor record it, so that a later change is noticed."""
    training = {k: v for k, v in asdict(settings).items() if k != "verbosity"}
    return json.loads(json.dumps({"format": PREDICTOR_FORMAT, **training}))  # tuples as JSON gives them back


def _cache_key(table: pd.DataFrame, featurizer_version: str, settings: PredictorSettings) -> str:
    """Hash of everything that changes the trained model (how loudly it trains does not)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([featurizer_version, predictor_identity(settings), list(table.columns)]).encode())
    digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:20]


def fit_predictor(
    table: pd.DataFrame,
    featurizer_version: str,
    settings: PredictorSettings | None = None,
    cache_dir: Path | None = None,
) -> Predictor:
    """Train on rows of :func:`model_inputs` (with ``ratio``), or load the cached predictor of the same request."""
    settings = settings or PredictorSettings()
    if table.empty:
        raise AutodistillError("no runs to train the predictor on")
    table = table.sort_values(list(table.columns), kind="stable").reset_index(drop=True)
    cache_dir = cache_dir or paths.subdir("predictors")
    final = cache_dir / _cache_key(table, featurizer_version, settings)
    if (final / META_FILE).exists():
        return load_predictor(final, featurizer_version)
    shutil.rmtree(final, ignore_errors=True)  # a folder without the marker is a crashed fit
    scratch = cache_dir / f".{final.name}.{uuid.uuid4().hex[:8]}"
    fitted = DESIGNS.get(settings.design)().fit(table, settings, settings.design_params(), scratch)
    fitted.save(scratch)
    meta = _predictor_meta(table, featurizer_version, settings, feature_columns(table))
    (scratch / META_FILE).write_text(json.dumps(meta, indent=2))
    try:
        os.replace(scratch, final)  # atomic: a concurrent identical fit may have won; then keep theirs
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    return load_predictor(final, featurizer_version)


def _predictor_meta(
    table: pd.DataFrame, featurizer_version: str, settings: PredictorSettings, features: list[str]
) -> dict[str, object]:
    """What the predictor folder records of its training, read back by :func:`load_predictor`."""
    return {
        "featurizer_version": featurizer_version,
        "settings": asdict(settings),
        "feature_columns": features,
        "datasets": sorted(table["dataset"].unique()),
        "n_rows": len(table),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def load_predictor(path: str | Path, featurizer_version: str) -> Predictor:
    """A saved predictor, refused (one line) if it was trained on another featurizer version."""
    path = Path(path)
    meta_file = path / META_FILE
    if not meta_file.exists():
        raise AutodistillError(f"{path} is not an AutoDistiller predictor (no {META_FILE})")
    meta = json.loads(meta_file.read_text())
    if meta["featurizer_version"] != featurizer_version:
        raise _version_error(path, meta["featurizer_version"], featurizer_version)
    return Predictor(path, meta)


def training_table(
    store: RunStore, featurizer_version: str, *, source: str | None = None, embeddings: bool = True
) -> pd.DataFrame:
    """Every stored run of ``source`` joined with its dataset features of ``featurizer_version``."""
    return model_inputs(*training_inputs(store, featurizer_version, source=source), embeddings=embeddings)


def training_inputs(
    store: RunStore, featurizer_version: str, *, source: str | None = None
) -> tuple[pd.DataFrame, list[DatasetFeatures]]:
    """The stored runs of ``source`` and the dataset features of ``featurizer_version``, both present."""
    runs = store.runs(source=source)
    if runs.empty:
        raise AutodistillError(f"the runs store {store.path} has no runs of source {source or 'any'!r}")
    features = store.features(featurizer_version)
    if not features:
        versions = ", ".join(store.featurizer_versions()) or "none"
        raise AutodistillError(
            f"no dataset features of version {featurizer_version!r} in {store.path} (stored: {versions})"
        )
    return runs, features
