"""Dataset features for AutoDistiller (paper Appendix E, Table 7).

A data set becomes one fixed-size vector so that the predictor can relate a new
data set to the ones it has runs for:

* **context embedding** — the data set is one TF-IDF "document":
  v_s = (1/|s|) Σ_{w ∈ s} IDF_w v_w with IDF_w = log((1 + N) / (1 + N_w)), where
  the sum runs over word occurrences, |s| counts the occurrences that have a
  GloVe vector (words without one contribute nothing either way), N is the
  number of data sets (those already featurized in the store plus this one)
  and N_w how many of them contain w. Because IDF compares data sets, the first
  data set featurized alone gets the zero vector (every word is in all N = 1
  documents); :func:`featurize_all` featurizes several data sets as one corpus.
* **task embedding** — the mean GloVe vector of the words of the task's one- or
  two-sentence description (what the task asks and how its input looks).
* **baseline score** — a lite BiLSTM's dev score (or a faster linear model's),
  see :mod:`autodistill.features.baseline`.
* **#examples**, **#labels**, **task kind**.
* the **teacher score** is not a dataset feature: it depends on the teacher and
  is passed with each run or prediction.

Text is tokenised by :func:`autodistill.features.glove.tokenize` (lowercase ``[a-z0-9]+``)
over the train split's ``text`` and ``text_pair`` columns. All of this is
:data:`FEATURIZER_VERSION`; features of different versions are never mixed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence, Set
from dataclasses import dataclass, replace

import numpy as np

from autodistill.features.baseline import BaselineSettings, baseline_score
from autodistill.features.glove import load_glove, tokenize
from autodistill.store.database import DatasetFeatures, RunStore
from engine import AutodistillError, DataColumns, TaskData, column_options, load_task, task_head

#: Bump whenever any feature would come out different for the same data set.
#: 2: the BiLSTM baseline trains a fixed number of steps, no longer until a wall-clock deadline.
FEATURIZER_VERSION = "2"

#: Fewer train examples than this make the baseline score and the word statistics noise.
MIN_TRAIN_EXAMPLES = 50
#: A classification task needs two classes for a baseline score to mean anything.
MIN_LABELS = 2


def featurizer_version(baseline_model: str) -> str:
    """The version string stored with features: the feature recipe plus the baseline model used."""
    return f"glove50-tfidf.v{FEATURIZER_VERSION}+{baseline_model}"


def word_counts(task: TaskData) -> Counter[str]:
    """How often each word occurs in the train split (both sides of a pair)."""
    columns = [c for c in ("text", "text_pair") if c in task.train]
    return Counter(word for column in columns for text in task.train[column] for word in tokenize(str(text)))


def idf_weights(vocabulary: Set[str], others: Sequence[Set[str]]) -> dict[str, float]:
    """IDF_w = log((1 + N) / (1 + N_w)) (Table 7) for each word of one data set.

    N counts this data set and ``others``; N_w counts those containing w (this one included).
    """
    n = len(others) + 1
    return {word: math.log((1 + n) / (1 + 1 + sum(word in other for other in others))) for word in vocabulary}


def context_embedding(
    counts: Mapping[str, int], idf: Mapping[str, float], vectors: Mapping[str, np.ndarray]
) -> np.ndarray:
    """v_s = (1/|s|) Σ_w IDF_w v_w over the word occurrences of the data set (Table 7)."""
    known = {word: count for word, count in counts.items() if word in vectors}
    if not known:
        raise AutodistillError("no word of the data set has a GloVe vector; cannot embed its context")
    total = sum(known.values())
    return sum(count * idf[word] * vectors[word] for word, count in known.items()) / total


def task_embedding(description: str, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    """The mean GloVe vector of the description's words (Table 7, task embedding)."""
    words = [word for word in tokenize(description) if word in vectors]
    if not words:
        raise AutodistillError(
            f"task description {description!r} has no words with GloVe vectors; "
            "describe the task in one or two plain English sentences"
        )
    return np.mean([vectors[word] for word in words], axis=0)


def check_task(task: TaskData) -> None:
    """Refuse data sets too small or too degenerate to featurize, saying why in one line."""
    name = task.spec.name
    if len(task.train) < MIN_TRAIN_EXAMPLES:
        raise AutodistillError(
            f"data set {name!r} has {len(task.train)} train examples; featurizing needs at least "
            f"{MIN_TRAIN_EXAMPLES} so that the baseline score and word statistics are not noise"
        )
    present = task_head(task.spec).classes_present(task.train)
    if present is not None and (len(task.spec.label_names) < MIN_LABELS or present < MIN_LABELS):
        raise AutodistillError(
            f"data set {name!r} has {present} label(s) in its train split; a {task.spec.task_type} task needs "
            f"at least {MIN_LABELS}, or no baseline can be told from chance"
        )
    if len(task.dev) == 0:
        raise AutodistillError(f"data set {name!r} has an empty dev split; the baseline score is measured on it")
    if not task.spec.description.strip():
        raise AutodistillError(f"data set {name!r} has no description; the task embedding is built from it")


def featurize(
    task: TaskData,
    *,
    store: RunStore | None = None,
    others: Sequence[Set[str]] | None = None,
    baseline: BaselineSettings | None = None,
    vectors: Mapping[str, np.ndarray] | None = None,
) -> DatasetFeatures:
    """All Table 7 features of ``task`` but the teacher score; returned, not stored.

    The other IDF documents are ``others`` (vocabularies) when given, else the data
    sets already featurized in ``store`` under the same version (a stored data set
    of the same name is being replaced, so it does not count).
    """
    check_task(task)
    baseline = baseline or BaselineSettings()
    vectors = vectors if vectors is not None else load_glove()
    version = featurizer_version(baseline.model)
    if others is None:
        stored = store.features(version) if store else []
        others = [f.vocabulary for f in stored if f.dataset != task.spec.name]
    counts = word_counts(task)
    vocabulary = frozenset(word for word in counts if word in vectors)
    context = context_embedding(counts, idf_weights(vocabulary, others), vectors)
    return DatasetFeatures(
        dataset=task.spec.name,
        featurizer_version=version,
        task_kind=task.spec.kind,
        n_examples=len(task.train),
        n_labels=task.spec.num_labels,
        baseline_score=baseline_score(task, vectors, baseline),
        baseline_model=baseline.model,
        context_embedding=tuple(float(x) for x in context),
        task_embedding=tuple(float(x) for x in task_embedding(task.spec.description, vectors)),
        vocabulary=vocabulary,
    )


def refit_context(
    features: Sequence[DatasetFeatures],
    corpus: Collection[str],
    counts: Mapping[str, Mapping[str, int]],
    vectors: Mapping[str, np.ndarray],
) -> list[DatasetFeatures]:
    """``features`` with every context embedding recomputed against the IDF corpus ``corpus``
    (names of data sets among ``features``; each data set counts itself as well).

    Leave-one-dataset-out needs it: stored features were computed with every data set in
    the corpus, so a training data set's IDF would count the held-out one. ``counts`` are
    each data set's word counts (:func:`word_counts`); only the context embedding depends
    on the corpus, the other features are kept.
    """
    vocabularies = {f.dataset: f.vocabulary for f in features}
    bare = sorted(name for name in vocabularies if not vocabularies[name])
    if bare:
        raise AutodistillError(
            f"no stored vocabulary for {', '.join(bare)}: its IDF corpus cannot be rebuilt; featurize it again"
        )
    refit = []
    for f in features:
        others = [vocabularies[name] for name in sorted(corpus) if name != f.dataset]
        context = context_embedding(counts[f.dataset], idf_weights(f.vocabulary, others), vectors)
        refit.append(replace(f, context_embedding=tuple(float(x) for x in context)))
    return refit


def featurize_all(
    tasks: Sequence[TaskData],
    store: RunStore,
    *,
    baseline: BaselineSettings | None = None,
    vectors: Mapping[str, np.ndarray] | None = None,
) -> list[DatasetFeatures]:
    """Featurize several data sets as one IDF corpus (with the store's others) and store them.

    Featurizing one at a time gives each data set a different N (the first one,
    alone, an all-zero context embedding); this gives all of them the same corpus.
    """
    baseline = baseline or BaselineSettings()
    vectors = vectors if vectors is not None else load_glove()
    names = {task.spec.name for task in tasks}
    stored = [f.vocabulary for f in store.features(featurizer_version(baseline.model)) if f.dataset not in names]
    batch = {task.spec.name: frozenset(w for w in word_counts(task) if w in vectors) for task in tasks}
    results = []
    for task in tasks:
        others = stored + [vocab for name, vocab in batch.items() if name != task.spec.name]
        results.append(featurize(task, others=others, baseline=baseline, vectors=vectors))
    with store.transaction():
        for features in results:
            store.put_features(features)
    return results


def load_described(
    dataset: str,
    description: str | None = None,
    columns: DataColumns | None = None,
    on_status: Callable[[str], None] = lambda _text: None,
) -> TaskData:
    """A data set for the meta layer, with the description its task embedding is built from:
    an empty one is refused, a file's generic default is pointed out (through ``on_status``)."""
    if description is not None and not description.strip():
        raise AutodistillError(
            "--description is empty; describe the task in one or two plain sentences "
            "(what it asks and how its input looks): the task embedding is built from it"
        )
    task = load_task(dataset, description=description, **column_options(columns))
    if description is None and task.spec.description.startswith("User-provided "):
        on_status(
            f"note: {task.spec.name} has no description, so the task embedding is built from "
            f"{task.spec.description!r}; pass --description for a better one"
        )
    return task


@dataclass(frozen=True)
class Featurized:
    """A data set's features with what they were computed against."""

    task: TaskData
    features: DatasetFeatures
    #: Data sets in the IDF corpus of the context embedding (the store's others plus this one).
    corpus: int


def featurize_dataset(
    dataset: str,
    store: RunStore,
    *,
    description: str | None = None,
    columns: DataColumns | None = None,
    baseline: BaselineSettings | None = None,
    save: bool = True,
    on_status: Callable[[str], None] = lambda _text: None,
) -> Featurized:
    """What ``autodistill features`` does: load the data set (description checked), featurize it
    against the store's other data sets and, if ``save``, store the result for recommend and sweeps."""
    task = load_described(dataset, description, columns, on_status)
    features = featurize(task, store=store, baseline=baseline)
    if save:
        store.put_features(features)
    others = [f for f in store.features(features.featurizer_version) if f.dataset != task.spec.name]
    return Featurized(task, features, len(others) + 1)
