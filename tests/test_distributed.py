"""Several processes (DDP over gloo on CPU, the code path several GPUs take) train one model.

Two ``torchrun`` processes distil on the toy task; each shard of the data differs, so
anything not averaged across processes — the student, the objective's projections and
MI critics, a learned team's θ — would end up different in the two.
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

from transformers import AutoModelForSequenceClassification

_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    sys.path.insert(0, {tests!r})
    from conftest import toy_frame
    import engine.pipelines.run as engine_run
    import engine.training.trainer as trainer
    from engine.components import parse_config
    from engine.config import TrainSettings
    from engine.data.schema import TaskData, TaskSpec, TaskType

    torch.set_num_threads(1)
    engine_run.TEACHER_SETTINGS = TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16)
    fit = trainer.Trainer.fit
    def checked_fit(self):
        out = fit(self)
        weights = lambda modules: sum(float(p.double().sum()) for m in modules for p in m.parameters())
        student = weights([self.accelerator.unwrap_model(self.student)])
        extras = weights(self.objective.trainable_modules())
        rank = self.accelerator.process_index
        print(f"FIT {{rank}} {{self.description}}: {{student:.8f}} {{extras:.8f}}", flush=True)
        return out
    trainer.Trainer.fit = checked_fit

    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "toy", ("neg", "pos"))
    task = TaskData(spec, toy_frame(96, 0), toy_frame(32, 1), toy_frame(32, 2))
    train = {{"epochs": 1, "batch_size": 16, "lr": 1e-3, "max_length": 16}}
    kd = parse_config({{"dataset": "toy", "student": "tiny", "inter_loss": "mi", "mapping": "skip",
                       "augment": "mixup", "train": train}})
    engine_run.run(kd, task=task, show_progress=False)
    team = parse_config({{"dataset": "toy", "student": "tiny", "train": train, "team": {{
        "teachers": ["minilm-l6", "minilm-l6:layers=0,1"], "mode": "learned", "drop_m": 0}}}})
    print("THETA", engine_run.run(team, task=task, show_progress=False).team["theta"], flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_keep_every_trained_weight_in_step(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(_SCRIPT.format(tests=str(Path(__file__).parent)))
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

    fits: dict[str, list[tuple[str, str]]] = {"0": [], "1": []}  # per rank, in order
    for rank, what, weights in re.findall(r"^FIT (\d) (.+): (.+)$", out.stdout, re.M):
        fits[rank].append((what, weights))
    whats = [what for what, _ in fits["0"]]
    # teacher, KD student, then the team: a second teacher and its student
    assert len(whats) == 4 and whats[:2] == ["fine-tuning minilm-l6 on toy", "distill tiny on toy"], out.stdout
    assert fits["0"] == fits["1"], "the processes' weights differ"

    thetas = re.findall(r"^THETA (.+)$", out.stdout, re.M)
    assert len(thetas) == 2 and thetas[0] == thetas[1], out.stdout

    finished = sorted((tmp_path / "home" / "runs" / "toy").glob("*/result.json"))
    assert len(finished) == 2, out.stdout  # the KD run and the team run, each written once
    for result in finished:
        assert json.loads(result.read_text())["kind"] == "distill"
        assert not (result.parent / "work").exists()
    run_dir = finished[0].parent
    AutoModelForSequenceClassification.from_pretrained(run_dir / "student")
