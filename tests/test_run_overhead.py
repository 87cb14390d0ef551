"""Time outside training removed from runs and sweep trials: the teacher's
latency timed once per teacher, a sample's teacher outputs read from a whole-split cache once
samples have cached as many examples as the split holds, encoded splits keyed without hashing
text again. The teacher is MiniLM with a fresh head: none of this depends on its fine-tuning."""

from __future__ import annotations

import json
from collections import namedtuple

import numpy as np
import pandas as pd
import pytest
import torch

import engine.kd.sampled_cache as sampled_cache
import engine.pipelines.latency as latency
from engine.kd.sampled_cache import SampleRows, sample_cache, whole_rows
from engine.kd.teacher_cache import TeacherCache, plan_layout
from engine.models.zoo import load_task_model, load_tokenizer
from engine.pipelines import reuse
from engine.pipelines.latency import Latency
from engine.tasks import encode_split
from engine.tasks.encoding import EncodedSplit, collate, limit_examples
from engine.tasks.spec import TaskSpec, TaskType


@pytest.fixture(scope="module")
def teacher():
    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "toy", ("neg", "pos"))
    return load_task_model("minilm-l6", spec).eval()


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("minilm-l6")


def _sample(toy_task, tok, seed: int, n: int = 32):
    """A seeded sample as a run draws it, its encoded split and its rows' positions in the whole."""
    frame = limit_examples(toy_task.train, n, seed)
    split = encode_split(frame, toy_task.spec, tok, 16, train=True)
    return split, reuse.positions(frame, toy_task.train)


def _cache(teacher, toy_task, tok, seed: int, whole_examples: int | None = None):
    split, found = _sample(toy_task, tok, seed)
    whole = encode_split(toy_task.train, toy_task.spec, tok, 16, train=True)
    size = len(whole) if whole_examples is None else whole_examples
    cache = sample_cache(
        teacher, "minilm", toy_task.spec, split, found, "toy-whole", lambda: whole, size, 0, layers=(2,)
    )
    return cache, split


def test_samples_rent_their_own_caches_until_they_have_paid_for_the_whole_split(teacher, toy_task, tok):
    """96 training examples, samples of 32: three samples build their own, the third buys the whole."""
    first, _ = _cache(teacher, toy_task, tok, seed=1)
    again, _ = _cache(teacher, toy_task, tok, seed=1)
    second, _ = _cache(teacher, toy_task, tok, seed=2)
    assert isinstance(first, TeacherCache) and again.folder == first.folder  # a cached sample costs nothing
    assert isinstance(second, TeacherCache) and second.folder != first.folder
    third, split = _cache(teacher, toy_task, tok, seed=3)
    assert isinstance(third, SampleRows) and third.cache.layout.examples == len(toy_task.train)
    fourth, _ = _cache(teacher, toy_task, tok, seed=1)  # even a sample cached before reads the whole now
    assert isinstance(fourth, SampleRows)
    own = TeacherCache.build_or_load(teacher, "minilm", toy_task.spec, split, 0, layers=(2,), show_progress=False)
    batch = collate(split, [5, 0, 17, 3], 0)
    width = batch["input_ids"].shape[1]
    served = third.lookup(batch["index"], width, "cpu", (2,))
    truth = own.lookup(batch["index"], width, "cpu", (2,))
    assert torch.allclose(served.logits[0], truth.logits[0], atol=1e-4)
    assert torch.allclose(served.hidden_states[2], truth.hidden_states[2], atol=1e-2)


def test_a_whole_split_that_would_not_fit_on_disk_is_never_chosen(teacher, toy_task, tok, monkeypatch):
    whole = encode_split(toy_task.train, toy_task.spec, tok, 16, train=True)
    needed = plan_layout(teacher, toy_task.spec, whole, 0).size((2,))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sampled_cache.shutil, "disk_usage", lambda _: usage(10 * needed, 0, needed - 1))
    cache, _ = _cache(teacher, toy_task, tok, seed=1, whole_examples=8)  # buying is "cheaper", but cannot fit
    assert isinstance(cache, TeacherCache) and cache.layout.examples == 32


def test_whole_rows_follow_examples_a_split_dropped():
    """Span training splits drop examples: rows are found through ``rows``, not by position."""
    whole = EncodedSplit([[1]] * 4, [[0]] * 4, np.zeros(4), rows=np.array([0, 2, 3, 5]))
    sample = EncodedSplit([[1]] * 2, [[0]] * 2, np.zeros(2), rows=np.array([0, 1]))
    assert whole_rows(whole, sample, np.array([2, 5])).tolist() == [1, 3]
    assert whole_rows(whole, sample, np.array([1, 5])) is None  # row 1 was dropped from the whole


def test_a_models_latency_is_timed_once_per_model_and_batch_size(toy_task, tok, teacher, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        latency, "measure_latency", lambda *args, **kwargs: calls.append(1) or Latency(7.0, 0.01, False)
    )
    monkeypatch.setattr(latency, "_measured", {})
    monkeypatch.setattr(latency, "machine_busy", lambda: False)
    dev = encode_split(toy_task.dev, toy_task.spec, tok, 16, train=False)
    model_dir = tmp_path / "teacher" / "model"
    model_dir.mkdir(parents=True)
    assert latency.model_latency(model_dir, teacher, dev, 0).ms == 7.0
    assert latency.model_latency(model_dir, teacher, dev, 0).ms == 7.0
    monkeypatch.setattr(latency, "_measured", {})  # another process (an export, say) reads it from beside the model
    other = encode_split(toy_task.test, toy_task.spec, tok, 16, train=False)
    assert latency.model_latency(model_dir, teacher, other, 0).ms == 7.0  # one figure per model, whatever was timed
    assert len(calls) == 1 and (model_dir.parent / latency.LATENCY_FILE).exists()
    latency.model_latency(model_dir, teacher, dev, 0, batch_size=32)
    assert len(calls) == 2  # another batch size: timed again


def test_a_latency_taken_on_a_busy_machine_is_timed_again_once_it_is_quiet(tmp_path, monkeypatch):
    path = tmp_path / latency.LATENCY_FILE
    path.write_text(json.dumps({"old": 20.0}))  # an older file's bare number: taken under unknown load
    busy, measured = [True], iter([9.0, 11.0, 7.0])
    timed = lambda: Latency(next(measured), 0.01, busy[0])  # noqa: E731
    monkeypatch.setattr(latency, "machine_busy", lambda: busy[0])
    assert latency._remembered(path, "old", timed).ms == 20.0  # still busy: not retimed
    assert latency._remembered(path, "new", timed) == Latency(9.0, 0.01, True)
    busy[0] = False
    assert latency._remembered(path, "new", timed) == Latency(9.0, 0.01, False)  # retimed at 11: the lower kept
    assert latency._remembered(path, "new", timed).ms == 9.0  # now taken quiet: not retimed
    assert latency._remembered(path, "old", timed).ms == 7.0
    assert json.loads(path.read_text())["old"] == {"ms": 7.0, "spread": 0.01, "busy": False}


def test_a_sample_is_keyed_by_its_source_and_text_is_hashed_once_per_frame(toy_task, tok, monkeypatch):
    hashed = []
    real = pd.util.hash_pandas_object
    monkeypatch.setattr(pd.util, "hash_pandas_object", lambda *a, **k: hashed.append(1) or real(*a, **k))
    source = toy_task.train
    first = reuse.encoded(limit_examples(source, 16, 1), toy_task.spec, tok, 16, train=True, source=source)
    again = reuse.encoded(limit_examples(source, 16, 1), toy_task.spec, tok, 16, train=True, source=source)
    other = reuse.encoded(limit_examples(source, 16, 2), toy_task.spec, tok, 16, train=True, source=source)
    assert again is first and other is not first and len(hashed) == 1
    edited = source.assign(text=source["text"] + " again")  # a new frame object: hashed anew
    changed = reuse.encoded(limit_examples(edited, 16, 1), toy_task.spec, tok, 16, train=True, source=edited)
    assert changed is not first and changed.input_ids != first.input_ids
