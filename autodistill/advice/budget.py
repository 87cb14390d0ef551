"""The budget as a choice: a fixed-list configuration at the study's patient budget against logit KD at this one.

The Distiller paper distilled for 20 epochs; the study's realistic budget stops at the no-KD
baseline's plateau (1-3 epochs). The study ran its fixed list at both budgets on a few data sets (the
patient runs ship in ``meta_data/patient/study.sqlite``), so training longer is one more thing advice
can pick: a configuration of the list for 20 epochs, its text augmentation as cached copies. Its gain
is measured against what every gain is measured from, logit KD at the budget the advice is made at:
per (data set, student) pair, the patient runs' mean dev ratio minus the realistic logit KD runs'
(same teacher and split version), and the multiple of the minutes. On a data set that ran both
budgets the gain is read off its own seeds, a lead counting beyond :data:`OWN_Z` standard errors as
:func:`autodistill.advice.gain.own_leads` counts one; on a new data set it is predicted from the other
pairs whose students started as the target's does (as :mod:`autodistill.advice.alone` predicts training
alone), each configuration read against the one run on most pairs (:func:`anchored_estimates`).

Dev ratios only: the test split chooses nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from autodistill.advice.alone import baseline_rows
from autodistill.advice.cost import run_seconds, waited
from autodistill.advice.gain import OWN_Z, GainEstimate, gains_over, measured_estimate
from autodistill.advice.recommendation import Pick
from autodistill.space import Pipeline
from autodistill.store.configurations import is_logit_kd
from autodistill.store.database import RunStore
from autodistill.store.records import pipeline_of
from autodistill.sweep.study_plan import PATIENT, STUDY_CONFIGS, StudyConfig, study_names, task_type_of
from engine import DistillConfig, TrainSettings, from_scratch, paths

#: The study's patient runs, as ``python -m study.patient`` reads them.
PATIENT_STORE = paths.META_DATA / "patient" / "study.sqlite"
#: The budgets compared: the one advice is given at, and the longer one.
REALISTIC = "realistic"
#: The configurations the patient budget runs, by their names in the study's list.
PATIENT_LIST = (*STUDY_CONFIGS, *PATIENT.extra_configs)
#: Fewer (data set, student) pairs than this ran a configuration at both budgets, and nothing is predicted.
MIN_PAIRS = 3
_PAIR = ["dataset", "teacher_name", "student_name", "split_version"]
#: A variance floor where a blend divides by one: a part read off identical values is not certainty.
_FLOOR = 1e-8
#: The arm every gain is measured from: logit KD at the realistic budget.
REFERENCE = "logit KD at the realistic budget"


@dataclass(frozen=True)
class BudgetGain:
    """A fixed-list configuration at the patient budget against logit KD at this one."""

    name: str  # its name in the study's list (:data:`PATIENT_LIST`)
    gain: GainEstimate
    #: Its minutes as a multiple of realistic logit KD's (median wall times).
    times: float
    epochs: int
    #: Whether the evidence backs it over logit KD: a lead beyond :data:`OWN_Z` standard errors on the
    #: data set's own runs, or a predicted interval wholly above zero.
    backed: bool
    #: Read off the data set's own runs rather than predicted from other pairs'.
    measured: bool = False
    #: Predicted: the configuration its gain was read beside and that one's pairs (:func:`anchored_estimates`).
    anchor: tuple[str, int] | None = None
    #: Predicted: the students of the pairs it was predicted from (a new student borrows its kind's evidence).
    students: tuple[str, ...] = ()
    #: Predicted: the target's task type and how many of those pairs were of it (:func:`anchored_estimates`).
    same_task: tuple[str, int] | None = None
    #: Predicted: the multiples of logit KD's minutes that held the central :data:`TIMES_HELD` of its pairs.
    times_range: tuple[float, float] | None = None

    def pipeline(self, task_type: str) -> Pipeline | None:
        """The configuration as a data set of ``task_type`` runs it (None where it cannot)."""
        return self._listed.for_task(task_type)

    @property
    def _listed(self) -> StudyConfig:
        (config,) = [c for c in PATIENT_LIST if c.name == self.name]
        return config

    @property
    def evidence(self) -> str:
        """What backs its gain, in words."""
        if self.measured:
            return f"this data set's own runs at {self.epochs} epochs against logit KD's at this budget (dev)"
        pairs = f"{self.gain.support} other (data set, student) pairs{self._of_students}{self._of_task}"
        beside = (
            f", read beside {self.anchor[0]}'s {self.anchor[1]}" if self.anchor and self.anchor[0] != self.name else ""
        )
        return f"{pairs} that ran it for {self.epochs} epochs and logit KD at this budget{beside} (dev)"

    @property
    def line(self) -> str:
        """What the verdict says where it goes first (the pick's line names it, with its interval)."""
        where = f"{self.gain.support} other pairs' runs{self._of_students}"
        where = "this data set's own runs" if self.measured else where
        return (
            f"training longer beats logit KD at this budget on {where} ({self.name} of the study's list; "
            f"{self.times:.0f}x the minutes)"
        )

    @property
    def _of_students(self) -> str:
        return f" of {', '.join(self.students)}" if self.students else ""

    @property
    def _of_task(self) -> str:
        if self.same_task is None:
            return ""
        task, n = self.same_task
        return f" ({n or 'none'} of them on {task} tasks)"

    @property
    def copies(self) -> int | None:
        """Augmented copies made once and cached, as the patient runs made them (None: no text augmentation)."""
        return PATIENT.cached_copies if self._listed.pipeline.text_augment else None


def patient_runs(path: Path = PATIENT_STORE) -> pd.DataFrame:
    """The shipped patient runs (an empty frame where the file is missing)."""
    if not path.exists():
        return pd.DataFrame()
    with RunStore(path, read_only=True) as store:
        return store.runs(source="ours")


def patient_baselines(path: Path = PATIENT_STORE) -> pd.DataFrame:
    """The shipped patient file's runs of the student alone (:func:`autodistill.advice.alone.baseline_rows`;
    an empty frame where the file is missing)."""
    if not path.exists():
        return pd.DataFrame()
    with RunStore(path, read_only=True) as store:
        return baseline_rows(store.trials(source="ours"))


def with_references(
    runs: pd.DataFrame, baselines: pd.DataFrame, patient: pd.DataFrame, patient_alone: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``runs`` and ``baselines`` with the patient file's realistic-budget rows added once each. The
    pretrained students' logit KD and no-KD runs at the realistic budget were made for the patient
    study and ship in its file, not in the realistic study's; advice on a pretrained student reads
    whether to distil at all, and the probe's cut, from them."""
    if patient.empty or patient_alone.empty:
        return runs, baselines
    more_runs = pd.concat([runs, patient[patient["fidelity"] == REALISTIC]], ignore_index=True)
    more_alone = pd.concat([baselines, patient_alone[patient_alone["fidelity"] == REALISTIC]], ignore_index=True)
    return more_runs.drop_duplicates("run_id"), more_alone.drop_duplicates("trial_id")


def budget_runs(*frames: pd.DataFrame) -> pd.DataFrame:
    """The runs of ``frames`` (runs tables) that a budget comparison reads, once each, with its
    ``arm``: logit KD at the realistic budget (the reference), or a list configuration's name at the
    patient one; runs off the list are left out. Each keeps its :func:`~autodistill.advice.cost.run_seconds`
    (``seconds``) and whether it :func:`~autodistill.advice.cost.waited` for its cores, which
    :func:`arm_seconds` reads."""
    columns = ["run_id", *_PAIR, "task_kind", "arm", "ratio", "seconds", "waited", "epochs"]
    parts = []
    for frame in (f for f in frames if not f.empty):
        reference = frame[(frame["fidelity"] == REALISTIC) & is_logit_kd(frame)].assign(arm=REFERENCE)
        longer = frame[frame["fidelity"] == PATIENT.name]
        longer = longer.assign(arm=[_name(row) for row in longer.to_dict("records")]).dropna(subset=["arm"])
        parts += [
            part.assign(seconds=run_seconds, waited=waited)[columns] for part in (reference, longer) if not part.empty
        ]
    runs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    runs = runs.dropna(subset=["ratio"]).drop_duplicates("run_id")  # a store may hold the shipped runs too
    return runs.assign(split_version=runs["split_version"].fillna(1).astype(int))


def arm_seconds(runs: pd.DataFrame, by: list[str]) -> pd.Series:
    """The median seconds of :func:`budget_runs`' ``runs`` per group ``by``, over the runs that did not
    wait for their cores (all of a group's where every one did): the cost model leaves such runs out of
    its fit for the same reason, and a multiple of minutes read off a patient run on an idle core over a
    realistic one on a shared machine would promise a longer budget for less than it costs."""
    everything = runs.groupby(by)["seconds"].median()
    calm = runs[~runs["waited"].astype(bool)].groupby(by)["seconds"].median()
    return calm.reindex(everything.index).fillna(everything)


def times_reference(runs: pd.DataFrame, arm: str) -> float:
    """``arm``'s :func:`arm_seconds` as a multiple of realistic logit KD's, over one pair's :func:`budget_runs`."""
    seconds = arm_seconds(runs, ["arm"])
    return float(seconds[arm] / seconds[REFERENCE])


def _name(row: dict) -> str | None:
    """A run's first name in the study's list (MI-α on regression has two), None off the list."""
    names = study_names(pipeline_of(row), row["task_kind"], PATIENT_LIST)
    return names[0] if names else None


def budget_gains(runs: pd.DataFrame) -> pd.DataFrame:
    """Per pair and list configuration that ran at the patient budget, in :func:`budget_runs`' ``runs``
    beside realistic logit KD: the patient mean dev ratio minus logit KD's (``gain``), the ratio of
    their :func:`arm_seconds` (``times``), the patient epochs and the data set's task type."""
    columns = [*_PAIR, "name", "gain", "times", "epochs", "task_type"]
    per = runs.groupby([*_PAIR, "arm"]).agg(ratio=("ratio", "mean"), epochs=("epochs", "max"))
    per = per.assign(seconds=arm_seconds(runs, [*_PAIR, "arm"]))
    per = per.reset_index("arm")
    reference = per[per["arm"] == REFERENCE]
    longer = per[per["arm"] != REFERENCE].join(reference, rsuffix="_ref", how="inner")
    if longer.empty:
        return pd.DataFrame(columns=columns)
    gains = pd.DataFrame(
        {
            "name": longer["arm"],
            "gain": longer["ratio"] - longer["ratio_ref"],
            "times": longer["seconds"] / longer["seconds_ref"],
            "epochs": longer["epochs"].astype(int),
        }
    ).reset_index()
    kinds = runs.drop_duplicates("dataset").set_index("dataset")["task_kind"]
    return gains.assign(task_type=gains["dataset"].map(kinds).map(task_type_of))[columns]


def longer_budget(runs: pd.DataFrame, dataset: str, teacher: str, student: str, task_type: str) -> BudgetGain | None:
    """The best list configuration at the patient budget for ``dataset`` (a :func:`budget_runs` frame):
    read off its own runs where its pair ran both budgets (the largest lead), else predicted from the
    other pairs whose students started as ``student`` does (the highest interval); None where neither
    has a configuration that ``task_type`` can run."""
    runnable = {c.name for c in PATIENT_LIST if c.for_task(task_type) is not None}
    runs = runs[runs["arm"].isin(runnable | {REFERENCE})]
    own = runs[(runs["dataset"] == dataset) & (runs["teacher_name"] == teacher) & (runs["student_name"] == student)]
    if own["arm"].eq(REFERENCE).any() and own["arm"].ne(REFERENCE).any():
        return _own_best(own[own["split_version"] == own.loc[own["arm"] == REFERENCE, "split_version"].max()])
    gains = budget_gains(runs[runs["dataset"] != dataset])
    fresh = from_scratch(student)
    alike = gains[gains["student_name"].map(from_scratch) == fresh]
    anchored = anchored_estimates(alike, task_type)
    found = [
        BudgetGain(name, estimate, float(group["times"].median()), int(group["epochs"].max()), estimate.clears,
                   anchor=anchored.anchor, students=tuple(sorted(set(group["student_name"]))),
                   same_task=(task_type, anchored.same_task[name]), times_range=_held(group["times"]))
        for name, group in alike.groupby("name")
        if name in anchored.estimates
        for estimate in [anchored.estimates[name]]
    ]  # fmt: skip
    return max(found, key=lambda b: (b.gain.low, b.gain.mean)) if found else None


#: The share of the pairs' multiples of logit KD's minutes that a longer pick's range of minutes holds, as the
#: cost model's range holds that share of held-out runs.
TIMES_HELD = 0.8


def _held(times: pd.Series) -> tuple[float, float]:
    """The central :data:`TIMES_HELD` of ``times``: how far one more pair's multiple may fall from the median
    (two seeds' wall times on one machine differ, and a data set's length moves the teacher's share)."""
    tail = (1 - TIMES_HELD) / 2
    return float(times.quantile(tail)), float(times.quantile(1 - tail))


@dataclass(frozen=True)
class Anchored:
    """Configurations' gains on a new pair (:func:`anchored_estimates`) and what they were read beside."""

    estimates: dict[str, GainEstimate]
    anchor: tuple[str, int] | None = None  # the configuration run on most pairs, and how many
    #: Per configuration, how many of its pairs were of the target's task type.
    same_task: dict[str, int] = field(default_factory=dict)


def anchored_estimates(gains: pd.DataFrame, task_type: str) -> Anchored:
    """Each configuration's gain on a new pair of ``task_type``, from :func:`budget_gains` rows of other
    pairs, for those that ran on at least :data:`MIN_PAIRS` of them.

    The study ran some configurations on every pair and the rest on a few, and a pair's gains move
    together (training longer pays more on some data sets than others), so each configuration's own
    mean and spread would compare configurations on different pairs, and one run on three pairs where
    everything gained would beat one run on ten. So the configuration run on the most pairs is the
    anchor: a configuration's gain is the anchor's plus the configuration's difference from the anchor
    on the pairs both ran.

    Both parts are read by task type (:func:`_typed`): what a configuration does on tagging sets need
    not hold on span sets (mixup did not), so pairs of the target's type speak first, and other types'
    pairs as a prior whose spread between types is measured on the configurations run on several. A
    type no pair had is predicted from the other types with that spread added. The interval is that
    uncertainty plus the spread of one more pair around its type's mean, as
    :func:`~autodistill.advice.gain.new_draw_estimate` widens one."""
    wide = gains.pivot_table(index=[*_PAIR, "task_type"], columns="name", values="gain")
    counts = wide.notna().sum()
    listed = [c.name for c in PATIENT_LIST]
    anchor = max(counts.index, key=lambda name: (counts[name], -listed.index(name)), default=None)
    if anchor is None or counts[anchor] < MIN_PAIRS:
        return Anchored({})
    parts = wide.sub(wide[anchor], axis=0).assign(**{anchor: wide[anchor]})  # the anchor, and differences from it
    within, between = _type_spreads(parts)
    scatter = _type_spreads(wide)[0]  # one more pair's gain around its type's mean
    base = _typed(parts[anchor], task_type, within, between)
    types = wide.index.get_level_values("task_type")
    out, same = {}, {}
    for name in counts[counts >= MIN_PAIRS].index:
        if parts[name].notna().any():  # never beside the anchor: nothing to read its difference from
            part = (0.0, 0.0) if name == anchor else _typed(parts[name], task_type, within, between)
            mean, variance = base[0] + part[0], base[1] + part[1]
            out[str(name)] = measured_estimate(float(mean), float(np.sqrt(variance + scatter)), int(counts[name]))
            same[str(name)] = int((wide[name].notna() & (types == task_type)).sum())
    return Anchored(out, (str(anchor), int(counts[anchor])), same)


def _type_spreads(values: pd.DataFrame) -> tuple[float, float]:
    """The variances of ``values`` (pairs by configuration) within a task type, pooled over the
    (configuration, type) cells of two or more pairs, and between types: the spread of a configuration's
    type means, pooled over configurations seen on two or more types, less what the within-type spread
    puts into those means (zero where no configuration was seen on two types)."""
    long = values.melt(value_name="value", ignore_index=False).dropna().reset_index()
    cells = long.groupby(["name", "task_type"])["value"].agg(["mean", "var", "size"])
    repeated = cells[cells["size"] > 1]
    within = float(np.average(repeated["var"], weights=repeated["size"] - 1)) if not repeated.empty else 0.0
    per = cells.assign(noise=within / cells["size"]).groupby(level="name")
    spread = pd.DataFrame({"var": per["mean"].var(), "types": per.size(), "noise": per["noise"].mean()})
    several = spread[spread["types"] > 1]
    if several.empty:
        return within, 0.0
    between = np.average(several["var"] - several["noise"], weights=several["types"] - 1)
    return within, max(float(between), 0.0)


def _typed(values: pd.Series, task_type: str, within: float, between: float) -> tuple[float, float]:
    """The mean and variance of ``values`` (one configuration's, per pair) on a new pair of ``task_type``:
    the precision-weighted blend of the mean over that type's pairs and the mean of the other types'
    means, which stands for a new type's mean with the between-type variance added."""
    seen = values.dropna()
    kinds = seen.index.get_level_values("task_type")
    own, others = seen[kinds == task_type], seen[kinds != task_type].groupby(level="task_type").agg(["mean", "size"])
    estimates = []
    if not own.empty:
        estimates.append((float(own.mean()), within / len(own)))
    if not others.empty:
        k = len(others)
        noise = within * float((1 / others["size"]).mean()) / k
        estimates.append((float(others["mean"].mean()), between * (1 + 1 / k) + noise))
    precision = sum(1 / max(v, _FLOOR) for _, v in estimates)
    return sum(m / max(v, _FLOOR) for m, v in estimates) / precision, 1 / precision


def _own_best(own: pd.DataFrame) -> BudgetGain | None:
    """The largest gain over realistic logit KD among a pair's own patient runs (one split version)."""
    scores = own.rename(columns={"arm": "config"})
    measured = gains_over(scores[["config", "ratio"]], REFERENCE)
    if not measured:
        return None
    name, gain, se = max(measured, key=lambda found: found[1])
    epochs = int(own.loc[own["arm"] == name, "epochs"].max())
    backed = se > 0 and gain > OWN_Z * se
    return BudgetGain(name, measured_estimate(gain, se), times_reference(own, name), epochs, backed, measured=True)


def longer_pick(
    longer: BudgetGain | None,
    engine_of: Callable[..., DistillConfig],
    budget: TrainSettings,
    task_type: str,
    logit_minutes: float | None,
    logit_range: tuple[float, float] | None = None,
) -> Pick | None:
    """``longer`` as a pick for a data set of ``task_type`` (None where it cannot run it): its engine
    config (``engine_of``, :func:`autodistill.bridge.engine_config` bound to the data set and models)
    at ``budget`` with its epochs, text augmentation made once and cached as the patient runs made it;
    its minutes that multiple of logit KD's predicted ``logit_minutes`` here, with a range that holds
    both what is unsure (:func:`_times_range`): logit KD's minutes here (``logit_range``, the cost
    model's) and the multiple, where it was predicted from other pairs (:data:`TIMES_HELD`)."""
    config = longer.pipeline(task_type) if longer is not None else None
    if longer is None or config is None:
        return None
    at = budget.model_copy(update={"epochs": longer.epochs})
    engine = engine_of(config, budget=at, cached_copies=longer.copies).model_dump(mode="json")
    minutes = None if logit_minutes is None else logit_minutes * longer.times
    held = None if minutes is None else _times_range(minutes, logit_minutes, logit_range, longer)
    return Pick(0, config, engine, reason=longer.evidence, minutes=minutes, minutes_range=held, gain=longer.gain)


def _times_range(
    minutes: float, logit_minutes: float, logit_range: tuple[float, float] | None, longer: BudgetGain
) -> tuple[float, float] | None:
    """The range of ``minutes`` (logit KD's predicted minutes times ``longer``'s multiple): each end's
    distance from it in log minutes is the root of the sum of squares of logit KD's range's and the
    multiple's (two errors apart, at one level), so that a range reads both; None where neither is known."""
    if logit_range is None and longer.times_range is None:
        return None

    def spread(low: float, point: float, high: float) -> tuple[float, float]:
        return max(math.log(point / low), 0.0), max(math.log(high / point), 0.0)

    logit = spread(logit_range[0], logit_minutes, logit_range[1]) if logit_range is not None else (0.0, 0.0)
    times = spread(longer.times_range[0], longer.times, longer.times_range[1]) if longer.times_range else (0.0, 0.0)
    return minutes / math.exp(math.hypot(logit[0], times[0])), minutes * math.exp(math.hypot(logit[1], times[1]))
