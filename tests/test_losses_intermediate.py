"""Intermediate losses (Eq. 1's l^inter; Appendix B's definitions)."""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import AutodistillError
from engine.kd.losses import INTER_LOSSES, build_inter_loss

FIXED = ["mse", "l2", "cos", "pkd", "pkd-tokens", "ce"]


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


# x = [1, 0] (student), y = [0, 1] (teacher), one token.
KNOWN = {
    "mse": 1.0,  # ||x - y||² / H = 2 / 2
    "l2": math.sqrt(2),
    "cos": 1.0,  # orthogonal
    "pkd": 2.0,  # both already unit length
    "pkd-tokens": 2.0,
    "ce": -(sigmoid(-1) * math.log(sigmoid(1)) + sigmoid(1) * math.log(sigmoid(-1))),
}


def build(name: str, hidden_size: int = 2):
    return build_inter_loss(name, hidden_size=hidden_size)


@pytest.mark.parametrize("name", FIXED)
def test_known_value_on_one_token(name):
    x, y, mask = torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.0, 1.0]]]), torch.ones(1, 1)
    assert build(name)(x, y, mask).item() == pytest.approx(KNOWN[name], rel=1e-6)


@pytest.mark.parametrize("name", ["mse", "l2", "cos", "pkd", "pkd-tokens"])
def test_distances_vanish_at_a_perfect_match(name):
    h = torch.randn(2, 3, 4)
    assert build(name, 4)(h, h.clone(), torch.ones(2, 3)).item() == pytest.approx(0, abs=1e-6)


def test_pkd_compares_the_normalised_cls_vectors_only():
    # BERT-PKD: position 0 of each example, norms divided out, averaged over examples.
    x, y = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    y[0, 0] = 5 * x[0, 0]  # same direction: distance 0
    y[1, 0] = -x[1, 0]  # opposite: distance 4
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    assert build("pkd", 4)(x, y, mask).item() == pytest.approx(2.0, rel=1e-6)
    x2 = x.clone()
    x2[0, 1:] = -y[0, 1:]  # the other positions do not count, though opposite here
    assert build("pkd", 4)(x2, y, mask).item() == pytest.approx(2.0, rel=1e-6)
    assert build("pkd-tokens", 4)(x2, y, mask).item() == pytest.approx(3.0, rel=1e-6)  # 0,4,4 and 4


def test_pkd_refuses_a_padded_first_position():
    with pytest.raises(AutodistillError, match=r"first \(\[CLS\]\) position"):
        build("pkd", 2)(torch.randn(1, 2, 2), torch.randn(1, 2, 2), torch.tensor([[0, 1]]))


def test_average_is_over_tokens_not_sequences():
    # Sequence 0 has one real token at distance 4, sequence 1 three tokens at distance 0.
    x = torch.zeros(2, 3, 1)
    x[0, 0, 0] = 2.0
    y = torch.zeros(2, 3, 1)
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]])
    assert build("mse", 1)(x, y, mask).item() == pytest.approx(4 / 4)


@pytest.mark.parametrize("name", [*FIXED, "mi"])
def test_padding_changes_neither_value_nor_gradient(name):
    torch.manual_seed(0)
    loss = build(name, 8)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    x, y = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    x_garbage = x.masked_fill(~mask.unsqueeze(-1), float("nan")).requires_grad_()
    y_garbage = y.masked_fill(~mask.unsqueeze(-1), 1e6)
    clean = loss(x, y, mask)
    dirty = loss(x_garbage, y_garbage, mask)
    assert dirty.item() == pytest.approx(clean.item(), rel=1e-5, abs=1e-6)
    dirty.backward()
    assert torch.isfinite(x_garbage.grad).all()
    assert x_garbage.grad[~mask].abs().max() == 0
    assert x_garbage.grad[mask].abs().max() > 0


@pytest.mark.parametrize("name", [*FIXED, "mi"])
def test_gradient_reaches_student_not_teacher(name):
    x, y = torch.randn(2, 3, 8, requires_grad=True), torch.randn(2, 3, 8, requires_grad=True)
    build(name, 8)(x, y, torch.ones(2, 3)).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert y.grad is None


def test_l2_gradient_is_finite_at_zero_distance():
    x = torch.ones(1, 2, 3, requires_grad=True)
    build("l2", 3)(x, torch.ones(1, 2, 3), torch.ones(1, 2)).backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", [*FIXED, "mi"])
@pytest.mark.parametrize("shape", [(2, 3), (0, 3)])
def test_all_padding_or_empty_batch_is_an_error_not_nan(name, shape):
    with pytest.raises(AutodistillError, match="all-padding"):
        build(name, 8)(torch.randn(*shape, 8), torch.randn(*shape, 8), torch.zeros(shape))


def test_unequal_widths_point_to_the_projection():
    with pytest.raises(AutodistillError, match="project"):
        build("mse", 4)(torch.randn(1, 2, 3), torch.randn(1, 2, 4), torch.ones(1, 2))


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(AutodistillError, match="choose one of: ce, cos, l2, mi, mse, pkd"):
        build("kl")
    assert set(INTER_LOSSES) == {*FIXED, "mi"}
