"""Ctrl-C ends a long command with one line saying where it stopped, and exit status 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import toy_frame


def test_ctrl_c_on_a_run_says_where_it_stopped_and_exits_130(tmp_path: Path) -> None:
    data = tmp_path / "toy.csv"
    toy_frame(200, 0).to_csv(data, index=False)
    command = [sys.executable, "-c", "import cli; cli.app()", "run", "--dataset", str(data), "--student", "tiny",
               "--epochs", "50", "--output", str(tmp_path / "run")]  # fmt: skip
    env = {**os.environ, "AUTODISTILL_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # the first progress line: the work is under way
        line = process.stderr.readline()
        lines.append(line)
        if ": step " in line or not line:
            break
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 130, "".join(lines) + rest
    last = rest.strip().splitlines()[-1]
    assert last.startswith("interrupted at step ") and last.endswith("rerun the same command to resume")
