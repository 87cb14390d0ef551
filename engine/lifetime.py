"""Worker processes that never outlive the process that started them.

Pools of spawned workers (augmentation, sweep trials) are shut down by their
owner, but an owner can die without shutting anything down: SIGKILL, an out-of-
memory kill, or a SIGTERM while Ctrl-C is ignored (as it is in background jobs,
so the owner's own interrupt handling never runs). Its workers would then idle
forever, holding memory. Each worker therefore watches its parent's process
sentinel from a daemon thread and exits as soon as the parent is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.connection import wait


def exit_with_parent() -> None:
    """In a multiprocessing child: exit at once when the parent process ends. No-op elsewhere."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)  # no cleanup to run: the work belonged to the dead parent

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
