"""What a pipeline costs: wall time predicted from the store's runs.

A pick is worth running only if its expected gain is worth its time, so recommend prints each
pick's predicted minutes and ``--budget MINUTES`` keeps the picks that fit. The model works on log
seconds (errors are relative: a 2x miss on a 20 s run matters as much as on a 20 min one) in two
stages. A power law in the run's compute (:func:`compute`: the student's multiply-adds per token
times the tokens it trains on and scores), fitted by least squares, per kind of device, carries the
scale: trees alone cannot predict beyond the work they were fitted on, and a new data set's long
texts on a larger student are exactly that. Gradient boosting then fits the median of what the power
law misses (:data:`TREES_LOSS`), over what
sets a run's work: the student's and teacher's sizes, training examples x
epochs x length, the dev examples scored after each epoch x epochs x length, the pipeline's
components (augmentation multiplies the examples the teacher sees; EMD solves a transport problem
per batch) and the kind of device (CPU or GPU) the run trained on. Length is what the data holds,
not only the budget's cap: a run pads each batch to its longest example, so 10-word definitions
and 300-word articles at the same ``max_length`` differ several-fold. A stored run's data set gives
its words per example through its data card (the data set need not be prepared); a new data set
through its rows. Scoring is no small part: a split version whose dev split holds 5,000 examples,
read whole, costs a run more than the 200 or 1,000 sampled ones of the first splits.

What is predicted is a run's seconds less those it spent getting its teacher (:func:`run_seconds`):
recommend fine-tunes the teacher before it prices a pick, so a pick never pays for it, while the
first run of a data set on a machine fine-tuned it inside its own wall time (minutes on CPU, 12 on
spam-assassin's emails) and would teach the model that such a run is several times dearer than
its seeds.

The stored wall times were measured on whatever machine ran them, doing whatever it was doing at
the time, and machines differ as much as pipelines: two 2-core CPUs took the same runs in times two
to three times apart. A run that timed the engine's speed probe where it trained
(``speed_probe_s``: seconds of a fixed workload, ``engine.speed_probe_seconds``) is counted in
probes, its machine divided out (:func:`machine_offset`), and a prediction is scaled back by the probe
timed where the pick will run; runs stored before the probe keep their seconds, beside a level of
their own in the power law (:func:`scale_inputs`), and each machine session of them (runs timed one
after another on one machine, :mod:`autodistill.advice.sessions`) a level of its own on top, fitted
in turn with the rest: the session stands in for the probe its runs did not time. The spread of one
configuration's seeds (same work, same machine kind) bounds how close any model can get. Runs that
record their process's CPU time say when that was a busy machine: a CPU run whose process was busy
well under its wall time, even counting one core, waited for its cores, and is left out of the fit
(:func:`waited`). A device kind the store holds too few timed runs of gets no prediction: CPU
seconds say nothing of a GPU's.

A point estimate this rough needs its range beside it. :meth:`CostModel.predict` gives the central
80 % of what the model missed by on families of data sets it was not fitted on (grouped folds over
the fitting runs), so a user reads how far the minutes may be off on a new data set, not how well the
model fits the runs it learned from. The misses are taken per kind of device and per
:func:`pipeline_class`: logit KD's runs, the shortest, miss by more for their seconds than a pipeline
with an intermediate loss or augmentation (what a one-off cost or a busy machine adds weighs more),
and one range for both held well under 80 % of logit KD's held-out runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

from autodistill.advice.sessions import SESSION, session_levels, session_offset, with_machine_sessions
from autodistill.space import LOGIT_ONLY, Pipeline, mappings, pred_losses
from autodistill.space.pipeline import engine_names
from autodistill.store.configurations import is_logit_kd, operation_flags
from autodistill.store.records import ModelDescriptor, pipeline_columns, scored_dev_examples
from engine import card_path, list_datasets, paths, speed_probe_seconds, task_kinds, training_device

#: Devices, coded by a fixed vocabulary so that fit and predict agree.
DEVICES = ("cpu", "cuda")
#: Columns whose words a model reads (an answer span is a target, not an input).
_INPUT_COLUMNS = ("text", "text_pair")
#: Word pieces per whitespace word, about: the budget caps pieces, the data counts words.
PIECES_PER_WORD = 1.3
#: Fewer timed runs than this and no cost is predicted: a handful of times says little of the rest.
MIN_TIMED_RUNS = 20
#: A CPU run whose process was busy less than this share of its wall time, even counting one core,
#: lost more than about a sixth of it to other work on the machine (a run on an idle core: 0.97-0.99).
MIN_CPU_SHARE = 0.85
#: The share of runs on an unseen family of data sets a printed time range should hold.
RANGE_LEVEL = 0.8
#: Folds over families of data sets that the range's misses come from (fewer where fewer families).
RANGE_FOLDS = 5
#: A dev example scored costs about this share of a training example (a forward pass, no backward
#: nor optimiser step): its weight in :func:`compute`.
EVAL_WEIGHT = 0.3
#: The trees' loss on log seconds (:func:`trees`): the median's, not the mean's. Older runs hold one-off
#: costs in their wall time that no input records (a teacher-output cache built, a teacher fine-tuned
#: inside the run), and a run on a busy machine that recorded no CPU time cannot be told apart; the
#: median is not pulled by them.
TREES_LOSS = "absolute_error"
#: The runs' column holding their machine's speed probe (see :func:`machine_offset`).
SPEED_PROBE = "speed_probe_s"
#: Rounds of machine-session levels and the model's stages fitted in turn (:meth:`LogSeconds.fit`): the
#: second round takes up what the stages, fitted on the first round's levels, no longer hide.
SESSION_ROUNDS = 2
_NUMERIC = ("student_params", "teacher_params", "train_examples", "epochs", "max_length", "repeated_aug", "aug_p")


def cost_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Model inputs from stored runs' columns (or candidates laid out the same way)."""
    aug = frame["augmentation"].fillna("").astype(str)
    text = aug != ""
    inputs = pd.DataFrame(index=frame.index)
    for column in _NUMERIC:
        inputs[column] = frame[column].astype(float)
    inputs["repeated_aug"] = np.where(text, inputs["repeated_aug"], 0.0)
    inputs["aug_p"] = np.where(text, inputs["aug_p"], 0.0)
    pieces = _pieces(frame)
    inputs["log_work"] = np.log(inputs["train_examples"] * inputs["epochs"] * inputs["max_length"])
    inputs["log_piece_work"] = np.log(inputs["train_examples"] * inputs["epochs"] * pieces)
    inputs["log_eval_work"] = np.log(frame["eval_examples"].astype(float) * inputs["epochs"] * pieces)
    for op, used in operation_flags(frame["augmentation"]).items():
        inputs[f"aug_{op}"] = used
    inputs["mixup"] = frame["mixup"].astype(float)
    inputs["probed"] = probed(frame)
    levels_of = frame.assign(device=device_kind(frame["device"]))
    for column, levels in levels_by_column().items():
        inputs[column] = levels_of[column].map({v: float(i) for i, v in enumerate(levels)}).fillna(-1.0)
    return inputs


def levels_by_column() -> dict[str, tuple[str, ...]]:
    """Each categorical input's levels, coded by position: the components' from the engine's registries
    (a name registered later is coded after the others, so older names keep their codes)."""
    components = {
        "mapping": (LOGIT_ONLY, *mappings()),
        "inter_loss": (LOGIT_ONLY, *engine_names("inter_loss")),
        "pred_loss": pred_losses(),
    }
    return {**components, "task_kind": task_kinds(), "device": DEVICES}


def device_kind(devices: pd.Series) -> pd.Series:
    """``cpu`` or ``cuda`` from the stored labels (``cuda:<GPU name>``): the level the model reads.
    One GPU model's seconds are not another's, but the store holds too few GPU runs to tell them apart."""
    return devices.fillna("").astype(str).str.split(":", n=1).str[0]  # unknown: "", no level


def waited(runs: pd.DataFrame) -> pd.Series:
    """Runs on a CPU whose recorded CPU time shows they waited for their cores (:data:`MIN_CPU_SHARE`):
    their wall time measured the machine's load as much as the pipeline. False where not recorded.

    The share counts one core, whatever the run's threads: a tiny model's operations often run on one
    thread of several, and such a run, slow as it is, did not wait for anything. It is taken of
    :func:`run_seconds`: a run that idled while another process fine-tuned their teacher waited for
    that, which the teacher seconds already hold, not for its cores."""
    cpu = runs.reindex(columns=["cpu_time_s"])["cpu_time_s"].astype(float)
    return (device_kind(runs["device"]) == "cpu") & (cpu / run_seconds(runs) < MIN_CPU_SHARE)


def run_seconds(runs: pd.DataFrame) -> pd.Series:
    """Each run's wall seconds less its teacher seconds (``teacher_s``: a fine-tune, or the wait for one,
    where the run was the first of its data set on the machine): what the cost model predicts and is
    checked on. Runs stored before the teacher seconds were recorded count their wall time whole."""
    teacher = runs.reindex(columns=["teacher_s"])["teacher_s"].astype(float).fillna(0.0)
    return runs["wall_time_s"].astype(float) - teacher


def _probe_seconds(frame: pd.DataFrame) -> pd.Series:
    """Each row's speed probe in seconds, NaN where it has none (or the column is missing)."""
    probe = frame.reindex(columns=[SPEED_PROBE])[SPEED_PROBE].astype(float)
    return probe.where(probe > 0)


def probed(frame: pd.DataFrame) -> np.ndarray:
    """1.0 for each row that timed the speed probe on its machine, else 0.0."""
    return _probe_seconds(frame).notna().to_numpy(dtype=float)


def machine_offset(frame: pd.DataFrame) -> np.ndarray:
    """Each row's log speed probe, 0 where it has none. Time is work over speed, so a probed run's log
    seconds less its log probe measure its work alike on any machine: :class:`LogSeconds` subtracts it
    from a probed run's target and adds it back to a probed candidate's prediction."""
    return np.log(_probe_seconds(frame)).fillna(0.0).to_numpy()


def compute(frame: pd.DataFrame) -> np.ndarray:
    """A run's compute, about: the student's multiply-adds per token outside its embeddings (12 x
    layers x hidden², what its attention and feed-forward weights hold) times the word pieces it
    trains on, plus those it scores on dev at :data:`EVAL_WEIGHT` each, over its epochs. Parameter
    counts would mislead: a 2-layer, 128-wide student's are nine tenths embeddings, which cost a lookup."""
    per_token = 12 * frame["student_layers"].astype(float) * frame["student_hidden"].astype(float) ** 2
    examples = frame["train_examples"].astype(float) + EVAL_WEIGHT * frame["eval_examples"].astype(float)
    return (per_token * examples * frame["epochs"].astype(float) * _pieces(frame)).to_numpy()


def _pieces(frame: pd.DataFrame) -> pd.Series:
    """Word pieces per example, about, with the tokenizer's special ones: a one-word lexicon entry is
    three pieces, not one. fmin: a data set of unknown length counts as filling the cap."""
    words = frame["input_words"].astype(float)
    return np.fmin(words * PIECES_PER_WORD + special_tokens(frame), frame["max_length"].astype(float))


def special_tokens(frame: pd.DataFrame) -> np.ndarray:
    """The tokenizer's special pieces per example, [CLS] and a [SEP], for every kind of task. A pair's
    (or a question and context's) second [SEP] is left out on evidence: counting it made the estimates
    of held-out families' runs worse (``benchmarks/advice_heldout.py``: within 30 % for 0.63 of them
    against 0.67), so the power law's fit is better served by one count for all."""
    return np.full(len(frame), 2.0)


def scale_inputs(frame: pd.DataFrame) -> np.ndarray:
    """The power law's inputs: log compute, on a GPU its own intercept and slope, and for probed runs
    (counted in probes rather than seconds) an intercept per kind of device."""
    log_compute = np.log(compute(frame))
    gpu = (device_kind(frame["device"]) == "cuda").to_numpy(dtype=float)
    measured = probed(frame)
    return np.column_stack([log_compute, gpu, gpu * log_compute, measured, measured * gpu])


def trees(seed: int = 0, loss: str = TREES_LOSS) -> HistGradientBoostingRegressor:
    """The cost model's second stage, one place for its settings (a benchmark fits it alone too)."""
    return HistGradientBoostingRegressor(
        loss=loss, max_iter=200, learning_rate=0.05, min_samples_leaf=10, random_state=seed
    )


@dataclass(frozen=True)
class LogSeconds:
    """Log seconds (:func:`run_seconds`) from a run's columns: the power law in :func:`compute` and the trees
    on what it misses, a probed run counted in probes (:func:`machine_offset`). Also fitted on other targets
    laid out alike (a benchmark's seconds relative to an anchor, its runs' probes dropped)."""

    scale: RegressorMixin
    rest: HistGradientBoostingRegressor
    #: The kinds of device the fit held probed runs of: a probe says nothing of speed without runs to relate
    #: it to, so elsewhere it is not read (the row is priced as an unprobed run).
    probed_kinds: frozenset[str] = frozenset()
    #: Per machine session of the fitted runs that did not time the probe, its level in log seconds
    #: (:mod:`autodistill.advice.sessions`): a stored run of a known session is priced at its machine's speed.
    levels: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        runs: pd.DataFrame,
        target: np.ndarray,
        seed: int = 0,
        loss: str = TREES_LOSS,
        law: Callable[[], RegressorMixin] = LinearRegression,
        sessions: bool = True,
    ) -> LogSeconds:
        """``loss`` and ``law`` (the power law's regressor) are the shipped design's, and so are the
        machine sessions' levels (``sessions``, fitted in :data:`SESSION_ROUNDS` rounds: the levels
        from what the stages miss, then the stages on seconds less the levels); a benchmark varies them."""
        kinds = frozenset(device_kind(runs["device"])[probed(runs) > 0])
        work = target - machine_offset(runs)
        model = cls(*_stages(runs, work, seed, loss, law), kinds)
        keys = unprobed_sessions(runs)
        read = sessions and keys.notna().any()  # without any, the rounds would refit alike
        for _ in range(SESSION_ROUNDS if read else 0):
            levels = session_levels(keys, work - model.work(runs), model.levels)
            seconds = work - session_offset(keys, levels)
            model = cls(*_stages(runs, seconds, seed, loss, law), kinds, levels)
        return model

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        frame = self._readable(frame)
        # A few rows at a time: OpenMP's threads cost more than they share, tenfold where the cores are
        # busy (recommend priced its picks in 25 s beside a sweep, in under 1 s on one thread).
        with threadpool_limits(limits=1, user_api="openmp"):
            return self.work(frame) + machine_offset(frame)

    def work(self, frame: pd.DataFrame) -> np.ndarray:
        """Log seconds on the run's machine where its session is known, else on the average unprobed one;
        counted in probes for a probed run."""
        stages = self.scale.predict(scale_inputs(frame)) + self.rest.predict(cost_inputs(frame))
        return stages + session_offset(unprobed_sessions(frame), self.levels)

    def _readable(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the probes of device kinds fitted without probed runs dropped."""
        if SPEED_PROBE not in frame:
            return frame
        known = device_kind(frame["device"]).isin(self.probed_kinds)
        return frame.assign(**{SPEED_PROBE: frame[SPEED_PROBE].where(known)})


def _stages(
    runs: pd.DataFrame, target: np.ndarray, seed: int, loss: str, law: Callable[[], RegressorMixin]
) -> tuple[RegressorMixin, HistGradientBoostingRegressor]:
    """The power law on :func:`scale_inputs`, then the trees on what it misses."""
    law_inputs = scale_inputs(runs)
    scale = law().fit(law_inputs, target)
    return scale, trees(seed, loss).fit(cost_inputs(runs), target - scale.predict(law_inputs))


def unprobed_sessions(frame: pd.DataFrame) -> pd.Series:
    """Each row's machine session where it did not time the probe (which measures its machine better),
    else NaN; NaN too where the frame has no sessions (candidates, runs read without them)."""
    sessions = frame.reindex(columns=[SESSION])[SESSION]
    return sessions.where(probed(frame) == 0)


@dataclass(frozen=True)
class CostModel:
    """Predicted seconds of a run (:func:`run_seconds`); :meth:`fit` on stored runs, :meth:`seconds` for candidates, and
    :meth:`predict` for those beside how far they may be off on a new data set."""

    model: LogSeconds
    runs: int
    #: Per (kind of device, :func:`pipeline_class`), and per kind of device alone under the class "", the
    #: RANGE_LEVEL quantiles of log(measured / predicted) on families of data sets held out of the fit;
    #: empty when fitted without families.
    spreads: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        runs: pd.DataFrame,
        seed: int = 0,
        device: str | None = None,
        family_of: Callable[[str], str] | None = None,
    ) -> CostModel | None:
        """Fit on runs with :func:`run_seconds` and a known :func:`compute` that had their cores (:func:`waited`);
        None with fewer than :data:`MIN_TIMED_RUNS` of them, or of them on ``device``'s kind when one is
        given (the device the predicted runs will train on). ``family_of`` names each data set's
        family, for the ranges."""
        runs = runs[run_seconds(runs) > 0]  # NaN (no wall time) compares False
        runs = runs[~waited(runs) & (compute(runs) > 0)]  # NaN: a run stored without its dev examples
        on_device = runs if device is None else runs[device_kind(runs["device"]) == device.partition(":")[0]]
        if len(on_device) < MIN_TIMED_RUNS:
            return None
        model = LogSeconds.fit(runs, np.log(run_seconds(runs).to_numpy()), seed)
        return cls(model, len(runs), {} if family_of is None else _spreads(runs, family_of, seed))

    def seconds(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted wall seconds for rows laid out as stored runs (a probed row's at its machine's speed)."""
        return np.exp(self.model.predict(frame))

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[tuple[float, float] | None]]:
        """Each row's predicted wall seconds and their range at :data:`RANGE_LEVEL`: its pipeline class's
        on its kind of device, that kind's over every class where the class had too few runs, None where
        the kind had too few."""
        seconds = self.seconds(frame)
        cells = zip(device_kind(frame["device"]), pipeline_class(frame), strict=True)
        spreads = [self.spreads.get((kind, group), self.spreads.get((kind, ""))) for kind, group in cells]
        ranges = [
            None if spread is None else (float(s * np.exp(spread[0])), float(s * np.exp(spread[1])))
            for s, spread in zip(seconds, spreads, strict=True)
        ]
        return seconds, ranges


#: Bumped when :class:`CostModel` or what it fits on changes, so that cached fits are not reused.
COST_FORMAT = 2


def cached_cost_model(
    runs: pd.DataFrame, device: str, family_of: Callable[[str], str], cache_dir: Path | None = None
) -> CostModel | None:
    """:meth:`CostModel.fit` on ``runs`` for ``device``, kept in the home under a hash of what it is fitted
    on (the runs' rows, the device's kind, the families of their data sets, the levels it codes,
    scikit-learn's version):
    ``recommend`` refits it (seconds alone, minutes on a shared machine) only when the store's runs
    change. A home that cannot be written is fitted in, not cached."""
    families = sorted((name, family_of(name)) for name in set(runs["dataset"]))
    fitted_on = [COST_FORMAT, sklearn.__version__, device.partition(":")[0], families, levels_by_column()]
    digest = hashlib.sha256(json.dumps(fitted_on).encode())
    digest.update(pd.util.hash_pandas_object(runs.sort_index(axis=1), index=False).to_numpy().tobytes())
    try:
        folder = cache_dir or paths.subdir("cost_models")
    except OSError:
        return CostModel.fit(runs, device=device, family_of=family_of)
    path = folder / f"{digest.hexdigest()[:20]}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    model = CostModel.fit(runs, device=device, family_of=family_of)
    scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with contextlib.suppress(OSError):
        scratch.write_bytes(pickle.dumps(model))
        os.replace(scratch, path)  # atomic: a concurrent fit of the same runs writes the same model
    return model


def out_of_family(
    runs: pd.DataFrame, target: np.ndarray, families: np.ndarray, folds: int | None = None, seed: int = 0
) -> np.ndarray:
    """Each run's ``target`` less what :class:`LogSeconds` fitted without its family predicts: the
    families split into ``folds`` groups (None: each family held out alone). Needs two families."""
    missed = np.full(len(target), np.nan)
    splits = GroupKFold(n_splits=min(folds or len(set(families)), len(set(families))))
    for train, test in splits.split(runs, groups=families):
        model = LogSeconds.fit(runs.iloc[train], target[train], seed)
        missed[test] = target[test] - model.predict(runs.iloc[test])
    return missed


def _spreads(
    runs: pd.DataFrame, family_of: Callable[[str], str], seed: int
) -> dict[tuple[str, str], tuple[float, float]]:
    """Per kind of device and :func:`pipeline_class` (and per kind of device over all classes, class "")
    with :data:`MIN_TIMED_RUNS` runs, the :data:`RANGE_LEVEL` quantiles of log(measured / predicted), each
    run predicted by a model fitted on the folds without its family (none with a single family: nothing
    would be unseen)."""
    families = runs["dataset"].map(family_of).to_numpy()
    if len(set(families)) < 2:
        return {}
    target = np.log(run_seconds(runs).to_numpy())
    missed = out_of_family(runs, target, families, RANGE_FOLDS, seed)
    tail = (1 - RANGE_LEVEL) / 2
    kinds, classes = device_kind(runs["device"]).to_numpy(), pipeline_class(runs)
    cells = {(kind, ""): kinds == kind for kind in set(kinds)}
    cells |= {(kind, group): (kinds == kind) & (classes == group) for kind in set(kinds) for group in set(classes)}
    return {
        cell: (float(np.quantile(missed[rows], tail)), float(np.quantile(missed[rows], 1 - tail)))
        for cell, rows in cells.items()
        if rows.sum() >= MIN_TIMED_RUNS
    }


def pipeline_class(frame: pd.DataFrame) -> np.ndarray:
    """``logit`` for a pipeline without an intermediate loss, text augmentation or mixup (logit KD, or
    MSE on the logits), ``other`` for the rest: the two are given ranges of their own."""
    return np.where(is_logit_kd(frame), "logit", "other")


def candidate_rows(pipelines: list[Pipeline], setting: dict[str, object]) -> pd.DataFrame:
    """Space points in the stored runs' columns, each with the ``setting``'s sizes (:func:`model_sizes`),
    budget and machine (``train_examples``, ``epochs``, ``max_length``, ``eval_examples``, ``task_kind``,
    ``input_words``, ``device``, ``speed_probe_s``): see :func:`run_setting`."""
    return pd.DataFrame([{**setting, **pipeline_columns(p)} for p in pipelines])


def model_sizes(student: ModelDescriptor, teacher: ModelDescriptor) -> dict[str, int]:
    """The student's and teacher's sizes a prediction reads, in the stored runs' columns."""
    return {
        "student_params": student.params,
        "student_layers": student.layers,
        "student_hidden": student.hidden,
        "teacher_params": teacher.params,
    }


def run_setting(max_eval_examples: int | None, dev_size: int) -> dict[str, object]:
    """What a run started here will score and train on: the dev examples it scores per epoch (the
    budget's cap within the data set's dev split), this machine's device, and its speed probe timed
    there now (under a second)."""
    return {
        "eval_examples": scored_dev_examples(max_eval_examples, dev_size),
        "device": training_device(),
        SPEED_PROBE: speed_probe_seconds(),
    }


def input_words(frame: pd.DataFrame) -> float:
    """Mean words per example over the columns a model reads (a pair's two texts add up)."""
    return float(sum(frame[c].astype(str).str.split().str.len().mean() for c in _INPUT_COLUMNS if c in frame))


def cost_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with the columns the cost model reads beyond the store's: words per example (from the data
    cards) and machine sessions (from all of ``runs`` at once: hold runs out after this, not before)."""
    return with_machine_sessions(with_input_words(runs))


def with_input_words(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``input_words`` per row from each data set's card (NaN where there is none)."""
    return runs.assign(input_words=runs["dataset"].map(card_words))


@cache
def card_words(name: str) -> float:
    """A catalog data set's words per example over its input columns, as its data card states them."""
    if name not in {spec.name for spec in list_datasets()}:
        return float("nan")
    path = card_path(name)
    found = re.search(r"\| mean words \| (.*?) \|", path.read_text(encoding="utf-8")) if path.exists() else None
    if found is None:
        return float("nan")
    counts = dict(part.rsplit(" ", 1) for part in found.group(1).split(", "))
    return sum(float(counts[c]) for c in _INPUT_COLUMNS if c in counts)


def relative_errors(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """predicted / measured - 1 per run: the figure ``within ±30 %`` is read from."""
    return np.asarray(predicted) / np.asarray(measured) - 1.0
