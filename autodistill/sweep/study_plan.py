"""The study's plan: fixed configurations, two fidelities, seeds for a noise floor.

A random search (:mod:`autodistill.sweep.plan`) draws different pipelines on each data set,
so no configuration can be followed across data sets. The study instead runs one fixed list,
:data:`STUDY_CONFIGS`, the same on every data set and with every student, at two budgets
(:data:`FIDELITIES`):

* ``cheap``: the shipped study's budget (192 training examples, 48 tokens, 8 epochs at the
  fresh student's own rate; the layer subset of MiniLM 2 epochs at 3e-4), one seed. The
  shipped runs used the engine's default seed 42 and kept dev scores only; seed 0 makes these
  new trials, so they are run again and scored on test;
* ``realistic``: the whole training split up to :data:`REALISTIC` ``max_train_examples``
  (what a CPU affords), 128 tokens, a learning rate of 5e-4, and as many epochs as the no-KD
  baseline needs to plateau on dev. Not the fresh students' own rate: over the probe's 1,500
  steps ``tiny``'s 2e-3 collapsed to one class on sotu-party and never left chance on
  wordnet-gloss-pair, where 5e-4 learned on both and smoothed spam-assassin's curve
  (the probes' dev curves; docs/sweep.md). That count is found per (data set, student) by
  a probe: the no-KD baseline trained for ``max_epochs``, its dev curve logged
  (:attr:`~autodistill.store.database.TrialRecord.dev_curve`), and :func:`plateau_epochs` read off it;
  every other run of the pair then trains that many epochs.

The noise floor: at the realistic budget every configuration and the no-KD baseline run with
every seed of ``seeds`` (:attr:`Fidelity.every_config_seeded`); a fidelity without that repeats
only the baseline and the fixed defaults (:data:`~autodistill.space.defaults.FIXED_DEFAULTS`).
Sized splits (split version 2) are scored whole at the realistic budget
(:attr:`Fidelity.whole_eval_from`). Students: ``tiny`` (2 x 128, about 5x fewer parameters than
MiniLM-L6's 22.7M) and ``mini`` (4 x 256, 11.2M, about 2x fewer) at both fidelities; the
layer subset ``layers=0,2,4`` (1.3x) only at the cheap one (:data:`CHEAP_ONLY`).

Nothing here runs anything: :mod:`autodistill.sweep.study_run` runs the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from autodistill.bridge import baseline_config, engine_config, make_budget
from autodistill.space import Pipeline
from autodistill.space.defaults import FIXED_DEFAULTS
from autodistill.sweep.plan import Trial
from engine import (
    PRETRAINED_STUDENTS,
    STUDENT_PRESETS,
    AutodistillError,
    TaskData,
    TrainSettings,
    choices_error,
    head_of,
    latest_split_version,
    real_valued,
    text_augmentable,
)


@dataclass(frozen=True)
class StudyConfig:
    """One configuration of the fixed list, and why the list holds it."""

    name: str
    pipeline: Pipeline
    why: str

    def for_task(self, task_type: str) -> Pipeline | None:
        """The configuration as this task type runs it, None where it cannot: a regression head has one
        output (CE prediction loss becomes MSE, as everywhere in the space), and a token-tagging task
        takes no text augmentation (:func:`autodistill.bridge.space_for`)."""
        if self.pipeline.text_augment and not text_augmentable(task_type):
            return None
        return replace(self.pipeline, pred_loss="mse") if real_valued(task_type) else self.pipeline


def _config(name: str, why: str, **fields: object) -> StudyConfig:
    return StudyConfig(name, Pipeline(**{"mapping": "skip", "alpha": None, "pred_loss": "ce", **fields}), why)  # type: ignore[arg-type]


#: The fixed list: the three defaults first, then one change at a time away from them, so that
#: each of the four components (intermediate loss with α, mapping, prediction loss,
#: augmentation) is varied with the others held at TinyBERT's recipe. On regression the
#: prediction-loss contrast coincides with ``mi-alpha`` and is run once; on token tagging the
#: text-augmentation contrast cannot run (rewritten words would misalign the tags) and is left out.
STUDY_CONFIGS: tuple[StudyConfig, ...] = (
    StudyConfig("logit", FIXED_DEFAULTS["logit"], "fixed default: logit KD alone, the reference recipe"),
    StudyConfig("tinybert", FIXED_DEFAULTS["tinybert"], "fixed default: TinyBERT's MSE / Skip / CE"),
    StudyConfig("mi-alpha", FIXED_DEFAULTS["mi-alpha"], "fixed default: the paper's MI-α (0.711) / Skip / CE"),
    _config("mi-alpha-low", "α: MI-α at 0.1, the other end of Appendix H's α", inter_loss="mi", alpha=0.1),
    _config("cos", "intermediate loss: cosine instead of MSE", inter_loss="cos"),
    _config("pkd", "intermediate loss: PKD", inter_loss="pkd"),
    _config("ce-inter", "intermediate loss: CE, common in the authors' runs", inter_loss="ce"),
    _config("mse-last", "mapping: Last instead of Skip", inter_loss="mse", mapping="last"),
    _config("mse-emd", "mapping: EMD (many-to-many) instead of Skip", inter_loss="mse", mapping="emd"),
    _config(
        "mi-alpha-mse-pred",
        "prediction loss: MSE on logits under the MI-α recipe",
        inter_loss="mi",
        alpha=FIXED_DEFAULTS["mi-alpha"].alpha,
        pred_loss="mse",
    ),
    _config("tinybert-mixup", "augmentation: mixup on embeddings (§3.1)", inter_loss="mse", augment=("mixup",)),
    _config("tinybert-ra", "augmentation: EDA-style random text edits, p 0.3", inter_loss="mse", augment=("ra",)),
)

#: Configurations the patient budget adds to the fixed list: augmentation under logit KD, the change
#: Beyer et al. (2022) found to pay off when KD trains long ("a good teacher is patient and consistent").
#: Their text copies are cached (:attr:`Fidelity.cached_copies`), so the teacher runs once on each.
AUGMENTED_CONFIGS: tuple[StudyConfig, ...] = (
    _config("logit-ra", "augmentation under logit KD: cached EDA-style copies", mapping="none", inter_loss="none",
            augment=("ra",), aug_p=0.1),
    _config("logit-mixup", "augmentation under logit KD: mixup on embeddings", mapping="none", inter_loss="none",
            augment=("mixup",)),
)  # fmt: skip


def task_type_of(kind: str) -> str:
    """A stored run's task kind as its task type (``pair-classification`` is classification)."""
    return head_of(kind.removeprefix("pair-")).name


def study_names(config: Pipeline, kind: str, configs: Sequence[StudyConfig] = STUDY_CONFIGS) -> list[str]:
    """The names ``config`` has among ``configs`` on a data set of task ``kind``: none for a run off the
    list, two for MI-α on regression (where the prediction-loss contrast coincides with it)."""
    task = task_type_of(kind)
    return [c.name for c in configs if c.for_task(task) == config]


#: Students run at the realistic budget; the layer subset (1.3x smaller) stays at the cheap one.
STUDENTS: tuple[str, ...] = ("tiny", "mini")
CHEAP_ONLY: tuple[str, ...] = ("layers=0,2,4",)


@dataclass(frozen=True)
class Fidelity:
    """A study budget. ``epochs`` None: found per (data set, student) by the no-KD probe of ``max_epochs``."""

    name: str
    max_train_examples: int
    max_length: int
    max_eval_examples: int
    epochs: int | None
    max_epochs: int
    seeds: tuple[int, ...]
    lr: float | None = None  # None: the student's default rate
    #: Every configuration runs with every seed; False: only the defaults and no-KD do.
    every_config_seeded: bool = False
    #: From this split version on, dev and test are read whole: they were sized to resolve the
    #: study's differences, and a cap would also score each seed on a different sample of them.
    #: None: ``max_eval_examples`` caps every split version.
    whole_eval_from: int | None = None
    #: Learning rates of named students that differ from ``lr`` (a pretrained student's own).
    student_lr: tuple[tuple[str, float], ...] = ()
    #: Text augmentation makes this many copies of each example once and caches the teacher's outputs
    #: on them (``aug_mode: cached``); None: fresh copies every epoch, as the paper.
    cached_copies: int | None = None
    #: Configurations run beside the fixed list at this budget.
    extra_configs: tuple[StudyConfig, ...] = ()

    def budget(self, student: str, *, seed: int, epochs: int | None = None, split_version: int = 1) -> TrainSettings:
        """The per-trial budget; with ``lr`` None it is left unset, so a fresh student trains at its own rate."""
        whole = self.whole_eval_from is not None and split_version >= self.whole_eval_from
        fields: dict[str, object] = {
            "max_train_examples": self.max_train_examples,
            "max_length": self.max_length,
            "max_eval_examples": None if whole else self.max_eval_examples,
            "epochs": epochs or self.epochs or self.max_epochs,
            "seed": seed,
            "lr": dict(self.student_lr).get(student, self.lr),
        }
        if student.startswith("layers") and self.name == "cheap":
            fields.update(epochs=2, lr=3e-4)  # pretrained layers: the shipped study's budget for them
        return make_budget(**fields)


CHEAP = Fidelity("cheap", max_train_examples=192, max_length=48, max_eval_examples=200, epochs=8, max_epochs=8,
                 seeds=(0,), student_lr=tuple((name, shape.lr) for name, shape in STUDENT_PRESETS.items()))  # fmt: skip
#: 2,000 examples of 128 tokens: a tiny-student epoch takes minutes on one CPU core; the first
#: splits' dev and test are read up to 1,000 examples each, the sized ones (version 2) whole, and
#: every configuration runs with all three seeds, so each one carries its own seed spread. A
#: general-distilled student trains at the rate its probe chose, as at the patient budget.
REALISTIC = Fidelity("realistic", max_train_examples=2000, max_length=128, max_eval_examples=1000, epochs=None,
                     max_epochs=12, seeds=(0, 1, 2), lr=5e-4, every_config_seeded=True, whole_eval_from=2,
                     student_lr=tuple((name, s.lr) for name, s in PRETRAINED_STUDENTS.items()))  # fmt: skip
#: The Distiller paper's regime (§4, Appendix G): 20 epochs, the best by dev, for a pretrained student
#: as for a fresh one; augmented copies made once and cached, so the teacher runs once on each.
#: ``tiny-gd`` (general-distilled ``tiny``) trains at the rate its probe on dev chose.
PATIENT = Fidelity("patient", max_train_examples=2000, max_length=128, max_eval_examples=1000, epochs=20,
                   max_epochs=20, seeds=(0, 1, 2), lr=5e-4, every_config_seeded=True, whole_eval_from=2,
                   student_lr=tuple((name, s.lr) for name, s in PRETRAINED_STUDENTS.items()),
                   cached_copies=4, extra_configs=AUGMENTED_CONFIGS)  # fmt: skip
FIDELITIES: dict[str, Fidelity] = {f.name: f for f in (CHEAP, REALISTIC, PATIENT)}
#: Configurations repeated with every seed of a fidelity that does not seed every configuration.
REPEATED = tuple(FIXED_DEFAULTS)
#: The name ``--configs`` takes for the student trained alone, the baseline of every sweep.
BASELINE_NAME = "no-kd"


def fidelity(name: str, *, seeds: int | None = None, **overrides: int | None) -> Fidelity:
    """A fidelity by name, with budget fields replaced (a smoke run's tiny budget); None keeps a field.

    ``seeds`` runs seeds 0 to ``seeds`` - 1: more where three leave a data set's noise above what
    its claims need. The first three keep their trial ids, so a finished sweep resumes with the rest."""
    if name not in FIDELITIES:
        raise choices_error("fidelity", name, tuple(FIDELITIES))
    if seeds is not None and seeds < 1:
        raise AutodistillError(f"--seeds must be at least 1, got {seeds}")
    chosen = replace(FIDELITIES[name], **{k: v for k, v in overrides.items() if v is not None})
    return chosen if seeds is None else replace(chosen, seeds=tuple(range(seeds)))


def check_students(students: Sequence[str], chosen: Fidelity) -> None:
    """The layer subset barely compresses; it is studied at the cheap budget only."""
    refused = [s for s in students if s in CHEAP_ONLY and chosen.name != "cheap"]
    if refused:
        raise AutodistillError(f"student {refused[0]} runs at the cheap fidelity only; use {', '.join(STUDENTS)}")


@dataclass(frozen=True)
class Plateau:
    """Where a dev curve stops improving: ``epochs`` to train, and whether the curve showed it."""

    epochs: int
    plateaued: bool


def plateau_epochs(curve: Sequence[float], *, tolerance: float = 0.01, patience: int = 2) -> Plateau:
    """The first epoch whose dev score is within ``tolerance`` of the curve's best.

    It has plateaued when ``patience`` or more epochs follow it without a gain beyond the
    tolerance; a curve still climbing at its end keeps every epoch (not plateaued), so the
    study can say its budget may be short rather than stop early.
    """
    if not curve:
        raise AutodistillError("an empty dev curve has no plateau")
    best = max(curve)
    first = next(epoch for epoch, score in enumerate(curve, start=1) if score >= best - tolerance)
    return Plateau(first, len(curve) - first >= patience)


def probe_trial(dataset: str, student: str, chosen: Fidelity, teacher: str) -> Trial:
    """The no-KD baseline trained ``max_epochs`` at the first seed, whose dev curve sets the pair's epochs."""
    budget = chosen.budget(
        student, seed=chosen.seeds[0], epochs=chosen.max_epochs, split_version=latest_split_version(dataset)
    )
    engine = baseline_config(dataset, teacher=teacher, student=student, budget=budget)
    return Trial.make("finetune", engine, student, fidelity=chosen.name)


def select_configs(names: Sequence[str] | None, chosen: Fidelity | None = None) -> tuple[StudyConfig, ...]:
    """The fixed list with ``chosen``'s extra configurations, or the named part of them.

    ``no-kd`` names the student trained alone, which every sweep runs as its baseline: alone it asks
    for the baselines only (the check of a student's initialisation needs nothing else)."""
    every = STUDY_CONFIGS + (chosen.extra_configs if chosen else ())
    if not names:
        return every
    known = {c.name: c for c in every}
    for name in names:
        if name not in known and name != BASELINE_NAME:
            raise choices_error("study configuration", name, (BASELINE_NAME, *known))
    return tuple(known[name] for name in names if name != BASELINE_NAME)


def pair_trials(
    dataset: str,
    task_type: str,
    student: str,
    chosen: Fidelity,
    epochs: int | None,
    *,
    teacher: str,
    configs: Sequence[StudyConfig] = STUDY_CONFIGS,
) -> list[Trial]:
    """One (data set, student)'s baselines and configurations: the defaults and the baseline with every seed."""
    trials = []
    for seed in chosen.seeds:
        budget = chosen.budget(student, seed=seed, epochs=epochs, split_version=latest_split_version(dataset))
        engine = baseline_config(dataset, teacher=teacher, student=student, budget=budget)
        trials.append(Trial.make("finetune", engine, student, fidelity=chosen.name))
        for config in configs:
            if seed != chosen.seeds[0] and not chosen.every_config_seeded and config.name not in REPEATED:
                continue
            pipeline = config.for_task(task_type)
            if pipeline is None:
                continue
            cached = chosen.cached_copies if pipeline.text_augment else None
            engine = engine_config(
                pipeline, dataset, teacher=teacher, student=student, budget=budget, cached_copies=cached
            )
            trials.append(Trial.make("distill", engine, student, pipeline, fidelity=chosen.name))
    return trials


def study_plan(
    tasks: Mapping[str, TaskData],
    students: Sequence[str],
    chosen: Fidelity,
    epochs: Mapping[tuple[str, str], int],
    *,
    teacher: str,
    configs: Sequence[StudyConfig] = STUDY_CONFIGS,
) -> list[Trial]:
    """The study's trials at one fidelity, a pure function of its arguments.

    ``epochs`` holds the plateau epochs found so far per (data set, student); at a fidelity
    without fixed epochs a pair not in it gets its probe only (run it, then plan again).
    """
    check_students(students, chosen)
    trials: dict[str, Trial] = {}
    for dataset, task in tasks.items():
        for student in students:
            found = epochs.get((dataset, student))
            if chosen.epochs is None and found is None:
                planned = [probe_trial(dataset, student, chosen, teacher)]
            else:
                planned = pair_trials(
                    dataset, task.spec.task_type, student, chosen, found, teacher=teacher, configs=configs
                )
            for trial in planned:
                trials.setdefault(trial.trial_id, trial)  # a regression task's MSE forms coincide once
    return list(trials.values())
