"""Task metrics as the Distiller paper reports them (GLUE and SQuAD conventions).

Classification: accuracy, macro-F1, Matthews correlation; regression: Pearson and
Spearman; span: exact match and token F1 over normalised answer strings; token
tagging: accuracy over tagged words and macro-F1 over tags. Each task
has one headline metric (``TaskSpec.metric``): the number the distillation ratio
is computed from.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from engine.data.schema import TaskType


def classification_metrics(preds: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    preds_a, labels_a = np.asarray(preds), np.asarray(labels)
    return {
        "accuracy": float(accuracy_score(labels_a, preds_a)),
        "f1": float(f1_score(labels_a, preds_a, average="macro", zero_division=0)),
        "mcc": float(matthews_corrcoef(labels_a, preds_a)),
    }


def regression_metrics(preds: Sequence[float], labels: Sequence[float]) -> dict[str, float]:
    preds_a = np.asarray(preds, dtype=float)
    labels_a = np.asarray(labels, dtype=float)
    if np.std(preds_a) == 0 or np.std(labels_a) == 0:
        # Correlation is undefined for a constant prediction; a constant predictor has
        # no ranking skill, so score it 0 rather than NaN (NaN would poison averages).
        pearson = spearman = 0.0
    else:
        pearson = float(stats.pearsonr(preds_a, labels_a)[0])
        spearman = float(stats.spearmanr(preds_a, labels_a)[0])
    return {
        "pearson": pearson,
        "spearman": spearman,
        "mse": float(np.mean((preds_a - labels_a) ** 2)),
    }


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lowercase, drop punctuation, articles and extra spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _token_f1(pred: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def span_metrics(preds: Sequence[str], answers: Sequence[str]) -> dict[str, float]:
    if not answers:
        return {"exact_match": 0.0, "f1": 0.0}
    em = [float(normalize_answer(p) == normalize_answer(a)) for p, a in zip(preds, answers, strict=True)]
    f1 = [_token_f1(p, a) for p, a in zip(preds, answers, strict=True)]
    return {"exact_match": float(np.mean(em)), "f1": float(np.mean(f1))}


def token_metrics(preds: Sequence[Sequence[int]], labels: Sequence[Sequence[int]]) -> dict[str, float]:
    """Tagging scores over every tagged word of every sentence (one tag list per sentence).

    ``accuracy`` is the share of words tagged right (how POS taggers are compared);
    ``f1`` is the unweighted mean of the per-tag F1s, so rare tags count as much as
    nouns. Sentences must pair up word for word: a length mismatch is a decoding bug.
    """
    for i, (pred, gold) in enumerate(zip(preds, labels, strict=True)):
        if len(pred) != len(gold):
            raise ValueError(f"sentence {i}: {len(pred)} predicted tags for {len(gold)} tagged words")
    flat_preds = np.concatenate([np.asarray(p, dtype=np.int64) for p in preds] or [np.zeros(0, np.int64)])
    flat_gold = np.concatenate([np.asarray(g, dtype=np.int64) for g in labels] or [np.zeros(0, np.int64)])
    if not len(flat_gold):
        return {"accuracy": 0.0, "f1": 0.0}
    return {
        "accuracy": float(accuracy_score(flat_gold, flat_preds)),
        "f1": float(f1_score(flat_gold, flat_preds, average="macro", zero_division=0)),
    }


def compute_metrics(task_type: TaskType, preds: Sequence, labels: Sequence) -> dict[str, float]:
    """All metrics of a task type; pick the headline one with ``TaskSpec.metric``."""
    if task_type is TaskType.CLASSIFICATION:
        return classification_metrics(preds, labels)
    if task_type is TaskType.REGRESSION:
        return regression_metrics(preds, labels)
    if task_type is TaskType.TOKEN:
        return token_metrics(preds, labels)
    return span_metrics(preds, labels)
