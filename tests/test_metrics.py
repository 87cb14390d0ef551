from engine.tasks import task_metrics as compute_metrics
from engine.tasks.span import normalize_answer
from engine.tasks.spec import TaskType


def test_classification_metrics_on_known_predictions():
    m = compute_metrics(TaskType.CLASSIFICATION, [0, 1, 1, 0], [0, 1, 0, 0])
    assert m["accuracy"] == 0.75
    assert round(m["mcc"], 4) == 0.5774


def test_regression_metrics_rank_and_linear():
    m = compute_metrics(TaskType.REGRESSION, [1.0, 2.0, 3.0, 10.0], [1.0, 2.0, 3.0, 4.0])
    assert m["spearman"] == 1.0
    assert 0.8 < m["pearson"] < 1.0


def test_constant_regression_prediction_scores_zero_not_nan():
    assert compute_metrics(TaskType.REGRESSION, [2.0, 2.0], [1.0, 3.0])["spearman"] == 0.0


def test_span_metrics_follow_squad_normalisation():
    assert normalize_answer("The  Cat!") == "cat"
    m = compute_metrics(TaskType.SPAN, ["the cat", "big dog"], ["Cat", "dog"])
    assert m["exact_match"] == 0.5
    assert round(m["f1"], 4) == round((1 + 2 * 0.5 * 1 / 1.5) / 2, 4)


def test_a_span_prediction_scores_its_best_against_an_example_s_gold_answers():
    """SQuAD's dev rows hold several answers; a prediction matching any of them is right."""
    m = compute_metrics(TaskType.SPAN, ["big dog", "cat"], [("cat", "big dog"), ("the red cat", "a cat")])
    assert m["exact_match"] == 1.0 and m["f1"] == 1.0
    assert compute_metrics(TaskType.SPAN, ["big dog"], [("cat",)])["f1"] == 0.0


def test_a_metric_split_into_per_example_terms_scores_any_resample_as_the_metric_does():
    import numpy as np
    import pytest

    from engine.tasks.head import head_of

    cases = {
        TaskType.CLASSIFICATION: ([0, 1, 1, 0, 2], [0, 1, 0, 0, 2]),
        TaskType.SPAN: (["the cat", "big dog", "", "a red fox"], ["Cat", "dog", "owl", "red fox"]),
        TaskType.TOKEN: ([[1, 2, 3], [0], [2, 2]], [[1, 2, 0], [0], [1, 2]]),
    }
    for task_type, (preds, labels) in cases.items():
        parts = head_of(task_type).example_parts(preds, labels)
        assert parts, f"{task_type} splits a metric into per-example terms"
        rows = np.random.default_rng(0).integers(0, len(labels), 7)
        counts = np.bincount(rows, minlength=len(labels))
        picked = ([preds[i] for i in rows], [labels[i] for i in rows])
        whole = compute_metrics(task_type, *picked)
        for name, (numerator, denominator) in parts.items():
            assert counts @ numerator / (counts @ denominator) == pytest.approx(whole[name])
    assert head_of(TaskType.REGRESSION).example_parts([1.0, 2.0], [2.0, 1.0]) == {}, "a correlation is no sum"
