"""The held-out evaluation: arms chosen without the data set, one row per run, its statistics."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import toy_frame
from scipy import stats
from test_sweep import fake_result

import cli
import engine
from autodistill import sweep
from autodistill.advice.evidence import Evidence
from autodistill.advice.gain import GainEstimate
from autodistill.bridge import baseline_config, make_budget
from autodistill.evaluation.heldout import HeldoutSettings, arms, evaluate_heldout, protocol, summarize_heldout
from autodistill.evaluation.heldout import summary as summary_module
from autodistill.evaluation.heldout.arms import assemble_arms, best_mean_rank
from autodistill.evaluation.heldout.summary import PICK, heldout_markdown, study_section
from autodistill.features.featurize import featurizer_version, word_counts
from autodistill.features.glove import load_glove
from autodistill.space import DEFAULT_SPACE
from autodistill.space.defaults import FIXED_DEFAULTS
from autodistill.store.database import DatasetFeatures, ModelDescriptor, RunRecord, RunStore, TrialRecord
from autodistill.sweep import study_plan
from engine import AutodistillError, TaskData, TaskSpec, TaskType
from engine.teachers.finetune import FinetunedModel

VERSION = featurizer_version("bilstm")
TEACHER = ModelDescriptor("minilm-l6", 6, 384, 22_713_216)
STUDENT = ModelDescriptor("tiny", 2, 128, 4_400_000)
CONFIGS = list(DEFAULT_SPACE.configurations())[::300]
NAMES = ("toy-a", "toy-b", "toy-c")
SETTINGS = HeldoutSettings(k=2, seeds=2, budget=make_budget(epochs=1, max_length=16))


def _task(name: str) -> TaskData:
    seed = NAMES.index(name) if name in NAMES else 9
    spec = TaskSpec(name, TaskType.CLASSIFICATION, "Is this toy review positive or negative?", ("neg", "pos"))
    return TaskData(spec, toy_frame(96, seed), toy_frame(32, seed + 10), toy_frame(32, seed + 20))


def _features(task: TaskData, vocabulary: frozenset[str] | None = None) -> DatasetFeatures:
    rng = np.random.default_rng(len(task.spec.name))
    vectors = load_glove()
    return DatasetFeatures(
        task.spec.name, VERSION, "classification", len(task.train), 2, 0.6, "bilstm",
        tuple(float(x) for x in rng.normal(0, 0.1, 50)), tuple(float(x) for x in rng.normal(0, 0.4, 50)),
        vocabulary if vocabulary is not None else frozenset(w for w in word_counts(task) if w in vectors),
    )  # fmt: skip


def _fill(store: RunStore) -> None:
    """Runs of 'ours' on three toy data sets at the cheap budget: MI-α distils best everywhere; CONFIGS
    and the study's fixed list run on every one."""
    rng = np.random.default_rng(0)
    for name in NAMES:
        store.put_features(_features(_task(name)))
        store.add_runs(
            RunRecord(
                name, "classification", config, TEACHER, STUDENT,
                0.9 * (0.8 + 0.1 * (config.inter_loss == "mi") + rng.normal(0, 0.01)), 0.9, featurizer_version=VERSION,
                fidelity="cheap",
            )
            for config in [*CONFIGS, *(c.pipeline for c in study_plan.STUDY_CONFIGS)]
        )  # fmt: skip


def fake_trial(trial: sweep.Trial, threads: int | None = None, task: TaskData | None = None) -> sweep.Outcome:
    """A cheap trial whose result has a test ratio: MI-α best, the no-KD baseline worst."""
    mi = trial.config is not None and trial.config.inter_loss == "mi"
    ratio = 0.7 if trial.config is None else 0.8 + 0.1 * mi
    result = replace(fake_result(trial, ratio), test_ratio=ratio - 0.01, wall_seconds=2.0)
    return sweep.Outcome(trial.trial_id, result, None, 0.01)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunStore:
    fake_teacher = FinetunedModel("minilm-l6", "toy", Path("/nowhere"), "accuracy", 0.9, {}, 0.0, 0.0, {})
    monkeypatch.setattr(engine, "finetune_teacher", lambda *a, **k: fake_teacher)
    monkeypatch.setattr(engine, "load_task", _task)
    monkeypatch.setattr(engine, "list_datasets", lambda: [_task(name).spec for name in NAMES])
    with RunStore(tmp_path / "runs.sqlite") as runs_store:
        _fill(runs_store)
        yield runs_store


# -- arms ----------------------------------------------------------------------------------------------


def test_each_arm_gets_its_configurations() -> None:
    picks = CONFIGS[:2]
    best = CONFIGS[3]
    assembled = assemble_arms(picks, TaskType.CLASSIFICATION, "toy-a", 2, 0, best)
    by_arm: dict[str, list] = {}
    for item in assembled:
        by_arm.setdefault(item.arm, []).append(item.config)
    assert by_arm["pick"] == picks
    assert len(set(by_arm["random"])) == 2
    assert by_arm["random"] == arms.random_configs(TaskType.CLASSIFICATION, "toy-a", 2, 0)  # seeded: reruns agree
    assert by_arm["random"] != arms.random_configs(TaskType.CLASSIFICATION, "toy-a", 2, 1)
    assert by_arm["random"] != arms.random_configs(TaskType.CLASSIFICATION, "toy-b", 2, 0)
    for name, point in FIXED_DEFAULTS.items():
        assert by_arm[f"default:{name}"] == [point]
    assert by_arm["default:best-mean-rank"] == [best] and by_arm["baseline"] == [None]
    regression = assemble_arms(picks, TaskType.REGRESSION, "toy-a", 1, 0, None)
    assert {c.config.pred_loss for c in regression if c.config is not None and c.arm != "pick"} == {"mse"}
    assert not any(c.arm == "default:best-mean-rank" for c in regression)


class _Gains:
    """A gain model that predicts ``gain`` for MI-α pipelines, 0 for the rest, each ± ``half``."""

    def __init__(self, gain: float, half: float) -> None:
        self.gain, self.half = gain, half

    def estimate(self, pipelines: list) -> list[GainEstimate]:
        means = [self.gain if p.inter_loss == "mi" else 0.0 for p in pipelines]
        return [GainEstimate(m, m - self.half, m + self.half, 3) for m in means]


@pytest.mark.parametrize(("gain", "first_is_logit"), [(0.02, True), (0.08, False)])
def test_the_picks_put_logit_kd_first_unless_a_gain_clears_its_interval(gain: float, first_is_logit: bool) -> None:
    logit = FIXED_DEFAULTS["logit"]
    candidates = [FIXED_DEFAULTS["tinybert"], FIXED_DEFAULTS["mi-alpha"], logit]
    evidence = Evidence(None, _Gains(gain, 0.05), {}, "")  # type: ignore[arg-type]
    picks, line = arms.advised_picks(candidates, logit, evidence, 2)
    assert picks[0] == (logit if first_is_logit else FIXED_DEFAULTS["mi-alpha"]) and len(picks) == 2
    assert picks[1] == FIXED_DEFAULTS["tinybert"]  # then the candidates' order
    assert line.startswith("logit KD first") == first_is_logit
    unknown, why = arms.advised_picks(candidates, logit, Evidence(None, None, {}, "too few runs"), 3)
    assert unknown == [logit, *candidates[:2]] and "too few runs" in why


def test_random_draws_are_counted_apart_from_the_picks() -> None:
    none = assemble_arms(CONFIGS[:1], TaskType.CLASSIFICATION, "toy-a", 0, 0, None)
    assert [a.arm for a in none if a.arm in ("pick", "random")] == ["pick"]
    with pytest.raises(AutodistillError, match="--random"):
        HeldoutSettings(random=-1)


def _study_runs(
    winners: dict[str, str], kinds: dict[str, str] | None = None, fidelity: str | None = None, only: str | None = None
) -> pd.DataFrame:
    """The fixed list's runs on each data set of ``winners`` (or just ``only``), as its task kind runs
    them; the named configuration scores best there, the others in list order."""
    kinds = kinds or {}
    records = []
    for dataset, winner in winners.items():
        kind = kinds.get(dataset, "classification")
        task = TaskType.CLASSIFICATION if kind == "pair-classification" else TaskType(kind)
        for rank, config in enumerate(study_plan.STUDY_CONFIGS):
            pipeline = config.for_task(task)
            if pipeline is None or (only and config.name != only):
                continue
            score = 0.9 if config.name == winner else 0.8 - rank / 100
            records.append(
                RunRecord(dataset, kind, pipeline, TEACHER, STUDENT, score, 1.0, featurizer_version=VERSION,
                          fidelity=fidelity)
            )  # fmt: skip
    with RunStore(":memory:") as scratch:
        scratch.add_runs(records)
        return scratch.runs()


def test_best_mean_rank_follows_the_fixed_list_across_task_types() -> None:
    """A regression data set runs each configuration with the MSE prediction loss, a token-tagging one
    without text augmentation; the name is what is followed, and the held-out task gets its own form."""
    kinds = {"c": "classification", "r": "regression", "t": "token"}
    runs = _study_runs({"c": "cos", "r": "cos", "t": "cos"}, kinds)
    assert best_mean_rank(runs, TaskType.CLASSIFICATION) == study_plan.STUDY_CONFIGS[4].pipeline  # cos / skip / ce
    assert best_mean_rank(runs, TaskType.REGRESSION) == replace(study_plan.STUDY_CONFIGS[4].pipeline, pred_loss="mse")
    ra = _study_runs({"c": "tinybert-ra", "r": "tinybert-ra"}, kinds)
    assert best_mean_rank(ra, TaskType.CLASSIFICATION).augment == ("ra",)
    assert best_mean_rank(ra, TaskType.TOKEN) == FIXED_DEFAULTS["logit"]  # the token task cannot run ra: next best


def test_a_data_set_with_a_partial_sweep_is_left_out_of_best_mean_rank() -> None:
    whole = _study_runs({"a": "pkd", "b": "pkd"})
    partial = _study_runs({"c": "logit"}, only="logit")
    both = pd.concat([whole, partial.dropna(axis=1, how="all")], ignore_index=True)
    assert best_mean_rank(both, TaskType.CLASSIFICATION).inter_loss == "pkd"
    assert best_mean_rank(partial, TaskType.CLASSIFICATION) is None


def test_best_mean_rank_is_chosen_at_the_budget_it_will_run_at() -> None:
    """A configuration that wins every cheap run but loses at the realistic budget is not the realistic pick."""
    cheap = _study_runs({"a": "cos", "b": "cos"}, fidelity="cheap")
    realistic = _study_runs({"a": "pkd", "b": "pkd"}, fidelity="realistic")
    both = pd.concat([cheap, cheap, cheap, realistic], ignore_index=True)  # cheap runs outnumber the realistic ones
    assert best_mean_rank(both, TaskType.CLASSIFICATION, "realistic").inter_loss == "pkd"
    assert best_mean_rank(both, TaskType.CLASSIFICATION, "cheap").inter_loss == "cos"
    assert best_mean_rank(cheap, TaskType.CLASSIFICATION, "realistic") is None


def test_the_held_out_data_sets_runs_never_reach_the_advice(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, set[str]] = {}
    real_gather = protocol.gather_evidence

    def spying_gather(runs, task, *args, **kwargs):
        seen[task.spec.name] = set(runs["dataset"])
        return real_gather(runs, task, *args, **kwargs)

    monkeypatch.setattr(protocol, "gather_evidence", spying_gather)
    evaluate_heldout(store, SETTINGS, out=tmp_path / "results.csv", show_progress=False, trial_fn=fake_trial)
    assert seen == {name: set(NAMES) - {name} for name in NAMES}
    with pytest.raises(AutodistillError, match="include the held-out data set"):
        protocol.make_choices(_task("toy-a"), store.runs(), SETTINGS, SETTINGS.budget)


# -- running and the results file ---------------------------------------------------------------------------


def test_one_row_per_run_with_its_test_ratio_and_a_rerun_runs_nothing(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "heldout" / "results.csv"
    ran: list[int] = []
    real_run_trials = protocol.run_trials

    def counting(*args, **kwargs):
        report = real_run_trials(*args, **kwargs)
        ran.append(report.ran)
        return report

    monkeypatch.setattr(protocol, "run_trials", counting)
    rows = evaluate_heldout(store, SETTINGS, datasets=["toy-a", "toy-b"], out=out, show_progress=False,
                            trial_fn=fake_trial)  # fmt: skip
    assert list(pd.read_csv(out).columns) == list(protocol.COLUMNS)
    per_seed = 2 + 2 + len(FIXED_DEFAULTS) + 1 + 1  # picks, random, defaults, best-mean-rank, baseline
    assert len(rows) == 2 * (2 * per_seed + 1)  # two data sets, two seeds, one oracle each
    runs = rows[rows["arm"] != "oracle"]
    assert set(runs["seed"]) == {42, 43} and runs["test_ratio"].notna().all() and runs["trial_id"].notna().all()
    baseline = runs["arm"] == "baseline"
    assert (runs.loc[baseline, "config"] == "no-KD").all()
    assert runs.loc[~baseline, "run_id"].notna().all() and runs.loc[baseline, "run_id"].isna().all()  # no runs row
    assert sorted(runs.loc[runs["arm"] == "pick", "rank"].unique()) == [1, 2]  # the advice's order
    assert runs.loc[runs["arm"] != "pick", "rank"].isna().all()
    oracle = rows[rows["arm"] == "oracle"]
    assert oracle["seed"].isna().all() and oracle["test_ratio"].isna().all() and oracle["dev_ratio"].notna().all()
    choices = json.loads((out.parent / protocol.CHOICES_FILE).read_text())
    assert sorted(choices) == ["toy-a|minilm-l6|tiny|k=2", "toy-b|minilm-l6|tiny|k=2"]
    assert all(c["verdict"] and c["rule"]["order"] == protocol.ADVICE_ORDER for c in choices.values())
    assert ran[0] > 0 and ran[1] > 0

    frozen = (out.parent / protocol.CHOICES_FILE).read_text()
    monkeypatch.setattr(protocol, "gather_evidence", lambda *a, **k: pytest.fail("the frozen picks were not reused"))
    again = evaluate_heldout(store, SETTINGS, datasets=["toy-a", "toy-b"], out=out, show_progress=False,
                             trial_fn=fake_trial)  # fmt: skip
    assert ran[2:] == [0, 0] and (out.parent / protocol.CHOICES_FILE).read_text() == frozen
    pd.testing.assert_frame_equal(again, rows)


def test_an_arm_logged_as_failed_stays_an_error_row_until_retried(store: RunStore, tmp_path: Path) -> None:
    out = tmp_path / "heldout" / "results.csv"
    settings = replace(SETTINGS, seeds=1)

    def dies_on_the_baseline(trial: sweep.Trial, threads: int | None = None, task: TaskData | None = None):
        if trial.config is None:
            return sweep.Outcome(trial.trial_id, None, "BrokenProcessPool: a child process terminated abruptly", 0.01)
        return fake_trial(trial, threads, task)

    first = evaluate_heldout(store, settings, datasets=["toy-a"], out=out, show_progress=False,
                             trial_fn=dies_on_the_baseline)  # fmt: skip
    assert first.loc[first["arm"] == "baseline", "error"].str.startswith("BrokenProcessPool").all()
    again = evaluate_heldout(store, settings, datasets=["toy-a"], out=out, show_progress=False, trial_fn=fake_trial)
    assert again.loc[again["arm"] == "baseline", "test_ratio"].isna().all()  # failed trials are skipped by default
    retried = evaluate_heldout(store, replace(settings, retry_failed=True), datasets=["toy-a"], out=out,
                               show_progress=False, trial_fn=fake_trial)  # fmt: skip
    baseline = retried[retried["arm"] == "baseline"]
    assert baseline["test_ratio"].notna().all() and baseline["error"].isna().all()


def test_picks_frozen_by_another_rule_are_chosen_again(store: RunStore, tmp_path: Path) -> None:
    out = tmp_path / "heldout" / "results.csv"
    evaluate_heldout(store, SETTINGS, datasets=["toy-a"], out=out, show_progress=False, trial_fn=fake_trial)
    path = out.parent / protocol.CHOICES_FILE
    key = "toy-a|minilm-l6|tiny|k=2"
    saved = json.loads(path.read_text())
    assert saved[key]["rule"] == protocol.choice_identity()
    stale = {"picks": [CONFIGS[0].to_dict()] * 2, "best_mean_rank": None, "trained_on": {"datasets": [], "runs": 0},
             "predictor": {"format": 7, "order": "logit KD first unless ..."}}  # fmt: skip
    path.write_text(json.dumps({key: stale}))  # frozen by the ranker
    said: list[str] = []
    rows = evaluate_heldout(store, SETTINGS, datasets=["toy-a"], out=out, show_progress=False, trial_fn=fake_trial,
                            on_status=said.append)  # fmt: skip
    assert any("another rule" in line for line in said)
    assert json.loads(path.read_text())[key] == saved[key]  # the same rule chooses the same again
    picks = rows.loc[rows["arm"] == "pick", "config_json"]
    assert set(picks) == {json.dumps(p, sort_keys=True) for p in saved[key]["picks"]}


def _curved_trial(trial: sweep.Trial, threads: int | None = None, task: TaskData | None = None) -> sweep.Outcome:
    """``fake_trial`` with a dev curve that stops gaining after epoch 3 (what a probe's plateau is read from)."""
    outcome = fake_trial(trial, threads, task)
    curve = [0.5, 0.6, 0.65] + [0.655] * (trial.engine.train.epochs - 3)
    history = [{"accuracy": score} for score in curve[: trial.engine.train.epochs]]
    return replace(outcome, result=replace(outcome.result, history=history))


def test_at_a_study_fidelity_the_arms_take_the_studys_budget_and_share_its_trials(
    store: RunStore, tmp_path: Path
) -> None:
    settings = HeldoutSettings(k=1, seeds=2, fidelity="realistic")
    rows = evaluate_heldout(store, settings, datasets=["toy-a"], out=tmp_path / "r.csv", show_progress=False,
                            trial_fn=_curved_trial)  # fmt: skip
    probe = study_plan.probe_trial("toy-a", "tiny", study_plan.REALISTIC, "minilm-l6")
    assert probe.trial_id in set(store.trials(status="done")["trial_id"])  # run first: it sets the epochs
    runs = rows[rows["arm"] != "oracle"]
    assert set(runs["fidelity"]) == {"realistic"} and set(runs["seed"]) == {0, 1}
    study = study_plan.pair_trials("toy-a", "classification", "tiny", study_plan.REALISTIC, 3, teacher="minilm-l6")
    fixed = runs[runs["arm"].isin([f"default:{name}" for name in FIXED_DEFAULTS] + ["baseline"])]
    assert len(fixed) == 2 * 4 and set(fixed["trial_id"]) <= {t.trial_id for t in study}  # the study's, 3 epochs
    assert protocol.made_here(rows, settings) == set(runs.loc[runs["arm"].isin(["pick", "random"]), "run_id"])
    with pytest.raises(AutodistillError, match="--fidelity realistic sets the per-trial budget; drop --epochs"):
        HeldoutSettings(fidelity="realistic", budget=make_budget(epochs=2))
    with pytest.raises(AutodistillError, match="unknown fidelity 'nope'"):
        HeldoutSettings(fidelity="nope")


def test_bad_input_is_one_line(store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AutodistillError, match="--k must be at least 1"):
        HeldoutSettings(k=0)
    with pytest.raises(AutodistillError, match="--seeds must be at least 1"):
        HeldoutSettings(seeds=0)
    assert protocol.study_datasets(store.runs(), None, {"toy-a", "toy-b", "elsewhere"}) == ["toy-a", "toy-b"]
    with pytest.raises(AutodistillError, match="unknown data set 'toy-c'"):  # runs, but no catalog data set
        protocol.study_datasets(store.runs(), ["toy-c"], {"toy-a", "toy-b"})
    with pytest.raises(AutodistillError, match="unknown data set 'nope'"):
        evaluate_heldout(store, SETTINGS, datasets=["nope"], out=tmp_path / "r.csv", trial_fn=fake_trial)
    monkeypatch.setattr(arms, "STORE_SCORE", "test_ratio")
    with pytest.raises(AutodistillError, match="no 'test_ratio' scores; fill them"):
        arms.stored_score(store.runs())


def test_runs_stored_before_test_scoring_are_refused_with_how_to_fill_them() -> None:
    trial = sweep.Trial.make("finetune", baseline_config(
        "toy-a", teacher="minilm-l6", student="tiny", budget=SETTINGS.budget), "tiny")  # fmt: skip
    record = TrialRecord(trial.trial_id, "finetune", "toy-a", "tiny", "done", {}, {}, ratio=0.8)  # no test ratio
    old = fake_result(trial, 0.8)
    engine_result = lambda *_a: sweep.Outcome(trial.trial_id, old, None, 0.01)  # noqa: E731
    with pytest.raises(AutodistillError, match=r"no test score .* delete the folders of such runs and rerun"):
        protocol._scores(trial, record, _task("toy-a"), engine_result)


def test_a_finished_arm_is_read_from_the_trial_log_and_never_trained_again() -> None:
    trial = sweep.Trial.make("finetune", baseline_config(
        "toy-a", teacher="minilm-l6", student="tiny", budget=SETTINGS.budget), "tiny")  # fmt: skip
    record = TrialRecord(trial.trial_id, "finetune", "toy-a", "tiny", "done", {}, {}, ratio=0.8, wall_time_s=3.0,
                         test_ratio=0.75)  # fmt: skip
    scores, error = protocol._scores(trial, record, _task("toy-a"), lambda *_a: pytest.fail("trained again"))
    assert error is None and scores == {"test_ratio": 0.75, "dev_ratio": 0.8, "wall_seconds": 3.0, "run_id": None}


# -- the summary --------------------------------------------------------------------------------------------


def _synthetic() -> pd.DataFrame:
    """Three data sets, two seeds: picks beat random on a and b, lose to it and to logit on c."""
    means = {
        "a": {"pick": 0.9, "random": 0.8, "default:logit": 0.85, "baseline": 0.7},
        "b": {"pick": 0.8, "random": 0.7, "default:logit": 0.82, "baseline": 0.6},
        "c": {"pick": 0.6, "random": 0.65, "default:logit": 0.7, "baseline": 0.5},
    }
    rows = []
    for dataset, by_arm in means.items():
        for arm, mean in by_arm.items():
            for seed, noise in ((0, -0.02), (1, 0.02)):
                # two configurations per seed whose mean is mean + noise
                rows += [{"dataset": dataset, "arm": arm, "seed": seed, "test_ratio": mean + noise + d}
                         for d in (-0.01, 0.01)]  # fmt: skip
        rows.append({"dataset": dataset, "arm": "oracle", "seed": None, "test_ratio": None, "dev_ratio": 0.95,
                     "config": "x"})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_summary_of_a_synthetic_frame() -> None:
    summary = summarize_heldout(_synthetic())
    table = summary.per_dataset
    assert table.loc["a", "pick"] == pytest.approx(0.9) and table.loc["c", "default:logit"] == pytest.approx(0.7)
    assert summary.seed_sd.loc["b", "random"] == pytest.approx(np.std([0.68, 0.72], ddof=1))
    assert table.loc["a", "oracle_dev_ratio"] == 0.95 and np.isnan(table.loc["a", "oracle_test_ratio"])
    overall = summary.overall.set_index("arm")["mean"]
    assert overall["pick"] == pytest.approx((0.9 + 0.8 + 0.6) / 3)
    comparisons = summary.comparisons.set_index("against")
    random = comparisons.loc["random"]
    assert (random["wins"], random["losses"], random["win_rate"]) == (2, 1, pytest.approx(2 / 3))
    expected = stats.wilcoxon([0.9, 0.8, 0.6], [0.8, 0.7, 0.65]).pvalue
    assert random["wilcoxon_p"] == pytest.approx(expected)
    assert comparisons.loc["default:logit", "wins"] == 1
    assert "baseline" not in comparisons.index
    lost = summary.losses
    assert list(zip(lost["dataset"], lost["arm"], strict=True)) == [
        ("c", "default:logit"), ("c", "random"), ("b", "default:logit")
    ]  # fmt: skip
    text = heldout_markdown(summary)
    assert "| random | 3 | 2 | 1 | 0 | 0.667 |" in text and "Where the picks lose" in text
    assert "Standard deviation across seeds" in text and "One seed per arm" not in text
    assert "Every arm scored the same" not in text
    one_seed = heldout_markdown(summarize_heldout(_synthetic().query("seed != 1")))
    assert "One seed per arm" in one_seed and "Standard deviation across seeds" not in one_seed
    goals = summary.targets.set_index("picks won")
    assert list(goals.index) == ["2/3", "1/3"] and list(goals["met"]) == ["no", "no"]  # 67% < 75%; 33% < 60%
    assert "default:logit" in goals.loc["1/3", "target"]


def test_the_top_pick_alone_is_an_arm_beside_the_mean_of_the_picks(tmp_path: Path) -> None:
    rows = _synthetic()
    picks = rows["arm"] == "pick"
    rows["rank"] = pd.Series(pd.NA, index=rows.index, dtype="Int64")
    rows.loc[picks, "rank"] = [1, 2] * (int(picks.sum()) // 2)  # per seed: the lower configuration ranked first
    summary = summarize_heldout(rows)
    assert summary.per_dataset.loc["a", "pick:1"] == pytest.approx(0.89)  # 0.9 - 0.01, over both seeds
    assert summary.overall.set_index("arm")["mean"]["pick:1"] == pytest.approx((0.89 + 0.79 + 0.59) / 3)
    top = summary.top_comparisons.set_index("against")
    assert top.loc["random", "wins"] == 2 and "pick" not in top.index and "pick:1" not in summary.comparisons.index
    assert "pick:1" not in set(summary.losses["arm"]) and "The top pick alone" in heldout_markdown(summary)
    old = tmp_path / "old.csv"  # a results file written before picks were ranked
    _synthetic().reindex(columns=[c for c in protocol.COLUMNS if c != "rank"]).to_csv(old, index=False)
    unranked = summarize_heldout(protocol.read_rows(old))
    assert "pick:1" not in unranked.per_dataset and unranked.top_comparisons.empty


def _top_and_logit(top: tuple[float, ...], logit: tuple[float, ...], top_config: str = "mi / skip / ce / none"):
    """Held-out rows of one data set: the top pick and logit KD, one run per seed, the pick 10x slower."""
    rows = []
    for arm, config, scores, seconds in ((PICK, top_config, top, 100.0), ("default:logit", "logit", logit, 10.0)):
        for seed, score in enumerate(scores):
            rank = 1 if arm == PICK else pd.NA
            row = {"config": config, "test_ratio": score, "dev_ratio": score, "wall_seconds": seconds}
            rows.append({"dataset": "a", "arm": arm, "rank": rank, "seed": seed, **row})
    return pd.DataFrame(rows).astype({"rank": "Int64"})


@pytest.mark.parametrize(
    ("top", "verdict"),
    [((0.80, 0.81, 0.79), "below"), ((0.91, 0.90, 0.89), "within noise"), ((0.96, 0.95, 0.97), "above")],
)
def test_the_top_pick_is_read_against_logit_kd_beside_the_noise(top: tuple[float, ...], verdict: str) -> None:
    rows = _top_and_logit(top, (0.90, 0.91, 0.89))
    against = summary_module.top_against_logit(rows, {"a": 0.01}).set_index("dataset")
    seeds_only = math.hypot(0.01 / math.sqrt(3), 0.01 / math.sqrt(3))  # both arms' spread is 0.01
    assert against.loc["a", "noise"] == pytest.approx(math.hypot(seeds_only, 0.01 * math.sqrt(2)))
    assert against.loc["a", "verdict"] == verdict and against.loc["a", "cost x"] == pytest.approx(10.0)
    goals = summary_module.top_targets(against.reset_index()).set_index("met")
    assert "no" in goals.index  # the pick costs 10x logit KD: the cost target is missed whatever its ratio


def test_a_top_pick_that_is_logit_kd_is_the_same_runs() -> None:
    rows = _top_and_logit((0.9, 0.91, 0.89), (0.9, 0.91, 0.89), top_config="logit")
    against = summary_module.top_against_logit(rows)
    assert against.loc[0, "verdict"] == "is logit KD" and against.loc[0, "difference"] == 0.0
    assert against.loc[0, "device"] == "unknown"  # rows written before runs named their device


def test_the_top_pick_row_names_the_device_its_seconds_were_measured_on() -> None:
    rows = _top_and_logit((0.9, 0.91, 0.89), (0.9, 0.91, 0.89)).assign(device="cuda:NVIDIA H200")
    rows.loc[0, "device"] = "cpu"
    against = summary_module.top_against_logit(rows)
    assert against.loc[0, "device"] == "cpu, cuda:NVIDIA H200"
    assert "on the `device` its arms trained on" in summary_module.heldout_markdown(
        summary_module.summarize_heldout(rows)
    )


def test_held_out_rows_carry_the_device_of_their_stored_runs(store: RunStore) -> None:
    """A study run read from the store names the device it trained on; a run with none is left out."""
    gpu = RunRecord("toy-gpu", "classification", CONFIGS[0], TEACHER, STUDENT, 0.8, 0.9,
                    featurizer_version=VERSION, device="cuda:NVIDIA H200")  # fmt: skip
    unnamed = RunRecord("toy-gpu", "classification", CONFIGS[1], TEACHER, STUDENT, 0.8, 0.9, featurizer_version=VERSION)
    store.add_runs([gpu, unnamed])
    assert protocol.run_devices(store, "toy-gpu") == {gpu.run_id: "cuda:NVIDIA H200"}


def test_selected_on_dev_keeps_each_seeds_best_dev_run_and_needs_every_arm_it_chooses_among() -> None:
    def run(dataset: str, arm: str, seed: int, dev: float, test: float) -> dict[str, object]:
        return {"dataset": dataset, "arm": arm, "seed": seed, "dev_ratio": dev, "test_ratio": test, "config": "x"}

    rows = pd.DataFrame(
        [
            run("a", "pick", 0, 0.9, 0.70), run("a", "pick", 0, 0.8, 0.95),  # the best dev is not the best test
            run("a", "pick", 1, 0.7, 0.60), run("a", "pick", 1, 0.9, 0.80),
            run("a", "random", 0, 0.5, 0.90), run("a", "default:logit", 0, 0.95, 0.85),
            run("b", "pick", 0, 0.6, 0.50), run("b", "random", 0, 0.7, 0.40),  # b: no logit KD ran
        ]
    )  # fmt: skip
    selected = summary_module.dev_selected(rows)
    assert selected.loc["a", "pick:dev"] == pytest.approx((0.70 + 0.80) / 2)  # seed 0: 0.70, seed 1: 0.80
    assert selected.loc["a", "random:dev"] == pytest.approx(0.90)
    # picks and logit KD together only where both ran on the seed: seed 0 of a, where logit's dev is best
    assert selected.loc["a", "pick+logit:dev"] == pytest.approx(0.85)
    assert np.isnan(selected.loc["b", "pick+logit:dev"]) and selected.loc["b", "pick:dev"] == pytest.approx(0.50)
    summary = summarize_heldout(rows)
    compared = summary.dev_comparisons.set_index("arm")
    assert compared.loc["pick:dev", "against"] == "random:dev" and compared.loc["pick:dev", "wins"] == 1
    assert "Selected on dev" in heldout_markdown(summary)
    assert "Selected on dev" not in heldout_markdown(summarize_heldout(_synthetic()))  # no dev ratios, no section


def test_a_target_is_met_only_with_its_win_rate_and_its_p_value() -> None:
    table = pd.DataFrame(
        {"pick": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], "random": [0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
         "default:logit": [0.95, 0.7, 0.6, 0.5, 0.4, 0.3], "default:tinybert": [0.5] * 6},
        index=pd.Index(list("abcdef"), name="dataset"),
    )  # fmt: skip

    def goals(part: pd.DataFrame) -> list[str]:
        compared = summary_module.comparisons(part)
        return list(summary_module.targets(compared, summary_module.best_default(part))["met"])

    assert goals(table) == ["yes", "yes"]  # 6/6, p = 0.03; logit (best mean) lost on 5 of 6
    assert goals(table.iloc[:3]) == ["no", "yes"]  # 3/3 cannot reach p < 0.05


def test_a_study_page_gets_the_section_once_there_are_results(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    assert study_section(path) is None
    protocol.write_rows(path, [_synthetic().reindex(columns=list(protocol.COLUMNS))])
    assert study_section(path) == heldout_markdown(summarize_heldout(_synthetic()))


def test_a_study_page_shows_each_fidelity_apart(tmp_path: Path) -> None:
    """A cheap and a realistic budget are never pooled: one part each, each from its own rows."""
    path = tmp_path / "results.csv"
    cheap, realistic = _synthetic().assign(fidelity="cheap"), _synthetic().assign(fidelity="realistic")
    realistic["test_ratio"] += 0.1
    protocol.write_rows(path, [frame.reindex(columns=list(protocol.COLUMNS)) for frame in (cheap, realistic)])
    text = study_section(path)
    assert text is not None
    cheap_part, realistic_part = text.split("## Held-out evaluation at the realistic budget")
    assert cheap_part.startswith("## Held-out evaluation at the cheap budget")
    assert "| pick | 0.767 | 3 |" in cheap_part and "| pick | 0.867 | 3 |" in realistic_part


def _fake_engine(config, *, show_progress=False, task=None, kind="distill", on_epoch=None):
    """engine.run / engine.finetune without training: a result with a test ratio, a run id per config."""
    trial = sweep.Trial.make(kind, config, config.student, None)
    run_id = hashlib.sha256(f"{kind}{config.model_dump_json()}".encode()).hexdigest()[:12]
    return replace(fake_result(trial, 0.8), run_id=run_id, test_ratio=0.78)


def test_the_command_prints_the_report_and_writes_it_beside_the_results(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engine, "run", _fake_engine)
    monkeypatch.setattr(engine, "finetune", lambda config, **k: _fake_engine(config, kind="finetune", **k))
    out = tmp_path / "results.csv"
    cli.app(["heldout", "--datasets", "toy-a,toy-b", "--k", "1", "--epochs", "1",
             "--store", str(store.path), "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "mean test ratio per arm" in printed and "default:mi-alpha" in printed and "picks against" in printed
    assert (tmp_path / "results.md").read_text().startswith("## Held-out evaluation")
    with pytest.raises(SystemExit) as exit_info:
        cli.app(["heldout", "--k", "0", "--store", str(store.path)])
    assert exit_info.value.code == 2 and "--k must be at least 1" in capsys.readouterr().err


def test_the_oracle_row_names_the_fidelity_of_its_run(store: RunStore) -> None:
    """The study page splits results by fidelity, the oracle's row included."""
    runs = store.runs(source="ours").assign(fidelity="realistic")
    first = runs.iloc[0]
    row = protocol.oracle_row(runs, first["dataset"], first["student_name"], int(first["split_version"]))
    assert row is not None and row["arm"] == "oracle" and row["fidelity"] == "realistic"


def test_the_oracle_comes_from_the_arms_split_version(store: RunStore) -> None:
    """A run on another split version, however high its dev ratio, is not the arms' oracle."""
    runs = store.runs(source="ours")
    first = runs.iloc[0]
    mine = runs[(runs["dataset"] == first["dataset"]) & (runs["student_name"] == first["student_name"])]
    best = mine["ratio"].idxmax()
    runs.loc[best, "split_version"] = 1
    runs.loc[mine.index.drop(best), "split_version"] = 2
    row = protocol.oracle_row(runs, first["dataset"], first["student_name"], 2)
    assert row is not None and row["run_id"] != runs.loc[best, "run_id"]
    assert protocol.oracle_row(runs, first["dataset"], first["student_name"], 1)["run_id"] == runs.loc[best, "run_id"]


def test_a_data_set_where_every_arm_scored_the_same_is_named_as_a_tie() -> None:
    rows = _synthetic()
    flat = rows["dataset"] == "b"
    rows.loc[flat & (rows["arm"] != "oracle"), "test_ratio"] = 0.9  # say, the majority class whatever the pipeline
    summary = summarize_heldout(rows)
    assert summary.comparisons.set_index("against").loc["random", "ties"] == 1
    text = heldout_markdown(summary)
    assert "Every arm scored the same on b:" in text


# -- prospective data sets and a trial on the held-out data set ----------------------------------------------


def test_a_catalog_data_set_without_runs_is_held_out_prospectively(store: RunStore) -> None:
    assert protocol.study_datasets(store.runs(), ["fresh"], {"toy-a", "toy-b", "fresh"}) == ["fresh"]


def test_a_trials_alternatives_run_beside_the_arms_and_are_frozen_with_the_picks(
    store: RunStore, tmp_path: Path
) -> None:
    out = tmp_path / "results.csv"
    rows = evaluate_heldout(
        store, replace(SETTINGS, trial=2), datasets=["toy-a"], out=out, show_progress=False, trial_fn=fake_trial
    )
    trial = rows[rows["arm"] == "trial"]
    assert trial["config"].nunique() == 2 and trial["seed"].nunique() == SETTINGS.seeds
    frozen = json.loads((tmp_path / "choices.json").read_text())
    assert [len(choice["trial"]) for key, choice in frozen.items() if "trial=2" in key] == [2]
    with pytest.raises(AutodistillError, match="--trial must be 0 or more"):
        HeldoutSettings(trial=-1)


def _trial_rows(alternative_dev: tuple[float, ...], alternative_test: tuple[float, ...]) -> pd.DataFrame:
    """One data set's logit KD, no-KD and trial rows (alternatives ``a`` and ``b``), three seeds."""
    arms_ = [
        ("default:logit", "logit", (0.90, 0.91, 0.89), (0.90, 0.91, 0.89)),
        ("baseline", None, (0.85, 0.86, 0.84), (0.85, 0.86, 0.84)),
        ("trial", "a", alternative_dev, alternative_test),
        ("trial", "b", (0.89, 0.90, 0.88), (0.99, 0.99, 0.99)),  # the best on test, never on dev
    ]
    rows = [
        {"dataset": "d", "arm": arm, "rank": pd.NA, "seed": seed, "config": config, "dev_ratio": dev,
         "test_ratio": test, "wall_seconds": 1.0}
        for arm, config, devs, tests in arms_
        for seed, (dev, test) in enumerate(zip(devs, tests, strict=True))
    ]  # fmt: skip
    return pd.DataFrame(rows).astype({"rank": "Int64"})


def test_a_trials_final_pick_is_chosen_on_dev_and_scored_on_test() -> None:
    rows = _trial_rows((0.95, 0.96, 0.94), (0.80, 0.81, 0.79))
    final = summary_module.trial_final(rows)
    assert set(final["config"]) == {"a"} and sorted(final["test_ratio"]) == [0.79, 0.80, 0.81]
    against = summary_module.against_defaults(rows).set_index(["arm", "against"])
    assert against.loc[("trial:final", "default:logit"), "verdict"] == "below"
    assert against.loc[("trial:final", "baseline"), "verdict"] == "below"


def test_without_a_lead_beyond_the_noise_a_trial_keeps_logit_kd() -> None:
    final = summary_module.trial_final(_trial_rows((0.905, 0.915, 0.895), (0.95, 0.95, 0.95)))
    assert set(final["config"]) == {"logit"}
    table = summary_module.against_defaults(_trial_rows((0.905, 0.915, 0.895), (0.95, 0.95, 0.95)))
    logit = table[(table["arm"] == "trial:final") & (table["against"] == "default:logit")]
    assert logit["verdict"].tolist() == ["the same runs"]


def test_a_trial_says_train_alone_where_the_student_alone_leads_on_dev_by_most() -> None:
    rows = _trial_rows((0.95, 0.96, 0.94), (0.95, 0.96, 0.94))
    alone = rows["arm"] == "baseline"
    rows.loc[alone, "dev_ratio"] = [0.99, 1.00, 0.98]  # leads logit KD by more than alternative a does
    final = summary_module.trial_final(rows)
    assert final["config"].isna().all() and len(final) == 3
    against = summary_module.against_defaults(rows).set_index(["arm", "against"])
    assert against.loc[("trial:final", "baseline"), "verdict"] == "the same runs"
