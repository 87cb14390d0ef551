"""User-facing errors.

Every mistake a user can make (unknown name, bad file, bad column, bad value)
raises :class:`AutodistillError` with a single line that names the bad value and,
where there is a closed set, the valid choices. The CLI prints the message and
exits with status 2 instead of a traceback.
"""

from __future__ import annotations


class AutodistillError(Exception):
    """A mistake in user input or environment, explained in one line."""


def choices_error(kind: str, value: object, valid: list[str] | tuple[str, ...]) -> AutodistillError:
    """Build the standard "unknown X 'v'; choose one of a, b, c" error."""
    listed = ", ".join(sorted(valid))
    return AutodistillError(f"unknown {kind} {value!r}; choose one of: {listed}")


def clipped(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with ``...`` where longer: a quoted value stays one line."""
    return text if len(text) <= width else text[: width - 3] + "..."
