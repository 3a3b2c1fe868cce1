"""Where the commands write: a rich Console that never wraps a sentence off a terminal, and a closed stdout
(`bnbench run S | head -1`) that stops the writing, never the work.

Off a terminal (a pipe, a file, CI) a line is one line whatever its length, so `grep` finds a whole sentence
and a test's output does not depend on the length of the path it runs from. When the reader goes away, stdout
becomes /dev/null (bnbench.stdout): the command finishes what it was doing, quietly, and exits with the code
the work earned.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

from bnbench.stdout import is_stdout_closed, stdout_closed, write_line

__all__ = ["Terminal", "console", "is_stdout_closed", "say", "stdout_closed", "write_line"]

# Off a terminal: wide enough that no line or table row is ever wrapped (tables keep their natural width).
PIPED_WIDTH = 10_000


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


def say(console: Console, text: str) -> None:
    """One line of plain text: wrapped at word boundaries on a terminal, never wrapped or coloured in a pipe."""
    console.print(text, markup=False, highlight=False, soft_wrap=not console.is_terminal)
