"""Layer mappings (§3.3.1, Eq. 4) and the projection to the teacher's width."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.errors import AutodistillError
from engine.kd.mapping import MAPPINGS, build_mapping, emd_flow
from engine.kd.projection import HiddenProjection


def mapping(name: str, n: int, m: int):
    return build_mapping(name, num_student_layers=n, num_teacher_layers=m)


@pytest.mark.parametrize(
    ("name", "n", "m", "pairs"),
    [
        ("skip", 4, 12, ((0, 0), (1, 3), (2, 6), (3, 9), (4, 12))),
        ("skip", 3, 4, ((0, 0), (1, 1), (2, 2), (3, 3))),
        ("skip", 6, 6, tuple((j, j) for j in range(7))),
        ("last", 4, 12, ((0, 0), (1, 9), (2, 10), (3, 11), (4, 12))),
        ("last", 2, 3, ((0, 0), (1, 2), (2, 3))),
    ],
)
def test_one_to_one_pairs(name, n, m, pairs):
    built = mapping(name, n, m)
    assert built.pairs == pairs
    assert built.teacher_layers == tuple(i for _, i in pairs)


@pytest.mark.parametrize("name", ["skip", "last"])
def test_more_student_than_teacher_layers_is_refused_at_construction(name):
    with pytest.raises(AutodistillError, match="use 'emd'"):
        mapping(name, 6, 4)
    assert mapping("emd", 6, 4).teacher_layers == (0, 1, 2, 3, 4)


def test_unknown_mapping_lists_the_valid_ones():
    with pytest.raises(AutodistillError, match="choose one of: emd, last, skip"):
        MAPPINGS.get("random")
    with pytest.raises(AutodistillError, match="at least one layer"):
        mapping("emd", 0, 4)


def hiddens(layers: int, seed: int) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(seed)
    return tuple(torch.randn(2, 3, 4) for _ in range(layers + 1))


def first_value(h_s: torch.Tensor, h_t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A toy l^inter whose value names the pair: student value minus teacher value."""
    return h_s[0, 0, 0] - h_t[0, 0, 0]


def test_one_to_one_loss_sums_the_mapped_pairs_eq1():
    student = tuple(torch.full((1, 1, 1), float(j)) for j in range(3))
    teacher = tuple(torch.full((1, 1, 1), 10.0 * i) for i in range(7))
    loss = mapping("skip", 2, 6).loss(student, teacher, torch.ones(1, 1), first_value)
    assert loss.item() == (0 - 0) + (1 - 30) + (2 - 60)


def test_a_cache_holding_only_the_needed_teacher_layers_is_enough():
    built = mapping("last", 2, 6)
    teacher = hiddens(6, seed=1)
    cached = {i: teacher[i] for i in built.teacher_layers}
    student, mask = hiddens(2, seed=0), torch.ones(2, 3)
    mse = nn.MSELoss()
    full = built.loss(student, teacher, mask, lambda s, t, _: mse(s, t))
    assert built.loss(student, cached, mask, lambda s, t, _: mse(s, t)).item() == full.item()


def test_hidden_state_counts_must_match_the_mapping():
    with pytest.raises(AutodistillError, match="4 student layers"):
        mapping("skip", 4, 12).loss(hiddens(3, 0), hiddens(12, 1), torch.ones(2, 3), first_value)
    with pytest.raises(AutodistillError, match="12 teacher layers"):
        mapping("emd", 4, 12).loss(hiddens(4, 0), hiddens(6, 1), torch.ones(2, 3), first_value)


@pytest.mark.parametrize(
    ("cost", "flow"),
    [
        # Each student layer to its cheapest teacher layer.
        ([[0, 1], [1, 0]], [[0.5, 0], [0, 0.5]]),
        # Greedy would send row 0 to column 0; the optimum gives column 0 to row 1.
        ([[0, 1], [0, 100]], [[0, 0.5], [0.5, 0]]),
        # Two teacher layers per student layer.
        ([[0, 0, 9, 9], [9, 9, 0, 0]], [[0.25, 0.25, 0, 0], [0, 0, 0.25, 0.25]]),
        # Three students share the one teacher layer.
        ([[5], [1], [2]], [[1 / 3], [1 / 3], [1 / 3]]),
        # Uneven split: 2 students, 3 teachers; the middle teacher is shared.
        ([[0, 1, 9], [9, 1, 0]], [[1 / 3, 1 / 6, 0], [0, 1 / 6, 1 / 3]]),
    ],
)
def test_emd_flow_on_hand_made_costs(cost, flow):
    got = emd_flow(torch.tensor(cost, dtype=torch.float64))
    torch.testing.assert_close(got, torch.tensor(flow, dtype=torch.float64))


def test_emd_loss_is_eq4_plus_embeddings_with_gradient_through_costs_only():
    student = tuple(h.requires_grad_() for h in hiddens(2, seed=0))
    teacher, mask = hiddens(3, seed=1), torch.ones(2, 3)

    def sq(s: torch.Tensor, t: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        return (s - t).pow(2).mean()

    loss = mapping("emd", 2, 3).loss(student, teacher, mask, sq)
    cost = torch.stack([torch.stack([sq(student[j], teacher[i], mask) for i in (1, 2, 3)]) for j in (1, 2)])
    flow = emd_flow(cost)
    assert not flow.requires_grad
    expected = sq(student[0], teacher[0], mask) + (flow * cost).sum() / flow.sum()
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert all(h.grad is not None and h.grad.abs().sum() > 0 for h in student)


def test_projection_is_a_linear_map_per_layer_or_the_identity():
    projection = HiddenProjection(2, student_width=4, teacher_width=6)
    projected = projection(hiddens(2, seed=0))
    assert [tuple(h.shape) for h in projected] == [(2, 3, 6)] * 3
    assert len({id(m) for m in projection.maps}) == 3
    same = HiddenProjection(2, student_width=4, teacher_width=4)
    student = hiddens(2, seed=0)
    assert all(p is h for p, h in zip(same(student), student, strict=True))
    assert sum(p.numel() for p in same.parameters()) == 0
    with pytest.raises(AutodistillError, match="3 student hidden states"):
        projection(hiddens(3, seed=0))


def test_emd_flow_of_negative_costs_is_the_flow_of_the_shifted_costs():
    """MI-α costs are negative (-I_α); POT once called these exact costs, from a sweep run, infeasible."""
    cost = torch.tensor(
        [
            [-1.21602166, -1.34795141, -1.47916663, -1.46201539, -1.41872132, -1.40770066],
            [-1.44811451, -1.62778234, -1.74930108, -1.71658492, -1.58191133, -1.41784585],
            [-1.55071151, -1.74027884, -1.79655695, -1.68218601, -1.55375826, -1.33174872],
        ],
        dtype=torch.float64,
    )
    flow = emd_flow(cost)
    torch.testing.assert_close(flow.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(flow.sum(1), torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(flow.sum(0), torch.full((6,), 1 / 6, dtype=torch.float64))
    torch.testing.assert_close(flow, emd_flow(cost + 5.0))
