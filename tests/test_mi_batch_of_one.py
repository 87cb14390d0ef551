"""MI-α on an epoch whose last batch holds one example.

MI-α scores each example against the others of its batch, so a batch of one has no
negatives: the term is skipped for it (:mod:`engine.kd.losses.mi`). A training split
whose per-process size is ≡ 1 (mod batch size) must train to the end, with one
process and with two (DDP over gloo, as ``tests/test_distributed.py`` launches it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import engine.pipelines.run as engine_run
from engine.components import parse_config
from engine.config import TrainSettings
from engine.kd.losses.mi import MIAlphaLoss

TINY_TEACHER = TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16)
# 33 examples in batches of 16: 16, 16, then 1.
TRAIN = {"epochs": 2, "batch_size": 16, "lr": 1e-3, "max_length": 16, "max_train_examples": 33}


@pytest.mark.parametrize("mapping", ["skip", "emd"])
def test_one_process_trains_through_a_last_batch_of_one(toy_task, mapping, monkeypatch):
    monkeypatch.setattr(engine_run, "TEACHER_SETTINGS", TINY_TEACHER)
    skipped = []
    forward = MIAlphaLoss.pairwise

    def counted(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        skipped.append(self.skipped)
        return out

    monkeypatch.setattr(MIAlphaLoss, "pairwise", counted)
    config = parse_config({"dataset": "toy", "student": "tiny", "mapping": mapping, "inter_loss": "mi", "train": TRAIN})
    result = engine_run.run(config, task=toy_task, show_progress=False)
    assert result.train_examples == 33 and len(result.history) == 2  # both epochs ended
    assert 0.0 <= result.student_score <= 1.0
    # skip: 3 layer pairs (embeddings and 2 layers) per batch of one; emd: the embedding pair and the matrix
    per_batch = 3 if mapping == "skip" else 2
    assert skipped[-1] == 2 * per_batch  # one batch of one per epoch, nothing else skipped


_SCRIPT = textwrap.dedent(
    """
    import os, sys, torch
    sys.path.insert(0, {tests!r})
    from conftest import toy_frame
    import engine.pipelines.run as engine_run
    from engine.components import parse_config
    from engine.config import TrainSettings
    from engine.data.schema import TaskData
    from engine.tasks.spec import TaskSpec, TaskType

    torch.set_num_threads(1)
    engine_run.TEACHER_SETTINGS = TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16)
    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "toy", ("neg", "pos"))
    task = TaskData(spec, toy_frame(96, 0), toy_frame(32, 1), toy_frame(32, 2))
    # 34 examples, 17 per process, batches of 16: each process ends its epoch on a batch of one
    train = {{"epochs": 2, "batch_size": 16, "lr": 1e-3, "max_length": 16, "max_train_examples": 34}}
    config = parse_config({{"dataset": "toy", "student": "tiny", "mapping": "skip", "inter_loss": "mi",
                           "train": train}})
    result = engine_run.run(config, task=task, show_progress=False)
    # one file per process: two processes printing to one pipe can interleave their lines
    with open(os.path.join({out!r}, "done-" + os.environ["RANK"]), "w") as handle:
        handle.write(f"{{len(result.history)}} {{result.student_score:.6f}}")
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_train_through_a_last_batch_of_one(tmp_path):
    script = tmp_path / "mi_one.py"
    script.write_text(_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path)))
    env = {**os.environ, "AUTODISTILL_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    command += ["--master_port", str(_free_port()), str(script)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    done = [(tmp_path / f"done-{rank}").read_text().split() for rank in (0, 1)]
    assert done[0] == done[1] and done[0][0] == "2", done  # both epochs, same student
