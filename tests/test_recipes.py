"""The paper's named recipes (Appendix A, Table 1) load as valid Distiller configs."""

import math
from pathlib import Path

import pytest

from engine.components import parse_config
from engine.config import load_config_file

RECIPES = Path(__file__).resolve().parent.parent / "configs" / "recipes"


@pytest.mark.parametrize(
    ("recipe", "mapping", "inter_loss", "pred_loss"),
    [
        ("tinybert", "skip", "mse", "ce"),
        ("bert-emd", "emd", "mse", "ce"),
        ("pkd", "skip", "pkd", "ce"),
        ("mi-alpha", "skip", "mi", "ce"),
    ],
)
def test_recipe_spells_the_papers_pipeline(recipe, mapping, inter_loss, pred_loss):
    config = parse_config(load_config_file(RECIPES / f"{recipe}.yaml"), source=recipe)
    assert (config.mapping, config.inter_loss, config.pred_loss) == (mapping, inter_loss, pred_loss)


def test_mi_alpha_recipe_uses_the_weight_the_authors_code_ran_with():
    # Their code passed the paper's α = 0.9 through a sigmoid before interpolating.
    config = parse_config(load_config_file(RECIPES / "mi-alpha.yaml"), source="mi-alpha")
    assert config.alpha == pytest.approx(1 / (1 + math.exp(-0.9)), abs=1e-3)


def test_tinybert_recipe_turns_on_the_augmented_terms():
    config = parse_config(load_config_file(RECIPES / "tinybert.yaml"))
    assert config.weights == (1.0, 0.5, 1.0, 0.5)


def test_config_file_that_does_not_parse_says_where(tmp_path):
    from engine.errors import AutodistillError

    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: bbc-news\nmapping: [skip\n")
    with pytest.raises(AutodistillError, match=r"bad.yaml: line \d+, column \d+"):
        load_config_file(bad)


def test_an_unset_learning_rate_follows_the_student():
    from autodistill.bridge import baseline_config, make_budget
    from engine.models.presets import FRESH_LR, PRETRAINED_STUDENTS

    tiny = FRESH_LR  # the study's rate, not the shape's own 2e-3
    assert tiny == 5e-4
    gd = PRETRAINED_STUDENTS["tiny-gd"].lr
    assert parse_config({"dataset": "d", "student": "tiny-gd"}).train.lr == gd
    assert parse_config({"dataset": "d", "student": "tiny"}).train.lr == tiny
    assert parse_config({"dataset": "d", "student": "tiny", "train": {"epochs": 2}}).train.lr == tiny
    assert parse_config({"dataset": "d", "student": "tiny", "train": {"lr": 1e-4}}).train.lr == 1e-4
    assert parse_config({"dataset": "d", "student": "layers=0,2,4"}).train.lr == 5e-5  # pretrained layers
    # Sweeps and recommend pass a budget: its unset lr follows the student too, a given one wins.
    assert baseline_config("d", teacher="minilm-l6", student="tiny", budget=make_budget(epochs=2)).train.lr == tiny
    assert baseline_config("d", teacher="minilm-l6", student="tiny", budget=make_budget(lr=3e-4)).train.lr == 3e-4
    # What config.yaml records reloads as the same run.
    config = parse_config({"dataset": "d", "student": "mini"})
    assert parse_config(config.model_dump(mode="json")) == config
