"""Where the commands write: a rich Console that never wraps a sentence off a terminal, and a closed stdout
(`bnbench run S | head -1`) that stops the writing, never the work.

Off a terminal (a pipe, a file, CI) a line is one line whatever its length, so `grep` finds a whole sentence
and a test's output does not depend on the length of the path it runs from. When the reader goes away, stdout
becomes /dev/null: every later write, rich's, print()'s or Python's own flush at exit, succeeds quietly, the
command finishes what it was doing, quietly, and exits with the code the work earned.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

from rich.console import Console

# Off a terminal: wide enough that no line or table row is ever wrapped (tables keep their natural width).
PIPED_WIDTH = 10_000

_closed = False


def stdout_closed() -> None:
    """The reader of stdout has gone: send stdout to /dev/null from now on (once)."""
    global _closed
    if _closed:
        return
    _closed = True
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def is_stdout_closed() -> bool:
    """True once stdout_closed() has run in this process."""
    return _closed


class Terminal(Console):
    """A Console whose closed pipe silences it (stdout_closed) instead of rich's exit 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        if self.file is sys.stdout or self.file is sys.__stdout__:
            stdout_closed()


def console(stderr: bool = False, **options: Any) -> Console:
    """The console a command writes to: stdout (or stderr); off a terminal, no wrapping, colour or markup
    highlighting, and a closed pipe silences it."""
    stream = sys.stderr if stderr else sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if not terminal and "width" not in options:
        options["width"] = PIPED_WIDTH
    return Terminal(stderr=stderr, soft_wrap=not terminal, **options)


def write_line(text: str, stream: Any = None) -> None:
    """print(text) to `stream` (stdout by default) that a closed stdout silences instead of failing."""
    stream = stream or sys.stdout
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        if stream is sys.stdout or stream is sys.__stdout__:
            stdout_closed()
        else:
            raise
