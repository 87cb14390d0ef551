"""The study page: each section's numbers on a hand-made store, and Figure 4 that runs only when asked."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pytest
from conftest import toy_frame
from test_recommend import _features, fake_corpus_text
from test_sweep import fake_trial
from typer.testing import CliRunner

import cli
from autodistill.advice.recommendation import Pick, Recommendation
from autodistill.bridge import baseline_config, engine_config, make_budget
from autodistill.evaluation import lodo as evaluate
from autodistill.evaluation.importance import COMPONENTS, PAIRS, pair_name
from autodistill.features.featurize import featurizer_version
from autodistill.space import DEFAULT_SPACE, Pipeline
from autodistill.store.database import ModelDescriptor, RunRecord, RunStore, TrialRecord
from autodistill.sweep import Trial
from engine import AutodistillError, TaskData, TaskSpec, TaskType, TrainSettings
from study import agreement, figure4, latency, report, sections, tables

VERSION = featurizer_version("bilstm")
TEACHER = ModelDescriptor("minilm-l6", 6, 384, 22_713_216)
STUDENTS = {
    "layers=0,2,4": ModelDescriptor("layers=0,2,4", 3, 384, 17_390_000),
    "tiny": ModelDescriptor("tiny", 2, 128, 4_400_000),
}
BUDGET = make_budget(epochs=1, max_length=16, max_train_examples=64)
BASE = {"alpha": 0.8, "beta": 0.7}
#: Ratio added by the intermediate loss (others add 0) and by augmentation, per student.
LEVEL_BONUS = {"mi-0.9": 0.10, "mi-0.5": 0.08, "cos": 0.06, "mse": 0.04}
AUG_GAIN = {"layers=0,2,4": -0.01, "tiny": 0.05}
NO_KD = 0.845


def _configs() -> list[Pipeline]:
    """Every intermediate-loss level, without and with contextual augmentation: 16 configurations."""
    return [
        Pipeline(inter_loss=loss, alpha=alpha, augment=augment)
        for loss, alpha in DEFAULT_SPACE.inter_choices()
        for augment in ((), ("ca",))
    ]


def _trial(
    kind: str, dataset: str, student: str, budget: TrainSettings, ratio: float, config: Pipeline | None = None
) -> TrialRecord:
    """A finished sweep trial: a no-KD baseline (``config`` None) or a distillation."""
    if config is None:
        engine = baseline_config(dataset, teacher=TEACHER.name, student=student, budget=budget)
    else:
        engine = engine_config(config, dataset, teacher=TEACHER.name, student=student, budget=budget)
    return TrialRecord(
        trial_id=Trial.make(kind, engine, student, config).trial_id,
        kind=kind,
        dataset=dataset,
        student_name=student,
        status="done",
        budget=budget.model_dump(mode="json"),
        config=engine.model_dump(mode="json"),
        student_score=0.9 * ratio,
        teacher_score=0.9,
        ratio=ratio,
    )


def fill(store: RunStore, budgets: Mapping[str, TrainSettings] | None = None) -> None:
    """Runs whose ratio is base + the level's bonus + the student's augmentation gain; no-KD trials at 0.845,
    each student's under ``budgets[student]`` (BUDGET by default)."""
    for seed, (dataset, base) in enumerate(BASE.items()):
        store.put_features(_features(dataset, 500, 2, seed))
        for name, student in STUDENTS.items():
            store.add_runs(
                RunRecord(
                    dataset,
                    "classification",
                    config,
                    TEACHER,
                    student,
                    0.9,
                    0.9,
                    ratio=base + LEVEL_BONUS.get(config.inter_level, 0.0) + AUG_GAIN[name] * bool(config.text_augment),
                    featurizer_version=VERSION,
                )
                for config in _configs()
            )
            store.record_trial(_trial("finetune", dataset, name, (budgets or {}).get(name, BUDGET), NO_KD))


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    with RunStore(tmp_path / "study.sqlite") as runs_store:
        fill(runs_store)
        yield runs_store


@pytest.fixture
def runs(store: RunStore) -> pd.DataFrame:
    return store.runs(source="ours")


#: CPU milliseconds per example of the fake timer, for every teacher and student the shipped study
#: has too: MiniLM's students 2x, 3x and 10x faster than it, TinyBERT4 15x faster than MPNet-base.
LATENCY_MS = {"minilm-l6": 30.0, "layers=0,2,4": 15.0, "mini": 10.0, "tiny": 3.0, "mpnet-base": 120.0, "tinybert4": 8.0}


def fake_latency(teacher: str, student: str, dataset: str, max_length: int) -> tuple[float, float]:
    return LATENCY_MS[teacher], LATENCY_MS[student]


@pytest.fixture(autouse=True)
def no_real_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports written without a ``latency_fn`` time with the fake one: no test builds a real model."""
    monkeypatch.setattr(report, "cpu_latencies", fake_latency)


def never(*args: object, **kwargs: object) -> None:
    raise AssertionError("nothing may be trained or run without run_missing")


def no_lodo(*args: object, **kwargs: object) -> None:
    raise AutodistillError("left out of this test")


# -- the sections' numbers --------------------------------------------------------------------------------


def test_one_student_at_two_budgets_is_two_settings_and_an_abandoned_budget_is_left_out(runs: pd.DataFrame) -> None:
    """A 24-step run and a plateaued one are never pooled: the tables group by ``<student> @ <fidelity>``."""
    cheap = runs.assign(fidelity="cheap")
    realistic = runs.assign(fidelity="realistic", run_id=runs["run_id"] + "-r")
    abandoned = runs.assign(fidelity="realistic-lr2e-3", run_id=runs["run_id"] + "-x")
    trials = pd.DataFrame(
        {"student_name": ["tiny", "tiny"], "fidelity": [None, "realistic"],
         "budget_json": ['{"max_train_examples": 192, "max_length": 48}', '{"max_train_examples": 2000}']}
    )  # fmt: skip
    both = pd.concat([cheap, realistic, abandoned], ignore_index=True)
    labelled, labelled_trials = tables.by_setting(both, trials)
    assert set(labelled["student_name"]) == {f"{s} @ {f}" for s in STUDENTS for f in ("cheap", "realistic")}
    assert len(labelled) == 2 * len(runs) and set(labelled["student_model"]) == set(STUDENTS)
    assert list(labelled_trials["student_name"]) == ["tiny @ cheap", "tiny @ realistic"]  # an old trial's, derived
    assert tables.dropped_fidelities(both) == {"realistic-lr2e-3": len(runs)}
    unlabelled, _ = tables.by_setting(runs, trials)  # a store before fidelities: one setting per student
    assert set(unlabelled["student_name"]) == set(STUDENTS)


def test_the_store_summary_counts_runs_budgets_and_runs_above_the_no_kd_baseline(
    runs: pd.DataFrame, store: RunStore
) -> None:
    counts = tables.runs_per_student(runs)
    assert list(counts.columns) == ["layers=0,2,4", "tiny", "all"]  # largest student first
    assert counts.loc["alpha", "tiny"] == 16 and counts.loc["all", "all"] == 64
    budgets = tables.budgets(store.trials())  # one row per (data set, student)
    assert budgets.loc[("alpha", "tiny"), "epochs"] == 1 and budgets.loc[("beta", "tiny"), "max_train_examples"] == 64
    assert budgets.loc[("alpha", "tiny"), "budgets"] == 1 and budgets.loc[("alpha", "tiny"), "trials"] == 1
    assert tables.sweep_setting(store.trials(), "beta", "tiny") == ("minilm-l6", BUDGET)
    summary = tables.kd_summary(runs, store.trials())
    tiny = summary.loc[("alpha", "tiny")]
    assert tiny["no-KD ratio"] == NO_KD and tiny["best KD ratio"] == pytest.approx(0.95)
    # without augmentation 0.86, 0.88, 0.90 beat 0.845; with it (+0.05) all 8 do
    assert tiny["runs above no-KD"] == 11
    assert tiny["best configuration"] == "mi-0.9 / skip / ce / ca"


def test_the_best_run_is_chosen_on_dev_and_reported_on_test_where_it_has_one(store: RunStore) -> None:
    """A run that leads on dev (0.99) but scores 0.70 on test is the best run, reported at 0.70."""
    tested = Pipeline(inter_loss="cos", alpha=None, mapping="emd")
    store.add_run(
        RunRecord("alpha", "classification", tested, TEACHER, STUDENTS["tiny"], 0.9, 0.9, ratio=0.99,
                  test_score=0.63, teacher_test_score=0.9, test_ratio=0.70, featurizer_version=VERSION)
    )  # fmt: skip
    runs = store.runs(source="ours")
    tiny = tables.kd_summary(runs, store.trials()).loc[("alpha", "tiny")]
    assert tiny["best KD ratio"] == pytest.approx(0.70) and tiny["best configuration"].startswith("cos / emd")
    assert (
        tiny["scored on"] == "test and dev"
        and tables.kd_summary(runs, store.trials()).loc[("beta", "tiny"), "scored on"] == "dev only"
    )
    best = tables.headline(runs, store.trials()).loc["alpha"]
    assert best["best KD ratio"] == pytest.approx(0.70) and best["scored on"] == "test"


def _add_best_beta_run(store: RunStore) -> None:
    """One more run of the layer subset on beta, better than any other there."""
    config = Pipeline(mapping="last", inter_loss="cos", alpha=None, pred_loss="mse")
    store.add_runs([RunRecord("beta", "classification", config, TEACHER, STUDENTS["layers=0,2,4"], 0.9, 0.9, 0.97)])


def test_the_headline_takes_each_data_sets_best_run_with_its_reduction_and_speed_up(store: RunStore) -> None:
    _add_best_beta_run(store)
    runs, trials = store.runs(source="ours"), store.trials()
    table = tables.headline(runs, trials, {("minilm-l6", "tiny"): 10.0})
    assert list(table.index) == ["alpha", "beta"]
    alpha, beta = table.loc["alpha"], table.loc["beta"]
    # alpha: tiny with MI-α 0.9 and augmentation, 0.8 + 0.10 + 0.05
    assert alpha["best KD ratio"] == pytest.approx(0.95) and alpha["student"] == "tiny"
    assert alpha["configuration"] == "mi-0.9 / skip / ce / ca" and alpha["teacher"] == "minilm-l6"
    assert alpha["no-KD ratio"] == NO_KD
    assert alpha["parameter reduction"] == pytest.approx(22_713_216 / 4_400_000)
    assert alpha["CPU speed-up"] == 10.0
    # beta: the added run beats tiny's 0.85; its pair is not in the speed-up mapping
    assert beta["best KD ratio"] == pytest.approx(0.97) and beta["student"] == "layers=0,2,4"
    assert beta["configuration"] == "cos / last / mse / none"
    assert (beta["teacher params"], beta["student params"]) == (22_713_216, 17_390_000)
    assert beta["parameter reduction"] == pytest.approx(1.306, abs=1e-3) and math.isnan(beta["CPU speed-up"])
    # without trials there is no baseline to quote
    assert math.isnan(tables.headline(runs, trials.iloc[:0]).loc["alpha", "no-KD ratio"])


def test_latency_is_timed_once_per_teacher_and_student_pair(store: RunStore) -> None:
    _add_best_beta_run(store)
    runs, trials = store.runs(source="ours"), store.trials()
    plan = latency.latency_plan(runs, trials)
    # the layer subset has 17 runs on beta; tiny 16 on each data set (a tie: the first by name)
    assert plan.to_dict("index") == {
        ("minilm-l6", "layers=0,2,4"): {"measured on": "beta", "max length": 16},
        ("minilm-l6", "tiny"): {"measured on": "alpha", "max length": 16},
    }
    # without trials: the engine's default max length (these runs carry no budget)
    assert set(latency.latency_plan(runs, trials.iloc[:0])["max length"]) == {TrainSettings().max_length}
    calls: list[tuple] = []

    def timer(teacher: str, student: str, dataset: str, max_length: int) -> tuple[float, float]:
        calls.append((teacher, student, dataset, max_length))
        if student == "tiny":
            raise AutodistillError("no such model here")
        return fake_latency(teacher, student, dataset, max_length)

    latencies = latency.measure_latencies(plan, timer)
    assert calls == [("minilm-l6", "layers=0,2,4", "beta", 16), ("minilm-l6", "tiny", "alpha", 16)]
    layers, tiny = latencies.loc[("minilm-l6", "layers=0,2,4")], latencies.loc[("minilm-l6", "tiny")]
    assert (layers["teacher ms"], layers["student ms"], layers["speed-up"]) == (30.0, 15.0, 2.0)
    assert math.isnan(tiny["speed-up"]) and tiny["error"] == "no such model here"
    assert tables.headline(runs, trials, latency.speedup_map(latencies))["CPU speed-up"].tolist()[1] == 2.0


TINY_BUDGET = make_budget(epochs=8, lr=2e-3, max_length=48, max_train_examples=192, max_eval_examples=200)
LAYERS_BUDGET = make_budget(epochs=2, lr=3e-4, max_length=48, max_train_examples=192, max_eval_examples=200)


def test_each_student_is_compared_under_its_own_budget(tmp_path: Path) -> None:
    with RunStore(tmp_path / "students.sqlite") as students_store:
        fill(students_store, {"tiny": TINY_BUDGET, "layers=0,2,4": LAYERS_BUDGET})
        mi, cos = Pipeline(), Pipeline(inter_loss="cos", alpha=None)
        # on alpha the layer subset's budget is the data set's most common (3 of 5 trials)...
        for config in (mi, cos):
            students_store.record_trial(_trial("distill", "alpha", "layers=0,2,4", LAYERS_BUDGET, 0.9, config))
        # ...and tiny has a stray no-KD trial under it, which its own (main) budget leaves out
        students_store.record_trial(_trial("distill", "alpha", "tiny", TINY_BUDGET, 0.9, mi))
        students_store.record_trial(_trial("finetune", "alpha", "tiny", LAYERS_BUDGET, 0.5))
        trials, runs = students_store.trials(), students_store.runs(source="ours")
        header = sections.header_section(students_store, runs, trials, 0)
    assert tables.no_kd_ratios(trials).to_dict() == {
        (dataset, student): NO_KD for dataset in BASE for student in STUDENTS
    }  # both students' baselines found on both data sets
    summary = tables.kd_summary(runs, trials)
    assert (
        summary.loc[("alpha", "tiny"), "no-KD ratio"] == NO_KD
        and summary.loc[("alpha", "tiny"), "runs above no-KD"] == 11
    )
    budgets = tables.budgets(trials)
    assert budgets.index.names == ["dataset", "student"] and len(budgets) == 4
    tiny, layers = budgets.loc[("alpha", "tiny")], budgets.loc[("alpha", "layers=0,2,4")]
    assert (tiny["trials"], tiny["budgets"], tiny["epochs"], tiny["lr"]) == (3, 2, 8, 2e-3)
    assert (layers["trials"], layers["budgets"], layers["epochs"], layers["lr"]) == (3, 1, 2, 3e-4)
    assert budgets.loc[("beta", "tiny"), "max_train_examples"] == 192 and budgets.loc[("beta", "tiny"), "trials"] == 1
    assert "| alpha | tiny | 3 | 2 | 8 |" in header and "| alpha | layers=0,2,4 | 3 | 1 | 2 |" in header
    assert "fixed per (data set, student)" in header
    assert tables.sweep_setting(trials, "alpha", "tiny") == ("minilm-l6", TINY_BUDGET)
    assert tables.sweep_setting(trials, "beta", "layers=0,2,4") == ("minilm-l6", LAYERS_BUDGET)
    # a data set without trials: the student's most common budget, then the store's (5 trials of 8 are LAYERS')
    assert tables.sweep_setting(trials, "gamma", "tiny") == ("minilm-l6", TINY_BUDGET)
    assert tables.sweep_setting(trials, "gamma", "nobody") == ("minilm-l6", LAYERS_BUDGET)
    with pytest.raises(AutodistillError, match="trials log is empty"):
        tables.sweep_setting(trials.iloc[:0], "alpha", "tiny")


def test_top5_counts_the_intermediate_losses_of_each_groups_best_runs(runs: pd.DataFrame) -> None:
    counts = tables.top_k_losses(runs)
    assert list(counts.columns) == ["mse", "l2", "cos", "pkd", "ce", "mi-0.1", "mi-0.5", "mi-0.9"]
    # tiny on alpha: 0.95 mi-0.9+aug, 0.93 mi-0.5+aug, 0.91 cos+aug, 0.90 mi-0.9, 0.89 mse+aug
    assert counts.loc[("alpha", "tiny")].to_dict() == {
        "mse": 1, "l2": 0, "cos": 1, "pkd": 0, "ce": 0, "mi-0.1": 0, "mi-0.5": 1, "mi-0.9": 2,
    }  # fmt: skip
    # the larger student loses 0.01 with augmentation: 0.90, 0.89 mi-0.9; 0.88, 0.87 mi-0.5; 0.86 cos
    assert counts.loc[("beta", "layers=0,2,4"), ["cos", "mi-0.5", "mi-0.9"]].tolist() == [1, 2, 2]
    chance = tables.chance_top_k(runs)
    assert chance.loc[("alpha", "tiny")].tolist() == pytest.approx([5 / 8] * 8)  # each level is 2 of 16 runs
    text = agreement.top_k_agreement(counts, chance)
    assert "MI-α (any α) fills 14 of 20 top-5 slots (70%)" in text and "It is the most frequent" in text
    assert "30 of the 40" in text  # the paper's Table 9, quoted
    expected = float(chance[["mi-0.1", "mi-0.5", "mi-0.9"]].to_numpy().sum())
    assert f"MI-α's 14 slots are above chance ({expected:.1f} expected)" in text


def test_augmentation_effect_per_student_and_data_set(runs: pd.DataFrame) -> None:
    effect = tables.augmentation_effect(runs)
    assert list(effect.index.get_level_values("student").unique()) == ["layers=0,2,4", "tiny"]
    tiny = effect.loc[("tiny", "alpha")]
    assert tiny["runs w/o"] == 8 and tiny["runs with"] == 8
    assert tiny["mean w/o"] == pytest.approx(0.8 + 0.28 / 8) and tiny["mean with"] == pytest.approx(0.885)
    assert tiny["best w/o"] == pytest.approx(0.90) and tiny["best with"] == pytest.approx(0.95)
    assert effect.loc[("tiny", "all"), "gain"] == pytest.approx(0.05)
    assert effect.loc[("layers=0,2,4", "all"), "gain"] == pytest.approx(-0.01)
    assert effect.loc[("layers=0,2,4", "all"), "runs with"] == 16
    params = runs.groupby("student_name")["student_params"].max()
    text = agreement.augmentation_agreement(effect, params)
    assert "higher mean ratio for 1 of 2 student(s), in part." in text
    assert (
        "The smallest student, tiny, gains +0.050 in ratio against -0.010" in text
        and "in line with the paper's" in text
    )


def test_importance_text_says_where_the_paper_is_contradicted() -> None:
    rows = [*COMPONENTS, *(pair_name(a, b) for a, b in PAIRS)]
    values = {"augmentation": 0.5, "inter_loss": 0.1, pair_name("mapping", "augmentation"): 0.2}
    table = pd.DataFrame({"d": [values.get(r, 0.01) for r in rows]}, index=rows)
    table["mean"] = table["d"]
    text = agreement.importance_agreement(table)
    assert "Unlike the paper, the largest mean share here is the augmentation's (0.50)" in text
    assert "top component in 0 of 1 (student, data set) cell(s)" in text
    assert "The top pair is layer mapping x augmentation (0.20), not the paper's" in text


def test_lodo_text_follows_the_sign_of_the_spearmans() -> None:
    table = pd.DataFrame({"dataset": ["a", "b", "c", "mean"], "spearman": [0.5, -0.1, 0.4, 0.27]})
    assert "averages 0.27 over 3 data set(s), at or below the paper's, and is positive on 2 of 3, as in" in (
        agreement.lodo_agreement(table)
    )


# -- the page and Figure 4 ----------------------------------------------------------------------------------


def test_without_run_missing_nothing_is_picked_or_run(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(figure4, "recommend", never)
    monkeypatch.setattr(report, "evaluate_lodo", no_lodo)
    out = tmp_path / "docs" / "study.md"
    trials = len(store.trials())
    page = report.write_report(
        store, out, holdout=("alpha", "beta"), run_missing=False, trial_fn=never, heldout=tmp_path / "missing.csv"
    ).read_text()
    assert page.count("Not run yet (not picked yet)") == 2
    assert f"autodistill study report --store {store.path} --out {out} --holdout alpha,beta --run-missing" in page
    assert "No held-out data set has finished runs of both groups yet." in page
    assert len(store.trials()) == trials and not list((tmp_path / "docs" / "study").glob("fig4-*"))
    assert "Here too the intermediate loss has the largest mean share" in page  # fANOVA on the hand-made runs
    assert "Not computed: left out of this test" in page
    assert page.rstrip().endswith(
        "No results yet (`missing.csv` is missing): `autodistill heldout --fidelity realistic` runs it."
    )


def test_the_headline_opens_the_page_with_the_figures_the_readme_quotes(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lodo_calls: list[str] = []

    def one_lodo(runs_store: RunStore, **kwargs: object) -> pd.DataFrame:
        lodo_calls.append(kwargs["source"])
        return pd.DataFrame(
            {
                "dataset": ["alpha", "beta", "mean"],
                "runs": [32, 32, 64],
                "spearman": [0.5, 0.2, 0.35],
                "top5_ratio": [0.9, 0.8, 0.85],
                "best_ratio": [0.95, 0.85, 0.9],
                "mean_ratio": [0.85, 0.75, 0.8],
            }
        )

    monkeypatch.setattr(report, "evaluate_lodo", one_lodo)
    timed: list[tuple] = []

    def timer(teacher: str, student: str, dataset: str, max_length: int) -> tuple[float, float]:
        timed.append((teacher, student))
        return fake_latency(teacher, student, dataset, max_length)

    out = tmp_path / "study.md"
    page = report.write_report(store, out, holdout=("alpha",), trial_fn=never, latency_fn=timer).read_text()
    assert lodo_calls == ["ours"] and timed == [("minilm-l6", "layers=0,2,4"), ("minilm-l6", "tiny")]
    assert page.index("## What the store holds") < page.index("## Headline") < page.index("## Component importance")
    headline = page[page.index("## Headline") : page.index("## Component importance")]
    # tiny is best on both data sets: 0.95 and 0.85
    assert "the best run of ours reaches a ratio of 0.900 on average" in headline
    assert "no-KD ratio: 0.845 on average" in headline
    assert "leave-one-dataset-out Spearman averages 0.35 over 2 held-out data set(s)" in headline
    assert "top 5 against random has no finished held-out data set yet" in headline
    assert (
        "| alpha | 0.950 | dev only | minilm-l6 | tiny | mi-0.9 / skip / ce / ca | 0.845 | 22.7M | 4.4M | 5.2x "
        "| 10.0x |" in headline
    )
    assert "| minilm-l6 | layers=0,2,4 | alpha | 16 | 30.0 | 15.0 | 2.0x |" in headline
    assert "one thread" in headline and "batch 1" in headline and "untrained" in headline
    assert "averages 0.35 over 2 data set(s)" in page  # the LODO section, from the same table


def test_a_pair_that_cannot_be_timed_says_why(store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "evaluate_lodo", no_lodo)

    def unknown(teacher: str, student: str, dataset: str, max_length: int) -> tuple[float, float]:
        raise AutodistillError(f"{dataset!r} is not a catalog data set")

    page = report.write_report(store, tmp_path / "study.md", holdout=(), latency_fn=unknown).read_text()
    assert "minilm-l6 / tiny: not measured: 'alpha' is not a catalog data set" in page
    assert "| 5.2x | – |" in page and "the leave-one-dataset-out Spearman was not computed" in page


def _task(name: str) -> TaskData:
    spec = TaskSpec(name, TaskType.CLASSIFICATION, "Is this toy review positive or negative?", ("neg", "pos"))
    return TaskData(spec, toy_frame(96, 0), toy_frame(32, 1), toy_frame(32, 2))


def _recommendation(dataset: str, student: str, budget) -> Recommendation:
    """Five MI-α picks (fake_trial distils MI-α to 0.9, any other loss to 0.8)."""
    configs = [Pipeline(mapping=m, pred_loss=p) for m in ("skip", "last", "emd") for p in ("ce", "mse")][:5]
    engine = {c: engine_config(c, dataset, teacher="minilm-l6", student=student, budget=budget) for c in configs}
    picks = tuple(Pick(k, c, engine[c].model_dump(mode="json")) for k, c in enumerate(configs, start=1))
    return Recommendation(
        dataset, dataset, "classification", "accuracy", "minilm-l6", student, 0.9, VERSION, "ours",
        ("beta",), 32, 1000, picks,
    )  # fmt: skip


def test_run_missing_picks_once_runs_figure_4_and_later_reports_reuse_the_picks(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict] = []

    def fake_recommend(task: TaskData, runs_store: RunStore, **kwargs) -> Recommendation:
        asked.append(kwargs)
        return _recommendation(task.spec.name, kwargs["student"], kwargs["budget"])

    monkeypatch.setattr(figure4, "recommend", fake_recommend)
    monkeypatch.setattr(figure4, "load_task", _task)
    monkeypatch.setattr(report, "evaluate_lodo", no_lodo)
    out = tmp_path / "study.md"
    page = report.write_report(store, out, holdout=("alpha",), run_missing=True, trial_fn=fake_trial).read_text()
    (kwargs,) = asked
    assert kwargs["unseen"] and kwargs["budget"] == BUDGET and kwargs["student"] == "layers=0,2,4"
    assert (tmp_path / "study" / "fig4-picks-alpha.json").exists()
    assert (tmp_path / "study" / "versus-random.png").stat().st_size > 0
    assert "Not run yet" not in page and "on alpha the picks average 0.900 against" in page
    assert "the 5 runs of AutoDistiller's Figure 4 picks are left out" in page
    assert "| no-KD | no-KD | done | 0.845 |" in page  # the sweep's baseline trial, reused
    ran = len(store.trials())

    monkeypatch.setattr(figure4, "recommend", never)
    again = report.write_report(store, out, holdout=("alpha",), trial_fn=never).read_text()
    assert "Not run yet" not in again and "on alpha the picks average 0.900 against" in again
    assert len(store.trials()) == ran


def test_study_report_command_writes_the_page_and_its_plots(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluate, "corpus_text", fake_corpus_text)  # these fake data sets have no text
    out = tmp_path / "docs" / "study.md"
    args = ["study", "report", "--store", str(store.path), "--out", str(out), "--holdout", "alpha,beta"]
    result = CliRunner().invoke(cli.typer_app, [*args, "--time-limit", "5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "leave-one-dataset-out evaluation" in result.output
    page = out.read_text()
    assert "## Headline" in page and "| alpha | 0.950 | dev only | minilm-l6 | tiny |" in page
    assert "CPU latency of minilm-l6 and tiny on alpha" in result.output
    assert "| alpha | 32 |" in page  # leave-one-dataset-out ranks alpha's 32 runs from beta's
    assert "The paper's leave-one-dataset-out Spearman averages 0.33" in page
    assert "### Nested, scored on test at the realistic budget" in page and "Not computed" in page  # no such runs
    for plot in ("importance", "top5-losses", "augmentation", "lodo"):
        assert (tmp_path / "docs" / "study" / f"{plot}.png").stat().st_size > 0
        assert f"(study/{plot}.png)" in page


def test_the_page_regenerates_from_the_committed_study_alone(tmp_path: Path) -> None:
    """`study report --shipped --latest-splits` reads meta_data/study/ (no store, nothing run): the committed
    page's source, each data set on its latest split version with runs."""
    from autodistill.store.shipped import STUDY_DIR

    runs = pd.read_csv(STUDY_DIR / "runs.csv")
    out = tmp_path / "study.md"
    picks = STUDY_DIR.parent.parent / "docs" / "study"
    out.with_suffix("").mkdir()
    for found in picks.glob("fig4-picks-*.json"):  # the frozen Figure 4 picks live next to the page
        (out.with_suffix("") / found.name).write_text(found.read_text())
    result = CliRunner().invoke(
        cli.typer_app,
        ["study", "report", "--shipped", "--latest-splits", "--out", str(out), "--time-limit", "5"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "from the shipped study `meta_data/study/`" in page
    assert f"runs of ours on {runs['dataset'].nunique()} data set(s)" in page
    assert "## Headline" in page and "Not run yet" not in page
    assert "Nested mean Spearman" in page  # the shipped study has realistic runs scored on test
    for dataset in sorted(set(runs["dataset"])):
        assert f"| {dataset} |" in page
