"""What the store's runs say about a pipeline on a new data set: its cost and its gain over logit KD.

recommend asks two questions of every pipeline it may print: how many minutes it will take here
(:mod:`autodistill.advice.cost`) and how much it is expected to gain over logit KD, with what
uncertainty (:mod:`autodistill.advice.gain`). Both models are fitted on the runs advice learns
from; gains only on runs at the same budget class as the recommendation (a cheap budget's ranking
says little about a realistic one's), and only where the store ran logit KD beside them. Where the
store holds the target data set's own runs, a configuration that led logit KD there beyond the noise
is evidence of its own (:func:`autodistill.advice.gain.own_leads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pandas as pd

from autodistill.advice.alone import AloneLead, alone_lead, default_pairs, predicted_alone
from autodistill.advice.budget import BudgetGain, budget_runs, longer_budget
from autodistill.advice.cost import (
    CostModel,
    cached_cost_model,
    candidate_rows,
    cost_columns,
    input_words,
    model_sizes,
    run_setting,
)
from autodistill.advice.gain import GainEstimate, GainModel, OwnLead, observed_gains, own_leads
from autodistill.advice.probe import Probe, read_probe
from autodistill.space import Pipeline
from autodistill.store.records import ModelDescriptor
from autodistill.store.schema import fidelity_of
from engine import TaskData, dataset_family, from_scratch

#: Fewer (configuration, setting) gains than this, or fewer settings, or no configuration run in two
#: settings, and no gain is predicted.
MIN_GAINS, MIN_SETTINGS = 10, 2


@dataclass(frozen=True)
class Evidence:
    """The fitted cost and gain models for one target, and the target's cost-model setting."""

    cost: CostModel | None  # None: too few timed runs (on this machine's kind of device) to predict minutes from
    gains: GainModel | None  # None: too few comparable runs (see :attr:`missing`)
    setting: dict[str, object]
    missing: str  # why there is no gain model ("" when there is one)
    #: Configurations that led logit KD beyond the noise on the target data set's own runs, largest first.
    own: tuple[OwnLead, ...] = ()
    #: The student trained alone, where it led logit KD beyond the noise on those runs.
    alone: AloneLead | None = None
    #: The student trained alone, as other (data set, student) pairs started alike predict it against logit KD.
    alone_predicted: GainEstimate | None = None
    #: The best list configuration at the study's patient budget against logit KD at this one: measured on
    #: the data set's own runs, else as other pairs started alike predict it (:mod:`autodistill.advice.budget`).
    patient: BudgetGain | None = None
    #: One run of the student alone here against the threshold other pairs set (:mod:`autodistill.advice.probe`).
    probe: Probe | None = None

    def minutes(self, pipelines: list[Pipeline]) -> list[tuple[float | None, tuple[float, float] | None]]:
        """Each pipeline's predicted wall minutes on the target and their range on a new data set
        (None each without a cost model; a range None where the cost model has none)."""
        if self.cost is None:
            return [(None, None)] * len(pipelines)
        seconds, ranges = self.cost.predict(candidate_rows(pipelines, self.setting))
        return [
            (float(s) / 60, None if r is None else (r[0] / 60, r[1] / 60)) for s, r in zip(seconds, ranges, strict=True)
        ]

    def gain(self, pipelines: list[Pipeline]) -> list[GainEstimate | None]:
        """Predicted gain over logit KD of each pipeline (None each without a gain model)."""
        return self.gains.estimate(pipelines) if self.gains is not None else [None] * len(pipelines)


def gather_evidence(
    runs: pd.DataFrame,
    task: TaskData,
    models: tuple[ModelDescriptor, ModelDescriptor],
    at_budget: dict[str, int],
    max_eval_examples: int | None,
    baselines: pd.DataFrame | None = None,
    patient: pd.DataFrame | None = None,
    probe: float | None = None,
) -> Evidence:
    """Fit both models on ``runs`` for a target ``task`` distilled by ``models`` (student, teacher), at
    budget ``at_budget`` with its cap on dev examples scored per epoch; minutes are for runs on this
    machine's device, from the store's runs on its kind of device; ``baselines``: the no-KD baselines
    of the data sets ``runs`` hold (:func:`autodistill.advice.alone.baseline_rows`), for whether to
    distil at all, on other data sets' evidence and on the target's own; ``patient``: runs at the study's
    patient budget (:func:`autodistill.advice.budget.patient_runs`), for what a longer budget buys;
    ``probe``: the target's probe (:func:`autodistill.advice.probe.own_probe`), read against the
    threshold the other pairs set."""
    task_kind, name = task.spec.kind, task.spec.name
    setting = {
        **model_sizes(*models),
        **at_budget,
        **run_setting(max_eval_examples, len(task.dev)),
        "task_kind": task_kind,
        "input_words": input_words(task.train),
    }
    cost = cached_cost_model(cost_columns(runs), str(setting["device"]), dataset_family)
    cheap = fidelity_of(at_budget["train_examples"], at_budget["max_length"]) == "cheap"
    same_class = runs[(runs["fidelity"] == "cheap") == cheap]
    student, teacher = models
    own = own_leads(same_class, name, teacher.name, student.name)
    # A student from random weights and one from pretrained ones gain differently from KD: gains are read
    # from runs of students started as this one is, or not at all.
    fresh = from_scratch(student.name)
    alike = same_class[same_class["student_name"].map(from_scratch) == fresh]
    alone = predicted = read = None
    if baselines is not None:
        baselines = baselines[(baselines["fidelity"] == "cheap") == cheap]
        alone = alone_lead(same_class, baselines, name, teacher.name, student.name)
        others = baselines[(baselines["student_name"].map(from_scratch) == fresh) & (baselines["dataset"] != name)]
        predicted = predicted_alone(alike[alike["dataset"] != name], others)  # its own runs speak above
        read = read_probe(default_pairs(alike[alike["dataset"] != name], others), probe)
    longer = None
    if patient is not None and not patient.empty and not cheap:
        longer = longer_budget(budget_runs(same_class, patient), name, teacher.name, student.name, task.spec.task_type)
        longer = longer if longer is not None and longer.epochs > (at_budget["epochs"] or 0) else None
    found = partial(
        Evidence, cost, setting=setting, own=own, alone=alone, alone_predicted=predicted, patient=longer, probe=read
    )
    if not (same_class["task_kind"] == task_kind).any():
        other = "realistic" if cheap else "cheap"
        held = f" (it holds some at the {other} budget class)" if (runs["task_kind"] == task_kind).any() else ""
        return found(None, missing=f"the store has no runs on {task_kind} data sets at this budget{held}")
    if alike.empty:
        start = "trained from random weights" if fresh else "started from pretrained weights"
        students = ", ".join(sorted(set(same_class["student_name"])))
        return found(None, missing=f"the store has no runs at this budget of a student {start}, as {student.name} is "
                     f"(its students at this budget: {students})")  # fmt: skip
    gains = observed_gains(alike)
    few = len(gains) < MIN_GAINS or gains["setting"].nunique() < MIN_SETTINGS
    if few or gains["config"].value_counts().max() < 2:  # the spread between data sets needs a repeat
        start = "from random weights" if fresh else "from pretrained weights"
        settings = gains["setting"].nunique()
        held = f"{len(gains)} gains over logit KD in {settings} setting{'' if settings == 1 else 's'}"
        return found(None, missing=f"the store has too few runs beside logit KD at this budget of students started "
                     f"{start} ({held}; {MIN_GAINS} in {MIN_SETTINGS} needed, a configuration in two)")  # fmt: skip
    return found(GainModel.fit(gains), missing="")
