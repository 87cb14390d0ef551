"""The machine's CPU cores shared among the autodistill processes running on it.

PyTorch, NumPy's BLAS and LightGBM each start one OpenMP thread per core. Two or three commands
on one machine (a sweep beside ``recommend`` beside the test suite) then run several times as
many threads as cores, and each slows many-fold: ``recommend``'s cost model took 19 s alone and
over 1,000 s beside two other processes on two cores. So each command, as it starts, notes its
process id in a folder every process on the machine sees and takes an even share of the cores
among the processes noted there and still alive. It is set before PyTorch or NumPy load (their
thread pools read it once), and a user's own ``OMP_NUM_THREADS`` is left as given. A process that
starts workers later (a sweep's trials) asks :func:`core_share` again at each start, so a sweep
begun alone gives up half the cores to a command started beside it, and takes them back after.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from pathlib import Path

from engine.paths import process_alive

#: The variables OpenMP, MKL and OpenBLAS read for their thread counts when they load.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Set beside them when :func:`share_cores` set them: the thread count is ours to revise, not the user's.
SHARED = "AUTODISTILL_SHARED_CORES"


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def registry() -> Path:
    """Where the running processes note themselves: one folder per user for the whole machine."""
    return Path(tempfile.gettempdir()) / f"autodistill-processes-{os.getuid() if hasattr(os, 'getuid') else 0}"


def share_cores(folder: Path | None = None) -> int | None:
    """Note this process among the machine's autodistill processes and cap its threads to its share
    of the cores; returns the threads set (None: the user set ``OMP_NUM_THREADS``, or no place to
    note processes, so the libraries keep their defaults)."""
    if "OMP_NUM_THREADS" in os.environ:
        return None
    folder = folder or registry()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        mine = folder / str(os.getpid())
        mine.touch()
    except OSError:
        return None
    atexit.register(_forget, mine)
    threads = max(1, available_cpus() // len(live_processes(folder)))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    os.environ[SHARED] = "1"
    return threads


def core_share() -> int:
    """This process's share of the cores now: the user's ``OMP_NUM_THREADS`` where they set one, else an
    even split among the noted processes alive now (all the cores for a process that never noted itself)."""
    if "OMP_NUM_THREADS" in os.environ and SHARED not in os.environ:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    folder = registry()
    noted = len(live_processes(folder)) if folder.is_dir() else 0
    return max(1, available_cpus() // max(1, noted))


def live_processes(folder: Path) -> list[int]:
    """The noted process ids still running; the notes of processes gone (killed) are removed."""
    alive = []
    for note in folder.iterdir():
        if note.name.isdigit() and process_alive(int(note.name)):
            alive.append(int(note.name))
        else:
            _forget(note)
    return alive


def _forget(note: Path) -> None:
    with contextlib.suppress(OSError):
        note.unlink()
