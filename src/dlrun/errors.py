"""Errors that are the user's to fix: shown as one paragraph and exit code 2, never a traceback."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable

USER_ERROR_EXIT_CODE = 2


def user_error(message: str) -> int:
    """Print a user error as one paragraph on stderr and return the exit code for it."""
    print(f"Error: {message}", file=sys.stderr, flush=True)
    return USER_ERROR_EXIT_CODE


class DlrunError(Exception):
    """A problem with what the user asked for (config, data, paths), not a bug in dlrun."""


class ConfigError(DlrunError):
    """The composed config names something that does not exist or cannot work."""


class TrainingDiverged(DlrunError):
    """The training loss became NaN or infinite: the run stops at once (status `diverged`)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' Did you mean X?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" Did you mean {close[0]}?" if close else ""


def unknown_choice(what: str, value: object, choices: Iterable[str]) -> ConfigError:
    """The error for a name that is not one of the valid choices."""
    choices = sorted(str(c) for c in choices)
    return ConfigError(
        f"Unknown {what} '{value}'. Valid choices: {', '.join(choices)}.{did_you_mean(str(value), choices)}"
    )


def check_known_options(group: str, options: Iterable[str], known: Iterable[str]) -> None:
    """A ConfigError naming the first of `options` that is not in `known`, e.g. group "data.augment"."""
    known = list(known)
    for key in options:
        if key not in known:
            raise ConfigError(f"Unknown {group} option '{key}'. Options: {', '.join(known)}.{did_you_mean(key, known)}")
