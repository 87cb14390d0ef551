"""Several processes (DDP over gloo on CPU, the code path several GPUs take) train one model.

Two ``torchrun`` processes distil on the toy task; each shard of the data differs, so
anything not averaged across processes — the student, the objective's projections and
MI critics, a learned team's θ — would end up different in the two. A learned team also
counts its steps from the trainer's schedule: each process makes ⌈⌈n/P⌉/batch⌉ objective
calls per epoch, so with N counted from the whole split phase 1 would never end.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoModelForSequenceClassification

from engine.training.schedule import shard

_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, torch
    sys.path.insert(0, {tests!r})
    from conftest import toy_frame
    import engine.pipelines.run as engine_run
    import engine.training.trainer as trainer
    from engine.components import parse_config
    from engine.config import TrainSettings
    from engine.data.schema import TaskData
    from engine.tasks.spec import TaskSpec, TaskType

    torch.set_num_threads(1)
    # one file per process: print() writes a line and its newline apart, so two processes
    # sharing one pipe can interleave their lines
    LOG = open(os.path.join({out!r}, "rank-" + os.environ["RANK"]), "w", buffering=1)
    engine_run.TEACHER_SETTINGS = TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16)
    fit = trainer.Trainer.fit
    def checked_fit(self):
        out = fit(self)
        weights = lambda modules: sum(float(p.double().sum()) for m in modules for p in m.parameters())
        student = weights([self.accelerator.unwrap_model(self.student)])
        extras = weights(self.objective.trainable_modules())
        LOG.write(f"FIT {{self.description}}: {{student:.8f}} {{extras:.8f}}\\n")
        return out
    trainer.Trainer.fit = checked_fit

    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "toy", ("neg", "pos"))
    task = TaskData(spec, toy_frame(96, 0), toy_frame(32, 1), toy_frame(32, 2))
    train = {{"epochs": 1, "batch_size": 16, "lr": 1e-3, "max_length": 16}}
    kd = parse_config({{"dataset": "toy", "student": "tiny", "inter_loss": "mi", "mapping": "skip",
                       "augment": "mixup", "train": train}})
    engine_run.run(kd, task=task, show_progress=False)
    # 48 student rows, 24 per process, batches of 8: 3 calls per epoch, N = 6 calls in the run
    team_train = {{**train, "epochs": 2, "batch_size": 8}}
    team = parse_config({{"dataset": "toy", "student": "tiny", "train": team_train, "team": {{
        "teachers": ["minilm-l6", "minilm-l6:layers=0,1"], "mode": "learned", "drop_m": 1, "candidates": 3}}}})
    learned = engine_run.run(team, task=task, show_progress=False).team
    LOG.write(f"THETA {{learned['theta']}}\\n")
    keys = ("steps", "phase1_steps", "selected_theta", "dropped", "candidates")
    LOG.write(f"TEAM {{json.dumps({{k: learned[k] for k in keys}})}}\\n")
    """
)


@pytest.mark.parametrize(("n", "processes"), [(33, 2), (10, 4), (8, 2), (5, 1)])
def test_every_process_gets_an_equal_shard_and_together_they_cover_the_epoch(n, processes):
    order = np.random.default_rng(0).permutation(n)
    shards = [shard(order, rank, processes) for rank in range(processes)]
    assert {len(s) for s in shards} == {-(-n // processes)}  # equal: the same number of DDP calls
    assert set(np.concatenate(shards).tolist()) == set(range(n))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_keep_every_trained_weight_in_step(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path)))
    env = {**os.environ, "AUTODISTILL_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
    ]
    out = subprocess.run([*command, str(script)], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]

    logs = [(tmp_path / f"rank-{rank}").read_text() for rank in (0, 1)]
    fits = [re.findall(r"^FIT (.+): (.+)$", log, re.M) for log in logs]  # per rank, in order
    whats = [what for what, _ in fits[0]]
    # teacher, KD student, then the team: a second teacher and its student
    assert len(whats) == 4 and whats[:2] == ["fine-tuning minilm-l6 on toy", "distill tiny on toy"], logs[0]
    assert fits[0] == fits[1], "the processes' weights differ"

    thetas = [re.findall(r"^THETA (.+)$", log, re.M) for log in logs]
    assert len(thetas[0]) == 1 and thetas[0] == thetas[1], logs
    reports = [re.findall(r"^TEAM (.+)$", log, re.M) for log in logs]
    assert len(reports[0]) == 1 and reports[0] == reports[1], logs
    learned = json.loads(reports[0][0])
    # Algorithm 1 with N from the trainer's schedule: selection before call ⌈N/2⌉ = 3, three candidates
    assert learned["selected_theta"] is not None and len(learned["dropped"]) == 1, learned
    assert [c["step"] for c in learned["candidates"]] == [4, 5, 6], learned
    assert (learned["steps"], learned["phase1_steps"]) == (6, 3), learned

    finished = sorted((tmp_path / "home" / "runs" / "toy").glob("*/result.json"))
    assert len(finished) == 2, out.stdout  # the KD run and the team run, each written once
    for result in finished:
        assert json.loads(result.read_text())["kind"] == "distill"
        assert not (result.parent / "work").exists()
    run_dir = finished[0].parent
    AutoModelForSequenceClassification.from_pretrained(run_dir / "student")
