"""The config is a schema; component names are checked against the registries where configs are
parsed, so a newly registered component is valid with no edit, and a bad name is one line."""

from __future__ import annotations

import pytest

from engine.components import check_components, component_names, parse_config
from engine.config import DistillConfig
from engine.errors import AutodistillError
from engine.kd.losses import CRITICS


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("inter_loss", "kl", "unknown intermediate loss 'kl'; choose one of: ce, cos, l2, mi, mse, none, pkd$"),
        ("mapping", "diagonal", "unknown layer mapping 'diagonal'"),
        ("pred_loss", "hinge", "unknown prediction loss 'hinge'"),
        ("critic", "rnn", "unknown MI critic 'rnn'; choose one of: mlp, transformer"),
        ("augment", "ra,paraphrase", "unknown augmentation operation 'paraphrase'"),
    ],
)
def test_an_unknown_component_is_refused_in_one_line_naming_the_choices(field, value, message):
    data = {"dataset": "toy", "mapping": "skip", "inter_loss": "mse", field: value}
    with pytest.raises(AutodistillError, match=message) as caught:
        parse_config(data)
    assert "\n" not in str(caught.value)


def test_the_schema_alone_accepts_any_name_and_the_engine_checks_it_before_running():
    config = DistillConfig(dataset="toy", critic="rnn")  # built in Python: no registry consulted yet
    with pytest.raises(AutodistillError, match="unknown MI critic 'rnn'"):
        check_components(config)


def test_none_switches_intermediate_distillation_off_in_a_file_as_on_the_command_line():
    config = parse_config({"dataset": "toy", "mapping": "none", "inter_loss": "None"})
    assert config.mapping is None and config.inter_loss is None


def test_a_file_of_yours_is_recorded_by_its_absolute_path_and_a_name_as_given(tmp_path, monkeypatch):
    (tmp_path / "reviews.csv").write_text("text,label\nfine,1\n")
    (tmp_path / "bbc-news").mkdir()  # a folder named like a catalog set: the name still means the catalog's
    monkeypatch.chdir(tmp_path)
    for given in ("reviews.csv", "./reviews.csv"):
        assert parse_config({"dataset": given}).dataset == str(tmp_path / "reviews.csv")  # read from any folder
    for name in ("bbc-news", "missing.csv", "user/some-hub-set"):
        assert parse_config({"dataset": name}).dataset == name


def test_a_newly_registered_critic_is_valid_without_editing_the_config(monkeypatch):
    monkeypatch.setitem(CRITICS._items, "tiny-critic", lambda width: None)
    assert parse_config({"dataset": "toy", "inter_loss": "mi", "critic": "tiny-critic"}).critic == "tiny-critic"
    assert "tiny-critic" in component_names()["critic"]


def test_learned_teams_need_a_loss_that_keeps_the_target_differentiable():
    team = {"teachers": ["minilm-l6", "minilm-l6:seed=7"], "mode": "learned"}
    assert parse_config({"dataset": "toy", "team": team, "pred_loss": "mse"}).team.mode == "learned"
    with pytest.raises(AutodistillError, match="unknown teacher policy 'voting'"):
        parse_config({"dataset": "toy", "team": {**team, "mode": "voting"}})


def test_a_name_kept_for_old_runs_still_runs_but_is_not_offered() -> None:
    assert parse_config({"dataset": "toy", "mapping": "skip", "inter_loss": "pkd-tokens"}).inter_loss == "pkd-tokens"
    assert "pkd-tokens" not in component_names()["inter_loss"]
    assert "pkd-tokens" in component_names(every=True)["inter_loss"]
