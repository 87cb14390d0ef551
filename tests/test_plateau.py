"""A small data set's teacher: the epochs min_steps adds end on a dev plateau; the asked-for ones all run."""

from __future__ import annotations

import dataclasses

import pytest

from engine.config import TrainSettings
from engine.models.zoo import load_tokenizer
from engine.teachers import finetune
from engine.training.callbacks import PlateauStop, TrainerState


def _after(scores: list[float], after: int = 3, patience: int = 2, guessed: tuple[int, ...] = ()) -> bool:
    """Whether the rule stops after ``scores``' last epoch; the models of epochs ``guessed`` gave one answer."""
    state = TrainerState(
        epoch=len(scores),
        history=[{"epoch": i + 1, "f1": s} for i, s in enumerate(scores)],
        one_answers={i + 1: "2" if i + 1 in guessed else None for i in range(len(scores))},
    )
    PlateauStop("f1", after, patience).on_epoch_end(state, {})
    return state.should_stop


@pytest.mark.parametrize(
    ("scores", "stops"),
    [
        ([0.5, 0.4], False),  # the asked-for epochs all run, however dev goes
        ([0.5, 0.4, 0.3], True),  # ... and the added ones only while dev improves
        ([0.5, 0.6, 0.7, 0.7, 0.69], True),  # two added epochs without a better score
        ([0.5, 0.6, 0.7, 0.71, 0.70], False),  # the last better score was one epoch ago
        ([0.9, 0.6, 0.7, 0.8], True),  # the best was long before: stop at the first added epoch past patience
    ],
)
def test_the_plateau_stops_added_epochs_only(scores: list[float], stops: bool) -> None:
    assert _after(scores) is stops


@pytest.mark.parametrize(
    ("scores", "guessed", "stops"),
    [
        ([0.64, 0.64, 0.64, 0.64], (1, 2, 3, 4), False),  # a majority guess every epoch: the added epochs go on
        ([0.64, 0.64, 0.64, 0.60, 0.62], (1, 2, 3), False),  # it answers from epoch 4: patience counts from there
        ([0.64, 0.64, 0.64, 0.70, 0.69, 0.68], (1, 2, 3), True),  # ... and stops two epochs past its best
        ([0.60, 0.62, 0.70, 0.69, 0.64], (5,), True),  # a guess after answering counts as any epoch
        ([0.60, 0.62, 0.64, 0.63, 0.64], (3, 5), False),  # a guess is never the best it must beat
    ],
)
def test_epochs_of_a_one_answer_model_are_no_plateau(
    scores: list[float], guessed: tuple[int, ...], stops: bool
) -> None:
    """Drug reviews: the teacher guessed the majority class for 3 epochs, and the rule had stopped it there."""
    assert _after(scores, guessed=guessed) is stops


def test_a_small_data_sets_teacher_stops_early_and_says_so(toy_task, tmp_path, monkeypatch, capsys) -> None:
    settings = TrainSettings(epochs=1, batch_size=16, lr=1e-3, max_length=16, min_steps=60, seed=0)
    assert finetune.extended(toy_task, settings), "96 examples: 6 steps an epoch, 10 epochs to reach 60 steps"
    plan = finetune.fine_tune_plan("minilm-l6", toy_task, settings, tmp_path, padded=8.0)
    assert "60 steps (10 epochs of 96 training examples" in plan and "fewer if dev stops improving" in plan
    trained = []

    def spy(*args, **kwargs):
        trained.append(real(*args, **kwargs))
        return trained[-1]

    real = finetune.train_supervised
    monkeypatch.setattr(finetune, "train_supervised", spy)
    done = finetune.finetune_teacher("minilm-l6", toy_task, settings)
    assert done.dev_score == 1.0, "the toy task is separable: dev reaches its best, then stays there"
    assert trained[0].steps < 60 and trained[0].steps % 6 == 0, "stopped on the plateau, after whole epochs"
    said = " ".join(capsys.readouterr().err.split())  # the progress bar's stop reads as a fault without a line
    stopped = trained[0].stopped_after_epoch
    assert f"at epoch {trained[0].best_epoch}; stopped after epoch {stopped} of 10, as dev had not improved" in said
    ran_out = dataclasses.replace(trained[0], stopped_after_epoch=None)
    assert finetune.plateau_note("minilm-l6", toy_task, settings, ran_out) is None, "only a stop is explained"
    assert (
        done.padded_length
        == finetune.padded_length(finetune.sample_encoding(toy_task, load_tokenizer("minilm-l6"), settings), settings)
        > 2
    )
    large = settings.model_copy(update={"min_steps": 6})
    assert not finetune.extended(toy_task, large) and "fewer if" not in finetune.fine_tune_plan(
        "minilm-l6", toy_task, large, tmp_path, padded=8.0
    )


def test_a_teacher_picked_by_another_metric_is_another_cache_entry(toy_task) -> None:
    """The metric picks the teacher's best epoch; the type's own keeps the keys teachers were cached under."""

    def folder(task):
        return finetune._cache_folder("minilm-l6", task, finetune.TEACHER_SETTINGS)

    by_f1 = dataclasses.replace(toy_task, spec=dataclasses.replace(toy_task.spec, metric="f1"))
    assert folder(by_f1) != folder(toy_task)
