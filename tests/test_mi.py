"""MI-α (§3.3): the interpolated bound I_α of Poole et al. (2019) and the critic-backed loss.

Gaussian pairs with per-dimension correlation ρ have I(X; Y) = -d/2 · log(1 - ρ²).
"""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import AutodistillError
from engine.kd.losses import CRITICS, MIAlphaLoss, interpolated_bound


@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are tiny: handing them between threads costs more than the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gaussian_pairs(n: int, d: int, rho: float) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, d)
    return x, rho * x + math.sqrt(1 - rho**2) * torch.randn(n, d)


def true_mi(d: int, rho: float) -> float:
    return -d / 2 * math.log(1 - rho**2)


def log_density_ratio(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    """scores[i, j] = log p(y_j | x_i) - log p(y_j): the optimal critic, up to terms in y."""
    var = 1 - rho**2
    diff = y.unsqueeze(0) - rho * x.unsqueeze(1)
    return (-(diff**2) / (2 * var) - 0.5 * math.log(var) + y.unsqueeze(0) ** 2 / 2).sum(-1)


def naive_bound(scores: torch.Tensor, log_q: torch.Tensor, alpha: float) -> float:
    """I_α written out term by term from its definition, K = B - 1 (see interpolated_bound)."""
    b = scores.shape[0]
    e, q = scores.double().exp(), log_q.double().exp()

    def base(j: int, without: int) -> float:
        m = (e[:, j].sum() - e[without, j]) / (b - 1)
        return alpha * m + (1 - alpha) * q[j]

    pairs = [(i, j) for i in range(b) for j in range(b) if i != j]
    joint = sum(scores[j, j] - math.log(base(j, without=i)) for i, j in pairs) / len(pairs)
    marginal = sum(e[i, j] / base(j, without=j) for i, j in pairs) / len(pairs)
    return float(1 + joint - marginal)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_bound_matches_its_definition(alpha):
    torch.manual_seed(0)
    scores, log_q = torch.randn(6, 6), torch.randn(6)
    assert interpolated_bound(scores, log_q, alpha).item() == pytest.approx(naive_bound(scores, log_q, alpha), 1e-5)


def test_alpha_one_is_infonce_and_capped_at_log_k():
    b = 8
    perfect = torch.eye(b) * 50  # the critic tells every positive pair apart
    assert interpolated_bound(perfect, torch.zeros(b), 1.0).item() == pytest.approx(math.log(b - 1), 1e-4)


def test_alpha_zero_is_tuba_with_baseline_q():
    torch.manual_seed(0)
    scores, log_q = torch.randn(5, 5), torch.randn(5)
    off = ~torch.eye(5, dtype=torch.bool)
    tuba = 1 + (scores.diagonal() - log_q).mean() - (scores - log_q).exp()[off].mean()
    assert interpolated_bound(scores, log_q, 0.0).item() == pytest.approx(tuba.item(), 1e-6)


def test_bound_is_finite_for_huge_scores():
    torch.manual_seed(0)
    scores = (torch.randn(16, 16) * 1e4).requires_grad_()
    value = interpolated_bound(scores, torch.zeros(16), 0.5)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(scores.grad).all()


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_unit_interval_is_refused(alpha):
    with pytest.raises(AutodistillError, match=r"alpha in \[0, 1\]"):
        interpolated_bound(torch.zeros(3, 3), torch.zeros(3), alpha)
    with pytest.raises(AutodistillError, match=r"alpha in \[0, 1\]"):
        MIAlphaLoss(hidden_size=4, alpha=alpha)


def test_a_single_example_has_no_negatives():
    with pytest.raises(AutodistillError, match="at least 2"):
        interpolated_bound(torch.zeros(1, 1), torch.zeros(1), 0.5)


@pytest.mark.parametrize("critic", ["transformer", "mlp"])
def test_a_batch_of_one_is_skipped_with_no_gradient_and_counted(critic):
    """The last batch of an epoch may hold one example: no negatives, so no I_α term."""
    loss = MIAlphaLoss(hidden_size=8, alpha=0.9, critic=critic)
    student = torch.randn(1, 3, 8, requires_grad=True)
    value = loss(student, torch.randn(1, 3, 8), torch.ones(1, 3))
    assert value.item() == 0.0 and not value.requires_grad
    matrix = loss.pairwise([student, student], [torch.randn(1, 3, 8)] * 3, torch.ones(1, 3))
    assert matrix.shape == (2, 3) and not matrix.any()
    assert loss.skipped == 2
    # beside a term that does train (the prediction layer), the step runs and the critics stay untouched
    (value + student.sum()).backward()
    assert all(p.grad is None for p in loss.parameters())
    loss(torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.ones(2, 3))  # two examples: computed, not skipped
    assert loss.skipped == 2


def test_variance_falls_and_bias_grows_as_alpha_rises():
    """§3.3: increasing α lowers the estimator's variance and raises its bias."""
    torch.manual_seed(0)
    d, rho, b = 4, 0.9, 64
    batches = [log_density_ratio(*gaussian_pairs(b, d, rho), rho) for _ in range(200)]
    estimates = {
        alpha: torch.stack([interpolated_bound(s, torch.zeros(b), alpha) for s in batches]) for alpha in (0.1, 0.5, 0.9)
    }
    variances = [estimates[a].var().item() for a in (0.1, 0.5, 0.9)]
    means = [estimates[a].mean().item() for a in (0.1, 0.5, 0.9)]
    assert variances[0] > variances[1] > variances[2]
    assert true_mi(d, rho) + 0.05 > means[0] > means[1] > means[2]


@pytest.mark.parametrize(("critic", "alpha"), [("mlp", 0.5), ("transformer", 0.9)])
def test_trained_critic_stays_below_true_mi_and_tightens(critic, alpha):
    torch.manual_seed(0)
    d, rho, b = 2, 0.8, 64
    loss = MIAlphaLoss(hidden_size=d, alpha=alpha, critic=critic)
    optimizer = torch.optim.Adam(loss.parameters(), lr=2e-3)
    held_out = [gaussian_pairs(256, d, rho) for _ in range(4)]

    def estimate() -> float:
        with torch.no_grad():
            return -sum(loss(x[:, None], y[:, None], torch.ones(256, 1)).item() for x, y in held_out) / 4

    history = [estimate()]
    for step in range(1, 151):
        x, y = gaussian_pairs(b, d, rho)
        optimizer.zero_grad()
        loss(x[:, None], y[:, None], torch.ones(b, 1)).backward()
        optimizer.step()
        if step % 50 == 0:
            history.append(estimate())
    assert max(history) < true_mi(d, rho) + 0.05
    assert history[-1] > history[0] + 0.5
    assert history[-1] > 0.6 * true_mi(d, rho)


def test_critics_train_on_the_same_loss():
    loss = MIAlphaLoss(hidden_size=8, alpha=0.9, critic="mlp")
    loss(torch.randn(4, 3, 8), torch.randn(4, 3, 8), torch.ones(4, 3)).backward()
    assert all(p.grad is not None for p in loss.parameters())


def test_a_fully_padded_sequence_is_refused():
    mask = torch.tensor([[1, 1], [0, 0]])
    with pytest.raises(AutodistillError, match="no unpadded token"):
        MIAlphaLoss(hidden_size=8)(torch.randn(2, 2, 8), torch.randn(2, 2, 8), mask)


def test_unknown_critic_lists_the_valid_ones():
    with pytest.raises(AutodistillError, match="choose one of: mlp, transformer"):
        MIAlphaLoss(hidden_size=8, critic="cnn")
    assert set(CRITICS) == {"mlp", "transformer"}


@pytest.mark.parametrize("critic", ["transformer", "mlp"])
def test_pairwise_scores_every_layer_pair_as_the_pair_by_pair_loss_does(critic):
    """The EMD mapping's N x M costs from N + M batched encodings equal N x M separate calls."""
    from engine.kd.mapping import EMDMapping

    torch.manual_seed(0)
    loss = MIAlphaLoss(hidden_size=16, alpha=0.5, critic=critic)
    students = [torch.randn(6, 5, 16, requires_grad=True) for _ in range(2)]
    teachers = [torch.randn(6, 5, 16) for _ in range(3)]
    mask = torch.ones(6, 5, dtype=torch.long)
    mask[1, 3:] = 0
    mask[4, 1:] = 0
    matrix = loss.pairwise(students, teachers, mask)
    one_by_one = torch.stack([torch.stack([loss(s, t, mask) for t in teachers]) for s in students])
    torch.testing.assert_close(matrix, one_by_one, rtol=1e-5, atol=1e-5)
    (grad_matrix,) = torch.autograd.grad(matrix.sum(), students[1])
    (grad_pairs,) = torch.autograd.grad(one_by_one.sum(), students[1])
    torch.testing.assert_close(grad_matrix, grad_pairs, rtol=1e-4, atol=1e-6)
    # the EMD mapping takes the batched path and gets the same cost matrix
    emd = EMDMapping(2, 3)
    hiddens_s, hiddens_t = [students[0], *students], [teachers[0], *teachers]
    plain = emd.loss(hiddens_s, hiddens_t, mask, lambda s, t, m: loss(s, t, m))
    torch.testing.assert_close(emd.loss(hiddens_s, hiddens_t, mask, loss), plain, rtol=1e-5, atol=1e-5)
