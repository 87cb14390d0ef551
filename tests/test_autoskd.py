"""AutoSKDBERT's claims: Eq. 8 on hand-made vectors, SSWO moves one weight, the
unrolled bilevel gradient is the true derivative, and Algorithm 1 runs end to end."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForQuestionAnswering, BertForSequenceClassification

import engine.pipelines.candidates
import engine.pipelines.run
from cli import render
from engine.config import DistillConfig, TeamConfig, TrainSettings
from engine.errors import AutodistillError
from engine.kd.losses import PRED_LOSSES
from engine.kd.teacher_cache import TeacherOutputs
from engine.pipelines.candidates import retrain_candidates
from engine.tasks.encoding import EncodedSplit, collate
from engine.tasks.spec import TaskSpec, TaskType
from engine.teachers.learned import (
    MEMBERS,
    SOFT_TARGET_LOSSES,
    WEIGHTS,
    CategoricalDistribution,
    LearnedPolicy,
    ThetaStep,
    candidate_steps,
    select_teachers,
    unrolled_gradient,
)
from engine.teachers.objective import TeamObjective
from engine.teachers.team import subset
from engine.training.callbacks import TrainerCallback, TrainerState
from engine.training.schedule import Schedule
from engine.training.trainer import Trainer

# --------------------------------------------------------------------------- Eq. 8


def test_teacher_selection_drops_the_m_smallest_and_renormalises_by_the_p_norm():
    theta = torch.tensor([0.1, 0.4, 0.2, 0.3])
    assert torch.allclose(select_teachers(theta, 2, p=1), torch.tensor([0, 4 / 7, 0, 3 / 7]))
    assert torch.allclose(select_teachers(theta, 2, p=2), torch.tensor([0, 0.8, 0, 0.6]))
    assert torch.allclose(select_teachers(theta, 0, p=1), theta)  # already sums to one
    # ties: the lower index goes first
    assert torch.allclose(select_teachers(torch.tensor([0.2, 0.2, 0.6]), 1), torch.tensor([0, 0.25, 0.75]))


def test_teacher_selection_epsilon_keeps_an_all_zero_distribution_finite():
    out = select_teachers(torch.zeros(3), 1, p=1)
    assert torch.equal(out, torch.zeros(3))


def test_selection_inside_the_distribution_masks_the_dropped_teachers():
    dist = CategoricalDistribution([0.1, 0.4, 0.2, 0.3], lr=0.1)
    assert dist.select(m=1, p=1.0) == [0]
    assert dist.active.tolist() == [False, True, True, True]
    assert math.isclose(float(dist.theta.sum()), 1.0, rel_tol=1e-6)
    assert all(dist.sample() != 0 for _ in range(200))


# --------------------------------------------------------------------------- SSWO


def test_sswo_update_changes_only_the_sampled_weight():
    dist = CategoricalDistribution([0.25] * 4, lr=0.05, weight_decay=1e-3)
    dist.update([2], torch.tensor([0.3]))  # gives θ_2 momentum
    before = dist.theta.clone()
    dist.update([1], torch.tensor([-0.2]))
    changed = (dist.theta != before).tolist()
    assert changed == [False, True, False, False]  # no momentum or decay leaks into θ_2
    assert dist.theta[1] > before[1]  # descending a negative gradient raises the weight
    assert dist.updates.tolist() == [0, 1, 1, 0]


def test_weights_stay_non_negative_and_sampling_follows_their_normalisation():
    dist = CategoricalDistribution([0.5, 0.5], lr=10.0)
    dist.update([0], torch.tensor([5.0]))
    assert float(dist.theta[0]) == 0.0
    assert dist.probabilities().tolist() == [0.0, 1.0]


def test_candidates_are_spread_over_phase_two_and_end_at_its_last_step():
    assert candidate_steps(10, 5) == [2, 4, 6, 8, 10]
    assert candidate_steps(3, 25) == [1, 2, 3]
    assert candidate_steps(0, 25) == []


# --------------------------------------------------------------------------- Eq. 5 / Eq. 7


def _toy_problem(members: int):
    gen = torch.Generator().manual_seed(0)
    x_tr, x_val = torch.randn(6, 4, generator=gen, dtype=torch.float64), torch.randn(5, 4, generator=gen).double()
    t_tr = torch.randn(members, 6, 3, generator=gen).double() * 2
    t_val = torch.randn(members, 5, 3, generator=gen).double() * 2
    w = (torch.randn(3, 4, generator=gen).double() * 0.5).requires_grad_(True)

    def loss_on(x, teachers):
        def loss(params, weights):
            target = sum(weights[k] * teachers[k] for k in range(members))
            return SOFT_TARGET_LOSSES.get("ce")(x @ params["w"].T, target, temperature=2.0)

        return loss

    return loss_on(x_tr, t_tr), loss_on(x_val, t_val), {"w": w}


@pytest.mark.parametrize("members", [1, 3], ids=["sswo-single-weight", "cr-mixture"])
def test_unrolled_gradient_matches_finite_differences_of_the_unrolled_objective(members):
    train_loss, val_loss, params = _toy_problem(members)
    lr, theta = 0.7, torch.tensor([0.5, 0.3, 0.2][:members], dtype=torch.float64)

    def unrolled(weights):
        (g,) = torch.autograd.grad(train_loss(params, weights), params["w"])
        return float(val_loss({"w": params["w"] - lr * g}, weights).detach())

    h = 1e-6
    numeric = torch.tensor(
        [(unrolled(theta + h * e) - unrolled(theta - h * e)) / (2 * h) for e in torch.eye(members).double()],
        dtype=torch.float64,
    )
    exact = unrolled_gradient(train_loss, val_loss, params, theta, lr)
    first_order = unrolled_gradient(train_loss, val_loss, params, theta, 0.0)
    assert torch.allclose(exact, numeric, rtol=1e-5, atol=1e-8)
    assert not torch.allclose(first_order, numeric, rtol=1e-3)  # the unroll's second-order term matters


def test_the_theta_step_losses_give_the_student_the_registry_losses_gradient():
    """MSE is the registry's; CE becomes the KL: the registry's value minus the
    teacher's entropy (which only θ could lower), with the same student gradient."""
    gen = torch.Generator().manual_seed(1)
    t = torch.randn(4, 7, generator=gen)
    mask = torch.ones(4, 7, dtype=torch.bool)
    mask[:, 5:] = False
    for name in ("ce", "mse"):
        for m in (None, mask):
            s1 = torch.randn(4, 7, generator=gen).requires_grad_(True)
            s2 = s1.detach().clone().requires_grad_(True)
            expected = PRED_LOSSES.get(name)(s1, t, temperature=2.0, mask=m)
            got = SOFT_TARGET_LOSSES.get(name)(s2, t, temperature=2.0, mask=m)
            expected.backward()
            got.backward()
            assert torch.allclose(s1.grad, s2.grad, atol=1e-6), name
            if name == "ce":
                p = torch.softmax((t / 2.0).masked_fill(~m, -1e9) if m is not None else t / 2.0, -1)
                entropy = -(p * p.clamp_min(1e-30).log()).sum(-1).mean() * 4.0
                assert torch.allclose(got, expected - entropy, atol=1e-5)
            else:
                assert torch.allclose(got, expected, atol=1e-6)


def test_the_theta_step_kd_loss_does_not_reward_merely_sharpening_a_teacher():
    """A student that already matches θ·f^T: the KL is 0 and θ = 1 is its minimum."""
    t = torch.tensor([[2.0, -1.0, 0.5]])
    theta = torch.tensor(1.0, requires_grad=True)
    loss = SOFT_TARGET_LOSSES.get("ce")(t.clone(), theta * t)
    (grad,) = torch.autograd.grad(loss, theta)
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-7) and float(grad) == pytest.approx(0.0, abs=1e-6)


# --------------------------------------------------------------------------- the policy on every task type


class FakeCache:
    """Fixed random member logits served by example index, like a TeacherCache."""

    def __init__(self, logits: torch.Tensor, span: bool) -> None:
        self.logits, self.span = logits, span

    def lookup(self, index, width, device, layers):
        rows = self.logits[index]
        if self.span:
            return TeacherOutputs(logits=[rows[:, 0, :width], rows[:, 1, :width]], hidden_states={})
        return TeacherOutputs(logits=[rows], hidden_states={})


def _tiny_bert(spec: TaskSpec) -> torch.nn.Module:
    config = BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        attn_implementation="eager",
        num_labels=2 if spec.task_type == TaskType.SPAN else spec.num_labels,
    )
    cls = BertForQuestionAnswering if spec.task_type == TaskType.SPAN else BertForSequenceClassification
    return cls(config)


def _toy_split(spec: TaskSpec, n: int, length: int, rng: np.random.Generator) -> EncodedSplit:
    ids = [[2, *rng.integers(5, 40, length - 2).tolist(), 3] for _ in range(n)]
    types = [[0] * (length // 2) + [1 if spec.paired else 0] * (length - length // 2) for _ in range(n)]
    if spec.task_type == TaskType.SPAN:
        labels = np.stack([rng.integers(1, 4, n), rng.integers(4, length - 1, n)], axis=1)
    elif spec.task_type == TaskType.REGRESSION:
        labels = rng.normal(size=n).astype(np.float32)
    else:
        labels = rng.integers(0, spec.num_labels, n)
    return EncodedSplit(ids, types, labels, np.arange(n))


TASKS = {
    "classification": TaskSpec("c", TaskType.CLASSIFICATION, "", ("a", "b", "c")),
    "pair": TaskSpec("p", TaskType.CLASSIFICATION, "", ("no", "yes"), paired=True),
    "regression": TaskSpec("r", TaskType.REGRESSION, ""),
    "span": TaskSpec("s", TaskType.SPAN, "", paired=True),
}


ONE_EPOCH = TrainSettings(batch_size=4, epochs=1)


def _learned_objective(
    kind: str, update: str, train: TrainSettings = ONE_EPOCH, **team
) -> tuple[TeamObjective, EncodedSplit]:
    """A learned-mode objective over 3 fake members: 16 student rows, 8 θ rows, 4 steps an epoch."""
    spec, rng, length = TASKS[kind], np.random.default_rng(0), 10
    full = _toy_split(spec, 24, length, rng)
    width = (2, length) if spec.task_type == TaskType.SPAN else (max(spec.num_labels, 1),)
    gen = torch.Generator().manual_seed(0)
    span = spec.task_type == TaskType.SPAN
    caches = [FakeCache(torch.randn(24, *width, generator=gen) * (k + 1), span) for k in range(3)]
    config = DistillConfig(
        dataset="toy",
        pred_loss="mse" if spec.task_type == TaskType.REGRESSION else "ce",
        gamma1=0.5,
        train=train,
        team=TeamConfig(teachers=("a", "b", "c"), update=update, drop_m=1, theta_lr=0.05, candidates=2, **team),
    )
    train_rows, val_rows = np.arange(0, 16), np.arange(16, 24)
    objective = TeamObjective(
        spec, config, caches, pad_id=0, train_index=train_rows, val=subset(full, val_rows), val_index=val_rows
    )
    return objective, subset(full, train_rows)


def _step(objective: TeamObjective, student: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """One step as the trainer takes it: the policy's callbacks hear the batch, then the objective."""
    for callback in objective.policy.callbacks(student):
        callback.on_batch_begin(TrainerState(), 0, batch)
    return objective(student, batch)


@pytest.mark.parametrize("update", ["sswo", "cr"])
@pytest.mark.parametrize("kind", list(TASKS))
def test_algorithm_1_runs_both_phases_on_every_task_type(kind, update):
    torch.manual_seed(0)
    spec = TASKS[kind]
    objective, student_split = _learned_objective(kind, update)
    policy = objective.policy
    assert isinstance(policy, LearnedPolicy) and objective.total_steps == 4 and policy.phase1 == 2
    student = _tiny_bert(spec)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
    for start in range(0, 16, 4):
        loss, _ = _step(objective, student, collate(student_split, list(range(start, start + 4)), 0))
        assert torch.isfinite(loss)
        loss.backward()
        assert all(p.grad is None for p in policy.parameters())  # θ is not the student's to train
        optimizer.step()
        optimizer.zero_grad()
    report = policy.report()
    assert len(report["dropped"]) == 1 and report["selected_theta"] is not None
    assert [c["step"] for c in report["candidates"]] == [3, 4]
    dropped = ("a", "b", "c").index(report["dropped"][0])
    for candidate in report["candidates"]:
        assert math.isclose(sum(candidate["theta"]), 1.0, rel_tol=1e-9) and candidate["theta"][dropped] == 0
    assert report["phase1_theta"] != pytest.approx([1 / 3] * 3)  # phase 1 moved θ


def test_the_learned_state_travels_in_the_trainers_checkpoint():
    torch.manual_seed(0)
    objective, student_split = _learned_objective("classification", "sswo")
    student = _tiny_bert(TASKS["classification"])
    for start in range(0, 12, 4):  # through selection and one candidate
        _step(objective, student, collate(student_split, list(range(start, start + 4)), 0))
    (module,) = objective.trainable_modules()
    assert list(module.parameters()) == []  # nothing for the student's optimiser
    saved = module.state_dict()
    fresh, _ = _learned_objective("classification", "sswo")
    fresh.trainable_modules()[0].load_state_dict(saved)
    assert fresh.policy.report() == objective.policy.report()
    for name, value in saved.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(fresh.trainable_modules()[0].state_dict()[name], value), name


def test_the_loss_only_reads_the_theta_steps_choice_and_changes_nothing():
    """The θ step is the trainer's event; computing the loss again leaves θ and its counters alone."""
    torch.manual_seed(0)
    objective, student_split = _learned_objective("classification", "sswo")
    student = _tiny_bert(TASKS["classification"])
    batch = collate(student_split, [0, 1, 2, 3], 0)
    with pytest.raises(AutodistillError, match="without the θ step's teachers"):
        objective(student, batch)
    first, logs = _step(objective, student, batch)
    state = {k: v.clone() for k, v in objective.policy.state_dict().items() if isinstance(v, torch.Tensor)}
    again, logs_again = objective(student, batch)
    assert torch.equal(first, again) and logs == logs_again
    assert logs["teacher"] == float(batch[MEMBERS][0]) and logs["theta"] == float(batch[WEIGHTS][0])
    for name, value in objective.policy.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, state[name]), name


class _Killed(Exception):
    pass


class _KillAt(TrainerCallback):
    """Stands for a kill: the run dies after optimizer step ``step``, before that step's checkpoint."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state, logs):
        if state.step == self.step:
            raise _Killed


def _trained_learned_run(workdir, *extra: TrainerCallback) -> tuple[dict, dict]:
    """A learned run of 8 steps (2 epochs) through the trainer, checkpointing every step."""
    spec = TASKS["classification"]
    settings = TrainSettings(batch_size=4, epochs=2, checkpoint_every=1)
    torch.manual_seed(0)
    objective, student_split = _learned_objective("classification", "sswo", train=settings)
    student = _tiny_bert(spec)
    dev = _toy_split(spec, 8, 10, np.random.default_rng(5))
    callbacks = [*objective.policy.callbacks(student), *extra]
    Trainer(
        student, spec, student_split, dev, settings, objective, workdir, 0, show_progress=False, callbacks=callbacks
    ).fit()
    return objective.policy.report(), student.state_dict()


def test_a_killed_learned_run_resumes_to_the_same_theta_and_student(tmp_path):
    """θ, its Adam moments, the candidates and the step counters come back from the checkpoint."""
    uninterrupted, student = _trained_learned_run(tmp_path / "a")
    with pytest.raises(_Killed):
        _trained_learned_run(tmp_path / "b", _KillAt(6))  # in phase 2, between the two candidates
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["position"]["step"] == 5
    resumed, resumed_student = _trained_learned_run(tmp_path / "b")
    assert resumed == uninterrupted and [c["step"] for c in resumed["candidates"]] == [6, 8]
    assert all(torch.equal(resumed_student[k], v) for k, v in student.items())


# --------------------------------------------------------------------------- end to end


def test_learned_run_end_to_end_saves_candidates_along_phase_two(toy_task, tmp_path, monkeypatch, capsys):
    teacher_settings = TrainSettings(epochs=1, batch_size=16, lr=1e-3, max_length=16, max_train_examples=32)
    monkeypatch.setattr(engine.pipelines.run, "TEACHER_SETTINGS", teacher_settings)
    config = DistillConfig(
        dataset="toy",
        student="tiny",
        train=TrainSettings(epochs=2, batch_size=8, lr=1e-3, max_length=16, max_train_examples=32),
        team=TeamConfig(
            teachers=("minilm-l6:layers=0", "minilm-l6:layers=0,1:seed=3"), drop_m=1, theta_lr=0.05, candidates=2
        ),
    )
    learned = engine.pipelines.run.run(config, output_dir=tmp_path / "learned", show_progress=True, task=toy_task)
    progress = capsys.readouterr().err
    assert "fine-tuning teacher minilm-l6:layers=0,1:seed=3 on toy first" in progress, "named as the team names it"
    assert "team member 2 of 2: minilm-l6:layers=0,1:seed=3" in progress  # before its cache's own lines
    team = learned.team
    assert learned.train_examples == 16  # the student trains on its half; θ learns on the other
    assert [m["name"] for m in team["members"]] == list(config.team.teachers)
    assert [m["layers"] for m in team["members"]] == [1, 2]
    assert team["steps"] == 4 and team["phase1_steps"] == 2 and len(team["dropped"]) == 1
    assert [c["step"] for c in team["candidates"]] == [3, 4]
    assert all(0.0 in c["theta"] for c in team["candidates"])  # the dropped teacher is never sampled again
    assert learned.teacher_score == pytest.approx(max(m["dev_score"] for m in team["members"]))
    assert 0 <= learned.student_score <= 1
    assert engine.pipelines.run.RunResult.load(tmp_path / "learned").team == team
    render.team_lines(team, learned.metric)
    said = " ".join(capsys.readouterr().out.split())  # unfolded
    assert f"team (dev accuracy): minilm-l6:layers=0 {team['members'][0]['dev_score']:.3f}," in said
    assert f"the table's teacher is {team['reference']}" in said
    assert "(uniform 0.500); dropped by teacher selection: " + team["dropped"][0] in said


@pytest.mark.parametrize(
    ("n", "settings", "processes", "calls"),
    [
        (48, TrainSettings(batch_size=16, epochs=1), 1, 3),
        (48, TrainSettings(batch_size=8, epochs=2), 2, 6),  # 24 examples, 3 batches per process
        (33, TrainSettings(batch_size=16, epochs=1), 2, 2),  # 17 examples per process (one wraps)
        (16, TrainSettings(batch_size=8, epochs=1, min_steps=6), 1, 6),  # min_steps: 3 epochs
        (16, TrainSettings(batch_size=4, grad_accum=3, epochs=1, min_steps=5), 1, 12),  # 2 steps an epoch
    ],
)
def test_n_of_algorithm_1_is_the_trainers_objective_calls_per_process(n, settings, processes, calls):
    assert Schedule.of(n, settings, processes).total_calls == calls


def test_min_steps_epochs_count_in_algorithm_1s_n(toy_task, tmp_path, monkeypatch):
    """``min_steps`` adds epochs: N, the phase switch and the candidates count them too."""
    teacher_settings = TrainSettings(epochs=1, batch_size=16, lr=1e-3, max_length=16, max_train_examples=32)
    monkeypatch.setattr(engine.pipelines.run, "TEACHER_SETTINGS", teacher_settings)
    # 16 student rows in batches of 8: 2 calls per epoch; min_steps 6 makes 3 epochs, N = 6
    train = TrainSettings(epochs=1, min_steps=6, batch_size=8, lr=1e-3, max_length=16, max_train_examples=32)
    config = DistillConfig(
        dataset="toy",
        student="tiny",
        train=train,
        team=TeamConfig(
            teachers=("minilm-l6:layers=0", "minilm-l6:layers=0:seed=3"), drop_m=1, theta_lr=0.05, candidates=3
        ),
    )
    team = engine.pipelines.run.run(config, output_dir=tmp_path / "run", show_progress=False, task=toy_task).team
    assert team["selected_theta"] is not None and len(team["dropped"]) == 1
    assert [c["step"] for c in team["candidates"]] == [4, 5, 6]
    assert (team["steps"], team["phase1_steps"]) == (6, 3)


def test_retraining_candidates_runs_each_theta_as_a_sample_run_and_ranks_them(monkeypatch):
    config = DistillConfig(dataset="toy", student="tiny", team=TeamConfig(teachers=("a", "b", "c")))
    learned = SimpleNamespace(
        run_id="x",
        team={"candidates": [{"step": s, "theta": [0.0, s / 10, 1 - s / 10]} for s in range(1, 6)]},
    )
    seen = []

    def fake_run(cfg, **kwargs):
        seen.append(cfg)
        return SimpleNamespace(student_score=cfg.team.theta[1])  # pretend: more weight on "b" is better

    monkeypatch.setattr(engine.pipelines.candidates, "run", fake_run)
    runs = retrain_candidates(config, learned, limit=2)
    assert [r.step for r in runs] == [5, 3]  # spread over phase 2, the last included; best first
    assert all(c.team.mode == "sample" and c.team.teachers == config.team.teachers for c in seen)
    assert runs[0].theta == pytest.approx((0.0, 0.5, 0.5))


def test_theta_learned_on_labels_reaches_theta_only_through_the_unroll():
    torch.manual_seed(0)
    objective, student_split = _learned_objective("classification", "cr", theta_loss="labels")
    student = _tiny_bert(TASKS["classification"])
    batch = collate(student_split, [0, 1, 2, 3], 0)
    logits = [objective.member_logits(i, batch) for i in range(3)]
    step = ThetaStep(objective.policy, student)
    grad = step.theta_gradient(batch, [0, 1, 2], logits)
    assert grad.abs().sum() > 0
    objective.policy.unroll_lr = 0.0
    grad = step.theta_gradient(batch, [0, 1, 2], logits)
    assert torch.equal(grad, torch.zeros(3))  # no direct path from θ to the labels' loss
