"""User-facing errors.

Every problem caused by the user's input (a missing file, a malformed row, an unknown
model name, a corrupt checkpoint) raises a :class:`HarlabError` subclass with one clear
message naming the file and the problem. The CLI prints that message without a
traceback and exits with a non-zero code; programming errors keep their tracebacks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HarlabError(Exception):
    """Base class for errors caused by user input; ``exit_code`` is used by the CLI."""

    exit_code = 2


class DataError(HarlabError):
    """A dataset file is missing, malformed or inconsistent."""


class ConfigError(HarlabError):
    """A configuration value or name is invalid."""


class CheckpointError(HarlabError):
    """A checkpoint or run directory is missing, corrupt or foreign."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return a ' Did you mean ...?' hint for ``name`` among ``choices`` ('' if none)."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> ConfigError:
    """Build the standard 'unknown X' error listing the valid choices and a suggestion."""
    choices = sorted(choices)
    return ConfigError(
        f"unknown {kind} '{name}'.{suggest(name, choices)} Available: {', '.join(choices)}"
    )
