"""Where autodistill keeps prepared data, caches and runs.

Everything derived (prepared splits, fine-tuned teachers, teacher-output caches)
lives under one home folder so that it can be inspected, moved or wiped at once.
``AUTODISTILL_HOME`` overrides the default ``~/.cache/autodistill``.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from engine.errors import AutodistillError

logger = logging.getLogger(__name__)

#: The repository's ``meta_data/`` folder: data cards and the meta-dataset.
META_DATA = Path(__file__).resolve().parent.parent / "meta_data"


_MOVE_HOME = "set AUTODISTILL_HOME to a folder you can write"


def home() -> Path:
    """The home folder, made on first use; one that cannot be made or written is refused in one line."""
    root = Path(os.environ.get("AUTODISTILL_HOME", Path.home() / ".cache" / "autodistill"))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AutodistillError(f"autodistill's home {root} cannot be made ({error.strerror}); {_MOVE_HOME}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise AutodistillError(f"autodistill's home {root} is not writable; {_MOVE_HOME}")
    if root not in _noted:
        _note_user(root)
    return root


#: Where each process that uses a home leaves a note, named by its machine and process id and holding its
#: command: clearing a cache asks who else may be reading it (:func:`other_users`).
USERS = ("locks", "users")
_noted: set[Path] = set()


def _note_name(pid: int) -> str:
    return f"{socket.gethostname()}-{pid}"


def _note_user(root: Path) -> None:
    """Note this process as a user of ``root`` until it exits (a killed one's note is told by its pid)."""
    _noted.add(root)
    note = root.joinpath(*USERS, _note_name(os.getpid()))
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(" ".join(sys.argv))
    atexit.register(_forget_user, note, os.getpid())


def _forget_user(note: Path, pid: int) -> None:
    if os.getpid() == pid:  # not a forked child's exit
        note.unlink(missing_ok=True)


def other_users() -> dict[str, str]:
    """The other live processes that use the home (``process 12`` on this machine, ``process 12 on
    node-b`` on another, whose liveness cannot be told here), with the command each ran; a note of a
    process of this machine that has ended goes."""
    found, host = {}, socket.gethostname()
    for note in home().joinpath(*USERS).iterdir():
        machine, _, pid = note.name.rpartition("-")
        if not pid.isdigit() or note.name == _note_name(os.getpid()):
            continue
        if machine == host and not process_alive(int(pid)):
            note.unlink(missing_ok=True)
            continue
        try:
            command = note.read_text(errors="replace")
        except FileNotFoundError:  # it exited since
            continue
        found[f"process {pid}" + ("" if machine == host else f" on {machine}")] = command
    return found


def subdir(*parts: str) -> Path:
    """A folder under :func:`home`, created on first use."""
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def exclusive(folder: Path, doing: str) -> Iterator[None]:
    """Hold ``folder``'s lock for the block: one process at a time does ``doing`` to ``folder``.

    Runs, sweeps and their workers share one home; without this, two of them would both
    train the same teacher or build the same cache, and one's work would be lost. A
    process that has to wait says so, naming the folder. The lock is the operating
    system's (``flock``), so a killed holder frees it; it is reentrant within a process.
    Lock files live in ``<home>/locks/``, out of the folders people and code list.
    """
    lock = _lock(folder)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        logger.warning("waiting for another process %s (%s)", doing, folder)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _lock(folder: Path) -> FileLock:
    where = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    return FileLock(subdir("locks") / f"{folder.name}-{where}.lock", is_singleton=True)


def remove_if_idle(entry: Path) -> bool:
    """Delete ``entry`` (a file or folder under the home) unless a process is building it now
    (holds its lock, or is the live owner of a ``.partial-<pid>-`` build): whether it went."""
    if (builder := partial_owner(entry)) is not None and process_alive(builder):
        return False
    lock = _lock(entry)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        return False
    try:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
        return True
    finally:
        lock.release()


def publish_folder(folder: Path, build: Callable[[Path], None], marker: str) -> None:
    """Build ``folder`` once, atomically, even when several processes try at the same time.

    The builds queue on the folder's lock, and one that finds ``marker`` (a file every
    complete folder holds) once it has the lock reuses what was published while it waited.
    The build fills a private ``<folder>.partial-<pid>-<random>`` folder and renames it
    into place, so readers never see half a folder. A killed build leaves only its
    partial folder, removed by the next attempt once its process is gone.
    """
    with exclusive(folder, f"building {folder.name}"):
        if not (folder / marker).exists():
            _publish(folder, build, marker)


def _publish(folder: Path, build: Callable[[Path], None], marker: str) -> None:
    _remove_abandoned_builds(folder)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    partial.mkdir(parents=True)
    try:
        build(partial)
        os.replace(partial, folder)  # atomic; refused when another build already published
    except OSError:
        if not (folder / marker).exists():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _remove_abandoned_builds(folder: Path) -> None:
    """Delete half-written builds of ``folder`` whose process is gone (killed mid-build)."""
    for partial in folder.parent.glob(f"{folder.name}.partial-*"):
        builder = partial_owner(partial)
        if builder is not None and not process_alive(builder):
            shutil.rmtree(partial, ignore_errors=True)


def partial_owner(entry: Path) -> int | None:
    """The process id in the name of a half-written ``<name>.partial-<pid>-<random>`` folder or file
    (None: not such a name)."""
    _, marker, rest = entry.name.rpartition(".partial-")
    pid = rest.split("-")[0]
    return int(pid) if marker and pid.isdigit() else None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def human_bytes(size: float) -> str:
    """``size`` bytes in decimal units, as a disk's free space is quoted."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
