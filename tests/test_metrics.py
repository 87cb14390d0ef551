from engine.data.schema import TaskType
from engine.tasks import task_metrics as compute_metrics
from engine.tasks.span import normalize_answer


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
