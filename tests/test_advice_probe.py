"""The probe: one run of the student alone on the target, read against the cut other pairs set."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_recommend import (  # noqa: F401 (cached_teacher is autouse: no real teacher fine-tune)
    LOGIT,
    STUDENT,
    TEACHER,
    TRAINING_SETS,
    cached_teacher,
    fill_store,
)
from test_sweep import fake_result

from autodistill.advice import probe as probe_module
from autodistill.advice import recommend as recommend_module
from autodistill.advice.evidence import Evidence
from autodistill.advice.gain import measured_estimate
from autodistill.advice.probe import Probe, own_probe, probe_threshold, read_probe
from autodistill.advice.recommend import recommend
from autodistill.advice.recommendation import Pick, load_recommendation
from autodistill.advice.rules import _alone_first
from autodistill.store.database import RunStore, TrialRecord
from autodistill.sweep import Outcome, Trial
from autodistill.sweep.runner import run_trials
from engine import TaskData, default_output_dir


def _pairs(probes: list[float], alone: list[float], logit: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"probe": probes, "alone": alone, "logit": logit})


def test_the_cut_is_where_training_alone_above_it_and_distilling_below_does_best_on_dev() -> None:
    pairs = _pairs([0.70, 0.80, 0.95, 0.99], [0.70, 0.78, 0.96, 1.00], [0.80, 0.85, 0.90, 0.95])
    assert probe_threshold(pairs) == 0.95  # alone wins on the two highest probes only
    distil_everywhere = _pairs([0.70, 0.95], [0.60, 0.90], [0.80, 0.97])
    assert probe_threshold(distil_everywhere) is None


def test_a_probe_reads_against_the_cut_with_the_gain_above_it_and_too_few_pairs_decide_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pairs = _pairs([0.70, 0.80, 0.95, 0.99], [0.70, 0.78, 0.96, 1.00], [0.80, 0.85, 0.90, 0.95])
    assert read_probe(pairs, 0.97) is None and read_probe(pairs, None) is None  # four pairs: too few
    monkeypatch.setattr(probe_module, "MIN_PAIRS", 4)
    above = read_probe(pairs, 0.97)
    assert above.says_alone and above.above.mean == pytest.approx(0.055) and "at or above the cut" in above.summary
    below = read_probe(pairs, 0.90)
    assert not below.says_alone and "below the cut 0.950" in below.summary
    assert not Probe(0.99, None, 4, None).says_alone


def _baseline(name: str, seed: int | None, ratio: float, *, epochs: int = 3, split_version: int = 1) -> TrialRecord:
    return TrialRecord(
        f"alone-{name}-{seed}-{epochs}-{split_version}", "finetune", name, STUDENT.name, "done",
        {"epochs": epochs, "max_length": 128, "seed": seed}, {"teacher": TEACHER.name}, student_score=0.9 * ratio,
        teacher_score=0.9, ratio=ratio, fidelity="realistic", split_version=split_version,
    )  # fmt: skip


def test_the_targets_probe_is_its_lowest_seed_at_the_budget_on_its_latest_splits(tmp_path: Path) -> None:
    from autodistill.advice.alone import baseline_rows

    with RunStore(tmp_path / "runs.sqlite") as runs_store:
        for record in (
            _baseline("toy", 1, 0.91),
            _baseline("toy", 0, 0.90),
            _baseline("toy", 0, 0.50, epochs=12),  # another budget
            _baseline("toy", 2, 0.93, split_version=2),
            _baseline("other", 0, 0.70),
        ):
            runs_store.record_trial(record)
        baselines = baseline_rows(runs_store.trials())
    budget = {"epochs": 3, "max_length": 128, "train_examples": 500}
    assert own_probe(baselines, "toy", TEACHER.name, STUDENT.name, budget) == 0.93  # the only seed on version 2
    assert own_probe(baselines, "toy", TEACHER.name, STUDENT.name, {**budget, "epochs": 12}) == 0.50
    assert own_probe(baselines, "toy", "bert-base", STUDENT.name, budget) is None


@pytest.fixture
def store(tmp_path: Path, toy_task: TaskData):
    """The fake store (logit KD about 0.80 on three data sets) with no-KD baselines on each: the student
    alone well above logit KD on the first, well below it on the other two, so the cut falls at the first's
    probe."""
    with RunStore(tmp_path / "runs.sqlite") as runs_store:
        fill_store(runs_store, toy_task, mi_gain=0.0)
        for name, ratio in zip(TRAINING_SETS, (0.95, 0.70, 0.70), strict=True):
            for seed in range(2):
                runs_store.record_trial(_baseline(name, seed, ratio + 0.001 * seed))
        yield runs_store


def _runner(trial_fn):
    """run_trials with ``trial_fn`` in place of training."""
    return lambda trials, runs_store, **kwargs: run_trials(trials, runs_store, **{**kwargs, "trial_fn": trial_fn})


def _probe_runner(ratio: float, calls: list[Trial]):
    """run_trials with a fake trial that trains nothing: the student alone at ``ratio``."""

    def trial_fn(trial: Trial, threads: int | None = None, task: TaskData | None = None) -> Outcome:
        calls.append(trial)
        return Outcome(trial.trial_id, fake_result(trial, ratio), None, 0.01)

    return _runner(trial_fn)


def test_recommend_trains_the_student_alone_once_and_a_probe_at_or_above_the_cut_makes_it_the_advice(
    store: RunStore,
    toy_task: TaskData,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(probe_module, "MIN_PAIRS", 3)
    calls: list[Trial] = []
    monkeypatch.setattr(recommend_module, "run_trials", _probe_runner(0.97, calls))
    rec = recommend(toy_task, store, top=2, show_progress=False)
    assert len(calls) == 1 and calls[0].kind == "finetune" and calls[0].engine.train.seed == 0
    assert rec.command == "finetune" and rec.picks[0].config == LOGIT  # what to distil, should the user anyway
    assert rec.verdict.startswith("train the student alone (no KD): one run of it reached 0.970")
    assert rec.probe.threshold == pytest.approx(0.95) and rec.probe.pairs == 3 and "probe_s" in rec.timings
    again = recommend(toy_task, store, top=2, show_progress=False)
    assert len(calls) == 1 and again.probe == rec.probe, "the stored probe is read, not trained again"
    loaded = load_recommendation(rec.save(tmp_path / "rec.json"))
    assert loaded.probe == rec.probe and loaded.command == "finetune"


def test_a_probe_scored_by_another_metric_is_not_read_as_this_ones(
    store: RunStore, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import DataColumns

    monkeypatch.setattr(probe_module, "MIN_PAIRS", 3)
    calls: list[Trial] = []
    monkeypatch.setattr(recommend_module, "run_trials", _probe_runner(0.97, calls))
    recommend(toy_task, store, top=2, show_progress=False)
    by_f1 = DataColumns(metric="f1")
    recommend(toy_task, store, top=2, show_progress=False, columns=by_f1)
    assert len(calls) == 2 and calls[1].engine.columns == by_f1, "the accuracy probe is not the f1 one"
    recommend(toy_task, store, top=2, show_progress=False, columns=by_f1)
    recommend(toy_task, store, top=2, show_progress=False)
    assert len(calls) == 2, "each reads its own probe"


def test_a_probe_that_scored_the_most_there_is_on_dev_makes_training_alone_the_advice(
    store: RunStore, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Dev cannot show any pipeline above a perfect score, whatever the other pairs predict."""
    monkeypatch.setattr(probe_module, "MIN_PAIRS", 3)
    monkeypatch.setattr(recommend_module, "run_trials", _probe_runner(1 / 0.9, []))  # the student scores 1.0
    rec = recommend(toy_task, store, top=2, show_progress=False)
    assert rec.command == "finetune" and rec.probe.perfect
    assert rec.verdict.startswith("train the student alone (no KD): one run alone scored the most there is on dev")
    assert load_recommendation(rec.save(tmp_path / "rec.json")).probe == rec.probe
    longer = Pick(1, LOGIT, {"train": {"epochs": 20}}, gain=measured_estimate(0.04, 0.01))  # backed, 20 epochs
    default = Pick(0, LOGIT, {"train": {"epochs": 3}})
    for perfect, command in ((True, "finetune"), (False, "run")):
        evidence = Evidence(None, None, {}, "", probe=Probe(1.0, None, 8, None, perfect=perfect))
        assert _alone_first(longer, "", default, evidence, [], own=True)[2] == command, "over a longer pick too"


def test_a_probe_below_the_cut_changes_nothing_and_without_probing_none_is_trained(
    store: RunStore,
    toy_task: TaskData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(probe_module, "MIN_PAIRS", 3)
    calls: list[Trial] = []
    monkeypatch.setattr(recommend_module, "run_trials", _probe_runner(0.80, calls))
    untouched = recommend(toy_task, store, top=2, show_progress=False, probe=False)
    assert not calls and untouched.probe is None
    rec = recommend(toy_task, store, top=2, show_progress=False)
    assert len(calls) == 1 and rec.command == "run" and rec.verdict.startswith("logit KD first")
    assert not rec.probe.says_alone and np.isclose(rec.probe.ratio, 0.80)


def test_a_probe_that_answered_one_label_everywhere_decides_nothing_and_the_advice_says_so(
    store: RunStore, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(probe_module, "MIN_PAIRS", 3)

    def one_label(trial: Trial, threads: int | None = None, task: TaskData | None = None) -> Outcome:
        result = replace(fake_result(trial, 0.97), one_answer="pos")  # at or above the cut, by the label counts
        folder = default_output_dir(trial.engine, "finetune")
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps(asdict(result)))
        return Outcome(trial.trial_id, result, None, 0.01)

    monkeypatch.setattr(recommend_module, "run_trials", _runner(one_label))
    rec = recommend(toy_task, store, top=2, show_progress=False)
    assert rec.probe.one_answer == "pos" and not rec.probe.says_alone and rec.command == "run"
    assert "one run alone answered 'pos' to every dev example (0.970 of the teacher)" in rec.probe.summary
    assert load_recommendation(rec.save(tmp_path / "rec.json")).probe == rec.probe


def test_a_probe_run_that_fails_is_said_and_the_advice_goes_without_it(
    store: RunStore, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe_module, "MIN_PAIRS", 3)

    def fails(trial: Trial, threads: int | None = None, task: TaskData | None = None) -> Outcome:
        return Outcome(trial.trial_id, None, "RuntimeError: out of memory", 0.01)

    monkeypatch.setattr(recommend_module, "run_trials", _runner(fails))
    said: list[str] = []
    rec = recommend(toy_task, store, top=2, show_progress=False, on_status=said.append)
    assert rec.probe is None and rec.command == "run"
    assert any("alone failed (RuntimeError: out of memory); the advice goes without it" in line for line in said)


def test_the_cut_reads_the_student_alone_at_this_budget_from_the_shipped_patient_file_too(
    tmp_path: Path, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pretrained students' realistic runs ship in the patient study's file: pairs there set the cut."""
    from autodistill.advice.alone import baseline_rows

    monkeypatch.setattr(probe_module, "MIN_PAIRS", 3)
    monkeypatch.setattr(recommend_module, "run_trials", _probe_runner(0.97, []))
    with RunStore(tmp_path / "runs.sqlite") as user, RunStore(tmp_path / "patient.sqlite") as shipped:
        fill_store(user, toy_task, mi_gain=0.0)
        for name, ratio in zip(TRAINING_SETS, (0.95, 0.70, 0.70), strict=True):
            for seed in range(2):
                shipped.record_trial(_baseline(name, seed, ratio + 0.001 * seed))
        assert recommend(toy_task, user, top=2, show_progress=False).probe is None  # no pairs: no cut
        monkeypatch.setattr(recommend_module, "patient_runs", lambda: user.runs(source="ours"))
        monkeypatch.setattr(recommend_module, "patient_baselines", lambda: baseline_rows(shipped.trials()))
        rec = recommend(toy_task, user, top=2, show_progress=False)
    assert rec.probe.pairs == 3 and rec.probe.threshold == pytest.approx(0.95) and rec.command == "finetune"
