"""The one exception type for mistakes a user can make.

Anything raised as :class:`DCLError` is a user-facing problem (a bad name, value, shape or
file). The command line prints its message on one line and exits with status 2; programming
errors stay ordinary exceptions with tracebacks.
"""
from __future__ import annotations


class DCLError(Exception):
    """A user mistake: bad name, value, shape, file, or missing data."""


class DCLNote(UserWarning):
    """A one-line note for the user (e.g. which defaults a run without a preset falls back to).

    The Python API issues it with ``warnings.warn``; the command line prints it as
    ``dcl COMMAND: note: ...`` on stderr."""


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) made one space: messages
    that quote other libraries' errors stay one line."""
    return " ".join(str(text).split())


def choices_error(kind: str, value: object, valid: list[str] | tuple[str, ...]) -> DCLError:
    """Build the standard 'unknown X' error that names the bad value and the valid choices."""
    return DCLError(f"unknown {kind} {value!r}; valid choices: {', '.join(valid)}")
