"""A task type added by one module (tests/ordinal_task.py) and its registration runs end to end:
a distillation run, the data set features recommend reads, and a row of the study's tables.

It runs in a fresh interpreter, so the registry of the test process keeps only the built-in types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent

SCRIPT = """
import json, sys
import numpy as np, pandas as pd
import ordinal_task  # noqa: F401  (registers the 'ordinal' task type)
import engine.pipelines.run as engine_run
from autodistill.bridge import record_from_result
from autodistill.features.baseline import BaselineSettings
from autodistill.features.featurize import featurize, featurizer_version
from autodistill.store.database import RunStore
from engine import TaskData, TaskSpec, TrainSettings, parse_config
from study import tables

WORDS = ["awful poor bad", "fine fair okay", "great superb excellent"]

def frame(n, seed):
    rng = np.random.default_rng(seed)
    grades = rng.integers(0, 3, n)
    texts = [" ".join(rng.choice(WORDS[g].split(), 4)) + " review" for g in grades]
    return pd.DataFrame({"text": texts, "label": grades})

spec = TaskSpec("grades", "ordinal", "How good is this toy review: low, mid or high?", ("low", "mid", "high"))
task = TaskData(spec, frame(96, 0), frame(32, 1), frame(32, 2))
engine_run.TEACHER_SETTINGS = TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16)
train = {"epochs": 2, "batch_size": 16, "lr": 1e-3, "max_length": 16}
config = parse_config({"dataset": "grades", "student": "tiny", "train": train, "inter_loss": None, "mapping": None})
result = engine_run.run(config, task=task, show_progress=False)
words = sorted({w for text in WORDS for w in text.split()} | {"review", "how", "good", "toy", "low", "mid", "high"})
rng = np.random.default_rng(0)
features = featurize(task, others=[], baseline=BaselineSettings(epochs=5, hidden=16),
                     vectors={w: rng.normal(size=8) for w in words})
store = RunStore(sys.argv[1])
store.add_run(record_from_result(result, featurizer_version=featurizer_version("bilstm")))
row = tables.kd_summary(store.runs(), store.trials()).loc[("grades", "tiny")]
print(json.dumps({
    "metric": result.metric, "kind": result.task_kind, "ratio": result.ratio,
    "metrics": sorted(result.student_dev_metrics), "baseline": features.baseline_score,
    "feature_kind": features.task_kind, "row_runs": int(row["runs"]), "row_best": float(row["best KD ratio"]),
}))
"""


def test_a_task_type_in_one_module_runs_featurizes_and_reports(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "runs.sqlite")],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["metric"] == "within_one" and out["kind"] == "ordinal"
    assert out["metrics"] == ["accuracy", "within_one"]
    assert 0 < out["ratio"] <= 1.5
    assert out["feature_kind"] == "ordinal" and 0 <= out["baseline"] <= 1
    assert out["row_runs"] == 1 and out["row_best"] > 0
