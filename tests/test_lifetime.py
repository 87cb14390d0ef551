"""Workers exit when the process that started them dies without shutting them down."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from engine.lifetime import exit_with_parent

SPAWN = multiprocessing.get_context("spawn")


def _start_a_worker_then_idle(pids: multiprocessing.Queue) -> None:
    pool = ProcessPoolExecutor(1, mp_context=SPAWN, initializer=exit_with_parent)
    pids.put(pool.submit(os.getpid).result())
    time.sleep(300)


def _alive(pid: int) -> bool:
    """Running, not gone and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _orphan_outlives_parent() -> bool:
    pids = SPAWN.Queue()
    owner = SPAWN.Process(target=_start_a_worker_then_idle, args=(pids,))
    owner.start()
    worker = pids.get(timeout=120)
    try:
        os.kill(owner.pid, signal.SIGKILL)  # dies without shutting its pool down
        owner.join()
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        return _alive(worker)
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)


def test_a_guarded_worker_exits_when_its_owner_is_killed() -> None:
    # Without the guard this worker idles on forever (its pool's pipe never reports EOF).
    assert not _orphan_outlives_parent()
