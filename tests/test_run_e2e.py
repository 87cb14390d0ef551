"""End-to-end distillation runs on the toy task: every mapping × intermediate loss."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForSequenceClassification

import engine.pipelines.run as engine_run
from engine.components import parse_config
from engine.config import TrainSettings
from engine.errors import AutodistillError
from engine.kd.losses import INTER_LOSSES
from engine.kd.mapping import MAPPINGS
from engine.models.zoo import load_task_model
from engine.pipelines.example_predictions import run_predictions
from engine.pipelines.predict import predict_file
from engine.pipelines.result import PREDICTIONS_FILE, run_id, written_predictions
from engine.training.device import training_device

TINY_TEACHER = TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16)
TRAIN = {"epochs": 1, "batch_size": 16, "lr": 1e-3, "max_length": 16}


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    """One home for the module, so the toy teacher is fine-tuned once and then cached."""
    return tmp_path_factory.mktemp("e2e-home")


@pytest.fixture(autouse=True)
def toy_teacher(shared_home, monkeypatch):
    monkeypatch.setenv("AUTODISTILL_HOME", str(shared_home))
    monkeypatch.setattr(engine_run, "TEACHER_SETTINGS", TINY_TEACHER)


def _config(**overrides):
    return parse_config({"dataset": "toy", "student": "tiny", "train": TRAIN, **overrides})


@pytest.mark.parametrize("mapping", sorted(MAPPINGS.names()))
@pytest.mark.parametrize("inter_loss", sorted(INTER_LOSSES.names()))
def test_every_mapping_and_intermediate_loss_runs(toy_task, mapping, inter_loss):
    result = engine_run.run(
        _config(mapping=mapping, inter_loss=inter_loss, alpha=0.5), task=toy_task, show_progress=False
    )
    assert 0.0 <= result.student_score <= 1.0
    assert result.ratio == pytest.approx(result.student_score / result.teacher_score)
    assert result.student_params < result.teacher_params
    assert result.history[0]["epoch"] == 1


def test_logit_kd_learns_and_leaves_a_loadable_hf_folder(toy_task, tmp_path):
    # 6 epochs: the tiny student reaches 1.0 from every seed tried (0-3, 42); at 3 epochs some seeds stall at .6-.8.
    config = _config(mapping=None, inter_loss=None, train={**TRAIN, "epochs": 6})
    result = engine_run.run(config, task=toy_task, show_progress=False)
    assert result.teacher_score > 0.9
    assert result.student_score > 0.9 and result.one_answer is None
    student_dir = Path(result.output_dir) / "student"
    model = AutoModelForSequenceClassification.from_pretrained(student_dir)  # plain transformers, no autodistill
    assert model.config.num_labels == 2
    assert "Distillation ratio" in (student_dir / "README.md").read_text()
    saved = json.loads((Path(result.output_dir) / "result.json").read_text())
    assert saved["config"]["student"] == "tiny" and saved["kind"] == "distill"
    assert saved["device"] == training_device() and saved["scored_examples"]["dev"] == len(toy_task.dev)
    # the test split is scored once, after the dev split chose the epoch, on the examples the run caps to
    assert result.student_test_metrics["accuracy"] > 0.8 and saved["test_ratio"] == result.test_ratio
    # where the wall time went, step by step, adding up to about all of it
    steps = ["speed probe", "data", "tokenise", "teacher", "student", "teacher cache", "training"]
    assert list(saved["phases"])[: len(steps)] == steps and {"scoring", "latency timing", "saving"} <= set(
        saved["phases"]
    )
    # the trainer's own clock runs inside; phases are kept to the millisecond, and rounding keeps order
    assert saved["phases"]["training"] >= round(result.train_seconds, 3)
    assert 0.8 * result.wall_seconds < sum(saved["phases"].values()) <= result.wall_seconds
    # the process's CPU time beside it: PyTorch's threads used it, never more than they had
    assert saved["cpu_threads"] == torch.get_num_threads()
    assert 0 < saved["speed_probe_seconds"] <= saved["phases"]["speed probe"]  # the machine's speed, timed first
    assert 0 < saved["cpu_seconds"] <= 1.05 * result.wall_seconds * saved["cpu_threads"]
    assert result.test_ratio == pytest.approx(
        result.student_test_metrics["accuracy"] / result.teacher_test_metrics["accuracy"]
    )

    inputs = tmp_path / "in.csv"
    toy_task.test.head(8).to_csv(inputs, index=False)
    predictions = predict_file(student_dir, inputs, max_length=16)
    named = toy_task.test.head(8)["label"].map({0: "neg", 1: "pos"})
    right = predictions.frame["prediction"] == named
    assert right.mean() > 0.8
    # the file's label column holds class ids, not the names the model learned: not a score of 0
    assert predictions.score is None and "holds none of the model's labels (e.g. '0', '1')" in predictions.unscored
    labelled = tmp_path / "labelled.csv"
    toy_task.test.head(8).assign(label=["", "meh", *named[2:]]).to_csv(labelled, index=False)
    score = predict_file(student_dir, labelled, max_length=16).score
    assert score.rows == 7 and score.unknown == ("meh",), "an empty cell is not scored; an unknown label is wrong"
    assert score.value == pytest.approx(right[2:].sum() / 7) and score.metric == "accuracy"
    assert predictions.one_answer is None, "a model that learned gives more than one answer"
    with pytest.raises(AutodistillError, match="input has no label column 'stars'"):
        predict_file(student_dir, labelled, label_col="stars", max_length=16)
    renamed = tmp_path / "sentences.csv"  # another of the names a run looks for is found by predict too
    toy_task.test.head(8).rename(columns={"text": "sentence"}).to_csv(renamed, index=False)
    assert list(predict_file(student_dir, renamed, max_length=16).frame["prediction"]) == list(
        predictions.frame["prediction"]
    )


def test_a_student_that_gives_every_dev_example_one_answer_is_told_so(toy_task, monkeypatch, capsys):
    from cli import render

    def always_pos(model, spec, split, *args):
        return [1] * len(split)

    monkeypatch.setattr("engine.training.trainer.predict", always_pos)  # the dev scoring of each epoch
    result = engine_run.finetune(_config(train={**TRAIN, "seed": 7}), task=toy_task, show_progress=False)  # its own
    assert result.one_answer == "pos"
    render.run_result(result)
    said = " ".join(capsys.readouterr().out.split())
    assert "warning: the student answers 'pos' to every dev example" in said and "a pretrained student" in said
    render.run_result(dataclasses.replace(result, config={**result.config, "student": "tiny-gd"}))
    pretrained = " ".join(capsys.readouterr().out.split())
    assert "try more epochs, another --lr" in pretrained and "pretrained student" not in pretrained, "one already"
    card = (Path(result.output_dir) / "student" / "README.md").read_text()
    assert "**Warning:** this student answers 'pos' to every dev example" in card  # before anyone publishes it


def test_a_users_trainer_callback_hears_every_step_and_epoch(toy_task):
    from engine import TrainerCallback

    class Counter(TrainerCallback):
        def __init__(self) -> None:
            self.steps, self.epochs = 0, []

        def on_step_end(self, state, logs) -> None:
            self.steps += 1
            assert "train/loss" in logs

        def on_epoch_end(self, state, logs) -> None:
            self.epochs.append(state.epoch)

    counter = Counter()
    result = engine_run.finetune(_config(train={**TRAIN, "epochs": 2}), task=toy_task, show_progress=False,
                                 callbacks=[counter])  # fmt: skip
    assert counter.epochs == [1, 2] and counter.steps == result.history[-1]["step"] > 0


def test_rerunning_a_finished_run_returns_the_stored_result(toy_task):
    config = _config(mapping="skip", inter_loss="mse")
    first = engine_run.run(config, task=toy_task, show_progress=False)
    again = engine_run.run(config, task=toy_task, show_progress=False)
    assert again.wall_seconds == first.wall_seconds  # loaded, not retrained


def test_a_folder_holding_another_run_is_refused_not_returned(toy_task, tmp_path):
    """Drug reviews: a rerun with --epochs 8 into the folder of a 6-epoch run had returned the 6-epoch result."""
    config = _config()
    folder = tmp_path / "mine"
    engine_run.run(config, output_dir=folder, task=toy_task, show_progress=False)
    longer = _config(train={**TRAIN, "epochs": 2})
    with pytest.raises(AutodistillError) as refused:
        engine_run.run(longer, output_dir=folder, task=toy_task, show_progress=False)
    assert str(refused.value) == (
        f"{folder} holds another run (train.epochs 1, not 2); give another output folder, or delete this one to "
        "train the run asked for"
    )
    with pytest.raises(AutodistillError, match=r"holds another run \(a distill run, not finetune\)"):
        engine_run.finetune(config, output_dir=folder, task=toy_task, show_progress=False)
    watched = _config(train={**TRAIN, "report_to": ["tensorboard"]})  # watching a run is not another run
    assert engine_run.run(watched, output_dir=folder, task=toy_task, show_progress=False).train_seconds > 0


def test_an_epoch_callback_stops_a_run_which_is_complete_and_carries_on_when_called_again(toy_task):
    config = _config(mapping="skip", inter_loss="mse", train={**TRAIN, "epochs": 3})
    heard: list[tuple[int, float]] = []

    def stop_at_once(epoch: int, score: float) -> bool:
        heard.append((epoch, score))
        return True

    pruned = engine_run.run(config, task=toy_task, show_progress=False, on_epoch=stop_at_once)
    assert heard == [(1, pruned.student_score)] and pruned.pruned_after_epoch == 1 and len(pruned.history) == 1
    # a complete result: the best student so far, scored on test and exported, under the config's run id
    assert pruned.test_ratio is not None and (Path(pruned.output_dir) / "student" / "config.json").exists()
    resolved = config.model_copy(update={"pred_loss": "ce"})  # the id hashes the prediction loss the task chose
    assert pruned.run_id == run_id(resolved, "distill") and Path(pruned.output_dir).name.endswith(pruned.run_id)
    epochs: list[int] = []
    full = engine_run.run(config, task=toy_task, show_progress=False, on_epoch=lambda e, _s: bool(epochs.append(e)))
    assert epochs == [1, 2, 3]  # resumed from its checkpoint: told where it stood first, then each new epoch
    assert full.pruned_after_epoch is None and [h["epoch"] for h in full.history] == [1, 2, 3]
    assert full.output_dir == pruned.output_dir and not (Path(full.output_dir) / "work").exists()
    # its time counts the epoch trained before the stop: the run's cost, not this call's
    assert full.phases["training"] >= round(full.train_seconds, 3) > pruned.train_seconds
    assert sum(full.phases.values()) <= full.wall_seconds and full.cpu_seconds > 0


def test_no_kd_baseline_uses_the_same_student_and_settings(toy_task):
    result = engine_run.finetune(_config(), task=toy_task, show_progress=False)
    assert result.kind == "finetune"
    assert result.student_layers == 2 and result.student_hidden == 128


def test_cached_and_live_teacher_outputs_agree(toy_task):
    from engine.kd.teacher_cache import TeacherCache, teacher_forward
    from engine.models.zoo import load_tokenizer
    from engine.tasks import encode_split
    from engine.tasks.encoding import collate
    from engine.teachers.finetune import finetune_teacher

    info = finetune_teacher("minilm-l6", toy_task, TINY_TEACHER, show_progress=False)
    teacher = load_task_model(str(info.model_dir), toy_task.spec).eval()
    split = encode_split(toy_task.train, toy_task.spec, load_tokenizer("minilm-l6"), 16, train=True)
    cache = TeacherCache.build_or_load(
        teacher, str(info.model_dir), toy_task.spec, split, 0, layers=(0, 3, 6), show_progress=False
    )
    batch = collate(split, [5, 1, 9], 0)
    cached = cache.lookup(batch["index"], batch["input_ids"].shape[1], "cpu", (0, 3, 6))
    with torch.no_grad():
        live = teacher_forward(teacher, batch, toy_task.spec)
    assert torch.allclose(cached.logits[0], live.logits[0], atol=1e-4)
    real = batch["attention_mask"].bool()  # the cache keeps real tokens only (tests/test_teacher_cache.py)
    for layer in (0, 3, 6):
        assert torch.allclose(cached.hidden_states[layer][real], live.hidden_states[layer][real], atol=2e-2)


def test_two_builds_of_one_teacher_cache_at_once_both_succeed(toy_task, monkeypatch):
    """Two sweep processes (one per student) may build the same teacher's cache together."""
    from engine.kd.teacher_cache import TeacherCache
    from engine.models.zoo import load_tokenizer
    from engine.tasks import encode_split
    from engine.teachers.finetune import finetune_teacher

    info = finetune_teacher("minilm-l6", toy_task, TINY_TEACHER, show_progress=False)
    teacher = load_task_model(str(info.model_dir), toy_task.spec).eval()
    split = encode_split(toy_task.train, toy_task.spec, load_tokenizer("minilm-l6"), 12, train=True)
    compute = TeacherCache._compute
    raced: list = []

    def slower(*args, **kwargs):
        compute(*args, **kwargs)
        if not raced:  # the other build starts and publishes while this one is still writing
            raced.append(None)
            raced[0] = TeacherCache.build_or_load(teacher, "race", toy_task.spec, split, 0, show_progress=False)

    monkeypatch.setattr(TeacherCache, "_compute", staticmethod(slower))
    cache = TeacherCache.build_or_load(teacher, "race", toy_task.spec, split, 0, show_progress=False)
    assert cache.folder == raced[0].folder and (cache.folder / "meta.json").exists()
    assert not list(cache.folder.parent.glob(f"{cache.folder.name}.partial-*"))  # nothing half-written left


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"inter_loss": "nope"},
            "unknown intermediate loss 'nope'; choose one of: ce, cos, l2, mi, mse, none, pkd$",
        ),
        ({"mapping": "diag"}, "unknown layer mapping 'diag'"),
        ({"alpha": 1.5}, "alpha"),
        ({"pred_loss": "kl"}, "unknown prediction loss"),
        ({"mapping": None, "inter_loss": "mse"}, "set both mapping and inter_loss"),
        ({"train": {"epochs": 0}}, "train.epochs"),
    ],
)
def test_bad_configs_get_one_line_errors(overrides, message):
    with pytest.raises(AutodistillError, match=message) as info:
        _config(**overrides)
    assert "\n" not in str(info.value)


def test_ce_prediction_loss_is_refused_for_regression(toy_task):
    from engine.data.schema import TaskData
    from engine.tasks.spec import TaskSpec, TaskType

    spec = TaskSpec("toy-reg", TaskType.REGRESSION, "toy regression")
    task = TaskData(
        spec, *(f.assign(label=f["label"].astype(float)) for f in (toy_task.train, toy_task.dev, toy_task.test))
    )
    with pytest.raises(AutodistillError, match="regression"):
        engine_run.run(_config(pred_loss="ce", dataset="toy-reg"), task=task, show_progress=False)


def test_a_fine_tuned_teacher_depends_on_its_settings_not_on_the_process_rng(toy_task, tmp_path, monkeypatch):
    from engine.teachers.finetune import finetune_teacher

    settings = TrainSettings(epochs=1, batch_size=16, lr=1e-4, max_length=16, max_train_examples=32)
    heads = []
    for draw in (0, 123):  # what the process drew before: another test, a sweep's previous trial
        monkeypatch.setenv("AUTODISTILL_HOME", str(tmp_path / str(draw)))
        torch.manual_seed(draw)
        info = finetune_teacher("minilm-l6", toy_task, settings, show_progress=False)
        heads.append(AutoModelForSequenceClassification.from_pretrained(info.model_dir).classifier.weight)
    assert torch.equal(heads[0], heads[1])


def test_a_cached_teacher_survives_the_project_moving(toy_task, tmp_path, monkeypatch):
    """The preset's folder lives in the virtual environment; the cache key must not hold it."""
    import engine.models.zoo as zoo
    from engine.teachers.finetune import finetune_teacher

    settings = TrainSettings(epochs=1, batch_size=16, lr=1e-4, max_length=16, max_train_examples=32)
    first = finetune_teacher("minilm-l6", toy_task, settings, show_progress=False)
    moved = tmp_path / "elsewhere" / "minilm"
    moved.parent.mkdir()
    moved.symlink_to(zoo.resolve_model_path("minilm-l6"))
    monkeypatch.setitem(zoo.TEACHER_PRESETS, "minilm-l6", lambda: moved)
    assert zoo.resolve_model_path("minilm-l6") == str(moved)
    again = finetune_teacher("minilm-l6", toy_task, settings, show_progress=False)
    assert again.model_dir == first.model_dir and again.train_seconds == first.train_seconds  # loaded, not retrained


def test_a_copied_home_reads_its_own_copy_of_a_fine_tuned_teacher(toy_task, tmp_path, monkeypatch):
    import shutil

    from engine.teachers.finetune import cached_teacher, finetune_teacher

    settings = TrainSettings(epochs=1, batch_size=16, lr=1e-4, max_length=16, max_train_examples=32)
    monkeypatch.setenv("AUTODISTILL_HOME", str(tmp_path / "first"))
    first = finetune_teacher("minilm-l6", toy_task, settings, show_progress=False)
    shutil.copytree(tmp_path / "first", tmp_path / "second")
    monkeypatch.setenv("AUTODISTILL_HOME", str(tmp_path / "second"))
    copied = cached_teacher("minilm-l6", toy_task, settings)
    assert copied is not None and copied.model_dir != first.model_dir
    assert copied.model_dir.is_relative_to(tmp_path / "second") and (copied.model_dir / "config.json").exists()


def test_a_file_with_its_own_column_names_runs_and_its_mapping_is_recorded(tmp_path):
    from conftest import toy_frame

    path = tmp_path / "reviews.csv"
    toy_frame(160, 0).rename(columns={"text": "review", "label": "stars"}).to_csv(path, index=False)
    data = {"dataset": str(path), "student": "tiny", "mapping": None, "inter_loss": None, "train": TRAIN}
    with pytest.raises(AutodistillError, match="review") as info:  # no usual column names: say which there are
        engine_run.run(parse_config(data), show_progress=False)
    assert "\n" not in str(info.value)

    config = parse_config({**data, "columns": {"text_col": "review", "label_col": "stars"}})
    result = engine_run.run(config, show_progress=False)
    assert result.student_score > 0
    recorded = yaml.safe_load((Path(result.output_dir) / "config.yaml").read_text())
    assert recorded["columns"]["text_col"] == "review"
    # a rerun from config.yaml reads the file the same way, on the split version the run resolved (a file has 1)
    # and with the prediction loss the run resolved from the task (unset: the head's own, CE here)
    assert parse_config(recorded) == config.model_copy(update={"split_version": 1, "pred_loss": "ce"})
    # more of the same file predicts without naming its columns again: the student's folder records them
    student = Path(result.output_dir) / "student"
    inputs = tmp_path / "more.csv"
    toy_frame(6, 1).rename(columns={"text": "review"})[["review"]].to_csv(inputs, index=False)
    assert predict_file(student, inputs).frame["prediction"].notna().all()
    with pytest.raises(AutodistillError, match=r"no column 'text' \(--text-col"):  # a name given still wins
        predict_file(student, inputs, text_col="text")
    assert json.loads((student / "autodistill_task.json").read_text())["inputs"]["max_length"] == TRAIN["max_length"]


def test_a_teacher_fine_tuned_for_other_labels_is_refused_before_training(toy_task, tmp_path):
    from transformers import BertConfig

    folder = tmp_path / "nli-teacher"
    config = BertConfig(num_labels=3, id2label={0: "entail", 1: "neutral", 2: "contradict"})
    config.architectures = ["BertForSequenceClassification"]
    config.save_pretrained(folder)
    with pytest.raises(AutodistillError, match=r"predicts labels \(entail, neutral, contradict\)") as info:
        engine_run.run(_config(teacher=str(folder)), task=toy_task, show_progress=False)
    assert "\n" not in str(info.value)


def test_a_run_keeps_its_test_predictions_and_an_older_run_is_scored_again_alike(toy_task, tmp_path):
    result = engine_run.run(_config(mapping="last", inter_loss="cos"), task=toy_task, show_progress=False)
    written = written_predictions(result.output_dir)
    assert len(written.predictions) == len(written.references) == len(toy_task.test)
    assert written.score() == pytest.approx(result.student_test_metrics[result.metric])
    older = tmp_path / "older"  # a copy without the file, as a run stored before it was written
    shutil.copytree(result.output_dir, older)
    (older / PREDICTIONS_FILE).unlink()
    again = run_predictions(older, task=toy_task)
    assert again == written and (older / PREDICTIONS_FILE).exists()
    (older / PREDICTIONS_FILE).unlink()
    saved = json.loads((older / "result.json").read_text())
    saved["student_test_metrics"][result.metric] -= 0.25
    (older / "result.json").write_text(json.dumps(saved))
    with pytest.raises(AutodistillError, match=r"not the .* it recorded"):
        run_predictions(older, task=toy_task)
    shutil.rmtree(older / "student")
    with pytest.raises(AutodistillError, match="kept no student"):
        run_predictions(older, task=toy_task)
