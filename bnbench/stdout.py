"""bnbench's stdout when its reader has gone (`bnbench run S | head -1`): from then on it is /dev/null, so every
later write, rich's, print()'s, a command's echoed output or Python's own flush at exit, succeeds quietly and
the work goes on. The commands' console (bnbench.rendering.terminal) and a command's output echo call it."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

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
