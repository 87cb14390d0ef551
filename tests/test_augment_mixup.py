"""Mixup on word embeddings (§3.1): x̂ = λx_i + (1-λ)x_j and ŷ = λy_i + (1-λ)y_j, for
classes, regression targets and span positions, with each model mixing its own embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.augment.mixup import check_mixup_model, mix_inputs, mix_targets, plan_mixup, sample_lambdas
from engine.errors import AutodistillError
from engine.tasks.spec import TaskSpec, TaskType

CLS = TaskSpec("c", TaskType.CLASSIFICATION, "", ("a", "b", "c"))
REG = TaskSpec("r", TaskType.REGRESSION, "")
SPAN = TaskSpec("s", TaskType.SPAN, "", paired=True)

PERM = torch.tensor([[1, 2, 0]])
LAM = torch.tensor([[0.7, 0.25, 1.0]])


def test_class_labels_mix_as_lambda_weighted_one_hots():
    mixed = mix_targets(torch.tensor([0, 1, 2]), CLS, PERM, LAM, width=8)
    expected = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.25, 0.75], [0.0, 0.0, 1.0]])  # λ = 1 keeps y_i
    torch.testing.assert_close(mixed, expected)
    torch.testing.assert_close(mixed.sum(-1), torch.ones(3))


def test_regression_targets_mix_linearly():
    mixed = mix_targets(torch.tensor([1.0, 3.0, 5.0]), REG, PERM, LAM, width=8)
    torch.testing.assert_close(mixed, torch.tensor([0.7 * 1 + 0.3 * 3, 0.25 * 3 + 0.75 * 5, 5.0]))


def test_span_targets_mix_per_position():
    labels = torch.tensor([[1, 2], [3, 3], [4, 6]])  # (start, end) token positions
    mixed = mix_targets(labels, SPAN, PERM, LAM, width=8)
    assert mixed.shape == (3, 2, 8)
    start0 = torch.zeros(8)
    start0[1], start0[3] = 0.7, 0.3
    torch.testing.assert_close(mixed[0, 0], start0)
    torch.testing.assert_close(mixed.sum(-1), torch.ones(3, 2))


def test_two_mixup_rounds_compose():
    perm = torch.tensor([[1, 0], [1, 0]])
    lam = torch.tensor([[0.5, 0.5], [0.2, 0.2]])
    mixed = mix_targets(torch.tensor([0, 1]), CLS, perm, lam, width=4)
    torch.testing.assert_close(mixed, torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]))


def test_lambdas_follow_the_chosen_distribution_and_the_seed():
    beta = sample_lambdas(np.random.default_rng(0), 20_000, "beta", 0.4)
    uniform = sample_lambdas(np.random.default_rng(0), 20_000, "uniform", 0.4)
    assert beta.min() >= 0 and beta.max() <= 1 and uniform.min() >= 0 and uniform.max() <= 1
    assert np.mean((beta < 0.1) | (beta > 0.9)) > 0.4  # Beta(0.4, 0.4) piles up at the ends
    assert abs(np.mean(uniform < 0.5) - 0.5) < 0.02
    a, b = (
        plan_mixup(np.random.default_rng(7), 5, 2, "beta", 0.4),
        plan_mixup(np.random.default_rng(7), 5, 2, "beta", 0.4),
    )
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].shape == (2, 5)
    assert sorted(a[0][0].tolist()) == list(range(5))


def _tiny_bert(num_labels: int = 3) -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=num_labels,
    )
    return BertForSequenceClassification(config).eval()


def test_mixed_embeddings_are_the_convex_combination_of_word_and_type_embeddings():
    model = _tiny_bert()
    batch = {
        "input_ids": torch.tensor([[2, 5, 6, 3, 0], [2, 7, 3, 8, 3]]),
        "token_type_ids": torch.tensor([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]),
    }
    perm, lam = torch.tensor([[1, 0]]), torch.tensor([[0.6, 0.6]])
    mixed = mix_inputs(model, batch, perm, lam)
    emb = model.bert.embeddings
    full = emb.word_embeddings(batch["input_ids"]) + emb.token_type_embeddings(batch["token_type_ids"])
    expected = 0.6 * full[0] + 0.4 * full[1] - emb.token_type_embeddings.weight[0]
    torch.testing.assert_close(mixed["inputs_embeds"][0], expected)
    assert mixed["attention_mask"].tolist() == [[1] * 5, [1] * 5]  # a position of either partner is attended
    assert mixed["token_type_ids"].eq(0).all()


def test_lambda_one_reproduces_the_unmixed_forward():
    model = _tiny_bert()
    batch = {
        "input_ids": torch.tensor([[2, 5, 6, 3], [2, 7, 3, 8]]),
        "token_type_ids": torch.tensor([[0, 0, 0, 0], [0, 0, 1, 1]]),
        "attention_mask": torch.ones(2, 4, dtype=torch.long),
    }
    with torch.no_grad():
        plain = model(**batch).logits
        mixed = model(**mix_inputs(model, batch, torch.tensor([[1, 0]]), torch.ones(1, 2))).logits
    torch.testing.assert_close(mixed, plain)


def test_mixup_refuses_a_model_without_inputs_embeds():
    class IdsOnly(nn.Module):
        def forward(self, input_ids):
            return input_ids

    with pytest.raises(AutodistillError, match="mixup needs the teacher to accept inputs_embeds"):
        check_mixup_model(IdsOnly(), "teacher")
    check_mixup_model(_tiny_bert(), "student")
