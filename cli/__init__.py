"""The ``autodistill`` command line: one Typer app, a module per command group.

A command parses its flags, calls one library function (the engine's public API,
:mod:`autodistill`, or :mod:`study`) and renders the result (:mod:`cli.render`).
Options shared by several commands are declared once (:mod:`cli.options`); a run's
flags are generated from the config schema. User mistakes surface as
:class:`engine.AutodistillError` and are printed as one line (exit status 2)
rather than a traceback.

* :mod:`cli.data`   ``data``, ``models``, ``teacher``, ``cache``
* :mod:`cli.run`    ``run``, ``finetune``, ``augment``, ``predict``, ``export``, ``report``
* :mod:`cli.meta`   ``features``, ``runs``, ``evaluate``, ``importance``, ``sweep``, ``recommend``
* :mod:`cli.heldout` ``heldout`` (the picks against random and the fixed defaults, data set by data set)
* :mod:`cli.study`  ``study export``, ``study report``
"""

from __future__ import annotations

import errno
import sys
from functools import partial

import typer
from pydantic import ValidationError
from rich.console import Console

from cli import data, heldout, meta, run, study  # noqa: F401  (register the commands)
from cli.app import typer_app
from cli.options import flag_of
from engine import AutodistillError, format_validation_error

__all__ = ["app", "typer_app"]


def app(argv: list[str] | None = None) -> None:
    """Console entry point: run the Typer app, print user errors as one line."""
    from engine import share_cores

    share_cores()  # before PyTorch loads: several commands on one machine split its cores
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own rich bars report progress; HF's per-load bars are noise
    try:
        code = typer_app(args=argv, prog_name="autodistill", standalone_mode=False)
    except AutodistillError as exc:
        _fail(str(exc))
    except ValidationError as exc:  # settings built from flags outside a whole config (e.g. teacher train)
        typed = {arg.split("=", 1)[0] for arg in argv or sys.argv[1:]}
        _fail(format_validation_error(exc, exc.title, partial(flag_of, given=typed)))
    except (typer.Abort, KeyboardInterrupt):
        _interrupted()
    except typer.TyperException as exc:  # usage errors: an unknown command, a flag's bad value
        _fail(_usage_line(exc))
    except OSError as exc:
        if exc.errno not in DISK_TROUBLE:
            raise
        _fail(_disk_line(exc))
    # Outside standalone mode Typer turns Ctrl-C into a returned 130 (and ``typer.Exit(n)`` into n).
    if code == INTERRUPTED:
        _interrupted()
    if isinstance(code, int) and code:
        sys.exit(code)


#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def _interrupted() -> None:
    """One line saying where the work stopped, and exit status 130: ``run ... && deploy`` stops."""
    from engine import latest_position

    where = latest_position()
    at = f" at step {where.done} of {where.total} ({where.description})" if where else ""
    Console(stderr=True).print(
        f"interrupted{at}; rerun the same command to resume", highlight=False, markup=False, soft_wrap=True
    )
    sys.exit(INTERRUPTED)


#: What a read-only, locked-down or full disk raises, and what to do: the user's to fix, so one
#: line, not a traceback (any other OSError is a bug to see whole).
DISK_TROUBLE = {
    errno.EACCES: "no permission (check its and its folder's permissions)",
    errno.EPERM: "no permission (check its and its folder's permissions)",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device (free some space there)",
    errno.EDQUOT: "disk quota exceeded (free some space there)",
}


def _disk_line(exc: OSError) -> str:
    """Which path could not be used (where the error names one), why, and where to write instead."""
    import os

    elsewhere = "point AUTODISTILL_HOME (or the command's --out/--store) at a writable folder"
    if exc.filename is None:  # a write into a file already open: the error does not say which
        where = os.environ.get("AUTODISTILL_HOME", "~/.cache/autodistill")
        return (
            f"writing failed: {DISK_TROUBLE[exc.errno]}; check the disks of the command's --out/--store "
            f"and of the autodistill home ({where})"
        )
    return f"cannot use {exc.filename}: {DISK_TROUBLE[exc.errno]}; or {elsewhere}"


def _usage_line(exc: typer.TyperException) -> str:
    """Click's three-line usage error as one line, with where to read the command's help."""
    format_message = getattr(exc, "format_message", None)
    message = format_message() if format_message else str(exc)
    ctx = getattr(exc, "ctx", None)
    return f"{message} (see: {ctx.command_path} --help)" if ctx is not None else message


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)


if __name__ == "__main__":
    app()
