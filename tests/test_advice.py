"""recommend's cost model, gain intervals and verdict, on small synthetic run tables and the fake store."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_recommend import (  # noqa: F401 (cached_teacher is autouse: no real teacher fine-tune)
    CONFIGS,
    LOGIT,
    STUDENT,
    TEACHER,
    TRAINING_SETS,
    VERSION,
    cached_teacher,
    fill_store,
)
from test_sweep import fake_result

from autodistill.advice.cost import (
    CostModel,
    candidate_rows,
    card_words,
    cost_columns,
    input_words,
    run_seconds,
    waited,
)
from autodistill.advice.gain import OWN_Z, GainEstimate, GainModel, observed_gains, own_leads
from autodistill.advice.recommend import recommend
from autodistill.advice.recommendation import load_recommendation
from autodistill.advice.sessions import machine_sessions
from autodistill.advice.trial import run_trial, trial_readout
from autodistill.advice.verdict import decide
from autodistill.bridge import make_budget
from autodistill.evaluation.advice import evaluate_advice, residual_spread, variance_shares
from autodistill.space import Pipeline
from autodistill.space.defaults import fixed_default
from autodistill.store.configurations import configurations
from autodistill.store.database import RunRecord, RunStore, TrialRecord
from autodistill.sweep import Outcome, Trial
from engine import AutodistillError, TaskData, dataset_family, training_device

MI = Pipeline(mapping="skip", inter_loss="mi", alpha=0.9, pred_loss="ce")
EMD = Pipeline(mapping="emd", inter_loss="cos", alpha=None, pred_loss="ce", augment=("ra",), aug_p=0.3, repeated_aug=2)


def _row(
    dataset: str, pipeline: Pipeline, ratio: float, seed: int = 0, seconds: float = 30.0, **columns: object
) -> dict:
    """A stored run's columns, as the runs store's table has them (``columns`` replace any of them)."""
    return {
        "dataset": dataset,
        "student_name": "tiny",
        "fidelity": "realistic",
        "task_kind": "classification",
        "inter_loss": pipeline.inter_loss,
        "alpha": pipeline.alpha,
        "mapping": pipeline.mapping,
        "pred_loss": pipeline.pred_loss,
        "augmentation": pipeline.stack or None,
        "mixup": pipeline.mixup,
        "aug_p": pipeline.aug_p,
        "repeated_aug": pipeline.repeated_aug,
        "ratio": ratio,  # dev, what advice reads; test, what evaluation reads: the same here
        "test_ratio": ratio,
        "seed": seed,
        "wall_time_s": seconds,
        "student_params": 4_000_000,
        "student_layers": 2,
        "student_hidden": 128,
        "teacher_params": 22_000_000,
        "train_examples": 2000,
        "epochs": 3,
        "max_length": 128,
        "eval_examples": 300,
        "device": "cpu",
        "run_id": f"{dataset}-{pipeline.label}-{seed}",
        **columns,
    }


def _table(n_datasets: int, gains: dict[Pipeline, float], noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """Logit KD at 0.85 on each data set and each pipeline at 0.85 + its gain, three seeds each."""
    rng = np.random.default_rng(seed)
    rows = [
        _row(f"d{d}", pipeline, 0.85 + gain + rng.normal(0, noise), s)
        for d in range(n_datasets)
        for pipeline, gain in [(LOGIT, 0.0), *gains.items()]
        for s in range(3)
    ]
    return pd.DataFrame(rows)


def test_a_gain_seen_on_many_data_sets_clears_its_interval_and_a_loss_does_not() -> None:
    model = GainModel.fit(observed_gains(_table(8, {MI: 0.05, EMD: -0.08})))
    mi, emd = model.estimate([MI, EMD])
    assert mi.clears and mi.support == 8 and mi.low < 0.05 < mi.high
    assert not emd.clears and emd.high < 0 and emd.support == 8


def test_the_interval_widens_where_few_data_sets_back_a_configuration() -> None:
    runs = _table(10, {MI: 0.03, EMD: 0.03}, noise=0.03)
    runs = runs[(runs["mapping"] != "emd") | runs["dataset"].isin(["d0", "d1"])]  # EMD ran on two data sets
    mi, emd = GainModel.fit(observed_gains(runs)).estimate([MI, EMD])
    assert (mi.support, emd.support) == (10, 2)
    assert emd.high - emd.low > mi.high - mi.low


def test_a_configuration_never_run_gets_its_components_prediction_with_no_support() -> None:
    model = GainModel.fit(observed_gains(_table(6, {MI: 0.04, EMD: -0.05})))
    unseen = Pipeline(mapping="last", inter_loss="mse", alpha=None, pred_loss="ce")
    (estimate,) = model.estimate([unseen])
    assert estimate.support == 0 and estimate.low < estimate.mean < estimate.high


def test_repeated_aug_variants_are_configurations_of_their_own() -> None:
    twice = Pipeline(mapping="emd", inter_loss="cos", alpha=None, pred_loss="ce", augment=("ra",), repeated_aug=2)
    four = Pipeline(mapping="emd", inter_loss="cos", alpha=None, pred_loss="ce", augment=("ra",), repeated_aug=4)
    assert twice.key != four.key
    stored = pd.DataFrame([_row("d", MI, 0.9), _row("d", EMD, 0.9)])
    assert list(configurations(stored)) == [MI.key, EMD.key]  # a stored run and a point agree


def test_the_verdict_is_logit_kd_unless_a_gain_clears_its_uncertainty() -> None:
    doubtful = GainEstimate(mean=0.02, low=-0.03, high=0.07, support=3)
    sure = GainEstimate(mean=0.04, low=0.01, high=0.07, support=9)
    kept = decide(LOGIT, [MI, EMD], [doubtful, doubtful])
    assert kept.top == LOGIT and kept.logit_kd_first and kept.line.startswith("logit KD first")
    beaten = decide(LOGIT, [MI, EMD], [doubtful, sure])
    assert beaten.top == EMD and not beaten.logit_kd_first and "9 settings at this budget ran it" in beaten.line
    unbacked = decide(LOGIT, [MI], [GainEstimate(mean=0.01, low=-0.1, high=0.12, support=0)])
    assert unbacked.line.endswith("; no setting at this budget ran it)")  # not "from 0 settings"


def test_a_lead_on_the_data_sets_own_runs_counts_beyond_two_standard_errors_on_dev() -> None:
    def dev(pipeline: Pipeline, ratio: float, seed: int, **columns: object) -> dict:
        """A run whose dev ratio is ``ratio`` (its test ratio, 0.5, must not matter)."""
        return {**_row("own", pipeline, 0.5, seed, teacher_name="minilm-l6", **columns), "ratio": ratio}

    seeds = [0.0, 0.004, -0.004]
    rows = [
        dev(pipeline, 0.85 + gain + noise, s, split_version=2)
        for pipeline, gain in [(LOGIT, 0.0), (MI, 0.02), (EMD, 0.004)]
        for s, noise in enumerate(seeds)
    ]
    older = [dev(EMD, 0.99, s, split_version=1) for s in range(3)]
    other = [dev(MI, 0.99, s, student_name="mini", split_version=2) for s in range(3)]
    shorter = [dev(LOGIT, 0.70 + noise, s, split_version=2, train_examples=500) for s, noise in enumerate(seeds)]
    runs = pd.DataFrame(rows + older + other + shorter)
    (lead,) = own_leads(runs, "own", "minilm-l6", "tiny")  # EMD's 0.004 is within 2 SE; older splits, other
    assert lead.config == MI.key and lead.gain == pytest.approx(0.02)  # students and budgets do not count
    assert lead.seeds == lead.logit_seeds == 3 and lead.gain / lead.se > OWN_Z
    assert "3 seeds against 3 at 2,000 training examples x 3 epochs" in lead.line and "dev ratio" in lead.line
    assert own_leads(runs, "another", "minilm-l6", "tiny") == ()
    one_seed = runs[runs["seed"] == 0]
    assert own_leads(one_seed, "own", "minilm-l6", "tiny") == (), "no seeds: no standard error, no claim"


def test_the_cost_model_follows_the_work_a_run_does() -> None:
    rows = [
        _row(f"d{d}", p, 0.9, seed=s, seconds=base * (1 + 0.05 * s))
        for d in range(4)
        for p, base in ((LOGIT, 20.0), (EMD, 200.0))
        for s in range(4)
    ]
    model = CostModel.fit(pd.DataFrame(rows).assign(input_words=20.0))
    setting = {k: rows[0][k] for k in _SETTING}
    cheap, dear = model.seconds(
        candidate_rows([LOGIT, EMD], {**setting, "task_kind": "classification", "input_words": 20.0})
    )
    assert 15 < cheap < 30 and 150 < dear < 250
    assert CostModel.fit(pd.DataFrame(rows[:5]).assign(input_words=20.0)) is None  # too few timed runs


_SETTING = (
    "student_params",
    "student_layers",
    "student_hidden",
    "teacher_params",
    "train_examples",
    "epochs",
    "max_length",
    "eval_examples",
    "device",
)


def test_the_cost_model_carries_the_scale_of_work_beyond_what_it_was_fitted_on() -> None:
    """Seconds grow with words per example on data sets of 5 to 20 words; a data set of 80 words, four
    times the longest seen, is priced about four times as high (trees alone would stop at the edge)."""
    rows = [
        _row(f"d{words}", p, 0.9, seed=s, seconds=2.0 * words * (1 + 0.03 * s), input_words=words)
        for words in (5, 8, 10, 12, 15, 20)
        for p in (LOGIT, MI)
        for s in range(3)
    ]
    model = CostModel.fit(pd.DataFrame(rows))
    setting = {k: rows[0][k] for k in _SETTING} | {"task_kind": "classification"}
    seen, longer = (model.seconds(candidate_rows([LOGIT], {**setting, "input_words": w}))[0] for w in (20, 80))
    assert 3.0 < longer / seen < 5.0


def test_the_cost_model_charges_the_dev_examples_scored_each_epoch() -> None:
    """The same pipelines and training work on dev splits of 200 to 5,000 examples: a run scoring
    more of them takes longer, and a new run is priced by the examples it will score."""
    sizes = (200, 500, 1000, 2000, 5000)
    rows = [
        _row(f"d{d}", p, 0.9, seed=s, seconds=(20.0 + 0.05 * n) * (1 + 0.03 * s), eval_examples=n)
        for d, n in enumerate(sizes * 2)
        for p in (LOGIT, MI)
        for s in range(3)
    ]
    model = CostModel.fit(pd.DataFrame(rows).assign(input_words=20.0))
    setting = {k: rows[0][k] for k in _SETTING} | {"task_kind": "classification", "input_words": 20.0}
    few, many = (model.seconds(candidate_rows([LOGIT], {**setting, "eval_examples": n}))[0] for n in (200, 5000))
    assert 25 < few < 40 and 220 < many < 300


def test_the_device_is_a_level_and_an_unseen_kind_gets_no_prediction() -> None:
    """GPU runs ten times as fast as CPU ones: the model tells them apart by the device's kind (a GPU's
    name is no level of its own), and a store of CPU runs alone predicts nothing for a GPU."""
    rows = [
        _row(f"d{d}", p, 0.9, seed=s, seconds=base * (1 + 0.03 * s), device=device)
        for d in range(4)
        for p in (LOGIT, MI)
        for s in range(3)
        for device, base in (("cpu", 100.0), ("cuda:NVIDIA H100 80GB HBM3", 10.0))
    ]
    runs = pd.DataFrame(rows).assign(input_words=20.0)
    model = CostModel.fit(runs, device="cuda:NVIDIA T4")
    setting = {k: rows[0][k] for k in _SETTING} | {"task_kind": "classification", "input_words": 20.0}
    cpu, gpu = (model.seconds(candidate_rows([LOGIT], {**setting, "device": d}))[0] for d in ("cpu", "cuda:T4"))
    assert 80 < cpu < 120 and 8 < gpu < 12
    assert CostModel.fit(runs[runs["device"] == "cpu"], device="cuda:NVIDIA T4") is None
    assert CostModel.fit(runs[runs["device"] == "cpu"], device="cpu") is not None


def test_runs_that_waited_for_their_cores_are_left_out_of_the_cost_fit() -> None:
    """Half of each configuration's runs shared a busy CPU and took three times as long, their process
    busy a third of the time: left out, the prediction is the idle machine's. A GPU run's CPU share,
    and a run that recorded none, say nothing of waiting."""
    rows = [
        _row(f"d{d}", p, 0.9, seed=s, seconds=30.0 * slow, cpu_time_s=30.0, cpu_threads=1, run_id=f"{d}{p.label}{s}")
        for d in range(4)
        for p in (LOGIT, MI)
        for s in range(4)
        for slow in (1.0, 3.0)
    ]
    runs = pd.DataFrame(rows).assign(input_words=20.0)
    assert waited(runs).sum() == len(runs) / 2
    assert waited(runs.assign(cpu_threads=2)).sum() == len(runs) / 2  # one busy core of two: no waiting
    gpu, unrecorded = runs.assign(device="cuda:NVIDIA H100 80GB HBM3"), runs.assign(cpu_time_s=None)
    assert not waited(gpu).any() and not waited(unrecorded).any() and not waited(runs.drop(columns="cpu_time_s")).any()
    setting = {k: rows[0][k] for k in _SETTING} | {"task_kind": "classification", "input_words": 20.0}
    predicted = CostModel.fit(runs).seconds(candidate_rows([LOGIT], setting))[0]
    assert 25 < predicted < 36


def test_a_runs_teacher_fine_tune_is_not_priced_into_the_pipeline() -> None:
    """The first run of each data set fine-tuned its teacher (five minutes inside its wall time) and
    a second one idled while it did: recommend fine-tunes the teacher before any pick, so the model
    prices the runs' own 30 s, and the idle wait is not mistaken for a busy machine."""
    first, waiting = {"teacher_s": 300.0, "cpu_time_s": 330.0}, {"teacher_s": 300.0, "cpu_time_s": 30.0}
    columns = {"cpu_time_s": 30.0, "teacher_s": 1.0, "cpu_threads": 1}
    rows = [
        _row(f"d{d}", p, 0.9, seed=s, seconds=30.0 + extra.get("teacher_s", 1.0), **{**columns, **extra})
        for d in range(4)
        for p in (LOGIT, MI)
        for s, extra in enumerate((first, waiting, {}, {}))
        if p == LOGIT or s >= 2
    ]
    runs = pd.DataFrame(rows).assign(input_words=20.0)
    assert list(run_seconds(runs)[:2]) == [30.0, 30.0] and not waited(runs).any()
    setting = {k: rows[0][k] for k in _SETTING} | {"task_kind": "classification", "input_words": 20.0}
    assert 25 < CostModel.fit(runs).seconds(candidate_rows([LOGIT], setting))[0] < 36
    assert run_seconds(runs.drop(columns="teacher_s")).equals(runs["wall_time_s"])  # not recorded: wall time whole


def test_a_probed_run_is_priced_at_the_speed_of_the_machine_it_will_run_on() -> None:
    """Runs on a machine whose speed probe took 0.05 s, and runs stored before the probe on machines
    twice as slow: a candidate probed at 0.05 s is priced as the first, one probed three times as slow
    three times as dear, and an unprobed one at the earlier runs' level. A model fitted on no probed runs
    cannot relate a probe to seconds, so it does not read one."""
    probed = [
        _row(f"d{d}", p, 0.9, seed=s, seconds=base * (1 + 0.03 * s), speed_probe_s=0.05)
        for d in range(4)
        for p, base in ((LOGIT, 20.0), (MI, 40.0))
        for s in range(3)
    ]
    earlier = [
        _row(f"e{d}", p, 0.9, seed=s, seconds=2 * base * (1 + 0.03 * s))
        for d in range(4)
        for p, base in ((LOGIT, 20.0), (MI, 40.0))
        for s in range(3)
    ]
    model = CostModel.fit(pd.DataFrame(probed + earlier).assign(input_words=20.0))
    setting = {k: probed[0][k] for k in _SETTING} | {"task_kind": "classification", "input_words": 20.0}
    here, slower, unprobed = (
        model.seconds(candidate_rows([LOGIT], {**setting, "speed_probe_s": probe}))[0] for probe in (0.05, 0.15, None)
    )
    assert 18 < here < 23 and 2.9 < slower / here < 3.1 and 36 < unprobed < 46
    before = CostModel.fit(pd.DataFrame(earlier).assign(input_words=20.0))
    read, ignored = (before.seconds(candidate_rows([LOGIT], {**setting, "speed_probe_s": p}))[0] for p in (0.05, None))
    assert read == ignored


def test_runs_timed_one_after_another_on_one_device_share_a_machine_session() -> None:
    """A pause over half an hour starts a new session; another device label is a session of its own even
    at the same time; a run without its end or wall time has none."""
    runs = pd.DataFrame(
        {
            "created_at": [
                "2026-01-01T10:01:00",
                "2026-01-01T10:02:00",
                "2026-01-01T11:00:00",
                "2026-01-01T10:02:00",
                None,
            ],
            "wall_time_s": [60.0, 60.0, 60.0, 60.0, 60.0],
            "device": ["cpu", "cpu", "cpu", "cuda:NVIDIA H200", "cpu"],
        }
    )
    sessions = machine_sessions(runs)
    assert sessions[0] == sessions[1] == "cpu from 2026-01-01T10:00:00"
    assert sessions[2] == "cpu from 2026-01-01T10:59:00" and sessions[3].startswith("cuda:NVIDIA H200 from")
    assert pd.isna(sessions[4])


def test_a_stored_run_is_priced_at_the_speed_of_its_machine_session() -> None:
    """Unprobed runs from two sessions, on four data sets each, the later machine twice as fast: a run of
    either session is priced at its machine's speed, a candidate (no session) at their average, and a
    model told to read no sessions prices both sessions' runs alike."""
    rows = [
        _row(f"{when}{d}", p, 0.9, seed=s, seconds=speed * base * (1 + 0.03 * s))
        for when, speed in (("a", 2.0), ("b", 1.0))
        for d in range(4)
        for p, base in ((LOGIT, 20.0), (MI, 40.0))
        for s in range(3)
    ]
    for i, row in enumerate(rows):  # one run after another, the second session two days on
        row["created_at"] = (
            pd.Timestamp("2026-01-01T10:00") + pd.Timedelta(days=2 * (i >= 24), minutes=2 * i)
        ).isoformat()
    runs = cost_columns(pd.DataFrame(rows)).assign(input_words=20.0)
    assert runs["machine_session"].nunique() == 2
    model = CostModel.fit(runs)
    slow, fast = (model.seconds(runs[runs["dataset"] == name].head(1))[0] for name in ("a0", "b0"))
    assert 1.8 < slow / fast < 2.2
    setting = {k: rows[0][k] for k in _SETTING} | {"task_kind": "classification", "input_words": 20.0}
    average = model.seconds(candidate_rows([LOGIT], setting))[0]
    assert fast < average < slow
    blind = CostModel.fit(runs.drop(columns="machine_session"))
    assert blind.seconds(runs[runs["dataset"] == "a0"].head(1))[0] == pytest.approx(
        blind.seconds(runs[runs["dataset"] == "b0"].head(1))[0], rel=0.05
    )


def test_the_cost_range_is_how_far_unseen_data_sets_were_missed() -> None:
    """Ten data sets run the same work at speeds the inputs cannot see (0.5x to 2x): the range a new data
    set gets spans that spread; with equal speeds it is narrow. Without families there is no range."""

    def runs(speeds: np.ndarray) -> pd.DataFrame:
        rows = [
            _row(f"d{d}", p, 0.9, seed=s, seconds=30.0 * speed * (1 + 0.02 * s))
            for d, speed in enumerate(speeds)
            for p in (LOGIT, MI)
            for s in range(3)
        ]
        return pd.DataFrame(rows).assign(input_words=20.0)

    setting = {k: _row("d0", LOGIT, 0.9)[k] for k in _SETTING} | {"task_kind": "classification", "input_words": 20.0}
    candidate = candidate_rows([LOGIT], setting)
    spread_out, alike = (runs(np.exp(np.linspace(-0.7, 0.7, 10))), runs(np.ones(10)))
    by_family = CostModel.fit(spread_out, family_of=lambda name: name)
    ((low, high),) = by_family.predict(candidate)[1]
    ((tight_low, tight_high),) = CostModel.fit(alike, family_of=lambda name: name).predict(candidate)[1]
    assert high / low > 2.5 and tight_high / tight_low < 1.2
    assert CostModel.fit(spread_out).predict(candidate)[1] == [None]
    assert by_family.predict(candidate.assign(device="cuda:T4"))[1] == [None]


def test_logit_kd_and_the_other_pipelines_get_ranges_of_their_own() -> None:
    """Logit KD's seconds swing between data sets (0.5x to 2x) where MI-α's do not: logit KD's range spans the
    swing and MI-α's stays narrow. A class with too few runs on a device gets the device's range."""
    rows = [
        _row(f"d{d}", p, 0.9, seed=s, seconds=(30.0 * speed if p == LOGIT else 300.0) * (1 + 0.02 * s))
        for d, speed in enumerate(np.exp(np.linspace(-0.7, 0.7, 10)))
        for p in (LOGIT, MI)
        for s in range(3)
    ]
    runs = pd.DataFrame(rows).assign(input_words=20.0)
    setting = {k: rows[0][k] for k in _SETTING} | {"task_kind": "classification", "input_words": 20.0}
    candidates = candidate_rows([LOGIT, MI], setting)
    (logit_low, logit_high), (mi_low, mi_high) = CostModel.fit(runs, family_of=lambda name: name).predict(candidates)[1]
    assert logit_high / logit_low > 2.5 and mi_high / mi_low < 1.5
    few_mi = runs[(runs["inter_loss"] != "mi") | runs["dataset"].isin(["d0", "d9"])]  # 6 MI-α runs
    model = CostModel.fit(few_mi, family_of=lambda name: name)
    assert ("cpu", "other") not in model.spreads
    low, high = model.spreads[("cpu", "")]
    (mi_seconds,), ((few_low, few_high),) = model.predict(candidates.iloc[[1]])
    assert (few_low, few_high) == pytest.approx((mi_seconds * np.exp(low), mi_seconds * np.exp(high)))


def test_words_per_example_count_what_a_model_reads(toy_task: TaskData) -> None:
    assert input_words(toy_task.train) == pytest.approx(5.0)  # four sentiment words and "movie"
    pair = pd.DataFrame({"text": ["a b", "c"], "text_pair": ["d e f", "g"], "answer_text": ["x y z", "w"]})
    assert input_words(pair) == pytest.approx(1.5 + 2.0)
    assert card_words("bbc-news") > 100 and np.isnan(card_words("my-own.csv"))


def test_families_hold_sibling_data_sets_out_together() -> None:
    assert dataset_family("brown-pos") == dataset_family("brown-pos-fine") == "brown"
    assert dataset_family("sotu-party") == dataset_family("sotu-year")
    assert dataset_family("bbc-news") == "bbc-news" and dataset_family("file.csv") == "file.csv"


def test_the_held_out_evaluation_reports_cost_error_coverage_and_the_top_pick() -> None:
    runs = _table(6, {MI: 0.0, EMD: -0.06}, noise=0.02).assign(input_words=np.nan)
    result = evaluate_advice(runs, family_of=lambda name: name)
    figures = result.figures()
    assert set(result.gains["dataset"]) == {f"d{d}" for d in range(6)}
    assert 0.5 <= figures["gain_interval_coverage"] <= 1.0
    assert figures["settings"] == 6 and figures["settings_top_not_logit"] == 0  # nothing beats logit KD
    assert figures["top_mean_ratio"] == pytest.approx(figures["logit_mean_ratio"])
    assert figures["cost_runs_cpu_recorded"] == figures["cost_runs_waited"] == 0  # these runs recorded none
    assert 0.0 <= figures["cost_range_coverage"] <= 1.0
    assert (result.costs["low_s"] <= result.costs["high_s"]).all()


def test_a_shift_of_a_whole_settings_gains_is_told_apart_from_the_configurations_effect() -> None:
    shifted = pd.DataFrame(
        {
            "setting": ["s1", "s1", "s2", "s2", "s3", "s3"],
            "config": ["a", "b"] * 3,
            "gain": [0, 0, -0.2, -0.2, 0.1, 0.1],
        }
    )
    assert variance_shares(shifted) == pytest.approx({"configuration": 0.0, "setting": 1.0, "both": 1.0})
    by_config = shifted.assign(gain=[0.0, -0.1] * 3)
    assert variance_shares(by_config) == pytest.approx({"configuration": 1.0, "setting": 0.0, "both": 1.0})


def test_residual_spread_is_in_interval_standard_deviations_per_group() -> None:
    """An 80 % interval of half-width 1.2816 (one standard deviation of 1): a residual of 2 is 2 deviations."""
    half = 1.2815516
    gains = pd.DataFrame(
        {
            "gain": [2.0, -2.0, 0.5, 0.5],
            "mean": [0.0, 0.0, 0.0, 0.0],
            "low": [-half] * 4,
            "high": [half] * 4,
            "covered": [False, False, True, True],
        }
    )
    spread = residual_spread(gains, pd.Series(["wide", "wide", "narrow", "narrow"]))
    assert spread.loc["wide", "rms"] == pytest.approx(2.0, rel=1e-5)
    assert spread.loc["wide", "mean"] == pytest.approx(0.0)
    assert spread.loc["narrow", "rms"] == pytest.approx(0.5, rel=1e-5)
    assert spread.loc["narrow", "mean"] == pytest.approx(0.5, rel=1e-5)
    assert spread["coverage"].to_dict() == {"narrow": 1.0, "wide": 0.0}
    assert spread["gains"].to_dict() == {"narrow": 2, "wide": 2}


def test_the_held_out_cost_rows_say_which_runs_recorded_cpu_time_waited_or_were_probed() -> None:
    runs = _table(6, {MI: 0.0}, noise=0.02).assign(input_words=np.nan)
    runs.loc[:5, ["cpu_time_s", "cpu_threads"]] = (10.0, 1)  # six runs of 30 s that used their thread 10 s
    runs.loc[6:9, "speed_probe_s"] = 0.05
    figures = evaluate_advice(runs, family_of=lambda name: name).figures()
    assert figures["cost_runs_cpu_recorded"] == figures["cost_runs_waited"] == 6
    assert figures["cost_runs_probed"] == 4


def test_cost_is_checked_on_the_runs_it_is_given_beside_the_gains() -> None:
    """Gains read on one split version; wall times from every version's runs (the cost model's own data)."""
    runs = _table(6, {MI: 0.0, EMD: -0.06}, noise=0.02).assign(input_words=np.nan)
    earlier = runs.assign(run_id=runs["run_id"] + "-v1", split_version=1)
    alone = evaluate_advice(runs, family_of=lambda name: name)
    both = evaluate_advice(runs, family_of=lambda name: name, cost_runs=pd.concat([runs, earlier]))
    assert len(both.costs) == 2 * len(alone.costs) and set(earlier["run_id"]) <= set(both.costs["run_id"])
    assert both.gains.equals(alone.gains) and both.top.equals(alone.top)


@pytest.fixture
def store(tmp_path: Path, toy_task: TaskData):
    with RunStore(tmp_path / "runs.sqlite") as runs_store:
        fill_store(runs_store, toy_task, mi_gain=0.0)
        yield runs_store


def test_recommend_puts_logit_kd_first_when_nothing_beats_it(store: RunStore, toy_task: TaskData) -> None:
    rec = recommend(toy_task, store, top=3, show_progress=False)
    assert rec.picks[0].config == LOGIT and rec.verdict.startswith("logit KD first")
    assert all(p.minutes is not None and p.minutes > 0 for p in rec.picks)
    assert all(p.minutes_range[0] <= p.minutes <= p.minutes_range[1] for p in rec.picks)  # the store's data sets
    assert all((p.gain is None) == p.config.logit_only for p in rec.picks)  # logit KD is what gains are over


def test_recommend_puts_first_what_led_logit_kd_beyond_the_noise_on_the_data_sets_own_runs(
    store: RunStore, toy_task: TaskData
) -> None:
    mi = fixed_default("mi-alpha")  # the paper's MI-α, a configuration of the advice space
    store.add_runs(
        RunRecord(
            toy_task.spec.name, "classification", config, TEACHER, STUDENT, score, 0.9,
            featurizer_version=VERSION, test_score=score, teacher_test_score=0.9, test_ratio=score / 0.9,
            fidelity="realistic", wall_time_s=20.0, train_examples=500, epochs=3, max_length=128,
            device=training_device(), eval_examples=100, seed=seed,
        )
        for seed, noise in enumerate((0.0, 0.003, -0.003))
        for config, score in ((LOGIT, 0.72 + noise), (mi, 0.81 + noise))
    )  # fmt: skip
    rec = recommend(toy_task, store, student=STUDENT.name, top=3, show_progress=False)
    assert rec.picks[0].config == mi and rec.verdict.startswith("beats logit KD on this data set's own runs")
    shown = rec.picks[0].gain  # the lead measured on its own runs, not what the other data sets predict
    assert shown.low > 0 and shown.mean == pytest.approx(0.1, abs=0.01) and "own runs" in rec.picks[0].reason
    assert rec.logit_kd.config == LOGIT and rec.picks[0].minutes is not None
    unseen = recommend(toy_task, store, student=STUDENT.name, unseen=True, top=3,
                       show_progress=False)  # fmt: skip
    assert "own runs" not in unseen.verdict, "held out, its own runs are not evidence"


def test_a_trial_runs_logit_kd_and_the_likeliest_alternatives_with_seeds_and_the_advice_reads_them(
    store: RunStore, toy_task: TaskData
) -> None:
    common = {"student": STUDENT.name, "top": 3, "show_progress": False}
    plan = recommend(toy_task, store, trial=2, trial_seeds=3, **common).trial
    assert plan.logit == LOGIT and len(plan.alternatives) == 2 and plan.seeds == 3
    assert plan.gains[0].high >= plan.gains[1].high and LOGIT not in plan.alternatives
    assert plan.total_minutes == pytest.approx(3 * (sum(plan.minutes) + plan.minutes[0])) and "12 runs" in plan.line
    lead = plan.alternatives[1]  # on this data set the second leads logit KD by 0.05, seeds 0.003 apart

    def trial_fn(trial: Trial, threads: int | None = None, task: TaskData | None = None) -> Outcome:
        ratio = 0.8 + 0.05 * (trial.config == lead) + 0.003 * (trial.engine.train.seed - 1)
        return Outcome(trial.trial_id, fake_result(trial, ratio), None, 0.01)

    rec = recommend(toy_task, store, trial=2, trial_seeds=3, **common)
    report = run_trial(rec, store, make_budget(), show_progress=False, trial_fn=trial_fn)
    assert report.ran == 12
    assert report.summary()["no-KD"].iloc[0] == pytest.approx(0.8), "its seeds' mean, not seed 0's 0.797"
    said = trial_readout(rec.trial, report)  # the lead, 0.05 with seeds 0.003 apart; the rest level with logit KD
    assert said.startswith("trial, dev ratio over logit KD's (3 seeds each") and f"{lead.label} +0.050 ± 0." in said
    assert said.endswith(f"beyond 2 standard errors: {lead.label}") and "the student alone +0.000" in said
    assert trial_readout(rec.trial, replace(report, records={})).startswith("trial: too few finished runs")
    again = recommend(toy_task, store, **common)
    assert again.picks[0].config == lead and again.verdict.startswith("beats logit KD on this data set's own runs")
    assert "3 seeds against 3" in again.verdict and again.command == "run"

    def alone_wins(trial: Trial, threads: int | None = None, task: TaskData | None = None) -> Outcome:
        ratio = trial_fn(trial).result.ratio + 0.2 * (trial.kind == "finetune")  # no teacher needed here
        return Outcome(trial.trial_id, fake_result(trial, ratio), None, 0.01)

    store._conn.execute("DELETE FROM trials")
    store._conn.execute("DELETE FROM runs WHERE dataset = ?", (toy_task.spec.name,))
    run_trial(rec, store, make_budget(), show_progress=False, trial_fn=alone_wins)
    alone = recommend(toy_task, store, **common)
    assert alone.command == "finetune" and alone.verdict.startswith("train the student alone")
    with pytest.raises(AutodistillError, match="--trial-seeds at least 2"):
        recommend(toy_task, store, trial=2, trial_seeds=1, **common)
    with pytest.raises(AutodistillError, match="--unseen leaves out"):
        recommend(toy_task, store, trial=2, unseen=True, **common)


def test_a_trial_on_a_users_file_reads_its_runs_of_the_student_alone_as_the_files_own(
    store: RunStore, toy_task: TaskData, tmp_path: Path
) -> None:
    """A file's trials are logged under its path and its runs under the name it loads under (the engine's
    result names the task): the advice reads both as one data set's, so the student alone can win there."""
    common = {"student": STUDENT.name, "top": 3, "show_progress": False, "dataset": str(tmp_path / "toy.csv")}
    rec = recommend(toy_task, store, trial=2, trial_seeds=3, **common)

    def alone_wins(trial: Trial, threads: int | None = None, task: TaskData | None = None) -> Outcome:
        ratio = 0.8 + 0.2 * (trial.kind == "finetune") + 0.003 * (trial.engine.train.seed - 1)
        result = replace(fake_result(trial, ratio), dataset=toy_task.spec.name)  # as the engine names it
        return Outcome(trial.trial_id, result, None, 0.01)

    run_trial(rec, store, make_budget(), show_progress=False, trial_fn=alone_wins)
    assert set(store.trials(status="done")["dataset"]) >= {common["dataset"]}
    again = recommend(toy_task, store, **common)
    assert again.command == "finetune" and again.verdict.startswith("train the student alone")


def test_a_budget_in_minutes_keeps_the_picks_whose_range_fits(store: RunStore, toy_task: TaskData) -> None:
    common = {"top": 3, "show_progress": False}
    free = recommend(toy_task, store, **common).picks
    costly = max(free, key=lambda p: p.minutes)
    between = (costly.minutes + costly.minutes_range[1]) / 2  # its point estimate fits, its range's top does not
    rec = recommend(toy_task, store, minutes=between, **common)
    assert costly.config not in {p.config for p in rec.picks}
    assert all(p.minutes_range[1] <= between for p in rec.picks)
    wider = recommend(toy_task, store, minutes=costly.minutes_range[1] + 0.01, **common)
    assert costly.config in {p.config for p in wider.picks}
    logit = next(p for p in free if p.config == LOGIT)
    with pytest.raises(AutodistillError, match=r"below the cheapest pipeline's predicted time: logit KD, .* up to"):
        recommend(toy_task, store, minutes=(logit.minutes + logit.minutes_range[1]) / 2, **common)
    with pytest.raises(AutodistillError, match="must be positive"):
        recommend(toy_task, store, minutes=0, **common)


def test_a_task_kind_without_runs_gets_logit_kd_and_how_to_add_runs(tmp_path: Path, toy_task: TaskData) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        fill_store(store, toy_task)
        store._conn.execute("UPDATE runs SET task_kind = 'regression'")  # the store knows another kind only
        rec = recommend(toy_task, store, top=2, show_progress=False)
    assert rec.picks[0].config == LOGIT
    assert "no runs on classification data sets" in rec.verdict and "autodistill sweep" in rec.verdict
    assert "at the cheap budget class" not in rec.verdict
    assert len(CONFIGS) > 2


def test_a_task_kind_run_only_at_the_other_budget_class_says_so(tmp_path: Path, toy_task: TaskData) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        fill_store(store, toy_task)
        store._conn.execute("UPDATE runs SET fidelity = 'cheap'")  # classification runs, but cheap ones only
        rec = recommend(toy_task, store, top=2, show_progress=False)
    assert rec.picks[0].config == LOGIT and "(it holds some at the cheap budget class)" in rec.verdict


def test_a_store_with_too_few_gains_says_how_many_it_holds(tmp_path: Path, toy_task: TaskData) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        fill_store(store, toy_task)
        store._conn.execute("DELETE FROM runs WHERE dataset != (SELECT MIN(dataset) FROM runs)")  # one setting
        rec = recommend(toy_task, store, top=2, show_progress=False)
        plan = recommend(toy_task, store, top=2, trial=2, show_progress=False).trial
    assert rec.picks[0].config == LOGIT
    assert re.search(
        r"too few runs beside logit KD at this budget of students started from pretrained weights "
        r"\(\d+ gains over logit KD in 1 setting; 10 in 2 needed",
        rec.verdict,
    )
    fixed = (fixed_default("tinybert"), fixed_default("mi-alpha"))  # the list's first two after logit KD
    assert plan.alternatives == fixed and plan.gains == (None, None), "nothing to rank by: the list in its order"
    assert "the study's fixed list in its order, as the store has too few runs beside logit KD" in plan.line
    from cli import render

    with render.console.capture() as said:
        render.trial_plan(plan)
    assert " ".join(said.get().split()).count("gain over logit KD not predicted") == 2


def test_unseen_leaves_out_the_whole_family(tmp_path: Path) -> None:
    """brown-pos-fine shares brown-pos's sentences: holding out one holds out both."""
    from test_recommend import VERSION, _features

    from autodistill.advice.runs import training_runs

    with RunStore(tmp_path / "runs.sqlite") as store:
        fill_store(store)
        for k, name in enumerate(("brown-pos", "brown-pos-fine")):
            store.put_features(_features(name, 600, 12, k))
        store._conn.execute("UPDATE runs SET dataset = 'brown-pos' WHERE dataset = 'news-like'")
        store._conn.execute("UPDATE runs SET dataset = 'brown-pos-fine' WHERE dataset = 'reviews-like'")
        kept = training_runs(store, "ours", VERSION, "brown-pos-fine", unseen=True)
    assert set(kept["dataset"]) == {"spam-like"}


def _baselines(store: RunStore, names: tuple[str, ...], lead: float) -> None:
    """The student trained alone on each of ``names``, ``lead`` dev ratio above fill_store's logit KD (about 0.80)."""
    rng = np.random.default_rng(3)
    for name in names:
        ratio = 0.80 + lead + rng.normal(0, 0.002)
        store.record_trial(TrialRecord(
            f"alone-{name}", "finetune", name, STUDENT.name, "done", {"epochs": 3, "max_length": 128},
            {"teacher": TEACHER.name}, student_score=0.9 * ratio, teacher_score=0.9, ratio=ratio,
            fidelity="realistic", test_ratio=0.1,
        ))  # fmt: skip


def test_other_data_sets_predict_training_alone_and_a_gain_that_clears_makes_it_the_advice(
    store: RunStore, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autodistill.advice import alone

    runs = store.runs(source="ours")
    assert alone.predicted_alone(runs, alone.baseline_rows(store.trials())) is None  # no baselines: no answer
    _baselines(store, TRAINING_SETS, lead=0.05)
    gains = alone.alone_gains(runs, alone.baseline_rows(store.trials()))
    assert len(gains) == 3 and gains.between(0.03, 0.07).all()
    rec = recommend(toy_task, store, top=2, show_progress=False)
    assert rec.alone is None and rec.command == "run"  # three pairs are too few to predict from
    monkeypatch.setattr(alone, "MIN_PAIRS", 3)
    rec = recommend(toy_task, store, top=2, show_progress=False, unseen=True)
    assert rec.command == "finetune" and rec.alone.clears and rec.alone.support == 3
    assert rec.verdict.startswith("train the student alone (no KD): +0.0") and "3 other (data set" in rec.verdict
    assert rec.picks[0].config == LOGIT, "what to distil, should the user distil anyway"


def test_a_predicted_loss_of_training_alone_is_shown_and_changes_nothing(
    store: RunStore, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autodistill.advice import alone

    monkeypatch.setattr(alone, "MIN_PAIRS", 3)
    _baselines(store, TRAINING_SETS, lead=-0.05)
    rec = recommend(toy_task, store, top=2, show_progress=False)
    assert rec.command == "run" and rec.alone.high < 0 and rec.verdict.startswith("logit KD first")
    from cli import render

    with render.console.capture() as said:
        render.advice(rec, 2, "picks.json")
    assert f"train {STUDENT.name} alone (no KD): -0.0" in " ".join(said.get().split())
    assert "(`finetune --recommendation picks.json`)" in said.get(), "the command that trains it alone, never split"
    assert rec.dev_examples == 32 and "dev holds 32 examples: a run's dev ratio is known there to about +-0." in (
        " ".join(said.get().split())
    ), "a gain the user's own dev split cannot show is said to be so"
    with render.console.capture() as said:
        render.advice(replace(rec, dev_examples=5_000), 2, "picks.json")
    assert "dev holds" not in said.get(), "a dev split that resolves gains is not remarked on"
    with render.console.capture() as said:
        render.advice(replace(rec, dev_ratio_se=0.004), 2, "picks.json")  # measured on a tagger's sentences
    assert "dev holds" not in said.get(), "measured finer than the bound on 32 examples: not coarse"


def test_a_dev_splits_resolution_is_measured_on_the_probes_predictions(tmp_path: Path) -> None:
    """A tagger's 150 sentences: measured on the probe's test predictions, at dev's size, in ratio units."""
    from autodistill.advice.recommend import _measured_resolution
    from engine import ExamplePredictions

    rng = np.random.default_rng(0)
    refs = [[int(t) for t in rng.integers(0, 3, size=20)] for _ in range(150)]
    preds = [[t if rng.random() < 0.9 else (t + 1) % 3 for t in row] for row in refs]
    found = ExamplePredictions("token", "accuracy", preds, refs)
    with RunStore(tmp_path / "runs.sqlite") as store:
        store.put_test_predictions({"probe-1": found})
        probe = pd.Series({"trial_id": "probe-1"})
        measured = _measured_resolution(store, probe, 300, 0.95)
        assert measured == pytest.approx(found.standard_error() * np.sqrt(150 / 300) / 0.95)
        assert measured < np.sqrt(0.09 / 300) / 0.95 / 2, "several times below the bound on the count"
        assert _measured_resolution(store, pd.Series({"trial_id": "none"}), 300, 0.95) is None
        assert _measured_resolution(store, None, 300, 0.95) is None


def _longer_runs(toy_task: TaskData, gain: float, test_ratio: float | None = None) -> pd.DataFrame:
    """The paper's MI-α on ``toy_task`` at the study's patient budget (20 epochs, 10x the seconds), ``gain``
    dev ratio above the realistic logit KD runs :func:`_add_logit_kd` stores; scored on test as ``test_ratio``."""
    mi = fixed_default("mi-alpha")
    rows = [
        _row(toy_task.spec.name, mi, 0.80 + gain + noise, seed, seconds=200.0, fidelity="patient", epochs=20,
             teacher_name=TEACHER.name, student_name=STUDENT.name, split_version=1,
             test_ratio=0.80 + gain if test_ratio is None else test_ratio)
        for seed, noise in enumerate((0.0, 0.003, -0.003))
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _add_logit_kd(store: RunStore, toy_task: TaskData) -> None:
    """Logit KD on ``toy_task`` at the realistic budget, three seeds at a dev ratio about 0.80."""
    store.add_runs(
        RunRecord(
            toy_task.spec.name, "classification", LOGIT, TEACHER, STUDENT, 0.9 * (0.80 + noise), 0.9,
            featurizer_version=VERSION, test_score=0.72, teacher_test_score=0.9, test_ratio=0.80,
            fidelity="realistic", wall_time_s=20.0, train_examples=500, epochs=3, max_length=128,
            device=training_device(), eval_examples=100, seed=seed,
        )
        for seed, noise in enumerate((0.0, 0.003, -0.003))
    )  # fmt: skip


def test_training_longer_goes_first_where_the_data_sets_own_runs_back_it_and_a_budget_sets_it_aside(
    store: RunStore, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _add_logit_kd(store, toy_task)
    monkeypatch.setattr("autodistill.advice.recommend.patient_runs", lambda: _longer_runs(toy_task, 0.05))
    common = {"student": STUDENT.name, "top": 3, "show_progress": False}
    rec = recommend(toy_task, store, **common)
    first = rec.picks[0]
    assert first.config == fixed_default("mi-alpha") and first.engine["train"]["epochs"] == 20 and rec.patient == first
    assert rec.verdict.startswith("training longer beats logit KD") and first.gain.mean == pytest.approx(0.05)
    assert first.minutes == pytest.approx(10 * rec.logit_kd.minutes) and rec.logit_kd.engine["train"]["epochs"] == 3
    assert load_recommendation(rec.save(tmp_path / "rec.json")).patient == first
    assert load_recommendation(tmp_path / "rec.json").dev_examples == len(toy_task.dev)
    from cli.options import pipeline_config

    alone = pipeline_config(None, {}, tmp_path / "rec.json", pick=None)  # `autodistill finetune --recommendation`
    assert alone.train.epochs == 3, "the student alone at the budget its advice was weighed at, not pick 1's"
    older = {**rec.to_json(), "version": 9, "patient": {"gain": asdict(first.gain), "times": 10.0, "epochs": 20}}
    (tmp_path / "v9.json").write_text(json.dumps(older))
    assert load_recommendation(tmp_path / "v9.json").patient is None, "a format-9 file's gain runs nothing"
    unseen = recommend(toy_task, store, unseen=True, **common)
    assert unseen.patient is None and unseen.picks[0].engine["train"]["epochs"] == 3, "its own runs back nothing"
    tight = recommend(toy_task, store, minutes=5 * rec.logit_kd.minutes, **common)
    assert tight.patient.rank == 0 and all(p.engine["train"]["epochs"] == 3 for p in tight.picks)
    from cli import render

    with render.console.capture() as said:
        render.advice(tight, 5, tmp_path / "rec.json")
    shown = said.get().splitlines()
    assert any("20 epochs" in line and "-." in line for line in shown) and "over --budget" in said.get()
    assert len(shown) <= 15, "one screen"
    ranged = replace(tight, patient=replace(tight.patient, minutes_range=(1.0, 9.0)))
    with render.console.capture() as said:
        render.advice(ranged, 5, tmp_path / "rec.json")
    assert "≤9.0 min" in said.get(), "over --budget: the range's top that put it there"
    with render.console.capture() as explained:
        render.recommendation(tight, 5, tmp_path / "rec.json", "legend")
    assert "train longer (over --budget)" in " ".join(explained.get().split())
    monkeypatch.setattr("autodistill.advice.recommend.patient_runs", lambda: _longer_runs(toy_task, 0.05, 0.1))
    store._conn.execute("UPDATE runs SET test_ratio = 0.1, test_score = 0.09")
    again = recommend(toy_task, store, **common)
    assert [(p.config, p.engine["train"]["epochs"], p.gain) for p in again.picks] == [
        (p.config, p.engine["train"]["epochs"], p.gain) for p in rec.picks
    ], "test scores choose nothing"
    monkeypatch.setattr("autodistill.advice.recommend.patient_runs", lambda: _longer_runs(toy_task, -0.05))
    worse = recommend(toy_task, store, **common)
    assert worse.picks[0].engine["train"]["epochs"] == 3 and worse.patient.gain.high < 0
