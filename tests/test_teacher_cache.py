"""The teacher-output cache sized to need: ragged fp16 states, only the
mapping's layers, subsets reused and extensions added, sizes announced and checked against
the disk, old formats rebuilt. The teacher is MiniLM with a fresh head: what the cache must
get right (layout, agreement with a live forward) does not depend on its fine-tuning."""

from __future__ import annotations

import json
from collections import namedtuple

import numpy as np
import pytest
import torch

import engine.kd.teacher_cache as teacher_cache
import engine.pipelines.run as engine_run
from engine.components import parse_config
from engine.config import TrainSettings
from engine.errors import AutodistillError
from engine.kd.served import DeviceRows, StreamedRows
from engine.kd.teacher_cache import TeacherCache, plan_layout, teacher_forward
from engine.models.zoo import load_task_model, load_tokenizer
from engine.paths import human_bytes
from engine.pipelines.result import run_id
from engine.tasks import encode_split
from engine.tasks.encoding import collate
from engine.tasks.spec import TaskSpec, TaskType

#: The default run of the time these ids were taken: TinyBERT's recipe, tiny at its own rate.
EARLIER_DEFAULT = {"dataset": "bbc-news", "student": "tiny", "mapping": "skip", "inter_loss": "mse", "pred_loss": "ce",
                   "train": {"lr": 2e-3}}  # fmt: skip


@pytest.fixture(scope="module")
def teacher():
    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "toy", ("neg", "pos"))
    return load_task_model("minilm-l6", spec).eval()


@pytest.fixture
def split(toy_task):
    """The toy texts at lengths of 7 to 16 tokens (the last cut at max_length): ragged rows."""
    frame = toy_task.train
    frame = frame.assign(text=[text + " really" * (i % 11) for i, text in enumerate(frame["text"])])
    return encode_split(frame, toy_task.spec, load_tokenizer("minilm-l6"), 16, train=True)


def _build(teacher, spec, split, layers, **kwargs) -> TeacherCache:
    return TeacherCache.build_or_load(teacher, "minilm", spec, split, 0, layers=layers, show_progress=False, **kwargs)


def _files(cache: TeacherCache) -> set[str]:
    return {path.name for path in cache.folder.iterdir()}


def _agree(cache: TeacherCache, teacher, spec, split, rows, layers, resident: bool | None = None) -> None:
    """Cached and live outputs agree at every real token (positions past an example's end hold 0)."""
    batch = collate(split, rows, 0)
    cached = cache.lookup(batch["index"], batch["input_ids"].shape[1], "cpu", layers, resident=resident)
    with torch.no_grad():
        live = teacher_forward(teacher, batch, spec)
    real = batch["attention_mask"].bool()
    for served, truth in zip(cached.logits, live.logits, strict=True):
        assert served.shape == truth.shape
        if cache.layout.ragged_logits:  # per token: only the real ones are kept
            served, truth = served[real], truth[real]
        assert torch.allclose(served, truth, atol=1e-4)
    assert set(cached.hidden_states) == set(layers)
    for layer in layers:
        served, truth = cached.hidden_states[layer], live.hidden_states[layer]
        assert served.shape == truth.shape
        assert torch.allclose(served[real], truth[real], atol=2e-2)
        assert not served[~real].any()


def test_only_the_asked_states_are_stored_ragged_and_agree_with_the_live_teacher(teacher, toy_task, split):
    cache = _build(teacher, toy_task.spec, split, (0, 3, 6))
    assert _files(cache) == {"meta.json", "offsets.bin", "logits.bin", "hidden_0.bin", "hidden_3.bin", "hidden_6.bin"}
    tokens = sum(len(ids) for ids in split.input_ids)
    assert cache.layout.tokens == tokens < len(split) * max(len(ids) for ids in split.input_ids)  # no padding
    assert cache.hidden[3].shape == (tokens, 384) and str(cache.hidden[3].dtype) == "float16"
    _agree(cache, teacher, toy_task.spec, split, [5, 1, 9, 40], (0, 3, 6))


def test_outputs_read_and_written_with_pages_released_at_every_batch_still_agree(teacher, toy_task, split, monkeypatch):
    import engine.kd.mapped as mapped

    released = []
    real_release = mapped.release
    monkeypatch.setattr(mapped, "RELEASE_BYTES", 1)
    monkeypatch.setattr(mapped, "release", lambda array: released.append(1) or real_release(array))
    cache = _build(teacher, toy_task.spec, split, (0, 6))
    written = len(released)
    assert written > 0  # the teacher pass gave its pages back as it wrote
    _agree(cache, teacher, toy_task.spec, split, [7, 2, 30], (0, 6))
    assert len(released) > written  # and the lookup as it read


def test_the_size_announced_is_the_size_written(teacher, toy_task, split, caplog):
    layout = plan_layout(teacher, toy_task.spec, split, 0)
    with caplog.at_level("INFO", logger="engine.kd.teacher_cache"):
        cache = _build(teacher, toy_task.spec, split, (0, 2))
    assert cache.disk_bytes() == layout.size((0, 2))
    assert layout.size((0, 2)) == 8 * (len(split) + 1) + len(split) * 2 * 4 + 2 * layout.tokens * 384 * 2
    assert human_bytes(layout.size((0, 2))) in caplog.text


def test_a_logits_only_cache_builds_no_hidden_states(teacher, toy_task, split):
    cache = _build(teacher, toy_task.spec, split, ())
    assert _files(cache) == {"meta.json", "offsets.bin", "logits.bin"}
    _agree(cache, teacher, toy_task.spec, split, [3, 0], ())
    with pytest.raises(AutodistillError, match=r"holds hidden states \[\], not \[2\]"):
        cache.lookup(torch.tensor([0]), 8, "cpu", (2,))


def test_a_subset_is_reused_and_more_states_are_added(teacher, toy_task, split, monkeypatch):
    first = _build(teacher, toy_task.spec, split, (0, 3))
    logits_written = (first.folder / "logits.bin").stat().st_mtime_ns
    passes = []
    run_pass = teacher_cache._teacher_pass
    monkeypatch.setattr(teacher_cache, "_teacher_pass", lambda *a, **k: passes.append(a[5].keys()) or run_pass(*a, **k))
    again = _build(teacher, toy_task.spec, split, (3,))
    assert again.folder == first.folder and again.layers == (0, 3) and passes == []  # reused: no teacher pass
    (first.folder / "hidden_5.bin.partial-999999999-0badf00d").write_bytes(b"killed mid-write")
    more = _build(teacher, toy_task.spec, split, (0, 3, 5, 6))
    assert more.folder == first.folder and more.layers == (0, 3, 5, 6)
    assert [sorted(keys) for keys in passes] == [[5, 6]]  # one pass, for the missing states only
    assert (first.folder / "logits.bin").stat().st_mtime_ns == logits_written
    assert not [p for p in first.folder.iterdir() if "partial" in p.name]  # the abandoned one removed too
    assert more.disk_bytes() == more.layout.size((0, 3, 5, 6))
    _agree(more, teacher, toy_task.spec, split, [7, 2], (0, 5, 6))
    assert _build(teacher, toy_task.spec, split, None).layers == tuple(range(7))  # None: every state


def test_a_cache_that_would_not_fit_is_refused_in_one_line(teacher, toy_task, split, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(teacher_cache.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 500, 500))
    with pytest.raises(AutodistillError) as info:
        _build(teacher, toy_task.spec, split, (0, 3))
    message = str(info.value)
    size = plan_layout(teacher, toy_task.spec, split, 0).size((0, 3))
    assert "\n" not in message
    assert human_bytes(size) in message and "500 B free" in message
    assert "teacher_cache: false" in message
    assert not list((teacher_cache.subdir("teacher_cache")).iterdir())  # nothing was started


def test_an_old_format_or_damaged_cache_is_rebuilt(teacher, toy_task, split):
    folder = teacher_cache.subdir("teacher_cache") / teacher_cache.cache_key("minilm", split)
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps({"num_hidden": 7, "examples": len(split), "length": 16}))
    (folder / "hidden_0.npy").write_bytes(b"old")
    cache = _build(teacher, toy_task.spec, split, (1,))
    assert json.loads((folder / "meta.json").read_text())["format"] == teacher_cache.FORMAT
    assert _files(cache) == {"meta.json", "offsets.bin", "logits.bin", "hidden_1.bin"}
    with open(folder / "hidden_1.bin", "r+b") as damaged:  # cut short: a disk that filled up, say
        damaged.truncate(100)
    rebuilt = _build(teacher, toy_task.spec, split, (1,))
    assert rebuilt.disk_bytes() == rebuilt.layout.size((1,))
    _agree(rebuilt, teacher, toy_task.spec, split, [0, 1], (1,))


def test_a_span_cache_keeps_start_and_end_logits_per_real_token(split):
    spec = TaskSpec("toy-span", TaskType.SPAN, "toy spans")
    model = load_task_model("minilm-l6", spec).eval()
    cache = _build(model, spec, split, (2,))
    assert cache.layout.ragged_logits and cache.layout.logits_shape == (2,)
    assert cache.logits.shape == (cache.layout.tokens, 2)
    _agree(cache, model, spec, split, [4, 0, 11], (2,))


@pytest.mark.parametrize("task_type", [TaskType.CLASSIFICATION, TaskType.SPAN])
@pytest.mark.parametrize("resident", [True, False])
@pytest.mark.parametrize("layers", [(6, 0, 3), ()], ids=["states", "logits-only"])
def test_outputs_served_from_device_memory_or_streamed_ahead_are_the_mapped_ones(split, task_type, resident, layers):
    """The accelerator's two ways (the whole cache in its memory; rows streamed a batch ahead),
    run here on CPU: the live teacher's outputs, and exactly the values the host path reads.
    Hidden states in a mapping's order, not the files'; or none, as logit KD reads."""
    spec = TaskSpec("toy", task_type, "toy", ("neg", "pos") if task_type == TaskType.CLASSIFICATION else ())
    model = load_task_model("minilm-l6", spec).eval()
    cache = _build(model, spec, split, layers)
    batches = [[5, 1, 9, 40], [3, 2], [17, 0, 8]]
    cache.prefetch(np.asarray(batches[0]), "cpu", layers, resident=resident)
    cache.prefetch(np.asarray(batches[1]), "cpu", layers, resident=resident)  # the third comes unannounced
    for rows in batches:
        _agree(cache, model, spec, split, rows, layers, resident=resident)
        batch = collate(split, rows, 0)
        width = batch["input_ids"].shape[1]
        served = cache.lookup(batch["index"], width, "cpu", layers, resident=resident)
        mapped = cache.lookup(batch["index"], width, "cpu", layers)
        for a, b in zip(
            [*served.logits, *served.hidden_states.values()],
            [*mapped.logits, *mapped.hidden_states.values()],
            strict=True,
        ):
            assert torch.equal(a, b)
    kind = DeviceRows if resident else StreamedRows
    assert [type(s) for s in cache._served.values()] == [kind]


TRAIN = {"epochs": 1, "batch_size": 16, "lr": 1e-3, "max_length": 16}


def test_runs_cache_what_their_mapping_reads_or_run_the_teacher_live(toy_task, monkeypatch):
    monkeypatch.setattr(engine_run, "TEACHER_SETTINGS", TrainSettings(epochs=1, batch_size=16, lr=1e-4, max_length=16))
    root = teacher_cache.subdir("teacher_cache")
    base = {"dataset": "toy", "student": "tiny", "train": TRAIN}
    engine_run.run(parse_config({**base, "mapping": None, "inter_loss": None}), task=toy_task, show_progress=False)
    (folder,) = root.iterdir()
    assert not list(folder.glob("hidden_*"))  # a logits-only run builds only logits
    skip = parse_config({**base, "mapping": "skip", "inter_loss": "mse"})
    engine_run.run(skip, task=toy_task, show_progress=False)
    assert sorted(p.name for p in folder.glob("hidden_*")) == ["hidden_0.bin", "hidden_3.bin", "hidden_6.bin"]

    live = parse_config({**base, "mapping": "skip", "inter_loss": "mse", "teacher_cache": False})
    stamp = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    result = engine_run.run(live, task=toy_task, show_progress=False)
    assert 0.0 <= result.student_score <= 1.0
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamp and len(list(root.iterdir())) == 1
    # the live teacher is a run of its own; the default leaves run ids as they were before the field
    assert run_id(live.model_copy(update={"teacher_cache": True}), "distill") != run_id(live, "distill")
    assert run_id(parse_config(EARLIER_DEFAULT), "distill") == "7caa1ca70dff"


def test_the_command_line_switches_the_cache_off():
    import typer
    from typer.testing import CliRunner

    from cli.options import SchemaFlags, with_flags
    from engine import DistillConfig

    app, seen = typer.Typer(), []

    @app.command()
    @with_flags(pipeline=SchemaFlags.of(DistillConfig, "teacher_cache"))
    def command(pipeline=None) -> None:
        seen.append(pipeline)

    for args in (["--no-teacher-cache"], ["--teacher-cache"], []):
        assert CliRunner().invoke(app, args).exit_code == 0
    assert seen == [{"teacher_cache": False}, {"teacher_cache": True}, {}]  # unset: a config file's value applies
