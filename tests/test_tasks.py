"""Every task type is one registered head that answers every question the engine asks of it.

The loaders, the encoder, the objective, the trainer, the cache and the baseline feature ask
the head instead of branching on the task type, so a head that leaves a hook to the base
class's placeholder would fail at run time, far from its module; this walk fails first.
"""

from __future__ import annotations

import pandas as pd
import pytest

from engine.data.loaders import USUAL_NAMES
from engine.errors import AutodistillError
from engine.tasks import TASK_HEADS, TaskHead
from engine.tasks.spec import TaskSpec, TaskType

#: Hooks that every task type must define itself: the base class has no sensible default.
OWN_HOOKS = ("encode", "metrics")
#: Every hook the engine calls on a head (the base class's defaults count).
HOOKS = (
    "recognises",
    "check_rows",
    "number_labels",
    "fit_spec",
    "metric_choices",
    "split_groups",
    "encode",
    "head_kwargs",
    "label_space",
    "fitted",
    "logits",
    "kd_view",
    "label_view",
    "soft_targets",
    "pack",
    "unpack",
    "empty_labels",
    "decode",
    "gold",
    "metrics",
    "prediction_inputs",
    "blank_labels",
    "named",
    "one_answer",
    "references",
)


def missing_hooks(head: TaskHead) -> list[str]:
    """The hooks ``head`` lacks, or leaves to the base class where it must define its own."""
    absent = [hook for hook in HOOKS if not callable(getattr(head, hook, None))]
    return absent + [hook for hook in OWN_HOOKS if getattr(type(head), hook) is getattr(TaskHead, hook)]


def test_every_task_type_has_a_head_and_every_head_a_task_type():
    assert sorted(TASK_HEADS) == sorted(t.value for t in TaskType)


@pytest.mark.parametrize("name", sorted(TASK_HEADS))
def test_every_head_provides_every_hook(name):
    head = TASK_HEADS.get(name)
    assert head.name == name
    assert missing_hooks(head) == []


@pytest.mark.parametrize("name", sorted(TASK_HEADS))
def test_every_head_declares_its_columns_and_its_headline_metric(name):
    head = TASK_HEADS.get(name)
    assert set(head.required_columns) <= set(head.columns)
    assert set(head.target_columns) <= set(head.columns)
    assert all(role in USUAL_NAMES for role in head.columns), "every kept column can be found in a user file"
    assert head.text_column in USUAL_NAMES
    assert head.reference_column is None or head.reference_column in head.target_columns
    assert head.default_metric in head.metric_names
    spec = TaskSpec("toy", name, "toy", ("B-PER", "I-PER", "O"))
    assert head.default_metric in head.metric_choices(spec) and set(head.metric_choices(spec)) <= set(head.metric_names)


def test_type_inference_asks_the_heads_in_a_fixed_order():
    ranks = [TASK_HEADS.get(name).inference_rank for name in TASK_HEADS]
    assert len(set(ranks)) == len(ranks)


@pytest.mark.parametrize(
    ("name", "gold"),
    [
        ("classification", [0, 1, 1, 0]),
        ("regression", [0.5, 1.5, 2.0, 3.0]),
        ("span", ["the cat", "a dog", "red"]),
        ("token", [[0, 1, 2], [2, 1]]),
    ],
)
def test_a_head_reports_exactly_its_metric_names_and_perfect_predictions_score_one(name, gold):
    head = TASK_HEADS.get(name)
    scores = head.metrics(gold, gold, ("B-PER", "I-PER", "O"))
    assert set(scores) == set(head.metric_names)
    assert all(scores[metric] == pytest.approx(1.0) for metric in head.metric_names if metric != "mse")


@pytest.mark.parametrize(
    ("name", "same", "differ", "said"),
    [
        ("classification", [1, 1, 1], [1, 0, 1], "pos"),
        ("regression", [0.25, 0.25], [0.25, 0.5], "0.25"),
        ("span", ["", "", ""], ["", "cat", ""], ""),
        ("token", [[1, 1, 1], [1]], [[1, 1], [1, 0]], "pos"),  # one tag for every word, however many
    ],
)
def test_a_head_names_the_one_answer_a_model_gave_every_example(name, same, differ, said):
    head, spec = TASK_HEADS.get(name), TaskSpec("toy", name, "toy", ("neg", "pos"))
    assert head.one_answer(same, spec) == said
    assert head.one_answer(differ, spec) is None
    assert head.one_answer(same[:1], spec) is None  # one example: one answer says nothing


@pytest.mark.parametrize(
    ("name", "cells", "preds", "gold", "unknown"),
    [
        ("classification", ["pos", "neg", "meh"], [1, 1, 0], [1, 0, -1], {"meh"}),  # never learned: scored wrong
        ("regression", ["0.5", 2], [0.1, 0.2], [0.5, 2.0], set()),
        ("token", [["pos", "neg", "x"], '["neg"]'], [[1, 1], [0]], [[1, 0], [0]], {"x"}),  # cut: its tail goes
        (
            "span",
            ["cat", {"text": ["dog"], "answer_start": [3]}, {"text": []}],
            ["a"] * 3,
            [("cat",), ("dog",), None],
            set(),
        ),
        ("span", ['{"text": ["dog"]}', "{'text': ['cat']}", "{a}"], ["a"] * 3, [("dog",), ("cat",), ("{a}",)], set()),
        ("span", [{"text": ["dog", "a dog", "dog"]}], ["a"], [("dog", "a dog")], set()),  # every answer, once
    ],
)
def test_a_labelled_inputs_references_are_read_as_the_metrics_read_them(name, cells, preds, gold, unknown):
    head, spec = TASK_HEADS.get(name), TaskSpec("toy", name, "toy", ("neg", "pos") if name != "regression" else ())
    inputs = head.prediction_inputs(pd.Series(["a b c", "d"][: len(cells)] if name == "token" else ["t"] * len(cells)))
    assert head.references(pd.Series(cells, name="gold"), inputs, preds, spec, str) == (gold, unknown)


@pytest.mark.parametrize(
    ("name", "cells", "refused"),
    [
        ("classification", [0, 1], r"column 'gold' holds none of the model's labels \(e.g. '0', '1'\)"),
        ("regression", [0.5, "n/a"], "column 'gold' is not numeric: 'n/a' .1."),
        ("token", [["pos"]], "0 has 3 words but 1 tags"),
    ],
)
def test_references_that_are_not_the_models_labels_are_refused_in_one_line(name, cells, refused):
    head, spec = TASK_HEADS.get(name), TaskSpec("toy", name, "toy", ("neg", "pos") if name != "regression" else ())
    with pytest.raises(AutodistillError, match=refused):
        inputs = head.prediction_inputs(pd.Series(["a b c"] * len(cells)))
        head.references(pd.Series(cells, name="gold"), inputs, [0] * len(cells), spec, str)


def test_the_walk_sees_a_head_that_leaves_out_a_hook():
    class Bare(TaskHead):
        def metrics(self, preds, labels, names=()):
            return {}

    assert missing_hooks(Bare()) == ["encode"]
