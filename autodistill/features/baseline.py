"""The baseline-score feature (paper Table 7): how well a cheap model does on the task.

The paper fine-tunes "a lite Bi-LSTM" to measure task difficulty; compared with
the teacher score it tells how much a large model adds. Here:

* ``bilstm`` (default, the paper's choice): 50-d embeddings initialised from
  GloVe, one bidirectional LSTM layer, max-pooled; sentence pairs are encoded
  by the same LSTM and joined as [u, v, |u - v|, u * v]; span tasks tag start
  and end over "question <sep> context"; token tasks tag every word of the
  sentence from the same states. Trained briefly with Adam on at most
  ``max_train`` examples for ``epochs`` passes and at most ``max_steps`` optimizer
  steps, so it costs seconds to about a minute on a 2-core CPU. The budget is
  counted in steps, not seconds: a wall-clock deadline made the feature depend on
  how busy the machine was.
* ``linear`` (faster, less faithful): TF-IDF of words plus logistic regression
  (classification) or ridge regression (regression); pairs use both sides'
  vectors and their element-wise product; token tasks tag each word from its
  own, its suffix's and its neighbours' identities. Span tasks are not supported.

Either is scored on (at most ``max_dev`` examples of) the dev split with the
task's own metric, as a fraction. The model used is part of the featurizer
version, because the two give different numbers for the same task.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from torch import nn
from torch.nn import functional as F

from autodistill.features.glove import token_spans, tokenize
from engine import AutodistillError, TaskData, TaskHead, TaskSpec, bag_f1, choices_error, task_head

BASELINE_MODELS = ("bilstm", "linear")
_PAD, _UNK, _SEP = 0, 1, 2
_NO_TAG = -100  # a padded position's tag target, ignored by the loss
_MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class BaselineSettings:
    """How the baseline is trained; the defaults keep it under about a minute on 2 CPU cores.

    ``max_steps`` = 500 is what 4 epochs of at most 4,000 examples in batches of 32 take, so
    with the defaults every data set trains its full 4 epochs (as before, when a 60 s deadline
    rarely cut in: 0.05-0.15 s a step on a busy 2-core machine), and a larger ``max_train``
    or ``epochs`` cannot make it run longer.
    """

    model: str = "bilstm"
    max_train: int = 4000
    max_dev: int = 2000
    max_len: int = 64
    max_context_len: int = 192
    vocab_size: int = 20000
    hidden: int = 64
    epochs: int = 4
    batch_size: int = 32
    lr: float = 2e-3
    max_steps: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in BASELINE_MODELS:
            raise choices_error("baseline model", self.model, BASELINE_MODELS)
        if self.max_steps < 1:
            raise AutodistillError(f"the baseline needs max_steps >= 1 optimizer steps, got {self.max_steps!r}")


# -- metrics --------------------------------------------------------------------------------------------


def _shape(head: TaskHead) -> str:
    """How the baseline reads a task type, told by its engine head rather than by its name: a span
    to find in a context (a head that keeps one), a tag per word (a head whose outputs run over
    tokens), or one target per row (a class, or a real value where the head is real-valued)."""
    if head.kept_span is not None:
        return "span"
    return "words" if head.token_axis is not None else "rows"


def _score(spec: TaskSpec, predicted: Sequence, gold: Sequence) -> float:
    """The task's headline metric, computed by the engine's task head (the metrics a run reports)."""
    return task_head(spec).metrics(predicted, gold, spec.label_names)[spec.metric]


# -- the BiLSTM -------------------------------------------------------------------------------------


class _Vocabulary:
    """Word ids for the capped training texts: pad, unknown and separator first."""

    def __init__(self, texts: Sequence[str], size: int, split: Callable[[str], list[str]] = tokenize) -> None:
        counts = Counter(word for text in texts for word in split(text))
        self.words = ["<pad>", "<unk>", "<sep>", *(w for w, _ in counts.most_common(size))]
        self._ids = {word: i for i, word in enumerate(self.words)}

    def ids(self, words: Sequence[str]) -> list[int]:
        return [self._ids.get(word, _UNK) for word in words]

    def embeddings(self, vectors: Mapping[str, np.ndarray], dim: int, rng: np.random.Generator) -> torch.Tensor:
        """GloVe rows where the word has one, small random rows otherwise, zero for padding."""
        table = rng.normal(0.0, 0.1, size=(len(self.words), dim))
        table[_PAD] = 0.0
        for i, word in enumerate(self.words[3:], start=3):
            if word in vectors:
                table[i] = vectors[word]
        return torch.tensor(table, dtype=torch.float32)


def _pad(rows: Sequence[Sequence[int]], fill: int = _PAD) -> torch.Tensor:
    width = max(1, max(len(r) for r in rows))
    return torch.tensor([list(r) + [fill] * (width - len(r)) for r in rows], dtype=torch.long)


class _BiLSTM(nn.Module):
    """Embedding → one BiLSTM layer → max-pool (or per-token logits for spans and tags) → linear head."""

    def __init__(self, embeddings: torch.Tensor, hidden: int, n_out: int, paired: bool, per_token: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding.from_pretrained(embeddings, freeze=False, padding_idx=_PAD)
        self.lstm = nn.LSTM(embeddings.shape[1], hidden, batch_first=True, bidirectional=True)
        self.per_token = per_token
        width = 2 * hidden * (4 if paired and not per_token else 1)
        self.head = nn.Linear(width, n_out)

    def _states(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.embed(ids))[0]

    def _pool(self, ids: torch.Tensor) -> torch.Tensor:
        states = self._states(ids).masked_fill((ids == _PAD).unsqueeze(-1), -1e4)
        return states.max(dim=1).values

    def forward(self, ids: torch.Tensor, pair_ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.per_token:
            return self.head(self._states(ids))
        u = self._pool(ids)
        if pair_ids is None:
            return self.head(u)
        v = self._pool(pair_ids)
        return self.head(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))


@dataclass
class _Batches:
    """Encoded examples: inputs per row and the training target per row."""

    inputs: list[tuple[list[int], ...]]
    targets: list[object]


def _encode_span(frame: pd.DataFrame, vocab: _Vocabulary, s: BaselineSettings) -> tuple[_Batches, list[list[str]]]:
    """Question <sep> context ids with (start, end) token targets; also the context words per row.

    An answer that falls outside the truncated context gets target (-1, -1) and is
    skipped in training; at evaluation it simply cannot be found.
    """
    inputs, targets, contexts = [], [], []
    for question, context, start_char, answer in zip(
        frame["text"], frame["text_pair"], frame["answer_start"], frame["answer_text"], strict=True
    ):
        q_words = tokenize(question)[: s.max_len]
        spans = token_spans(context)[: s.max_context_len]
        c_words = [context[a:b].lower() for a, b in spans]
        end_char = int(start_char) + max(len(answer), 1) - 1
        start = next((i for i, (_, b) in enumerate(spans) if b > int(start_char)), -1)
        end = next((i for i, (_, b) in enumerate(spans) if b > end_char), -1)
        offset = len(q_words) + 1
        target = (start + offset, end + offset) if 0 <= start <= end else (-1, -1)
        inputs.append(([*vocab.ids(q_words), _SEP, *vocab.ids(c_words)],))
        targets.append(target)
        contexts.append(c_words)
    return _Batches(inputs, targets), contexts


def _lower(words: Sequence[str]) -> list[str]:
    return [str(word).lower() for word in words]


def _encode_tags(frame: pd.DataFrame, vocab: _Vocabulary, s: BaselineSettings) -> _Batches:
    """The sentence's own words (lowercased, so punctuation keeps its id) and their tag ids."""
    inputs = [(vocab.ids(_lower(words)[: s.max_len]),) for words in frame["tokens"]]
    return _Batches(inputs, [list(tags)[: s.max_len] for tags in frame["tags"]])


def _encode(frame: pd.DataFrame, vocab: _Vocabulary, s: BaselineSettings, paired: bool) -> _Batches:
    columns = ["text", "text_pair"] if paired else ["text"]
    inputs = [
        tuple(vocab.ids(tokenize(str(text))[: s.max_len]) for text in row)
        for row in frame[columns].itertuples(index=False)
    ]
    return _Batches(inputs, list(frame["label"]))


def _logits(model: _BiLSTM, rows: Sequence[tuple[list[int], ...]]) -> torch.Tensor:
    return model(*(_pad([row[k] for row in rows]) for k in range(len(rows[0]))))


def _loss(logits: torch.Tensor, targets: list[object], head: TaskHead, scale: tuple[float, float]) -> torch.Tensor:
    shape = _shape(head)
    if shape == "words":
        gold = _pad(targets, fill=_NO_TAG)  # type: ignore[arg-type]
        return F.cross_entropy(logits.transpose(1, 2), gold, ignore_index=_NO_TAG)
    if shape == "span":
        gold = torch.tensor(targets, dtype=torch.long).clamp(max=logits.shape[1] - 1)
        return F.cross_entropy(logits[:, :, 0], gold[:, 0]) + F.cross_entropy(logits[:, :, 1], gold[:, 1])
    if head.real_valued:
        mean, std = scale
        return F.mse_loss(logits[:, 0], (torch.tensor(targets, dtype=torch.float32) - mean) / std)
    return F.cross_entropy(logits, torch.tensor(targets, dtype=torch.long))


def _train(model: _BiLSTM, data: _Batches, head: TaskHead, s: BaselineSettings) -> None:
    """Adam for ``epochs`` passes or ``max_steps`` steps, whichever comes first."""
    scale = (0.0, 1.0)
    if head.real_valued:
        scale = (float(np.mean(data.targets)), float(np.std(data.targets)) or 1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=s.lr)
    order = list(range(len(data.inputs)))
    shuffle = random.Random(s.seed)
    steps = 0
    model.train()
    for _ in range(s.epochs):
        shuffle.shuffle(order)
        for lo in range(0, len(order), s.batch_size):
            batch = order[lo : lo + s.batch_size]
            logits = _logits(model, [data.inputs[i] for i in batch])
            loss = _loss(logits, [data.targets[i] for i in batch], head, scale)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            if steps >= s.max_steps:
                return


def _predict(model: _BiLSTM, data: _Batches, head: TaskHead) -> np.ndarray:
    """Class ids or regression outputs for classification/regression rows."""
    model.eval()
    out: list[float] = []
    with torch.no_grad():
        for lo in range(0, len(data.inputs), 256):
            logits = _logits(model, data.inputs[lo : lo + 256])
            out.extend((logits[:, 0] if head.real_valued else logits.argmax(dim=-1)).tolist())
    return np.asarray(out)


def _predict_tags(model: _BiLSTM, data: _Batches) -> list[list[int]]:
    """Each sentence's predicted tags, one per word (the gold tags' order)."""
    model.eval()
    out: list[list[int]] = []
    with torch.no_grad():
        for lo in range(0, len(data.inputs), 256):
            rows = data.inputs[lo : lo + 256]
            for logits, row in zip(_logits(model, rows), rows, strict=True):
                out.append(logits[: len(row[0])].argmax(dim=-1).tolist())
    return out


def _predict_spans(model: _BiLSTM, data: _Batches, contexts: list[list[str]]) -> list[list[str]]:
    """The predicted answer words of each row (token positions mapped back to context words)."""
    model.eval()
    answers = []
    with torch.no_grad():
        for lo in range(0, len(data.inputs), 256):
            rows = data.inputs[lo : lo + 256]
            for logits, row, words in zip(_logits(model, rows), rows, contexts[lo : lo + 256], strict=True):
                offset = row[0].index(_SEP) + 1
                start, end = _best_span(logits, row[0])
                answers.append(words[start - offset : end - offset + 1])
    return answers


def _best_span(logits: torch.Tensor, ids: list[int]) -> tuple[int, int]:
    """The highest start + end score with start <= end < start + 30, inside the context."""
    first = ids.index(_SEP) + 1
    if first >= len(ids):
        return first, first
    scores = logits[: len(ids), 0][:, None] + logits[: len(ids), 1][None, :]
    allowed = torch.ones_like(scores, dtype=torch.bool).triu().tril(_MAX_ANSWER_TOKENS - 1)
    allowed[:first, :] = False
    flat = int(scores.masked_fill(~allowed, -1e9).argmax().item())
    return divmod(flat, scores.shape[1])


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: the LSTM is so small that thread hand-offs cost more than they
    save, and on a busy 2-core machine they made a step ~300x slower (measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class _Frames:
    train: pd.DataFrame
    dev: pd.DataFrame


def _vocabulary(task: TaskData, train: pd.DataFrame, s: BaselineSettings) -> _Vocabulary:
    """Words of the training texts; a token task's own words, so punctuation gets ids too."""
    if _shape(task_head(task.spec)) == "words":
        return _Vocabulary(list(train["tokens"]), s.vocab_size, split=_lower)  # type: ignore[arg-type]
    texts = list(train["text"]) + (list(train["text_pair"]) if "text_pair" in train else [])
    return _Vocabulary(texts, s.vocab_size)


def _score_rows(model: _BiLSTM, task: TaskData, vocab: _Vocabulary, frames: _Frames, s: BaselineSettings) -> float:
    spec, head = task.spec, task_head(task.spec)
    _train(model, _encode(frames.train, vocab, s, spec.paired), head, s)
    predicted = _predict(model, _encode(frames.dev, vocab, s, spec.paired), head)
    return _score(spec, predicted, np.asarray(frames.dev["label"]))


def _score_tags(model: _BiLSTM, task: TaskData, vocab: _Vocabulary, frames: _Frames, s: BaselineSettings) -> float:
    _train(model, _encode_tags(frames.train, vocab, s), task_head(task.spec), s)
    dev = _encode_tags(frames.dev, vocab, s)
    return _score(task.spec, _predict_tags(model, dev), dev.targets)


def _score_spans(model: _BiLSTM, task: TaskData, vocab: _Vocabulary, frames: _Frames, s: BaselineSettings) -> float:
    train_data, _ = _encode_span(frames.train, vocab, s)
    found = [i for i, (start, _) in enumerate(train_data.targets) if start >= 0]  # type: ignore[misc]
    kept = _Batches([train_data.inputs[i] for i in found], [train_data.targets[i] for i in found])
    _train(model, kept, task_head(task.spec), s)
    dev_data, contexts = _encode_span(frames.dev, vocab, s)
    answers = _predict_spans(model, dev_data, contexts)
    gold = [tokenize(a) for a in frames.dev["answer_text"]]
    if task.spec.metric == "exact_match":
        return float(np.mean([p == g for p, g in zip(answers, gold, strict=True)]))
    return float(np.mean([bag_f1(p, g) for p, g in zip(answers, gold, strict=True)]))


#: How each shape of task (:func:`_shape`) is trained and scored.
_SCORERS = {"rows": _score_rows, "span": _score_spans, "words": _score_tags}


def _bilstm_score(
    task: TaskData, train: pd.DataFrame, dev: pd.DataFrame, s: BaselineSettings, vectors: Mapping[str, np.ndarray]
) -> float:
    spec = task.spec
    vocab = _vocabulary(task, train, s)
    torch.manual_seed(s.seed)
    dim = len(next(iter(vectors.values())))
    embeddings = vocab.embeddings(vectors, dim, np.random.default_rng(s.seed))
    head = task_head(spec)  # the engine head's shape: per token or per text, how many outputs
    model = _BiLSTM(embeddings, s.hidden, head.outputs * spec.num_labels, spec.paired, head.token_axis is not None)
    return _SCORERS[_shape(head)](model, task, vocab, _Frames(train, dev), s)


# -- the linear baseline ----------------------------------------------------------------------------


def _word_features(words: Sequence[str]) -> list[dict[str, str]]:
    """Each word's own, suffix's, shape's and neighbours' identities: a classic linear tagger's view."""
    low = ["<s>", *_lower(words), "</s>"]
    return [
        {
            "w": low[i],
            "suffix": low[i][-3:],
            "title": str(words[i - 1][:1].isupper()),
            "prev": low[i - 1],
            "next": low[i + 1],
        }
        for i in range(1, len(low) - 1)
    ]


def _linear_tags(task: TaskData, train: pd.DataFrame, dev: pd.DataFrame, s: BaselineSettings) -> float:
    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform(f for words in train["tokens"] for f in _word_features(words))
    model = LogisticRegression(max_iter=300, random_state=s.seed)
    model.fit(x, np.concatenate([np.asarray(tags) for tags in train["tags"]]))
    predicted = model.predict(vectorizer.transform(f for words in dev["tokens"] for f in _word_features(words)))
    ends = np.cumsum([len(tags) for tags in dev["tags"]])[:-1]
    return _score(task.spec, [part.tolist() for part in np.split(predicted, ends)], list(dev["tags"]))


def _linear_score(task: TaskData, train: pd.DataFrame, dev: pd.DataFrame, s: BaselineSettings) -> float:
    spec, head = task.spec, task_head(task.spec)
    if _shape(head) == "span":
        raise AutodistillError("the linear baseline cannot extract spans; use the 'bilstm' baseline for span tasks")
    if _shape(head) == "words":
        return _linear_tags(task, train, dev, s)
    texts = list(train["text"]) + (list(train["text_pair"]) if spec.paired else [])
    vectorizer = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, max_features=50000)
    vectorizer.fit(texts)

    def design(frame: pd.DataFrame) -> sparse.csr_matrix:
        first = vectorizer.transform(frame["text"])
        if not spec.paired:
            return first
        second = vectorizer.transform(frame["text_pair"])
        return sparse.hstack([first, second, first.multiply(second)]).tocsr()

    model = Ridge(alpha=1.0) if head.real_valued else LogisticRegression(max_iter=1000, random_state=s.seed)
    model.fit(design(train), np.asarray(train["label"]))
    return _score(spec, model.predict(design(dev)), np.asarray(dev["label"]))


def baseline_score(task: TaskData, vectors: Mapping[str, np.ndarray], settings: BaselineSettings) -> float:
    """The cheap model's dev score on ``task`` (a fraction), with the task's metric."""
    metrics = task_head(task.spec).metric_names
    if task.spec.metric not in metrics:
        raise choices_error(f"baseline metric for {task.spec.name!r}", task.spec.metric, metrics)
    train = task.train.sample(n=min(len(task.train), settings.max_train), random_state=settings.seed)
    dev = task.dev.sample(n=min(len(task.dev), settings.max_dev), random_state=settings.seed)
    if settings.model == "linear":
        return _linear_score(task, train, dev, settings)
    with _one_thread():
        return _bilstm_score(task, train, dev, settings, vectors)
