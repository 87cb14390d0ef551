"""Every catalog data set distils with no pipeline flag: logit KD, the task's own prediction loss and the
study's learning rate fill in (``autodistill run --dataset NAME --student tiny``)."""

from __future__ import annotations

import pytest

import engine.pipelines.run as engine_run
from engine.components import parse_config
from engine.config import TrainSettings
from engine.data import catalog
from engine.data.builders import DATASETS
from engine.kd.objective import prediction_terms
from engine.models.presets import FRESH_LR
from engine.tasks import task_head

TINY = {"epochs": 1, "max_train_examples": 24, "max_eval_examples": 16, "max_length": 32}


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("catalog-home")


@pytest.fixture(autouse=True)
def tiny_teacher(shared_home, monkeypatch):
    monkeypatch.setenv("AUTODISTILL_HOME", str(shared_home))
    monkeypatch.setattr(engine_run, "TEACHER_SETTINGS", TrainSettings(batch_size=16, lr=1e-4, **TINY))


def _installed(name: str) -> None:
    if reason := catalog.missing_asset(name):
        pytest.skip(reason)


@pytest.mark.parametrize("name", sorted(DATASETS.names()))
def test_a_catalog_sets_defaults_are_its_task_heads_and_the_objective_takes_them(name):
    _installed(name)
    config = parse_config({"dataset": name, "student": "tiny"})
    assert (config.mapping, config.inter_loss, config.pred_loss, config.train.lr) == (None, None, None, FRESH_LR)
    resolved, task = engine_run.with_task_defaults(config, None)
    assert resolved.pred_loss == task_head(task.spec).natural_loss
    prediction_terms(task.spec, resolved.pred_loss)  # the check that refused CE on regression


def test_the_readmes_data_set_runs_with_only_its_name_and_a_student():
    _installed("vader-valence")
    result = engine_run.run(parse_config({"dataset": "vader-valence", "student": "tiny", "train": TINY}))
    assert (result.config["pred_loss"], result.config["mapping"], result.config["train"]["lr"]) == ("mse", None, 5e-4)
