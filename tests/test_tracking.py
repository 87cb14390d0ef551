"""Experiment tracking: a run's curves and config read back by each tool's own reader, and run ids
that do not depend on where a run is watched."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import engine.pipelines.run as engine_run
from engine.components import parse_config
from engine.config import TrainSettings
from engine.errors import AutodistillError
from engine.paths import META_DATA
from engine.pipelines.result import run_id
from engine.tracking import open_tracking

#: The default run of the time these ids were taken: TinyBERT's recipe, tiny at its own rate.
EARLIER_DEFAULT = {"dataset": "bbc-news", "student": "tiny", "mapping": "skip", "inter_loss": "mse", "pred_loss": "ce",
                   "train": {"lr": 2e-3}}  # fmt: skip

TINY_TEACHER = TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16)
TRAIN = {"epochs": 2, "batch_size": 16, "lr": 1e-3, "max_length": 16}
#: Eq. 1's terms as the objective names them: Σ m_ij l_inter, then the l_pred terms weighted by β1, γ1, β2, γ2.
EQ1_TERMS = ("train/inter", "train/kd", "train/gt", "train/kd_aug", "train/gt_aug")
PIPELINE = {"student": "tiny", "mapping": "skip", "inter_loss": "mse", "gamma1": 0.5, "augment": "mixup"}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One tiny KD run with every term of Eq. 1 on (mixup gives the augmented pair), reported to both tools."""
    from conftest import toy_task_data

    task = toy_task_data()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTODISTILL_HOME", str(tmp_path_factory.mktemp("tracking-home")))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.setattr(engine_run, "TEACHER_SETTINGS", TINY_TEACHER)
        train = {**TRAIN, "report_to": "tensorboard,mlflow"}
        config = parse_config({"dataset": "toy", **PIPELINE, "aug_workers": 0, "train": train})
        return config, engine_run.run(config, task=task, show_progress=False)


def test_tensorboard_event_files_hold_each_term_of_eq1_the_dev_metric_and_the_config(tracked):
    _, result = tracked
    events = EventAccumulator(str(result.output_dir + "/tracking/tensorboard")).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {*EQ1_TERMS, "train/loss", "train/lr", "train/examples_per_second", "dev/accuracy"} <= scalars
    steps = [event.step for event in events.Scalars("train/kd")]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) == result.history[-1]["step"]
    dev = [(event.step, event.value) for event in events.Scalars("dev/accuracy")]
    assert dev == [(h["step"], pytest.approx(h["accuracy"])) for h in result.history]
    assert all(event.value > 0 for event in events.Scalars("train/examples_per_second"))
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "inter_loss: mse" in text and "train.lr: '0.001'" in text


def test_the_mlflow_store_holds_the_config_as_parameters_and_the_curves(tracked):
    config, result = tracked
    client = MlflowClient(tracking_uri=f"sqlite:///{result.output_dir}/tracking/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("autodistill").experiment_id])
    assert run.info.run_name == f"distill-{result.run_id}" and run.info.status == "FINISHED"
    assert run.data.params["inter_loss"] == "mse" and run.data.params["augment"] == "mixup"
    assert float(run.data.params["train.lr"]) == config.train.lr
    assert set(EQ1_TERMS) <= set(run.data.metrics)
    dev = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "dev/accuracy")]
    assert sorted(dev) == [(h["step"], pytest.approx(h["accuracy"])) for h in result.history]
    assert run.data.metrics["result/ratio"] == pytest.approx(result.ratio)
    lrs = [m.value for m in client.get_metric_history(run.info.run_id, "train/lr")]
    assert max(lrs) <= config.train.lr and len(set(lrs)) > 1  # the schedule, not a constant


def test_a_user_given_tracking_uri_and_a_resumed_run_log_into_the_same_mlflow_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/server.db")
    folder, config = tmp_path / "run" / "tracking", {"train": {"lr": 0.1}}
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/server.db")
    with pytest.raises(KeyboardInterrupt), open_tracking(("mlflow",), folder, "distill-abc", config) as tracking:
        tracking.log_metrics({"train/loss": 1.0}, 1)
        raise KeyboardInterrupt  # the run is killed
    (run,) = client.search_runs([client.get_experiment_by_name("autodistill").experiment_id])
    assert run.info.status == "KILLED"
    with open_tracking(("mlflow",), folder, "distill-abc", config) as tracking:  # rerun: resumed
        tracking.log_metrics({"train/loss": 0.5}, 2)
    (run,) = client.search_runs([client.get_experiment_by_name("autodistill").experiment_id])
    assert run.info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "train/loss")] == [1.0, 0.5]
    assert not (folder / "mlflow.db").exists()


def test_where_a_run_is_watched_leaves_its_id_alone():
    plain = parse_config({"dataset": "toy", **PIPELINE, "train": TRAIN})
    watched = parse_config({"dataset": "toy", **PIPELINE, "train": {**TRAIN, "report_to": "mlflow,tensorboard"}})
    assert watched.train.report_to == ("mlflow", "tensorboard")
    assert run_id(watched, "distill") == run_id(plain, "distill")
    assert run_id(parse_config(EARLIER_DEFAULT), "distill") == "7caa1ca70dff"


def test_every_shipped_study_run_keeps_its_id():
    runs = pd.read_csv(META_DATA / "study" / "runs.csv")
    for row in runs.itertuples():  # configs stored before split versions name none: the row says which
        engine = {**json.loads(row.config_json)["engine"], "split_version": int(row.split_version)}
        assert run_id(parse_config(engine), "distill") == row.run_id
    assert len(runs) >= 340


def test_an_unknown_backend_is_refused_in_one_line_and_none_reports_nowhere():
    with pytest.raises(AutodistillError, match=r"unknown tracking backend 'wandb'; choose one of: mlflow, tensorboard"):
        parse_config({"dataset": "toy", "train": {"report_to": "tensorboard,wandb"}})
    assert parse_config({"dataset": "toy", "train": {"report_to": "none"}}).train.report_to == ()


def test_a_sweep_passes_report_to_to_every_trial_and_keeps_the_trial_ids(toy_task):
    from autodistill.bridge import make_budget
    from autodistill.sweep import plan

    plain = plan({"toy": toy_task}, ["tiny"], 3, budget=make_budget(epochs=1))
    watched = plan({"toy": toy_task}, ["tiny"], 3, budget=make_budget(epochs=1, report_to="tensorboard"))
    assert [t.trial_id for t in watched] == [t.trial_id for t in plain]
    assert {t.engine.train.report_to for t in watched} == {("tensorboard",)}
    assert [run_id(t.engine, t.kind) for t in watched] == [run_id(t.engine, t.kind) for t in plain]


def test_a_new_mlflow_store_is_made_without_info_lines(tmp_path, monkeypatch, capfd):
    from engine.tracking.mlflow import MlflowTracker

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    MlflowTracker(tmp_path / "tracking", "quiet-run")
    captured = capfd.readouterr()
    assert "INFO" not in captured.err + captured.out
