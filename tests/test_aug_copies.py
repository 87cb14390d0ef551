"""Cached augmented copies (``aug_mode: cached``): made once per (data, policy, settings,
copies), shared by epochs and runs, epoch 0 identical to the paper's fresh mode, and the
teacher's logits on them read from a cache instead of a live forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

import engine.augment.copies
import engine.pipelines.run
import engine.teachers.finetune
from engine.augment import AugmentPolicy, PolicySpec, build_policy
from engine.augment.copies import COPIES_DIR, CachedCopies
from engine.augment.feed import AugmentFeed
from engine.config import DistillConfig, TrainSettings
from engine.data.schema import TaskData
from engine.kd.objective import DistillationObjective
from engine.kd.teacher_cache import TeacherCache
from engine.models.zoo import load_tokenizer
from engine.paths import home
from engine.pipelines.result import run_id
from engine.tasks import encode_split
from engine.tasks.encoding import collate
from tests.test_augment_run import _tiny

SETTINGS = TrainSettings(epochs=1, batch_size=8, lr=1e-3, max_length=16, seed=0)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm-l6")


def _small(toy_task: TaskData) -> TaskData:
    return TaskData(toy_task.spec, toy_task.train.iloc[:24], toy_task.dev.iloc[:8], toy_task.test.iloc[:8])


def _config(**overrides) -> DistillConfig:
    fields = {"dataset": "toy", "augment": ("ra", "ca"), "aug_workers": 0, "train": SETTINGS, **overrides}
    return DistillConfig(**fields)


def _feed(task: TaskData, config: DistillConfig, tokenizer, cached=None) -> AugmentFeed:
    split = encode_split(task.train, task.spec, tokenizer, 16, train=True)
    policy = AugmentPolicy(PolicySpec.from_config(config), task.spec)
    return AugmentFeed(policy, task.train, split, tokenizer, 16, tokenizer.pad_token_id, workers=0, cached=cached)


def _epochs(feed: AugmentFeed, epochs: int) -> list[list[dict[str, torch.Tensor]]]:
    out = []
    with feed:
        for epoch in range(epochs):
            order = np.random.default_rng([0, epoch]).permutation(len(feed.split))
            feed.schedule(epoch, [order[i : i + 8] for i in range(0, len(order), 8)])
            out.append([feed.get(b) for b in range(3)])
    return out


def _texts(batch: dict[str, torch.Tensor]) -> list[tuple[int, ...]]:
    """Each augmented example's tokens (padding off), order-free across a batch."""
    ids, mask = batch["aug_input_ids"], batch["aug_attention_mask"].bool()
    return sorted(tuple(row[m].tolist()) for row, m in zip(ids, mask, strict=True))


def test_epoch_0_is_the_fresh_runs_and_later_epochs_reuse_the_copies(toy_task, tokenizer):
    task, config = _small(toy_task), _config(aug_mode="cached", repeated_aug=2)
    policy = build_policy(config, task.spec)
    copies = CachedCopies.prepare(task, config, policy, task.train, tokenizer)
    assert copies.copies == 2 and len(copies.split) == 48  # 24 examples x 2 copies, none dropped
    fresh = _epochs(_feed(task, config, tokenizer), 2)
    first = _epochs(_feed(task, config, tokenizer, copies), 1)
    for f, c in zip(fresh[0], first[0], strict=True):  # same text, same tensors, plus the cache rows
        assert set(c) == set(f) | {"aug_index"}
        assert all(torch.equal(f[k], c[k]) for k in f)
    assert not copies.reused
    cached = _epochs(_feed(task, config, tokenizer, copies), 2)
    epoch_1_rows = sorted(int(i) for batch in cached[1] for i in batch["aug_index"])
    assert epoch_1_rows == sorted(range(48)) and copies.reused  # every copy seen again, none new
    assert any(_texts(f) != _texts(c) for f, c in zip(fresh[1], cached[1], strict=True))  # fresh drew anew


def test_copies_are_written_once_and_shared_by_equal_settings_only(toy_task, tokenizer, monkeypatch):
    task, config = _small(toy_task), _config(aug_mode="cached")
    policy = build_policy(config, task.spec)
    writes = []
    real = engine.augment.copies.pregenerate
    monkeypatch.setattr(engine.augment.copies, "pregenerate", lambda *a: writes.append(a) or real(*a))
    first = CachedCopies.prepare(task, config, policy, task.train, tokenizer)
    again = CachedCopies.prepare(task, config.model_copy(update={"student": "small"}), policy, task.train, tokenizer)
    assert first.folder == again.folder and len(writes) == 1
    other = config.model_copy(update={"aug_p": 0.3})
    elsewhere = CachedCopies.prepare(task, other, build_policy(other, task.spec), task.train, tokenizer)
    more = config.model_copy(update={"aug_copies": 3})
    three = CachedCopies.prepare(task, more, policy, task.train, tokenizer)
    assert len({first.folder, elsewhere.folder, three.folder}) == 3 and three.copies == 3
    assert sorted(p.parent.name for p in (first.folder, three.folder)) == [COPIES_DIR] * 2


def test_the_teachers_logits_on_cached_copies_come_from_the_cache(toy_task, tokenizer):
    task, config = _small(toy_task), _config(aug_mode="cached", repeated_aug=2)
    policy = build_policy(config, task.spec)
    copies = CachedCopies.prepare(task, config, policy, task.train, tokenizer)
    teacher, student = _tiny(task.spec, 1).eval(), _tiny(task.spec, 2).eval()  # no dropout: equal terms
    split = encode_split(task.train, task.spec, tokenizer, 16, train=True)
    batch = collate(split, list(range(8)), tokenizer.pad_token_id)
    (augmented,) = _epochs(_feed(task, config, tokenizer, copies), 1)[0][:1]

    def terms(originals: TeacherCache | None, aug_cache: TeacherCache | None) -> dict[str, float]:
        objective = DistillationObjective(
            task.spec, config, teacher, student_layers=1, student_width=32, augmentation=policy, cache=originals
        )
        objective.aug_cache = aug_cache
        return objective(student, {**batch, **augmented})[1]

    live = terms(None, None)
    originals, on_copies = (
        TeacherCache.build_or_load(teacher, "tiny", task.spec, s, 0, layers=layers, show_progress=False)
        for s, layers in ((split, None), (copies.split, ()))
    )
    teacher.forward = lambda **_: pytest.fail("the teacher ran although its outputs are cached")
    cached = terms(originals, on_copies)
    assert cached["kd_aug"] == pytest.approx(live["kd_aug"], rel=1e-3)  # fp16 cache against fp32 live
    assert cached["gt_aug"] == live["gt_aug"] and cached["aug_examples"] == 16


def test_cached_mode_is_validated_and_named_in_the_run_id():
    with pytest.raises(ValidationError, match="aug_copies counts the cached mode's copies"):
        _config(aug_copies=2)
    with pytest.raises(ValidationError, match="leave aug_copies unset"):
        _config(aug_mode="cached", aug_copies=2, aug_dir="somewhere")
    with pytest.raises(ValidationError, match="aug_dir is read by an augmentation policy"):
        _config(augment=(), aug_dir="somewhere")  # the folder had gone unread, the run unaugmented
    assert _config(aug_mode="cached").kept_copies == 1 and _config(aug_mode="cached", aug_copies=4).kept_copies == 4
    fresh, cached = _config(), _config(aug_mode="cached")
    assert run_id(fresh, "distill") == run_id(_config(aug_mode="fresh"), "distill")
    assert run_id(fresh, "distill") != run_id(cached, "distill")
    plain = _config(augment=())  # nothing to cache: the mode cannot change the run, nor its id
    assert run_id(plain, "distill") == run_id(_config(augment=(), aug_mode="cached"), "distill")
    mixup = _config(augment=("mixup",))
    assert run_id(mixup, "distill") == run_id(_config(augment=("mixup",), aug_mode="cached"), "distill")


@pytest.mark.slow
def test_a_cached_run_shares_its_copies_and_their_teacher_cache(toy_task, monkeypatch, tmp_path):
    settings = TrainSettings(epochs=1, batch_size=16, max_length=16, max_train_examples=16, max_eval_examples=8)
    monkeypatch.setattr(engine.pipelines.run, "TEACHER_SETTINGS", settings)
    monkeypatch.setattr(engine.teachers.finetune, "TEACHER_SETTINGS", settings)
    train = SETTINGS.model_copy(update={"epochs": 2, "max_train_examples": 16, "max_eval_examples": 8})
    config = _config(student="tiny", aug_mode="cached", repeated_aug=2, train=train)
    result = engine.pipelines.run.run(config, task=toy_task, output_dir=tmp_path / "a", show_progress=False)
    report = result.augmentation
    assert report["source"].startswith("cached: ") and report["reused_copies"]
    assert report["augmented_examples"] == 64  # 16 examples x 2 copies x 2 epochs
    caches = sorted((home() / "teacher_cache").iterdir())
    assert len(caches) == 2  # the originals' outputs and the copies' logits
    other = config.model_copy(update={"train": train.model_copy(update={"lr": 2e-3})})
    engine.pipelines.run.run(other, task=toy_task, output_dir=tmp_path / "b", show_progress=False)
    assert sorted((home() / "teacher_cache").iterdir()) == caches
    assert len(list((home() / COPIES_DIR).iterdir())) == 1
