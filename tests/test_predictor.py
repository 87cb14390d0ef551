"""AutoDistiller's predictor and its leave-one-dataset-out evaluation on the authors' runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autodistill.evaluation import lodo as evaluate
from autodistill.features.featurize import featurizer_version
from autodistill.predictor.model import (
    PredictorSettings,
    candidates,
    fit_predictor,
    load_predictor,
    model_inputs,
    training_table,
)
from autodistill.space import DEFAULT_SPACE, Pipeline
from autodistill.store.database import DatasetFeatures, ModelDescriptor, RunRecord, RunStore
from autodistill.store.reference import PAPER_FEATURIZER, PAPER_MODELS, import_reference
from engine import AutodistillError

QUICK = PredictorSettings(time_limit=8)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    store = RunStore(tmp_path_factory.mktemp("store") / "runs.sqlite")
    import_reference(store)
    return store


@pytest.fixture(scope="module")
def table(store: RunStore) -> pd.DataFrame:
    return training_table(store, PAPER_FEATURIZER, source="paper")


def test_model_inputs_describe_config_models_and_data_set(table: pd.DataFrame) -> None:
    assert len(table) == 1239
    row = table[(table["pos_ra"] == 1) & (table["pos_ca"] == 2)].iloc[0]
    assert row["n_text_aug"] == 2 and row["pos_bt"] == 0
    tiny = table[table["student_layers"] == 2].iloc[0]  # BERT-tiny from BERT-base
    assert tiny["param_ratio"] == pytest.approx(4 / 110)
    assert table.loc[table["inter_loss"] != "mi", "alpha"].isna().all()
    assert set(table["inter_level"]) >= {"mi-0.71095", "mse", "pkd"}  # the authors' 0.9 was sigmoid(0.9)
    assert {"ctx_0", "task_49", "baseline_score", "teacher_score", "log_examples", "task_kind"} <= set(table)


def test_candidates_get_exactly_the_training_columns(store: RunStore, table: pd.DataFrame) -> None:
    features = next(f for f in store.features(PAPER_FEATURIZER) if f.dataset == "boolq")
    configs = list(DEFAULT_SPACE.configurations())[:50]
    rows = model_inputs(
        candidates(features, PAPER_MODELS["BERT_BASE"], PAPER_MODELS["TinyBERT4"], 0.734, configs), [features]
    )
    assert list(rows.columns) == [c for c in table.columns if c != "ratio"]
    assert (rows["teacher_score"] == 0.734).all() and rows["baseline_score"].isna().all()


def test_lodo_never_trains_on_the_held_out_data_set(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[set[str]] = []

    class Constant:
        def predict(self, inputs: pd.DataFrame) -> np.ndarray:
            return -inputs["student_layers"].to_numpy(float)

    def spy(train: pd.DataFrame, *args: object, **kwargs: object) -> Constant:
        seen.append(set(train["dataset"]))
        return Constant()

    monkeypatch.setattr(evaluate, "fit_predictor", spy)
    result = evaluate.evaluate_lodo(store, datasets=["cola", "rte"])
    assert seen[0] == {"mnli", "mrpc", "qnli", "qqp", "rte", "sst-2", "stsb"}
    assert "rte" not in seen[1] and len(seen[1]) == 7
    assert list(result["dataset"]) == ["cola", "rte", "mean"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("predictors")


@pytest.fixture(scope="module")
def small(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["dataset"].isin(["mnli", "qqp", "stsb"])]


def test_a_predictor_is_cached_and_tied_to_its_featurizer_version(small: pd.DataFrame, cache: Path) -> None:
    first = fit_predictor(small, PAPER_FEATURIZER, QUICK, cache)
    again = fit_predictor(small.sample(frac=1.0, random_state=0), PAPER_FEATURIZER, QUICK, cache)
    assert again.path == first.path and again.meta["created_at"] == first.meta["created_at"]
    assert [p.name for p in cache.iterdir()] == [first.path.name]
    with pytest.raises(AutodistillError, match="retrain") as info:
        load_predictor(first.path, "glove50-tfidf.v1+bilstm")
    assert "\n" not in str(info.value)


def test_rank_orders_candidate_configs(store: RunStore, small: pd.DataFrame, cache: Path) -> None:
    predictor = fit_predictor(small, PAPER_FEATURIZER, QUICK, cache)
    features = next(f for f in store.features(PAPER_FEATURIZER) if f.dataset == "boolq")
    configs = [Pipeline(), Pipeline(inter_loss="mse", alpha=None), Pipeline(mapping="emd", augment=("mixup",))]
    ranked = predictor.rank(features, PAPER_MODELS["BERT_BASE"], PAPER_MODELS["TinyBERT4"], 0.734, configs)
    assert set(ranked["config"]) == set(configs)
    assert ranked["predicted"].is_monotonic_decreasing


def test_lodo_on_the_papers_runs(store: RunStore, tmp_path: Path) -> None:
    result = evaluate.evaluate_lodo(store, datasets=["mnli", "qqp"], time_limit=8, cache_dir=tmp_path)
    assert list(result["dataset"]) == ["mnli", "qqp", "mean"]
    assert result["spearman"].between(-1, 1).all()
    assert (result["top5_ratio"] <= result["best_ratio"] + 1e-12).all()
    assert result.loc[2, "runs"] == 57 + 93


#: Word vectors and per-data-set words of the fake corpus below: "shared" is in every data set.
WORDS = {
    "shared": (1.0, 0.0),
    "news": (0.0, 1.0),
    "drug": (1.0, 1.0),
    "spam": (2.0, 0.0),
    "party": (0.0, 2.0),
    "year": (2.0, 2.0),
}


def _fake_corpus(names):
    """What evaluate.corpus_text would read, for the fake data sets: "shared" plus one own word, twice."""
    counts = {name: {"shared": 1, next(w for w in WORDS if w in name): 2} for name in names}
    return counts, {w: np.array(v) for w, v in WORDS.items()}


def _our_store(path: Path, names: list[str]) -> RunStore:
    """Our runs on ``names`` ("mi is better" on each), their features computed over all of them."""
    from autodistill.features.featurize import context_embedding, idf_weights

    version = featurizer_version("bilstm")
    teacher, student = ModelDescriptor("minilm-l6", 6, 384, 22_700_000), ModelDescriptor("l3", 3, 384, 17_400_000)
    configs = list(DEFAULT_SPACE.configurations())[::400]
    rng = np.random.default_rng(0)
    counts, vectors = _fake_corpus(names)
    store = RunStore(path)
    for k, name in enumerate(names):
        vocabulary = frozenset(counts[name])
        others = [frozenset(counts[o]) for o in names if o != name]
        context = context_embedding(counts[name], idf_weights(vocabulary, others), vectors)
        store.put_features(
            DatasetFeatures(
                name,
                version,
                "classification",
                500 * (k + 1),
                2 + k,
                0.6,
                "bilstm",
                tuple(context),
                (1.0, k),
                vocabulary,
            )
        )
        scores = [0.8 + 0.1 * (c.inter_loss == "mi") + rng.normal(0, 0.01) for c in configs]
        store.add_runs(
            RunRecord(name, "classification", c, teacher, student, score, 0.95)
            for c, score in zip(configs, scores, strict=True)
        )
    return store


def test_lodo_on_our_own_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate, "corpus_text", _fake_corpus)
    with _our_store(tmp_path / "runs.sqlite", ["bbc-news", "drug-review", "spam", "sotu-party"]) as store:
        result = evaluate.evaluate_lodo(store, source="ours", time_limit=5, cache_dir=tmp_path / "cache")
    assert list(result["dataset"]) == ["bbc-news", "drug-review", "sotu-party", "spam", "mean"]
    assert (result["spearman"].iloc[:4] > 0.5).all()  # "mi is better" transfers across data sets


def test_the_budget_is_a_feature_unknown_for_the_authors_runs(store: RunStore, table: pd.DataFrame) -> None:
    assert table[["log_train_examples", "epochs", "max_length"]].isna().all().all()
    features = next(f for f in store.features(PAPER_FEATURIZER) if f.dataset == "boolq")
    budget = {"train_examples": 2000, "epochs": 5, "max_length": 128}
    rows = model_inputs(
        candidates(features, PAPER_MODELS["BERT_BASE"], PAPER_MODELS["TinyBERT4"], 0.7, [Pipeline()], budget),
        [features],
    )
    assert rows.loc[0, ["epochs", "max_length"]].tolist() == [5, 128]
    assert rows.loc[0, "log_train_examples"] == pytest.approx(np.log10(2000))


def _spy_on_fits(monkeypatch: pytest.MonkeyPatch) -> list[pd.DataFrame]:
    """The tables LODO's folds train on, in order, each fit replaced by a constant predictor (the fake corpus
    stands in for the data sets' text)."""
    monkeypatch.setattr(evaluate, "corpus_text", _fake_corpus)
    seen: list[pd.DataFrame] = []

    class Constant:
        def predict(self, inputs: pd.DataFrame) -> np.ndarray:
            return np.zeros(len(inputs))

    def spy(train: pd.DataFrame, *args: object, **kwargs: object) -> Constant:
        seen.append(train)
        return Constant()

    monkeypatch.setattr(evaluate, "fit_predictor", spy)
    return seen


def test_the_held_out_data_set_is_not_in_the_idf_corpus_of_its_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["bbc-news", "drug-review", "spam"]
    seen = _spy_on_fits(monkeypatch)
    with _our_store(tmp_path / "runs.sqlite", names) as store:
        stored = {f.dataset: f.context_embedding for f in store.features(featurizer_version("bilstm"))}
        evaluate.evaluate_lodo(store, source="ours", datasets=["spam"])
    (train,) = seen
    # Without spam, "shared" is in every training data set (IDF 0) and bbc-news keeps only its own word:
    # IDF log(3/2) over N = 2, on 2 of its 3 word occurrences, times news = (0, 1).
    bbc = train.loc[train["dataset"] == "bbc-news", ["ctx_0", "ctx_1"]].iloc[0].to_numpy()
    assert bbc == pytest.approx([0.0, 2 / 3 * np.log(3 / 2)])
    assert not np.allclose(bbc, stored["bbc-news"])  # the stored one counted spam among the documents


def test_a_fold_trains_without_the_held_out_data_sets_siblings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sotu-party and sotu-year share their speeches: holding one out leaves the other out of training."""
    seen = _spy_on_fits(monkeypatch)
    with _our_store(tmp_path / "runs.sqlite", ["bbc-news", "sotu-party", "sotu-year", "spam"]) as store:
        evaluate.evaluate_lodo(store, source="ours", datasets=["sotu-year", "spam"])
    assert [set(train["dataset"]) for train in seen] == [{"bbc-news", "spam"}, {"bbc-news", "sotu-party", "sotu-year"}]
    assert evaluate.training_names("brown-pos", ["brown-case", "brown-pos-fine", "cola"]) == {"cola"}
