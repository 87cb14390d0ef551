"""Several autodistill processes on one machine split its cores instead of each taking all of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import cores


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*cores.THREAD_VARIABLES, cores.SHARED):
        monkeypatch.setenv(name, "0")  # recorded, so what share_cores sets is undone after the test
        monkeypatch.delenv(name)
    monkeypatch.setattr(cores, "available_cpus", lambda: 8)


def test_a_process_takes_its_share_among_the_live_ones_and_stale_notes_go(unset, tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / str(sleeper.pid)).touch()  # another command at work
        (tmp_path / "999999999").touch()  # one killed without a goodbye
        assert cores.share_cores(tmp_path) == 4
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "4"
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([str(sleeper.pid), str(os.getpid())])
    finally:
        sleeper.kill()


def test_a_users_own_thread_count_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cores.share_cores(tmp_path) is None and os.environ["OMP_NUM_THREADS"] == "3"
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_takes_its_share_before_torch_loads(tmp_path: Path) -> None:
    """A real command beside another live one: PyTorch, loaded after it, runs half the cores."""
    env = {k: v for k, v in os.environ.items() if k not in cores.THREAD_VARIABLES} | {"TMPDIR": str(tmp_path)}
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = tmp_path / cores.registry().name
        folder.mkdir()
        (folder / str(sleeper.pid)).touch()
        code = (
            "import sys, cli\n"
            "try:\n    cli.app(['data', 'list'])\nexcept SystemExit:\n    pass\n"
            "import json, os, torch\n"
            "print(json.dumps([os.environ['OMP_NUM_THREADS'], torch.get_num_threads()]))"
        )
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    finally:
        sleeper.kill()
    share = max(1, cores.available_cpus() // 2)
    assert json.loads(run.stdout.splitlines()[-1]) == [str(share), share]
    assert [p.name for p in folder.iterdir()] == [str(sleeper.pid)], "the command's note goes when it ends"


def test_the_share_is_read_again_as_processes_come_and_go(unset, monkeypatch, tmp_path: Path) -> None:
    """A sweep begun alone gives up half the cores to a command started beside it, and takes them back."""
    monkeypatch.setattr(cores, "registry", lambda: tmp_path)
    assert cores.share_cores(tmp_path) == 8 and cores.core_share() == 8
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / str(sleeper.pid)).touch()
        assert cores.core_share() == 4
    finally:
        sleeper.kill()
        sleeper.wait()
    assert cores.core_share() == 8


def test_a_users_thread_count_is_the_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv(cores.SHARED, raising=False)
    monkeypatch.setattr(cores, "registry", lambda: tmp_path)
    (tmp_path / str(os.getpid())).touch()
    assert cores.core_share() == 3
