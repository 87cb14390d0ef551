"""Predictor designs and nested leave-one-dataset-out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autodistill.evaluation import nested
from autodistill.features.featurize import featurizer_version
from autodistill.predictor.designs import setting_key, setting_spearman, within_rank
from autodistill.predictor.model import PredictorSettings, candidates, fit_predictor, model_inputs, training_table
from autodistill.space import DEFAULT_SPACE
from autodistill.store.database import DatasetFeatures, ModelDescriptor, RunRecord, RunStore
from engine import AutodistillError

VERSION = featurizer_version("bilstm")
TEACHER = ModelDescriptor("minilm-l6", 6, 384, 22_713_216)
STUDENT = ModelDescriptor("layers=0,2,4", 3, 384, 17_390_000)
CONFIGS = list(DEFAULT_SPACE.configurations())[::97]
#: Three small and three large data sets; only their size tells them apart.
SIZES = {"s1": 300, "s2": 500, "s3": 800, "l1": 30_000, "l2": 50_000, "l3": 80_000}


def _features(name: str) -> DatasetFeatures:
    flat = tuple(0.1 for _ in range(50))
    return DatasetFeatures(name, VERSION, "classification", SIZES[name], 2, 0.6, "bilstm", flat, flat, frozenset())


def _ratio(config: object, n_examples: int, rng: np.random.Generator) -> float:
    """PKD distils best on small data sets, MSE on large ones: an interaction with size."""
    best = "pkd" if n_examples < 5_000 else "mse"
    return 0.7 + 0.2 * (config.inter_loss == best) + rng.normal(0, 0.01)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    with RunStore(tmp_path_factory.mktemp("store") / "runs.sqlite") as store:
        for name, size in SIZES.items():
            store.put_features(_features(name))
            store.add_runs(
                RunRecord(
                    name, "classification", c, TEACHER, STUDENT, _ratio(c, size, rng), 1.0, featurizer_version=VERSION
                )
                for c in CONFIGS
            )
        return training_table(store, VERSION, source="ours")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("predictors")


def _inputs(name: str) -> pd.DataFrame:
    return model_inputs(candidates(_features(name), TEACHER, STUDENT, 1.0, CONFIGS), [_features(name)])


@pytest.mark.parametrize("design", ["lgbm", "lambdarank", "kernel"])
def test_designs_with_interactions_recommend_differently_per_data_set(
    design: str, table: pd.DataFrame, cache: Path
) -> None:
    train = table[~table["dataset"].isin(["s2", "l2"])]
    predictor = fit_predictor(train, VERSION, PredictorSettings(design=design), cache)
    loaded = fit_predictor(train, VERSION, PredictorSettings(design=design), cache)  # from the cache folder
    for held, best in (("s2", "pkd"), ("l2", "mse")):
        scores = loaded.predict(_inputs(held))
        assert CONFIGS[int(np.argmax(scores))].inter_loss == best
        assert np.allclose(scores, predictor.predict(_inputs(held)))


def test_the_global_design_ranks_configurations_alike_on_every_data_set(table: pd.DataFrame, cache: Path) -> None:
    """Shown nothing about the data set, it cannot learn the size interaction the others find."""
    train = table[~table["dataset"].isin(["s2", "l2"])]
    predictor = fit_predictor(train, VERSION, PredictorSettings(design="global"), cache)
    small, large = predictor.predict(_inputs("s2")), predictor.predict(_inputs("l2"))
    assert np.allclose(small, large) and small.std() > 0


def test_runs_are_ranked_within_their_budget_and_student_not_across_them() -> None:
    """A realistic run beats every 24-step run on ratio; the target must still rank configurations."""
    runs = pd.DataFrame(
        {"dataset": ["a"] * 5, "student_log_params": [6.6] * 5, "epochs": [8, 8, 3, 3, 3],
         "ratio": [0.30, 0.40, 0.80, 0.90, 0.85]}
    )  # fmt: skip
    assert list(within_rank(runs)) == [0.25, 0.75, 1 / 6, 5 / 6, 0.5]
    alone = runs.iloc[:1].assign(epochs=[2])
    assert list(within_rank(alone)) == [0.5]  # one run has no order
    assert setting_key(runs).nunique() == 2


def test_spearman_is_taken_within_each_setting_and_weighted_by_its_runs() -> None:
    runs = pd.DataFrame({"dataset": ["a"] * 7, "epochs": [8, 8, 8, 8, 3, 3, 3]})
    actual = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.8, 0.7])
    predicted = np.array([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0])  # right on the cheap setting, reversed on the other
    assert setting_spearman(runs, predicted, actual) == pytest.approx((4 * 1.0 + 3 * -1.0) / 7)
    assert setting_spearman(runs, np.ones(7), actual) == 0.0  # a constant prediction orders nothing
    assert np.isnan(setting_spearman(runs.iloc[:2], predicted[:2], actual[:2]))  # too few runs to order


def test_unknown_designs_and_parameters_are_refused_in_one_line() -> None:
    with pytest.raises(AutodistillError, match="unknown predictor design 'forest'; choose one of: autogluon"):
        PredictorSettings(design="forest")
    with pytest.raises(AutodistillError, match="has no parameter 'depth' \\(it has: embeddings, num_leaves\\)"):
        PredictorSettings(design="lgbm", params=(("depth", 3),))


def test_nested_choices_never_see_the_outer_data_set() -> None:
    names = frozenset(SIZES)
    pool = nested.candidates_of(["lgbm"])
    calls: list[tuple[frozenset[str], str]] = []

    def score(train: frozenset[str], held: str, candidate: nested.Candidate, on: object = None) -> float:
        calls.append((train, held))
        return len(candidate.params) / 10 + len(held) / 100

    rows = nested._nested_folds(names, sorted(names), pool, score, nested.SELECTION)
    per_fold = len(pool) * (len(names) - 1) + 1
    for k, outer in enumerate(sorted(names)):
        fold = calls[k * per_fold : (k + 1) * per_fold]
        assert all(outer not in train for train, _ in fold)
        assert all(held != outer for _, held in fold[:-1]) and fold[-1] == (names - {outer}, outer)
    assert [row["dataset"] for row in rows] == sorted(names)


def _nested_store(path: Path, realistic: tuple[str, ...] = ()) -> RunStore:
    """Four data sets' runs scored on dev; on ``realistic`` ones a second set of runs at that
    budget whose test ratio orders the configurations the other way round from their dev ratio."""
    rng = np.random.default_rng(1)
    store = RunStore(path)
    for name in ("s1", "s2", "l1", "l2"):
        store.put_features(_features(name))
        ratios = [_ratio(c, SIZES[name], rng) for c in CONFIGS]
        store.add_runs(
            RunRecord(name, "classification", c, TEACHER, STUDENT, r, 1.0, featurizer_version=VERSION)
            for c, r in zip(CONFIGS, ratios, strict=True)
        )
        if name in realistic:
            store.add_runs(
                RunRecord(
                    name, "classification", c, TEACHER, STUDENT, r, 1.0, featurizer_version=VERSION,
                    fidelity="realistic", test_ratio=2.0 - r,
                )
                for c, r in zip(CONFIGS, ratios, strict=True)
            )  # fmt: skip
    return store


def test_nested_and_tuned_figures(tmp_path: Path) -> None:
    with _nested_store(tmp_path / "runs.sqlite") as store:
        result = nested.evaluate_nested(store, VERSION, source="ours", designs=["lgbm", "kernel"])
    assert list(result.summary["design"]) == ["lgbm", "kernel", nested.ANY_DESIGN]
    assert result.summary[["nested", "tuned"]].abs().le(1).all().all()
    assert len(result.folds) == 3 * 4 and set(result.folds["dataset"]) == {"s1", "s2", "l1", "l2"}
    assert result.summary["tuned_choice"].str.match(r"(lgbm|kernel)\(embeddings=").all()


def test_the_nested_figure_is_scored_on_test_at_one_budget_while_choosing_on_dev(tmp_path: Path) -> None:
    """Outer folds: only the data sets with realistic test-scored runs, scored on test; the
    inner choice is the same as when reporting dev (it never reads test)."""
    with _nested_store(tmp_path / "runs.sqlite", realistic=("s1", "l1")) as store:
        on_dev = nested.evaluate_nested(
            store, VERSION, source="ours", designs=["lgbm"], reported=nested.reported_on("dev", "realistic")
        )
        on_test = nested.evaluate_nested(
            store, VERSION, source="ours", designs=["lgbm"], reported=nested.reported_on("test", "realistic")
        )
    dev, test = (r.folds[r.folds["design"] == "lgbm"].set_index("dataset") for r in (on_dev, on_test))
    assert list(test.index) == ["l1", "s1"]
    assert (test["chosen"] == dev["chosen"]).all() and (test["inner"] == dev["inner"]).all()
    assert np.allclose(test["spearman"], -dev["spearman"]) and dev["spearman"].abs().gt(0).all()
    with pytest.raises(AutodistillError, match="unknown score 'final'"):
        nested.reported_on("final")


def test_nested_folds_leave_the_held_out_family_out_inside_and_outside() -> None:
    """Inner folds too: the choice for brown-pos must not be made on folds that train on brown-pos-fine."""
    calls: list[tuple[str, frozenset[str]]] = []

    def score(train: frozenset[str], held: str, candidate: str, on: object = None) -> float:
        calls.append((held, train))
        return 0.0

    names = frozenset({"brown-pos", "brown-pos-fine", "sotu-party", "sotu-year", "bbc-news"})
    (row,) = nested._nested_folds(names, ["brown-pos"], ["only"], score, nested.SELECTION)
    assert row["dataset"] == "brown-pos"
    assert calls[-1] == ("brown-pos", frozenset({"sotu-party", "sotu-year", "bbc-news"}))  # the outer fold
    assert dict(calls[:-1]) == {  # the inner folds, over the three outside brown's family
        "bbc-news": frozenset({"sotu-party", "sotu-year"}),
        "sotu-party": frozenset({"bbc-news"}),
        "sotu-year": frozenset({"bbc-news"}),
    }


def test_a_general_distilled_student_of_a_fresh_shape_is_another_setting() -> None:
    from engine import from_scratch

    assert from_scratch("tiny") and not from_scratch("tiny-gd") and not from_scratch("layers=0,2,4")
    shape = {"dataset": "a", "teacher_log_params": 7.36, "student_log_params": 6.64, "student_layers": 2,
             "log_train_examples": 3.3, "epochs": 20, "max_length": 128}  # fmt: skip
    table = pd.DataFrame([{**shape, "student_pretrained": 0}, {**shape, "student_pretrained": 1}])
    assert setting_key(table).nunique() == 2
