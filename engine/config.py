"""Typed configuration of one Distiller run (paper Eq. 1), validated once at the edge.

A :class:`DistillConfig` spells out every term of Eq. 1: the teacher ``f^T``, the
student ``f^S``, the data set, the layer mapping ``m_ij``, the intermediate loss
``l^inter`` (with ``alpha`` for MI-α), the prediction loss ``l^pred`` with its
temperature, and the weights β1, γ1, β2, γ2. It loads from YAML/JSON or from CLI
flags and is written next to every result, so a run can always be repeated.

This module is the schema only and imports no component: the names of losses,
mappings, augmentations, critics and teacher policies are checked against their
registries by :func:`engine.components.check_components`, which
:func:`engine.components.parse_config` (the edge) and :func:`engine.pipelines.run` call, so
that registering a new component makes it valid here with no edit.
"""

from __future__ import annotations

import difflib
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.arithmetic import Precision
from engine.errors import AutodistillError
from engine.models.presets import DEFAULT_TEACHER, default_lr
from engine.models.teacher_spec import parse_teacher_spec

#: What a run distils with when no pipeline is given: logit KD (the prediction loss alone). In the study
#: no fixed pipeline leads it beyond the noise on most data sets (docs/study.md, "Headroom over logit KD"),
#: and it is the cheapest KD pipeline to run.
DEFAULT_PIPELINE: dict[str, str | None] = {"mapping": None, "inter_loss": None}
#: The other half of an intermediate term when a config names only one: the mapping and the loss of
#: TinyBERT's recipe, the paper's Skip mapping and the most common loss of the authors' runs.
INTERMEDIATE_PARTNERS: dict[str, str] = {"mapping": "skip", "inter_loss": "mse"}

#: ``json_schema_extra`` of a field that changes how a run is watched, not what it computes
#: (where its curves are reported): run ids leave such fields out (:func:`result_exclude`).
WATCH_ONLY: dict[str, Any] = {"watch_only": True}


def result_exclude(model: BaseModel) -> dict[str, Any]:
    """``model_dump``'s ``exclude`` for the watch-only fields of ``model`` and of its nested blocks,
    so that a hash of what a run computes stays the same whatever a user watches it with."""
    exclude: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if (info.json_schema_extra or {}).get("watch_only"):
            exclude[name] = True
        elif isinstance(value, BaseModel) and (inner := result_exclude(value)):
            exclude[name] = inner
    return exclude


class TrainSettings(BaseModel):
    """Optimisation settings. Defaults follow the paper's Appendix G where it gives them
    (batch 16, lr 5e-5); epochs and length are CPU-sized and recorded with each run.

    5e-5 suits models that start from pretrained weights. A :class:`DistillConfig` whose
    ``lr`` is left unset and whose student is a named one (a fresh preset such as ``tiny``, or
    ``tiny-gd``) trains at that student's default rate instead
    (:func:`engine.models.presets.default_lr`); the rate used is the one written to ``config.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(3, ge=1, description="passes over the training split")
    batch_size: int = Field(16, ge=1, description="examples per batch (per process)")
    grad_accum: int = Field(1, ge=1, description="batches per optimizer step")
    lr: float = Field(
        5e-5,
        gt=0,
        description=(
            "peak learning rate (unset: the model's default, `models list`; a folder `pretrain` made: its shape's "
            "-gd student's; 5e-05 for a hub id)"
        ),
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_ratio: float = Field(0.1, ge=0, le=1, description="share of steps with a linear warm-up")
    max_length: int = Field(128, ge=8, le=4096, description="tokens per example (longer ones are cut)")
    max_train_examples: int | None = Field(None, ge=1, description="train on a seeded sample of this size")
    max_eval_examples: int | None = Field(None, ge=1, description="score on a seeded dev sample of this size")
    seed: int = Field(42, description="seeds data order, fresh weights and augmentation")
    precision: Precision = Field("auto", description="auto: bf16/fp16 on GPUs, fp32 on CPU")
    min_steps: int | None = Field(
        None, ge=1, description="train at least this many optimizer steps: small data sets get more epochs"
    )
    checkpoint_every: int = Field(50, ge=1, description="optimizer steps between resumable checkpoints")
    # As Hugging Face's TrainingArguments.report_to; engine.tracking.TRACKERS holds the names.
    report_to: tuple[str, ...] = Field(
        (),
        description="tracking backends that get the training curves and the config (default: none)",
        json_schema_extra=WATCH_ONLY,
    )

    @field_validator("report_to", mode="before")
    @classmethod
    def _split_report_to(cls, value: Any) -> Any:
        """Accept "tensorboard,mlflow" (CLI, YAML) as well as a list; "none" reports nowhere."""
        if isinstance(value, str):
            names = tuple(name.strip().lower() for name in value.split(",") if name.strip())
            return () if names in ((), ("none",)) else names
        return value


#: Tolerance on Σθ = 1 for a categorical distribution given by hand or saved as a candidate.
THETA_TOLERANCE = 1e-6


class TeamConfig(BaseModel):
    """A teacher team and how each step's teacher signal is formed from it (AutoSKDBERT).

    ``teachers`` are teacher specs (``engine.models.teacher_spec.parse_teacher_spec``): a preset,
    hub id or folder, optionally ``:layers=0,1,2`` (a layer subset), ``:seed=N`` or
    ``:epochs=N`` (another fine-tune). ``mode`` picks the teacher policy; the
    remaining fields are the ``learned`` mode's (§2.4, Algorithm 1, Table 9).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    teachers: tuple[str, ...] = Field(min_length=1)
    mode: str = "learned"
    pick: int = Field(0, ge=0, description="the teacher `single` mode distils from (index into teachers)")
    theta: tuple[float, ...] | None = Field(
        None, description="Cat(θ): fixed for `sample`, initial for `learned`; None means uniform"
    )
    update: Literal["sswo", "cr"] = "sswo"
    drop_m: int = Field(1, ge=0, description="m: teachers dropped at teacher selection (Eq. 8)")
    p: float = Field(1.0, gt=0, description="exponent of the norm that renormalises θ at selection (Eq. 8)")
    theta_lr: float = Field(5e-4, gt=0, description="learning rate of Cat(θ) (paper: 3e-4 to 1e-3)")
    theta_weight_decay: float = Field(1e-3, ge=0, description="Adam weight decay of Cat(θ) (§3.2.1)")
    unroll_lr: float | None = Field(
        None, ge=0, description="α of the one-step unroll w - α∇L_train; None: theta_lr (§2.4.1); 0: first-order"
    )
    candidates: int = Field(25, ge=1, description="candidate distributions saved along phase 2")
    theta_loss: Literal["kd", "labels"] = Field(
        "kd", description="L_val of the θ step: 'kd' as the paper (§2.2); 'labels' (extension): ground truth"
    )

    @field_validator("teachers")
    @classmethod
    def _parse_teachers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(parse_teacher_spec(text)) for text in value)

    @model_validator(mode="after")
    def _team_fits_mode(self) -> TeamConfig:
        n = len(self.teachers)
        if self.theta is not None:
            shown = "(" + ", ".join(f"{w:g}" for w in self.theta) + ")"
            if len(self.theta) != n:
                raise ValueError(f"theta {shown} has {len(self.theta)} weights for {n} teachers")
            total = sum(self.theta)
            if not all(w >= 0 and w != float("inf") for w in self.theta) or abs(total - 1) > THETA_TOLERANCE:
                raise ValueError(
                    f"theta {shown} is not a distribution: weights must be finite, >= 0 and sum to 1 "
                    f"(they sum to {total:g})"
                )
        if self.mode == "single" and self.pick >= n:
            raise ValueError(f"pick={self.pick} but the team has {n} teachers (0..{n - 1})")
        if self.mode == "learned":
            if n < 2:
                raise ValueError("a team of one cannot learn a distribution; use mode 'single' or add teachers")
            if self.drop_m >= n:
                raise ValueError(
                    f"drop_m={self.drop_m} would drop every teacher of a team of {n}; need 0 <= drop_m < {n}"
                )
            if self.theta_loss == "labels" and self.unroll_lr == 0:
                raise ValueError("theta_loss 'labels' reaches θ only through the unroll; unroll_lr must be > 0")
        return self


class DataColumns(BaseModel):
    """How a local file or hub data set maps onto its task (:func:`engine.data.load_task`).

    Part of the run's config, so that a run of a recommendation, or a rerun from
    ``config.yaml``, reads the file as the first run did. Catalog data sets have fixed
    columns and refuse these, all but ``metric``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_type: str | None = Field(
        None, description="classification | regression | span | token (default: inferred from the columns)"
    )
    text_col: str | None = Field(None, description="column holding the text")
    text_pair_col: str | None = Field(
        None, description="column holding the second text of a pair (or a span's context)"
    )
    label_col: str | None = Field(None, description="column holding the label or target")
    answer_col: str | None = Field(None, description="span tasks: column holding the answer text")
    answer_start_col: str | None = Field(None, description="span tasks: column holding the answer's character offset")
    encoding: str | None = Field(None, description="text encoding of a local CSV/JSONL file (default: utf-8)")
    metric: str | None = Field(
        None,
        description="the score that picks the best epoch and makes the ratio (default: the task type's; classes: "
        "accuracy, f1 (macro) or mcc)",
    )


def column_options(columns: DataColumns | None) -> dict[str, Any]:
    """The keywords of :func:`engine.data.load_task` that ``columns`` sets (None: none)."""
    return columns.model_dump() if columns else {}


def dataset_source(value: str) -> str:
    """A data set as runs record it: a file or folder of the user's (named as the loader tells a path
    from a hub name, :func:`engine.data.readers.looks_like_path`) by its absolute path, so that a
    recommendation, a rerun from ``config.yaml`` and ``export`` read it from any folder, not only the
    one the run started in; catalog and hub names as given. Every place a data set enters (a config;
    the meta layer's recommend, search and sweep) goes through it, so that a file's trials in the store
    carry one name (its runs carry the name it loads under: :func:`dataset_names`)."""
    from engine.data.readers import looks_like_path  # the data package weighs three times this module

    path = Path(value).expanduser()
    return str(path.resolve()) if looks_like_path(value) and path.exists() else value


def dataset_names(value: str) -> set[str]:
    """Every name a data set's rows carry in a runs store: its trials' (:func:`dataset_source`: a file by
    its absolute path) and its runs' (the name it loads under, a file's stem, as the features have it)."""
    from engine.data.loaders import default_name

    return {dataset_source(value), default_name(value)}


class DistillConfig(BaseModel):
    """One Distiller pipeline on one teacher/student/data set (paper Eq. 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    teacher: str = Field(DEFAULT_TEACHER, description="f^T: a preset, a Hugging Face id or a local folder")
    student: str = Field(
        "layers=0,2,4", description="f^S: a preset (tiny, mini, ...), tiny-gd, layers=0,2,4, an id or a folder"
    )
    dataset: str = Field(description="a catalog name, a CSV/TSV/JSON(L)/Parquet file or a Hugging Face data set")
    # m_ij and l^inter. ``None`` switches intermediate distillation off: logit-only KD, the default
    # pipeline (DEFAULT_PIPELINE), which the study's runs put level with or ahead of every other.
    mapping: str | None = Field(
        DEFAULT_PIPELINE["mapping"],
        description="m_ij: which student layer learns from which teacher layer (unset: none, logit KD)",
    )
    inter_loss: str | None = Field(DEFAULT_PIPELINE["inter_loss"], description="l^inter between mapped hidden states")
    alpha: float = Field(0.9, ge=0, le=1, description="MI-α interpolation; used by inter_loss='mi' only")
    critic: str = Field("transformer", description="MI-α critic: the network scoring (teacher, student) state pairs")
    inter_weight: float = Field(1.0, ge=0, description="scale of the Σ m_ij l^inter term")
    # l^pred and its weights. None means "the paper's default for this setting".
    pred_loss: str | None = Field(
        None, description="l^pred on the prediction layer (unset: the task's own, ce for classes, mse for a number)"
    )
    temperature: float = Field(1.0, gt=0, description="softmax temperature of l^pred(teacher, student)")
    beta1: float | None = Field(None, ge=0, description="β1, weight of l^pred(f^T(x), f^S(x)) (default 1)")
    gamma1: float | None = Field(
        None, ge=0, description="γ1, weight of l^pred(y, f^S(x)) (default .5 with augmentation, else 0)"
    )
    beta2: float | None = Field(
        None, ge=0, description="β2, weight of l^pred(f^T(x̂), f^S(x̂)) (default 1 with augmentation)"
    )
    gamma2: float | None = Field(
        None, ge=0, description="γ2, weight of l^pred(ŷ, f^S(x̂)) (default .5 with augmentation)"
    )
    # The data augmentation policy a(x, y): an ordered stack of operation names.
    augment: tuple[str, ...] = Field((), description="a(x, y): augmentation operations, stacked in order (e.g. ra,ca)")
    aug_p: float = Field(0.1, ge=0, le=1, description="share of words ca/ra change per text")
    repeated_aug: int = Field(1, ge=1, description="augmented copies of each example per epoch")
    ca_model: str = Field("glove", min_length=1, description="'glove' (offline) or a Hugging Face masked-LM id")
    bt_model: Literal["apertium", "marian"] = Field(
        "apertium", description="back-translation model: apertium (offline) or marian (Opus-MT, needs the hub)"
    )
    bt_pivot: str = Field("es", pattern=r"^[a-z]{2,3}$", description="pivot language of back-translation")
    mixup_dist: Literal["beta", "uniform"] = Field("beta", description="distribution of mixup's mixing weight")
    mixup_alpha: float = Field(0.4, gt=0, description="α of mixup's Beta(α, α)")
    aug_workers: int = Field(1, ge=0, le=32, description="background augmentation processes; 0: in the trainer")
    aug_dir: str | None = Field(None, description="read augmented text from a folder written by `autodistill augment`")
    aug_mode: Literal["fresh", "cached"] = Field(
        "fresh",
        description="fresh: new copies every epoch, teacher run on each (the paper); "
        "cached: copies made once, shared by epochs and runs, teacher outputs on them cached",
    )
    aug_copies: int | None = Field(
        None, ge=1, description="cached mode: copies kept per example (unset: repeated_aug, one epoch's worth)"
    )
    train: TrainSettings = TrainSettings()
    columns: DataColumns | None = None
    split_version: int | None = Field(
        None, ge=1, description="catalog data sets: which version of the splits to use (unset: the latest)"
    )

    def data_options(self) -> dict[str, Any]:
        """What :func:`engine.data.load_task` needs besides the data set: its columns and split version."""
        options = column_options(self.columns)
        return options if self.split_version is None else {**options, "split_version": self.split_version}

    # A teacher team (AutoSKDBERT) instead of the single ``teacher``; ``teacher`` then
    # names the model the student is derived from (default: the first member's base).
    team: TeamConfig | None = None
    # Where the teacher's outputs on the original examples come from (engine.kd.teacher_cache).
    teacher_cache: bool = Field(
        True, description="read teacher outputs from an on-disk cache built once; false: run the teacher live"
    )

    @model_validator(mode="before")
    @classmethod
    def _team_defaults(cls, data: Any) -> Any:
        """Team runs are prediction-layer KD: intermediate terms default to off."""
        if not isinstance(data, dict) or data.get("team") is None:
            return data
        data = {"mapping": None, "inter_loss": None, **data}
        team = data["team"]
        teachers = team.teachers if isinstance(team, TeamConfig) else (team or {}).get("teachers")
        if "teacher" not in data and teachers and isinstance(teachers[0], str):
            from contextlib import suppress

            with suppress(AutodistillError):  # the team field's own validation reports it
                data["teacher"] = parse_teacher_spec(teachers[0]).base
        return data

    @model_validator(mode="before")
    @classmethod
    def _intermediate_partner(cls, data: Any) -> Any:
        """``--inter-loss mi`` alone means MI-α over the Skip mapping, ``--mapping emd`` alone MSE over
        EMD: an intermediate term needs both, and the default pipeline (logit KD) has neither."""
        if not isinstance(data, dict):
            return data
        given = {key for key in INTERMEDIATE_PARTNERS if data.get(key) not in (None, "none", "null", "")}
        if len(given) != 1:
            return data
        (missing,) = set(INTERMEDIATE_PARTNERS) - given
        return data if missing in data else {**data, missing: INTERMEDIATE_PARTNERS[missing]}

    @model_validator(mode="before")
    @classmethod
    def _student_learning_rate(cls, data: Any) -> Any:
        """An unset ``train.lr`` follows the student: a fresh preset's layers start from random
        weights and train at the study's rate (:data:`engine.models.presets.FRESH_LR`), far above the
        pretrained-model 5e-5; a shipped general-distilled student has the rate its probe chose."""
        if not isinstance(data, dict) or (lr := default_lr(str(data.get("student")))) is None:
            return data
        train = data.get("train") or {}
        if isinstance(train, TrainSettings):
            if "lr" not in train.model_fields_set:
                return {**data, "train": train.model_copy(update={"lr": lr})}
        elif isinstance(train, dict) and "lr" not in train:
            return {**data, "train": {**train, "lr": lr}}
        return data

    @field_validator("dataset")
    @classmethod
    def _file_from_anywhere(cls, value: str) -> str:
        return dataset_source(value)

    @field_validator("mapping", "inter_loss", mode="before")
    @classmethod
    def _none_spelled_out(cls, value: Any) -> Any:
        """``none`` switches a term off, in a YAML file as on the command line (``--mapping none``)."""
        return None if isinstance(value, str) and value.strip().lower() in {"none", "null", ""} else value

    @field_validator("augment", mode="before")
    @classmethod
    def _split_augment(cls, value: Any) -> Any:
        """Accept "ca,ra,mixup" (CLI, YAML) as well as a list."""
        if isinstance(value, str):
            return tuple(name for name in value.replace("+", ",").replace(" ", ",").split(",") if name)
        return value

    @model_validator(mode="after")
    def _intermediate_is_all_or_nothing(self) -> DistillConfig:
        if (self.mapping is None) != (self.inter_loss is None):
            raise ValueError("set both mapping and inter_loss, or neither (logit-only KD)")
        if self.team is not None:
            if self.mapping is not None:
                raise ValueError("team distillation is prediction-layer KD only; set mapping and inter_loss to null")
            if self.augment:
                raise ValueError("team distillation does not take an augmentation policy; leave augment empty")
            if not self.teacher_cache:
                raise ValueError("team distillation reads its members' logits from caches; leave teacher_cache on")
        return self

    @model_validator(mode="after")
    def _copies_belong_to_cached_mode(self) -> DistillConfig:
        if self.aug_copies is not None and self.aug_mode != "cached":
            raise ValueError("aug_copies counts the cached mode's copies; set aug_mode: cached or leave it unset")
        if self.aug_copies is not None and self.aug_dir:
            raise ValueError("aug_dir's manifest fixes its number of copies; leave aug_copies unset")
        if self.aug_dir and not self.augment:  # without a policy the folder would go unread, and the run unaugmented
            raise ValueError(
                "aug_dir is read by an augmentation policy: set augment to the one the folder was written with "
                "(`autodistill augment` printed it; its manifest.json names it)"
            )
        return self

    @property
    def kept_copies(self) -> int:
        """Augmented copies per example a cached-mode run makes and reuses."""
        return self.aug_copies or self.repeated_aug

    @property
    def weights(self) -> tuple[float, float, float, float]:
        """(β1, γ1, β2, γ2) with the paper's defaults (Appendix G): β = 1; γ = 0.5 when
        augmentation is on, else β2 = γ1 = γ2 = 0."""
        augmenting = bool(self.augment)
        default_gamma = 0.5 if augmenting else 0.0
        beta1 = 1.0 if self.beta1 is None else self.beta1
        gamma1 = default_gamma if self.gamma1 is None else self.gamma1
        beta2 = (1.0 if augmenting else 0.0) if self.beta2 is None else self.beta2
        gamma2 = default_gamma if self.gamma2 is None else self.gamma2
        return beta1, gamma1, beta2, gamma2


def unset_lr(student: str) -> float:
    """The peak rate a run of ``student`` trains at when ``train.lr`` is not set: the student's own
    (:meth:`DistillConfig._student_learning_rate`), else :class:`TrainSettings`' default."""
    own = default_lr(student)
    return TrainSettings.model_fields["lr"].default if own is None else own


def format_validation_error(
    exc: ValidationError, source: str, flag_of: Callable[[tuple[str | int, ...]], str | None] | None = None
) -> str:
    """Pydantic's report as one line naming the first bad field; an unknown key names the
    nearest valid one, so a typo (``epoch``) is one edit away from the fix (``epochs``). Where the
    values came from command-line flags, ``flag_of`` names the flag that set a field, and the line
    names it and the value given, as the user typed them."""
    first = exc.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    flag = flag_of(first["loc"]) if flag_of else None
    if flag and first["type"] != "extra_forbidden":
        return f"{flag} {first.get('input')}: {message}"
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: {where}: unknown key{_nearest_key(exc.title, first['loc'])}"
    return f"{source}: {where}: {message}"


def _nearest_key(title: str, loc: tuple[str | int, ...]) -> str:
    """``"; did you mean 'epochs'?"`` for the closest field of the block holding ``loc``, or the
    block's valid keys when none is close."""
    model = next((m for m in (DistillConfig, TrainSettings, TeamConfig, DataColumns) if m.__name__ == title), None)
    for part in loc[:-1]:  # down the nested blocks: ("train", "epoch") is TrainSettings' key
        info = model.model_fields.get(str(part)) if model else None
        model = _block(info.annotation) if info else None
    if model is None:
        return ""
    valid = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(valid)}"


def _block(annotation: Any) -> type[BaseModel] | None:
    """The config block a field holds (``TeamConfig | None`` -> TeamConfig), None for a value."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file; parse errors say where."""
    path = Path(path)
    if not path.exists():
        raise AutodistillError(f"config file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise AutodistillError(f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise AutodistillError(f"{path}: {where}{getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise AutodistillError(f"{path}: expected a mapping of settings at the top level")
    return data


def merge_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Apply CLI flags over file values; ``train.*`` and ``columns.*`` keys go into their blocks."""
    merged = {**data, "train": dict(data.get("train", {}))}
    columns = dict(data.get("columns") or {})
    for key, value in overrides.items():
        if value is None:
            continue
        if key in TrainSettings.model_fields:
            merged["train"][key] = value
        elif key in DataColumns.model_fields:
            columns[key] = value
        else:
            merged[key] = value
    if columns:
        merged["columns"] = columns
    return merged
