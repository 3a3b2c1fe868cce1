"""A Ctrl-C in a bnbench command: exit 130, never a death by SIGINT (-2) nor a traceback.

bnbench's SIGINT handler raises `Interrupted`, a KeyboardInterrupt, rather than KeyboardInterrupt itself.
CPython marks a KeyboardInterrupt (that class exactly, not a subclass) leaving code it runs from source text
as never caught, even once a caller has caught it, and `python -m bnbench` then ends by killing itself with
SIGINT (-2), whatever exit code the command chose. Source text runs wherever dataclasses, namedtuple and typing
make a class's methods, so on every such import: a Ctrl-C during `bnbench run`'s start-up, which imports as it
goes, often lands there. Every `except KeyboardInterrupt` still catches an `Interrupted`.

Once the command has ended, a Ctrl-C raises nothing: its exit code is decided and its files are closed, and an
exception there would escape the code that turns one into 130. It is noted, and `bnbench.cli.main` exits 130.
"""

from __future__ import annotations

import signal
from types import FrameType

EXIT_SIGINT = 130


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C (SIGINT) while a bnbench command runs."""


class _Handler:
    """The SIGINT handler: `Interrupted` until `ended` is set, then a note in `late`."""

    def __init__(self) -> None:
        self.ended = False
        self.late = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        if self.ended:
            self.late = True
            return
        raise Interrupted


_HANDLER = _Handler()


def install() -> None:
    """From now on (main thread only), a Ctrl-C raises `Interrupted`."""
    _HANDLER.ended, _HANDLER.late = False, False
    signal.signal(signal.SIGINT, _HANDLER)


def end() -> None:
    """The command has ended: a Ctrl-C from now on is only noted (`came_late`)."""
    _HANDLER.ended = True


def came_late() -> bool:
    """Whether a Ctrl-C came after `end`."""
    return _HANDLER.late
