"""Tracking survives a kill: a run killed with SIGKILL after a checkpoint and rerun holds every
step exactly once, in MLflow's store and in TensorBoard's event files as TensorBoard reads them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch
from mlflow import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

STEPS = 24  # 2 epochs of 12 batches
_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    sys.path.insert(0, {tests!r})
    from conftest import toy_frame
    from engine.config import TrainSettings
    from engine.tasks.spec import TaskSpec, TaskType
    from engine.kd.objective import SupervisedObjective
    from engine.tasks import encode_split
    from engine.models.zoo import build_student, load_tokenizer
    from engine.tracking import open_tracking
    from engine.training.callbacks import TrainerCallback
    from engine.training.trainer import Trainer

    class Pace(TrainerCallback):
        # slows the loop (when asked) and says how far it got, so the parent can kill it past a checkpoint
        def on_batch_begin(self, state, position, batch):
            if len(sys.argv) > 2:
                time.sleep(0.3)
        def on_step_end(self, state, logs):
            Path(sys.argv[1], "progress").write_text(str(state.step))

    torch.set_num_threads(1)
    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "toy", ("neg", "pos"))
    tokenizer = load_tokenizer("minilm-l6")
    train = encode_split(toy_frame(96, 0), spec, tokenizer, 16, train=True)
    dev = encode_split(toy_frame(32, 1), spec, tokenizer, 16, train=False)
    torch.manual_seed(0)
    model = build_student("tiny", "minilm-l6", spec)
    settings = TrainSettings(epochs=2, batch_size=8, lr=1e-3, checkpoint_every=5, max_length=16)
    work = Path(sys.argv[1])
    with open_tracking(("mlflow", "tensorboard"), work / "tracking", "t", {{"lr": 0.001}}) as tracking:
        trainer = Trainer(model, spec, train, dev, settings, SupervisedObjective(spec), work / "train",
                          tokenizer.pad_token_id, show_progress=False, callbacks=[tracking, Pace()])
        trainer.fit()
    """
)


def _start(script: Path, work: Path, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the run's own store
    return subprocess.Popen([sys.executable, str(script), str(work), *extra], env=env, stderr=subprocess.PIPE)


def _kill_past_a_checkpoint(proc: subprocess.Popen, work: Path) -> tuple[int, int]:
    """SIGKILL once a checkpoint is on disk and two steps past it are logged; (its step, last step)."""
    checkpoint, progress = work / "train" / "checkpoint.pt", work / "progress"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        done = int(progress.read_text() or 0) if progress.exists() else 0
        if checkpoint.exists() and done >= 7:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return torch.load(checkpoint, weights_only=False)["position"]["step"], int(progress.read_text())


def test_a_killed_and_resumed_run_logs_every_step_exactly_once(tmp_path):
    script, work = tmp_path / "train.py", tmp_path / "run"
    script.write_text(_SCRIPT.format(tests=str(Path(__file__).parent)))
    saved, reached = _kill_past_a_checkpoint(_start(script, work, "slow"), work)
    assert 0 < saved < reached < STEPS  # killed mid-run, with steps logged after its checkpoint

    rerun = _start(script, work)
    _, errors = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, errors.decode()[-2000:]

    client = MlflowClient(tracking_uri=f"sqlite:///{work}/tracking/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("autodistill").experiment_id])
    assert run.info.status == "FINISHED"
    for name, steps in (("train/loss", range(1, STEPS + 1)), ("dev/accuracy", (12, 24))):
        logged = sorted(m.step for m in client.get_metric_history(run.info.run_id, name))
        assert logged == list(steps), name  # nothing lost with the killed process, nothing twice

    files = sorted((work / "tracking" / "tensorboard").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(work / "tracking" / "tensorboard")).Reload()
    assert len(files) >= 2  # the killed session's file and the rerun's
    for name, steps in (("train/loss", range(1, STEPS + 1)), ("dev/accuracy", (12, 24))):
        assert [e.step for e in events.Scalars(name)] == list(steps), name
