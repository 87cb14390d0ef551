"""Runs that share a home: two real processes at once both finish, and the work they share is done once.

Each test starts two Python processes on one ``AUTODISTILL_HOME``. They meet at a start line
(a file each writes, then waits for the other's) and the shared work is slowed down, so the
second process always arrives while the first is still at it: without the locks both would
train the teacher, or the second would find a cache without its hidden states.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_PRELUDE = """
import os, sys, time, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
OUT, ME = {out!r}, sys.argv[1]

def start_line():
    open(os.path.join(OUT, "ready-" + ME), "w").close()
    while len([f for f in os.listdir(OUT) if f.startswith("ready-")]) < 2:
        time.sleep(0.05)

def counted(module, name, marker):
    '''Wrap module.name: each call adds a line to OUT/marker and takes a second longer.'''
    real = getattr(module, name)
    def wrapper(*args, **kwargs):
        with open(os.path.join(OUT, marker), "a") as handle:
            handle.write(ME + "\\n")
        time.sleep(1.5)
        return real(*args, **kwargs)
    setattr(module, name, wrapper)
"""

_FINETUNE = """
import engine.teachers.finetune as finetune
from conftest import toy_task_data
from engine.config import TrainSettings

counted(finetune, "train_supervised", "fine-tunes")
settings = TrainSettings(epochs=1, batch_size=32, lr=1e-4, max_length=16)
start_line()
result = finetune.finetune_teacher("minilm-l6", toy_task_data(), settings, show_progress=False)
print("DONE", result.model_dir)
"""

_CACHE = """
import engine.kd.teacher_cache as teacher_cache
from conftest import toy_task_data
from engine.tasks import encode_split
from engine.tasks.encoding import collate
from engine.models.zoo import load_task_model, load_tokenizer

counted(teacher_cache, "_teacher_pass", "teacher-passes")
task = toy_task_data()
split = encode_split(task.train, task.spec, load_tokenizer("minilm-l6"), 16, train=True)
teacher = load_task_model("minilm-l6", task.spec).eval()
layers = (3,) if ME == "a" else (0, 5, 6)
start_line()
cache = teacher_cache.TeacherCache.build_or_load(teacher, "minilm", task.spec, split, 0, layers=layers,
                                                 show_progress=False)
batch = collate(split, [0, 1, 2], 0)
served = cache.lookup(batch["index"], batch["input_ids"].shape[1], "cpu", layers)
print("DONE", sorted(served.hidden_states), "cache holds", list(cache.layers))
"""

_SWEEP = """
import engine.pipelines.run as engine_run
from autodistill import sweep
from autodistill.bridge import make_budget
from autodistill.store.database import RunStore
from conftest import toy_task_data
from engine.config import TrainSettings

engine_run.TEACHER_SETTINGS = TrainSettings(epochs=1, batch_size=32, lr=1e-4, max_length=16)
counted(engine_run, "_train", "trainings")
tasks = {{"toy": toy_task_data()}}
budget = make_budget(epochs=1, batch_size=32, max_length=16)
# each sweep draws its own configuration (not run here); the student's no-KD baseline is the one they share
trials = sweep.plan(tasks, ["tiny"], 1, seed=ME == "b", budget=budget)
trials = [t for t in trials if t.kind == "finetune"]
start_line()
with RunStore(os.path.join(OUT, "runs.sqlite")) as store:
    report = sweep.run_trials(trials, store, featurizer_version="v", tasks=tasks, workers=0, show_progress=False)
print("DONE", [r.status for r in report.records.values()], report.ran)
"""


def _run_two(body: str, tmp_path: Path) -> list[str]:
    """Run ``body`` in two processes ("a", "b") on one fresh home; both must exit 0. Their stdout+stderr."""
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "job.py"
    tests = str(Path(__file__).parent)
    script.write_text(textwrap.dedent(_PRELUDE + body).format(tests=tests, out=str(out)))
    env = {**os.environ, "AUTODISTILL_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(tests).parent), env.get("PYTHONPATH")]))
    jobs = [
        subprocess.Popen(
            [sys.executable, str(script), me], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for me in ("a", "b")
    ]
    try:
        outputs = [job.communicate(timeout=600)[0] for job in jobs]
    finally:
        for job in jobs:
            job.kill()  # a process still running (a deadlock, a failed assertion above) goes with the test
    for job, output in zip(jobs, outputs, strict=True):
        assert job.returncode == 0, output[-3000:]
        assert "DONE" in output, output[-3000:]
    return outputs


def _calls(tmp_path: Path, marker: str) -> list[str]:
    return (tmp_path / "out" / marker).read_text().split()


def _waited(outputs: list[str]) -> int:
    return sum("waiting for another process" in output for output in outputs)


def test_two_runs_fine_tune_one_teacher_once_and_both_get_it(tmp_path: Path) -> None:
    outputs = _run_two(_FINETUNE, tmp_path)
    assert len(_calls(tmp_path, "fine-tunes")) == 1
    assert _waited(outputs) == 1
    folders = {
        line.split("DONE ", 1)[1].strip() for output in outputs for line in output.splitlines() if "DONE" in line
    }
    assert len(folders) == 1 and (Path(folders.pop()) / "config.json").exists()


def test_two_runs_asking_different_states_of_one_cache_both_get_theirs(tmp_path: Path) -> None:
    outputs = _run_two(_CACHE, tmp_path)
    assert "DONE [3]" in outputs[0] and "DONE [0, 5, 6]" in outputs[1]
    assert len(_calls(tmp_path, "teacher-passes")) == 2  # a build, then one pass adding the other's states
    (folder,) = [p for p in (tmp_path / "home" / "teacher_cache").iterdir() if p.is_dir()]
    assert sorted(p.name for p in folder.glob("hidden_*.bin")) == [f"hidden_{i}.bin" for i in (0, 3, 5, 6)]


def test_two_sweeps_on_one_store_train_their_shared_baseline_once(tmp_path: Path) -> None:
    outputs = _run_two(_SWEEP, tmp_path)
    assert all("DONE ['done'] 1" in output for output in outputs)
    assert len(_calls(tmp_path, "trainings")) == 1
    assert _waited(outputs) == 1
