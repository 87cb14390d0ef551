"""The file ``autodistill recommend`` writes: its picks, each with the engine config that runs it,
and what they were learned from; read back by ``autodistill run --recommendation``.

Kept apart from :mod:`autodistill.advice.recommend` (how picks are made) because readers of the file
(the CLI, the study's Figure 4) need its format, not the models behind it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autodistill.advice.cost import RANGE_LEVEL
from autodistill.advice.gain import LEVEL, GainEstimate
from autodistill.advice.probe import Probe
from autodistill.space import Pipeline, legacy
from engine import AutodistillError, parse_config

RECOMMENDATION_FORMAT = "autodistill-recommendation"
#: 2: a pick's ``config`` holds the pipeline's DistillConfig fields (1: the first vocabulary).
#: Either is read back from the pick's engine config, the one thing that runs.
#: 3: picks carry ``uncertainty`` and ``reason``, the recommendation its ``design`` (older files: none, autogluon).
#: 4: ``pkd`` is BERT-PKD's [CLS] loss; an earlier file's ``pkd`` picks are read as ``pkd-tokens``.
#: 5: the recommendation carries ``logit_kd``, the fixed default scored as the picks are (older files: none).
#: 6: picks carry ``minutes`` (predicted wall time) and ``gain`` (over logit KD, with an interval), the
#: recommendation its ``verdict`` (why the first pick is first); pick 1 is logit KD unless the evidence clears another.
#: 7: picks carry ``minutes_range``, the range their wall time fell in on data sets the cost model had not seen.
#: 8: one model orders the picks: their predicted gain over logit KD. The ranker's ``score``,
#: ``uncertainty`` and ``predicted_ratio``, and the recommendation's ``predictor`` and ``design``,
#: are gone (older files' are ignored); ``logit_kd``'s rank is its place by predicted gain; ``alone``
#: is the student trained alone against logit KD (measured on the data set's own runs, else predicted).
#: 9: ``patient``: logit KD at the study's patient budget against this one (older files: none).
#: 10: ``patient`` is a pick: the best list configuration at the study's patient budget, its engine config
#: at that budget (a format-9 file's is read as none); the picks may hold it.
#: 11: ``probe``: one run of the student alone here and the cut it is read against (older files: none).
#: 12: ``dev_ratio_se``: how finely the dev split resolves a run's ratio, measured on the probe's
#: predictions where they allow (older files: none, and the output states the bound on the examples).
RECOMMENDATION_VERSION = 12
LONGER_BUDGET_RECOMMENDATION = 10
#: Files before format 6 were made before data sets had split versions: their picks ran on version 1.
SPLIT_VERSIONS_RECOMMENDATION = 6
PKD_CLS_RECOMMENDATION = 4
LEGEND = (
    f"gain: predicted dev-ratio gain over logit KD (student / teacher dev score) from the store's runs at "
    f"this budget, with its {LEVEL:.0%} interval: a pipeline's mean gain over the settings that ran it, "
    "shrunk toward what its components predict, the interval wider where fewer ran it "
    "(autodistill.advice.gain); a lead measured on this data set's own runs replaces it; "
    f"minutes: predicted wall time here, in brackets the range that held {RANGE_LEVEL:.0%} of runs on data "
    "sets the cost model was not fitted on (autodistill.advice.cost); logit KD's rank: its place among "
    "the distinct pipelines by predicted gain (those ahead of it are predicted to beat it)"
)


@dataclass(frozen=True)
class Pick:
    """One recommended configuration, with the engine config that runs it."""

    rank: int
    config: Pipeline
    engine: dict[str, Any]
    reason: str = ""
    minutes: float | None = None
    minutes_range: tuple[float, float] | None = None
    gain: GainEstimate | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "minutes": self.minutes,
            "minutes_range": list(self.minutes_range) if self.minutes_range is not None else None,
            "gain": asdict(self.gain) if self.gain is not None else None,
            "reason": self.reason,
            "config": self.config.to_dict(),
            "engine": self.engine,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pick:
        return cls(
            rank=int(data["rank"]),
            config=Pipeline.from_engine(parse_config(dict(data["engine"]), source="recommended engine config")),
            engine=dict(data["engine"]),
            reason=str(data.get("reason", "")),
            minutes=_number(data.get("minutes")),
            minutes_range=_pair(data.get("minutes_range")),
            gain=GainEstimate(**data["gain"]) if data.get("gain") else None,
        )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


@dataclass(frozen=True)
class TrialPlan:
    """Logit KD and the alternatives a trial runs, each with its predicted gain and minutes per run."""

    logit: Pipeline
    alternatives: tuple[Pipeline, ...]
    gains: tuple[GainEstimate | None, ...]  # None: no gain predicted (see :attr:`unranked`)
    minutes: tuple[float | None, ...]  # logit KD's first; None: no cost model on this kind of device
    seeds: int
    #: The study budget class its runs are stored under: the recommendation's, which its evidence read.
    fidelity: str | None
    #: Why the alternatives are the fixed list's first, not ranked by predicted gain ("": ranked).
    unranked: str = ""

    @property
    def pipelines(self) -> tuple[Pipeline, ...]:
        return (self.logit, *self.alternatives)

    @property
    def runs(self) -> int:
        """Runs the trial makes: each pipeline and the student alone, once per seed."""
        return (len(self.pipelines) + 1) * self.seeds

    @property
    def total_minutes(self) -> float | None:
        """The whole trial's predicted wall minutes here (None where a run has no prediction); the student
        alone is priced as a logit KD run, which overstates it a little (it reads no teacher outputs)."""
        if None in self.minutes:
            return None
        return self.seeds * (float(sum(self.minutes)) + self.minutes[0])  # type: ignore[arg-type]

    @property
    def line(self) -> str:
        total = self.total_minutes
        cost = "its time is not predicted here" if total is None else f"predicted {total:.1f} min"
        order = f"; the study's fixed list in its order, as {self.unranked}" if self.unranked else ""
        return (
            f"trial: logit KD, the student alone and {len(self.alternatives)} alternative(s), {self.seeds} seeds "
            f"each ({self.runs} runs; {cost}){order}"
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
    picks: tuple[Pick, ...]
    timings: dict[str, float] = field(default_factory=dict)
    #: Logit KD, the default every gain is measured from (``rank``: its place among the distinct pipelines).
    logit_kd: Pick | None = None
    #: Why the first pick is first (logit KD, or the pipeline whose gain cleared its uncertainty).
    verdict: str = ""
    #: The command the advice runs: ``run`` (distil pick 1), or ``finetune`` where the student trained
    #: alone beat logit KD on the data set's own runs (the picks stay, should the user distil anyway).
    command: str = "run"
    #: The student trained alone (no KD): its dev-ratio gain over logit KD, measured or predicted.
    alone: GainEstimate | None = None
    #: Training longer: the best list configuration at the study's patient budget, one of ``picks``
    #: (:mod:`autodistill.advice.budget`).
    patient: Pick | None = None
    #: One run of the student alone on the data set against the cut above which advice trains it alone
    #: (:mod:`autodistill.advice.probe`).
    probe: Probe | None = None
    #: The answer the fine-tuned teacher gave every dev example, where it gave one only: it then has no
    #: more to teach than the label counts, and every ratio here is to that constant's score.
    teacher_one_answer: str | None = None
    #: The dev examples a pick's run scores: how finely the user's own runs can tell gains apart there
    #: (None: a recommendation saved before it was recorded).
    dev_examples: int | None = None
    #: The standard error of a run's dev ratio on those examples, measured on the probe's predictions
    #: (a tagger's sentences resolve it several times finer than their count bounds it); None: not measured.
    dev_ratio_se: float | None = None
    #: The trial asked for (``recommend(trial=k)``), for the caller to run; not saved with the picks.
    trial: TrialPlan | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def pick(self, k: int) -> Pick:
        """The k-th pick, 1-based as printed."""
        if not 1 <= k <= len(self.picks):
            raise AutodistillError(f"pick {k} is out of range: this recommendation has picks 1..{len(self.picks)}")
        return self.picks[k - 1]

    def alone_engine(self) -> dict[str, Any]:
        """The engine config to train the student alone with: logit KD's, whose budget the probe and the
        no-KD estimate were measured at (pick 1 may train longer), else pick 1's."""
        return (self.logit_kd or self.picks[0]).engine

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
            "legend": LEGEND,
            "timings_s": self.timings,
            "created_at": self.created_at,
            "picks": [p.to_json() for p in self.picks],
            "logit_kd": self.logit_kd.to_json() if self.logit_kd is not None else None,
            "verdict": self.verdict,
            "command": self.command,
            "alone": asdict(self.alone) if self.alone is not None else None,
            "patient": self.patient.to_json() if self.patient is not None else None,
            "probe": asdict(self.probe) if self.probe is not None else None,
            "teacher_one_answer": self.teacher_one_answer,
            "dev_examples": self.dev_examples,
            "dev_ratio_se": self.dev_ratio_se,
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path


def _picks_today(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A file's picks in today's vocabulary: before format 4, ``pkd`` was the per-token loss; before
    format 6 every pick was made for (and ran on) a data set's first splits."""
    version = int(data.get("version", 0))
    picks = legacy.rename_pkd(data["picks"]) if version < PKD_CLS_RECOMMENDATION else data["picks"]
    return [_on_splits_of(version, p) for p in picks]


def _on_splits_of(version: int, pick: dict[str, Any]) -> dict[str, Any]:
    """A pick of a file of format ``version`` with the split version it was made for."""
    if version >= SPLIT_VERSIONS_RECOMMENDATION:
        return pick
    return {**pick, "engine": {**pick["engine"], "split_version": pick["engine"].get("split_version") or 1}}


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
        picks=tuple(Pick.from_json(p) for p in _picks_today(data)),
        timings=dict(data.get("timings_s", {})),
        created_at=data.get("created_at", ""),
        logit_kd=Pick.from_json(_on_splits_of(int(data.get("version", 0)), data["logit_kd"]))
        if data.get("logit_kd")
        else None,
        verdict=str(data.get("verdict", "")),
        command=str(data.get("command", "run")),
        alone=GainEstimate(**data["alone"]) if data.get("alone") else None,
        patient=Pick.from_json(data["patient"]) if _has_longer(data) else None,
        probe=_probe(data.get("probe")),
        teacher_one_answer=data.get("teacher_one_answer"),
        dev_examples=data.get("dev_examples"),
        dev_ratio_se=_number(data.get("dev_ratio_se")),
    )


def _has_longer(data: dict[str, Any]) -> bool:
    """Whether a file holds a longer-budget pick (a format-9 file held a gain alone, which nothing runs)."""
    return bool(data.get("patient")) and int(data.get("version", 0)) >= LONGER_BUDGET_RECOMMENDATION


def _probe(data: dict[str, Any] | None) -> Probe | None:
    """A file's probe (none before format 11)."""
    if not data:
        return None
    above = GainEstimate(**data["above"]) if data.get("above") else None
    return Probe(
        data["ratio"], data["threshold"], data["pairs"], above, data.get("one_answer"), data.get("perfect", False)
    )
