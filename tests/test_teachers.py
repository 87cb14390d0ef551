"""Teacher teams: specs, bad input caught at the edge, and what each policy distils from."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig

from engine.components import parse_config
from engine.config import DistillConfig, TeamConfig, TrainSettings
from engine.errors import AutodistillError
from engine.kd.teacher_cache import TeacherOutputs
from engine.models.teacher_spec import TeacherSpec, parse_teacher_spec
from engine.models.zoo import check_label_space
from engine.tasks.encoding import EncodedSplit, collate
from engine.tasks.spec import TaskSpec, TaskType
from engine.teachers import policies  # noqa: F401  (registers single, average, sample)
from engine.teachers.objective import TEACHER_POLICIES, TeamObjective
from engine.teachers.team import split_halves, subset

SPEC = TaskSpec("toy", TaskType.CLASSIFICATION, "", ("neg", "pos"))

# --------------------------------------------------------------------------- specs


def test_teacher_specs_name_a_model_and_how_it_is_cut_and_fine_tuned():
    spec = parse_teacher_spec("minilm-l6:layers=0, 1,2,3:seed=7")
    assert spec == TeacherSpec("minilm-l6", layers=(0, 1, 2, 3), seed=7)
    assert str(spec) == "minilm-l6:layers=0,1,2,3:seed=7"
    assert parse_teacher_spec("org/model") == TeacherSpec("org/model")
    assert parse_teacher_spec("minilm-l6:epochs=5").settings(TrainSettings(epochs=3, seed=1)).epochs == 5
    assert parse_teacher_spec("minilm-l6:seed=9").settings(TrainSettings(seed=1)).seed == 9


@pytest.mark.parametrize(
    "text, message",
    [
        ("minilm-l6:layer=0,1", "unknown option"),
        ("minilm-l6:layers=2,1", "distinct increasing"),
        ("minilm-l6:layers=a", "integers"),
        ("minilm-l6:epochs=0", "at least 1"),
        (":seed=3", "names no model"),
    ],
)
def test_bad_teacher_specs_are_one_line_errors(text, message):
    with pytest.raises(AutodistillError, match=message) as info:
        parse_teacher_spec(text)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- bad input at the edge


def _team_config(**team) -> DistillConfig:
    return parse_config({"dataset": "toy", "team": {"teachers": ["minilm-l6", "minilm-l6:layers=0,1"], **team}})


@pytest.mark.parametrize(
    "team, message",
    [
        ({"teachers": ["minilm-l6"], "mode": "learned"}, "a team of one cannot learn"),
        ({"drop_m": 2}, "would drop every teacher"),
        ({"mode": "sample", "theta": [0.5, 0.6]}, "not a distribution"),
        ({"mode": "sample", "theta": [1.5, -0.5]}, "not a distribution"),
        ({"mode": "sample", "theta": [1.0]}, "1 weights for 2 teachers"),
        ({"mode": "single", "pick": 2}, "pick=2"),
        ({"mode": "vote"}, "unknown teacher policy 'vote'; choose one of: average, learned, sample, single"),
    ],
)
def test_bad_team_configs_are_refused_in_one_line(team, message):
    with pytest.raises(AutodistillError, match=message) as info:
        _team_config(**team)
    assert "\n" not in str(info.value)


def test_a_team_run_is_prediction_layer_kd_and_derives_the_student_from_the_first_member():
    config = _team_config()
    assert config.mapping is None and config.inter_loss is None
    assert config.teacher == "minilm-l6"
    with pytest.raises(AutodistillError, match="prediction-layer KD only"):
        parse_config({"dataset": "toy", "mapping": "skip", "inter_loss": "mse", "team": {"teachers": ["a", "b"]}})
    assert _team_config(mode="single").team.mode == "single"  # drop_m is the learned mode's only


def test_teachers_whose_label_space_differs_from_the_task_are_refused():
    def classifier(labels: tuple[str, ...]) -> BertConfig:
        config = BertConfig(num_labels=len(labels), id2label=dict(enumerate(labels)))
        config.architectures = ["BertForSequenceClassification"]
        return config

    encoder = BertConfig()
    encoder.architectures = ["BertModel"]
    check_label_space("encoder", encoder, SPEC)  # a head-less encoder fits any task
    check_label_space("same", classifier(("neg", "pos")), SPEC)
    check_label_space("unnamed", classifier(("LABEL_0", "LABEL_1")), SPEC)
    with pytest.raises(AutodistillError, match=r"predicts labels \(a, b, c\) but task 'toy' has labels \(neg, pos\)"):
        check_label_space("nli", classifier(("a", "b", "c")), SPEC)
    with pytest.raises(AutodistillError, match="regression outputs"):
        check_label_space("nli", classifier(("a", "b")), TaskSpec("r", TaskType.REGRESSION, ""))


# --------------------------------------------------------------------------- the 50/50 split


def test_the_training_data_splits_fifty_fifty_into_disjoint_halves():
    student, theta = split_halves(11, seed=3)
    assert len(student) == 6 and len(theta) == 5
    assert sorted([*student, *theta]) == list(range(11))
    split = EncodedSplit([[i] for i in range(11)], [[0]] * 11, np.arange(11), np.arange(11))
    assert subset(split, theta).labels.tolist() == theta.tolist()


# --------------------------------------------------------------------------- policies


class FakeCache:
    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    def lookup(self, index, width, device, layers):
        return TeacherOutputs(logits=[self.logits[index]], hidden_states={})


def _objective(mode: str, **team) -> TeamObjective:
    logits = [torch.full((8, 2), float(k)) for k in range(3)]
    config = DistillConfig(dataset="toy", team=TeamConfig(teachers=("a", "b", "c"), mode=mode, **team))
    return TeamObjective(SPEC, config, [FakeCache(x) for x in logits], pad_id=0)


def _batch() -> dict[str, torch.Tensor]:
    split = EncodedSplit([[2, 5, 3]] * 8, [[0, 0, 0]] * 8, np.zeros(8, dtype=np.int64), np.arange(8))
    return collate(split, [0, 1, 2, 3], 0)


def test_every_mode_has_a_policy():
    assert set(TEACHER_POLICIES.names()) == {"single", "average", "sample", "learned"}


def test_single_distils_from_the_picked_teacher_and_average_from_the_mean():
    target, _ = _objective("single", pick=2).policy.signal(None, _batch())
    assert torch.equal(target[0], torch.full((4, 2), 2.0))
    target, _ = _objective("average").policy.signal(None, _batch())
    assert torch.equal(target[0], torch.full((4, 2), 1.0))


def test_sampling_frequencies_follow_theta():
    policy = _objective("sample", theta=(0.1, 0.2, 0.7)).policy
    torch.manual_seed(0)
    draws = [int(policy.signal(None, _batch())[0][0][0, 0]) for _ in range(4000)]
    frequencies = np.bincount(draws, minlength=3) / len(draws)
    assert np.allclose(frequencies, [0.1, 0.2, 0.7], atol=0.025)


def test_uniform_sampling_is_the_default_distribution():
    assert _objective("sample").policy.report()["theta"] == pytest.approx([1 / 3] * 3)


def test_a_team_config_survives_the_round_trip_through_its_saved_form():
    config = _team_config(mode="sample", theta=[0.25, 0.75])
    assert parse_config(config.model_dump(mode="json")) == config


def test_theta_learned_on_labels_needs_the_unroll():
    with pytest.raises(AutodistillError, match="unroll_lr must be > 0"):
        _team_config(theta_loss="labels", unroll_lr=0)
