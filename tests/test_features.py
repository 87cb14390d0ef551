"""Dataset features (paper Table 7): the IDF-weighted context embedding, the task embedding, the baseline."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from autodistill.features.baseline import BaselineSettings, baseline_score
from autodistill.features.featurize import (
    MIN_TRAIN_EXAMPLES,
    check_task,
    context_embedding,
    featurize,
    featurize_all,
    featurizer_version,
    idf_weights,
    task_embedding,
)
from autodistill.features.glove import tokenize
from autodistill.store.database import RunStore
from engine import AutodistillError, TaskData, TaskSpec, TaskType

#: Tiny fake word vectors, so that every expected number below can be worked out by hand.
VECTORS = {
    "the": np.array([1.0, 0.0]),
    "cat": np.array([0.0, 1.0]),
    "sat": np.array([1.0, 1.0]),
    "dog": np.array([2.0, 0.0]),
    "a": np.array([0.0, 2.0]),
}


def test_tokenize_is_lowercase_regex_words() -> None:
    assert tokenize("The cat's  HAT, 2x!") == ["the", "cat", "s", "hat", "2x"]


def test_idf_follows_table_7_on_three_documents() -> None:
    # Documents: A = "the cat sat the", B = "the dog", C = "a cat"; N = 3.
    others = [{"the", "dog"}, {"a", "cat"}]
    idf = idf_weights({"the", "cat", "sat"}, others)
    assert idf["the"] == pytest.approx(math.log(4 / 3))  # in A and B: N_w = 2
    assert idf["cat"] == pytest.approx(math.log(4 / 3))  # in A and C
    assert idf["sat"] == pytest.approx(math.log(4 / 2))  # only in A


def test_context_embedding_is_the_idf_weighted_mean_over_word_occurrences() -> None:
    counts = {"the": 2, "cat": 1, "sat": 1, "zzz": 5}  # "zzz" has no vector: it is not counted in |s|
    idf = idf_weights({"the", "cat", "sat"}, [{"the", "dog"}, {"a", "cat"}])
    got = context_embedding(counts, idf, VECTORS)
    # (2 · log(4/3) · (1, 0) + log(4/3) · (0, 1) + log 2 · (1, 1)) / 4
    expected = np.array([2 * math.log(4 / 3) + math.log(2), math.log(4 / 3) + math.log(2)]) / 4
    np.testing.assert_allclose(got, expected)


def test_a_word_in_every_data_set_carries_no_weight() -> None:
    idf = idf_weights({"the"}, [{"the"}, {"the"}])
    assert idf["the"] == 0.0


def test_task_embedding_is_the_mean_description_vector() -> None:
    np.testing.assert_allclose(task_embedding("The cat, sat!", VECTORS), [2 / 3, 2 / 3])


def test_empty_description_is_a_one_line_error() -> None:
    with pytest.raises(AutodistillError, match="description") as info:
        task_embedding("   ", VECTORS)
    assert "\n" not in str(info.value)


# -- synthetic tasks ----------------------------------------------------------------------------------

POSITIVE = ["good", "great", "fine", "nice"]
NEGATIVE = ["bad", "awful", "poor", "sad"]
FILLER = ["the", "a", "movie", "was", "it", "plot", "story", "and"]
WORDS = POSITIVE + NEGATIVE + FILLER


def _sentence(rng: random.Random, label: int) -> str:
    cue = rng.choice(POSITIVE if label else NEGATIVE)
    words = [rng.choice(FILLER) for _ in range(6)]
    words.insert(rng.randrange(len(words)), cue)
    return " ".join(words)


def _sentiment_task(n_train: int = 240, n_dev: int = 80, seed: int = 0) -> TaskData:
    rng = random.Random(seed)

    def frame(n: int) -> pd.DataFrame:
        labels = [i % 2 for i in range(n)]
        return pd.DataFrame({"text": [_sentence(rng, y) for y in labels], "label": labels})

    spec = TaskSpec("toy-sentiment", TaskType.CLASSIFICATION, "Is the movie review positive?", ("neg", "pos"))
    return TaskData(spec, frame(n_train), frame(n_dev), frame(n_dev))


def _fake_vectors(dim: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {w: rng.normal(size=dim) for w in [*WORDS, "is", "review", "positive"]}


FAST = BaselineSettings(epochs=15, hidden=16)


def test_bilstm_baseline_beats_chance_on_a_separable_task() -> None:
    assert baseline_score(_sentiment_task(), _fake_vectors(), FAST) > 0.8


def test_bilstm_baseline_stops_after_max_steps_whatever_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import autodistill.features.baseline as baseline

    steps = []
    loss = baseline._loss
    monkeypatch.setattr(baseline, "_loss", lambda *args: steps.append(1) or loss(*args))
    settings = BaselineSettings(epochs=50, hidden=8, max_steps=7)
    first = baseline_score(_sentiment_task(n_train=64), _fake_vectors(), settings)
    assert len(steps) == 7  # 50 epochs of 2 batches would be 100
    monkeypatch.setattr(time, "monotonic", lambda: 1e12)  # a clock far past any deadline changes nothing
    assert baseline_score(_sentiment_task(n_train=64), _fake_vectors(), settings) == first
    assert len(steps) == 14
    with pytest.raises(AutodistillError, match="max_steps"):
        BaselineSettings(max_steps=0)


def test_linear_baseline_beats_chance_on_a_separable_task() -> None:
    settings = BaselineSettings(model="linear")
    assert baseline_score(_sentiment_task(), _fake_vectors(), settings) > 0.8


def test_bilstm_baseline_learns_a_regression_task() -> None:
    rng = random.Random(1)

    def frame(n: int) -> pd.DataFrame:
        counts = [rng.randrange(4) for _ in range(n)]
        texts = [" ".join(["good"] * c + [rng.choice(FILLER) for _ in range(4)]) for c in counts]
        return pd.DataFrame({"text": texts, "label": [float(c) for c in counts]})

    spec = TaskSpec("toy-count", TaskType.REGRESSION, "How positive is the review?")
    task = TaskData(spec, frame(200), frame(60), frame(60))
    assert baseline_score(task, _fake_vectors(), FAST) > 0.5  # Spearman


def test_bilstm_baseline_finds_spans_better_than_chance() -> None:
    rng = random.Random(2)

    def frame(n: int) -> pd.DataFrame:
        rows = []
        for _ in range(n):
            cue = rng.choice(POSITIVE)
            words = [rng.choice(FILLER) for _ in range(10)]
            at = rng.randrange(len(words))
            words.insert(at, cue)
            context = " ".join(words)
            rows.append(
                {
                    "text": "which word is positive",
                    "text_pair": context,
                    "answer_start": len(" ".join(words[:at])) + (1 if at else 0),
                    "answer_text": cue,
                }
            )
        return pd.DataFrame(rows)

    spec = TaskSpec("toy-span", TaskType.SPAN, "Find the positive word in the review.", paired=True)
    task = TaskData(spec, frame(200), frame(60), frame(60))
    assert baseline_score(task, _fake_vectors(), FAST) > 0.5  # token F1; guessing one of 11 words gives ~0.1


def _tagging_task() -> TaskData:
    """Tag each word positive (1), negative (2) or other (0); about 3 words in 4 are other."""
    rng = random.Random(3)

    def frame(n: int) -> pd.DataFrame:
        rows = []
        for _ in range(n):
            words = [rng.choice(WORDS if rng.random() < 0.5 else FILLER) for _ in range(rng.randrange(3, 9))]
            tags = [1 if w in POSITIVE else 2 if w in NEGATIVE else 0 for w in words]
            rows.append({"text": " ".join(words), "tokens": words, "tags": tags})
        return pd.DataFrame(rows)

    spec = TaskSpec("toy-tags", TaskType.TOKEN, "Tag the sentiment words.", ("other", "pos", "neg"))
    return TaskData(spec, frame(200), frame(60), frame(60))


@pytest.mark.parametrize("model", ["bilstm", "linear"])
def test_both_baselines_tag_words_better_than_the_majority_tag(model: str) -> None:
    task = _tagging_task()
    gold = np.concatenate([np.asarray(t) for t in task.dev["tags"]])
    majority = float(np.mean(gold == 0))
    settings = BaselineSettings(model=model, epochs=40, hidden=16)
    assert baseline_score(task, _fake_vectors(), settings) > majority + 0.1 > 0.6


def test_featurize_counts_stored_data_sets_as_idf_documents(tmp_path) -> None:
    vectors = _fake_vectors()
    settings = BaselineSettings(model="linear")
    with RunStore(tmp_path / "runs.sqlite") as store:
        first = featurize(_sentiment_task(), store=store, baseline=settings, vectors=vectors)
        # Alone, every word is in all N = 1 documents: zero weight everywhere.
        assert not np.any(first.context_embedding)
        store.put_features(first)
        other = _sentiment_task(seed=3)
        other.spec = TaskSpec("toy-other", TaskType.CLASSIFICATION, "Is it positive?", ("neg", "pos"))
        other.train = other.train.assign(text=other.train["text"] + " review")
        second = featurize(other, store=store, baseline=settings, vectors=vectors)
    assert second.featurizer_version == first.featurizer_version
    assert second.n_examples == len(other.train) and second.n_labels == 2
    assert second.task_kind == "classification" and 0.8 < second.baseline_score <= 1.0
    # Only "review" is new, so only it carries weight: log((1 + 2) / (1 + 1)) per occurrence.
    occurrences = sum(len(tokenize(t)) for t in other.train["text"])
    expected = len(other.train) * math.log(3 / 2) * vectors["review"] / occurrences
    np.testing.assert_allclose(second.context_embedding, expected)


def test_featurize_all_gives_every_data_set_the_same_corpus(tmp_path) -> None:
    first, second = _sentiment_task(), _sentiment_task(seed=3)
    second.spec = TaskSpec("toy-other", TaskType.CLASSIFICATION, "Is it positive?", ("neg", "pos"))
    second.train = second.train.assign(text=second.train["text"] + " review")
    settings = BaselineSettings(model="linear")
    with RunStore(tmp_path / "runs.sqlite") as store:
        featurize_all([first, second], store, baseline=settings, vectors=_fake_vectors())
        stored = {f.dataset: f for f in store.features(featurizer_version("linear"))}
    assert set(stored) == {"toy-sentiment", "toy-other"}
    # Both saw N = 2: the shared words weigh nothing in either, "review" only in the second.
    assert not np.any(stored["toy-sentiment"].context_embedding)
    assert np.any(stored["toy-other"].context_embedding)


def test_too_small_data_sets_are_refused_with_the_minimum() -> None:
    task = _sentiment_task(n_train=MIN_TRAIN_EXAMPLES - 1)
    with pytest.raises(AutodistillError, match=f"at least {MIN_TRAIN_EXAMPLES}"):
        check_task(task)


def test_single_class_data_sets_are_refused() -> None:
    task = _sentiment_task()
    task.train = task.train.assign(label=0)
    with pytest.raises(AutodistillError, match="at least 2"):
        check_task(task)
