"""The fifth task type, token classification, enters through its task-head entry alone:
KD on per-token logits, cached per-token teacher outputs, and mixup per position (§3.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForTokenClassification

import engine.pipelines.run as engine_run
from engine.augment.mixup import mix_targets
from engine.components import parse_config
from engine.config import TrainSettings
from engine.data.schema import TaskData
from engine.errors import AutodistillError
from engine.kd.teacher_cache import TeacherCache, teacher_forward
from engine.models.zoo import load_task_model, load_tokenizer
from engine.pipelines.predict import predict_file
from engine.tasks import encode_split, task_head
from engine.tasks.encoding import collate
from engine.tasks.spec import TaskSpec, TaskType
from engine.teachers.finetune import finetune_teacher

TAGS = ("ANIMAL", "OTHER")
ANIMALS = ["cat", "dog", "horse", "cow", "sheep", "goat"]
OTHERS = ["the", "a", "runs", "sleeps", "quickly", "green", "near", "big"]
SPEC = TaskSpec("toy-tags", TaskType.TOKEN, "Tag each word: is it an animal?", TAGS)
TINY_TEACHER = TrainSettings(epochs=3, batch_size=16, lr=2e-4, max_length=16)
TRAIN = {"epochs": 2, "batch_size": 16, "lr": 2e-3, "max_length": 16}


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        words = [str(rng.choice(ANIMALS if rng.random() < 0.4 else OTHERS)) for _ in range(int(rng.integers(3, 7)))]
        rows.append({"tokens": words, "tags": [0 if w in ANIMALS else 1 for w in words], "text": " ".join(words)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tag_task() -> TaskData:
    return TaskData(SPEC, _frame(96, 0), _frame(32, 1), _frame(32, 2))


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("token-home")


@pytest.fixture(autouse=True)
def tiny_teacher(shared_home, monkeypatch):
    monkeypatch.setenv("AUTODISTILL_HOME", str(shared_home))
    monkeypatch.setattr(engine_run, "TEACHER_SETTINGS", TINY_TEACHER)


def test_mixup_mixes_tags_per_position_and_leaves_unlabelled_positions_empty():
    labels = torch.tensor([[-100, 0, 1, -100], [-100, 1, -100, -100]])
    mixed = mix_targets(labels, SPEC, torch.tensor([[1, 0]]), torch.tensor([[0.75, 0.75]]), width=4)
    assert mixed.shape == (2, 4, 2)
    assert torch.allclose(mixed[0, 1], torch.tensor([0.75, 0.25]))  # ANIMAL with OTHER, λ = .75
    assert torch.allclose(mixed[0, 2], torch.tensor([0.0, 0.75]))  # partner unlabelled there
    assert mixed[0, 0].sum() == 0


def test_token_kd_compares_every_real_token_and_labels_only_word_starts():
    head = task_head(SPEC)
    logits = [torch.randn(2, 4, 2)]
    batch = {"attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])}
    kd, mask = head.kd_view(logits, batch)
    assert kd[0].shape == (5, 2) and mask is None
    seen, targets, _ = head.label_view(logits, torch.tensor([[-100, 0, 1, -100], [-100, 1, -100, -100]]), SPEC, batch)
    assert seen[0].shape == (3, 2) and targets[0].tolist() == [0, 1, 1]


def test_cached_and_live_per_token_teacher_logits_agree(tag_task):
    info = finetune_teacher("minilm-l6", tag_task, TINY_TEACHER, show_progress=False)
    teacher = load_task_model(str(info.model_dir), SPEC).eval()
    split = encode_split(tag_task.train, SPEC, load_tokenizer("minilm-l6"), 16, train=True)
    cache = TeacherCache.build_or_load(teacher, str(info.model_dir), SPEC, split, 0, layers=(1,), show_progress=False)
    # ragged like the hidden states: one row of tag logits per real token, no padding stored
    assert cache.logits.shape == (sum(len(ids) for ids in split.input_ids), 2) == (cache.layout.tokens, 2)
    batch = collate(split, [5, 1, 9], 0)
    cached = cache.lookup(batch["index"], batch["input_ids"].shape[1], "cpu", (1,))
    with torch.no_grad():
        live = teacher_forward(teacher, batch, SPEC)
    real = batch["attention_mask"].bool()
    assert cached.logits[0].shape == live.logits[0].shape == (3, batch["input_ids"].shape[1], 2)
    assert torch.allclose(cached.logits[0][real], live.logits[0][real], atol=1e-4)  # what token KD compares
    assert not cached.logits[0][~real].any()
    assert torch.allclose(cached.hidden_states[1][real], live.hidden_states[1][real], atol=2e-2)


def test_token_distillation_with_mixup_runs_end_to_end_and_predicts_tag_names(tag_task, tmp_path):
    config = parse_config(
        {
            "dataset": "toy-tags",
            "student": "tiny",
            "mapping": "skip",
            "inter_loss": "mse",
            "augment": "mixup",
            "train": TRAIN,
        }
    )
    result = engine_run.run(config, task=tag_task, show_progress=False)
    assert result.task_kind == "token" and result.metric == "accuracy"
    assert result.teacher_score > 0.9
    assert 0.0 <= result.student_score <= 1.0
    assert "kd_aug" in result.history[-1] or result.augmentation
    folder = Path(result.output_dir) / "student"
    assert type(AutoModelForTokenClassification.from_pretrained(folder)).__name__ == "BertForTokenClassification"
    (tmp_path / "in.txt").write_text("the cat sleeps\n")
    out = predict_file(folder, tmp_path / "in.txt").frame
    assert len(out.loc[0, "prediction"].split()) == 3
    assert set(out.loc[0, "prediction"].split()) <= set(TAGS)
    (tmp_path / "in.jsonl").write_text('{"tokens": ["the", "cat", "sleeps"]}\n')  # a file as it trained on: word lists
    assert list(predict_file(folder, tmp_path / "in.jsonl").frame["prediction"]) == list(out["prediction"])
    # a CoNLL file of words and their tags is predicted and scored word by word
    (tmp_path / "in.conll").write_text("the OTHER\ncat ANIMAL\nsleeps OTHER\n")
    scored = predict_file(folder, tmp_path / "in.conll")
    right = [p == g for p, g in zip(out.loc[0, "prediction"].split(), ["OTHER", "ANIMAL", "OTHER"], strict=True)]
    assert scored.score.value == pytest.approx(sum(right) / 3) and scored.score.rows == 1
    # a tab-separated word that holds a space is one word, as in training: three tags, and scored
    (tmp_path / "spaced.conll").write_text("the\tOTHER\nbig cat\tANIMAL\nsleeps\tOTHER\n")
    spaced = predict_file(folder, tmp_path / "spaced.conll")
    assert len(spaced.frame.loc[0, "prediction"].split()) == 3 and spaced.score is not None


def test_text_augmentation_on_a_token_task_is_refused_in_one_line(tag_task):
    config = parse_config({"dataset": "toy-tags", "student": "tiny", "augment": "ra", "train": TRAIN})
    with pytest.raises(AutodistillError, match="misalign"):
        engine_run.run(config, task=tag_task, show_progress=False)


def test_a_tagged_files_score_is_resolved_by_its_sentences_spread() -> None:
    """Scored against labelled rows, a tagger's accuracy gets the standard error its sentences measure, not the
    bound on their count; one row measures nothing and keeps the bound."""
    from engine.pipelines.predict import score_references

    spec = TaskSpec("toy-tags", TaskType.TOKEN, "Tag words.", ("A", "B"))
    rng = np.random.default_rng(0)
    gold = [["A" if rng.random() < 0.5 else "B" for _ in range(20)] for _ in range(60)]
    preds = [[tag if rng.random() < 0.9 else "AB".replace(tag, "") for tag in row] for row in gold]
    ids = [[spec.label_names.index(tag) for tag in row] for row in preds]
    inputs = pd.DataFrame({"tokens": [["w"] * 20 for _ in gold]})
    score = score_references(pd.Series(gold, name="tags"), inputs, ids, spec, "in.conll")
    assert score.rows == 60 and score.measured_error is not None
    assert score.standard_error == pytest.approx(score.measured_error)
    assert score.standard_error < np.sqrt(score.value * (1 - score.value) / 60) / 2
    one = score_references(pd.Series(gold[:1], name="tags"), inputs[:1], ids[:1], spec, "in.conll")
    assert one.standard_error == pytest.approx(np.sqrt(one.value * (1 - one.value)))
