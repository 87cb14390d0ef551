"""Prediction-layer losses (Eq. 1 β and γ terms, Eq. 2)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.errors import AutodistillError
from engine.kd.losses import LABEL_LOSSES, PRED_LOSSES, check_pred_loss
from engine.kd.losses.prediction import distill_ce, distill_mse, label_ce, label_mse
from engine.tasks.spec import TaskType

CLS, REG, SPAN = TaskType.CLASSIFICATION, TaskType.REGRESSION, TaskType.SPAN


def test_ce_against_equal_logits_is_the_teacher_entropy():
    logits = torch.zeros(3, 2)
    assert distill_ce(logits, logits).item() == pytest.approx(math.log(2))


def test_ce_is_soft_cross_entropy_at_temperature_times_t_squared():
    torch.manual_seed(0)
    s, t, temp = torch.randn(4, 5), torch.randn(4, 5), 3.0
    expected = F.cross_entropy(s / temp, (t / temp).softmax(-1)) * temp**2
    assert distill_ce(s, t, temperature=temp).item() == pytest.approx(expected.item(), rel=1e-6)


def test_ce_refuses_a_single_output_and_a_bad_temperature():
    with pytest.raises(AutodistillError, match="use 'mse'"):
        distill_ce(torch.zeros(2, 1), torch.zeros(2, 1))
    with pytest.raises(AutodistillError, match="temperature"):
        distill_ce(torch.zeros(2, 2), torch.zeros(2, 2), temperature=0.0)


def test_mse_is_on_raw_logits_whatever_the_temperature():
    s, t = torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)
    assert distill_mse(s, t).item() == pytest.approx(2.5)
    assert distill_mse(s, t, temperature=4.0).item() == pytest.approx(2.5)


@pytest.mark.parametrize("name", ["ce", "mse"])
def test_span_padding_gets_no_probability_and_no_say(name):
    torch.manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.bool)
    s, t = torch.randn(2, 5, requires_grad=True), torch.randn(2, 5)
    loss = PRED_LOSSES.get(name)(s, t, temperature=2.0, mask=mask)
    # Same as if the padded positions did not exist at all, whatever they hold.
    trimmed = PRED_LOSSES.get(name)(s[:, :3], t[:, :3], temperature=2.0)
    garbage_s = s.detach().masked_fill(~mask, 1e4)
    garbage_t = t.masked_fill(~mask, -1e4)
    assert loss.item() == pytest.approx(trimmed.item(), rel=1e-6)
    assert PRED_LOSSES.get(name)(garbage_s, garbage_t, temperature=2.0, mask=mask).item() == pytest.approx(
        loss.item(), rel=1e-6
    )
    loss.backward()
    assert s.grad[~mask].abs().max() == 0
    assert s.grad[mask].abs().max() > 0


def test_label_ce_matches_torch_for_ids_and_is_linear_in_mixup_labels():
    torch.manual_seed(0)
    logits, y1, y2 = torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), torch.tensor([2, 2, 0, 1])
    assert label_ce(logits, y1, task_type=CLS).item() == pytest.approx(F.cross_entropy(logits, y1).item())
    lam = 0.3
    mixed = lam * F.one_hot(y1, 3).float() + (1 - lam) * F.one_hot(y2, 3).float()
    expected = lam * F.cross_entropy(logits, y1) + (1 - lam) * F.cross_entropy(logits, y2)
    assert label_ce(logits, mixed, task_type=CLS).item() == pytest.approx(expected.item(), rel=1e-6)


def test_ce_on_regression_is_refused_in_one_line():
    with pytest.raises(AutodistillError, match="regression task") as err:
        label_ce(torch.zeros(2, 1), torch.zeros(2), task_type=REG)
    assert "\n" not in str(err.value)
    with pytest.raises(AutodistillError, match="regression"):
        check_pred_loss("ce", REG)
    check_pred_loss("mse", REG)


def test_label_mse_is_squared_error_for_regression_and_brier_for_classes():
    assert label_mse(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0]), task_type=REG).item() == 2.5
    assert label_mse(torch.zeros(1, 2), torch.tensor([0]), task_type=CLS).item() == pytest.approx(0.5)


def test_span_labels_as_positions_or_distributions():
    mask = torch.tensor([[1, 1, 0]], dtype=torch.bool)
    logits = torch.tensor([[0.0, 0.0, 5.0]])
    assert label_ce(logits, torch.tensor([1]), task_type=SPAN, mask=mask).item() == pytest.approx(math.log(2))
    soft = torch.tensor([[0.5, 0.5, 0.0]])
    assert label_ce(logits, soft, task_type=SPAN, mask=mask).item() == pytest.approx(math.log(2))
    with pytest.raises(AutodistillError, match="masked"):
        label_ce(logits, torch.tensor([2]), task_type=SPAN, mask=mask)


def test_bad_shapes_and_empty_span_mask_are_refused():
    with pytest.raises(AutodistillError, match="differ in shape"):
        distill_mse(torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(AutodistillError, match="do not fit"):
        label_ce(torch.zeros(2, 3), torch.zeros(2), task_type=CLS)
    with pytest.raises(AutodistillError, match="no valid position"):
        distill_ce(torch.zeros(1, 3), torch.zeros(1, 3), mask=torch.zeros(1, 3, dtype=torch.bool))


@pytest.mark.parametrize("name", ["ce", "mse"])
def test_gradients_reach_the_student_not_the_teacher(name):
    s, t = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    PRED_LOSSES.get(name)(s, t, temperature=2.0).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None
    logits = torch.randn(3, 4, requires_grad=True)
    LABEL_LOSSES.get(name)(logits, torch.tensor([0, 1, 3]), task_type=CLS).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_unknown_names_list_the_valid_ones():
    for registry in (PRED_LOSSES, LABEL_LOSSES):
        with pytest.raises(AutodistillError, match="choose one of: ce, mse"):
            registry.get("kl")
    with pytest.raises(AutodistillError, match="ce, mse"):
        check_pred_loss("kl", CLS)
