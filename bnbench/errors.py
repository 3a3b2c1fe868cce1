"""Errors a user can fix. The CLI turns these into one line on stderr and exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input: a scenario, a flag or a path. Its message is one line, shown without a traceback."""


class StorageError(UserError):
    """The results folder cannot be written (disk full, permissions): one line naming the file and the cause."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'; did you mean 'lr'?' when a close match exists, '' otherwise."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    # 'lr_rate' is far from 'lr' by edit ratio, but a key that begins the word is what a person meant.
    close = close or sorted((c for c in choices if word.startswith(c) or c.startswith(word)), key=len)[-1:]
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_name(kind: str, name: str, known: Iterable[str], aliases: dict[str, str] | None = None) -> UserError:
    """The error for a name missing from a registry: it lists what is registered. A name in `aliases` (a common
    spelling -> the registered name) suggests the name it stands for, not merely the closest spelling."""
    known = sorted(known)
    alias = (aliases or {}).get(name.lower())
    hint = f"; did you mean '{alias}'?" if alias else did_you_mean(name, known)
    return UserError(f"unknown {kind} '{name}'{hint} (known: {', '.join(known)})")
