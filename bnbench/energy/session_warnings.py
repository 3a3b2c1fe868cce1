"""Warnings said once a session, not once a process: a session's pool workers open the same meters as the
session itself, and each would otherwise repeat its 'RAPL unavailable' line.

A session names a file in `BNBENCH_WARNINGS_FILE` (`session_warnings`); the workers it spawns inherit the
variable, and a warning already in the file is not printed again. Without the variable, every process decides
alone, as before.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

ENV = "BNBENCH_WARNINGS_FILE"


def first_in_session(message: str) -> bool:
    """Whether `message` has not been printed in this session yet (and record it as printed). True outside a
    session, or when the file cannot be used: a warning is never lost to the bookkeeping."""
    path = os.environ.get(ENV)
    if not path:
        return True
    line = " ".join(message.split())
    try:
        with open(path, "a+", encoding="utf-8") as f:
            with contextlib.suppress(ImportError, OSError):  # one writer at a time where locks exist
                import fcntl

                fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            if line in f.read().splitlines():
                return False
            f.write(line + "\n")
    except OSError:
        return True
    return True


@contextlib.contextmanager
def session_warnings() -> Iterator[None]:
    """Within it, and in the processes started within it, each warning is printed once. A session inside
    another (measure's, say) shares the outer one's file."""
    if os.environ.get(ENV):
        yield
        return
    fd, path = tempfile.mkstemp(prefix="bnbench-warnings-", suffix=".txt")
    os.close(fd)
    os.environ[ENV] = path
    try:
        yield
    finally:
        os.environ.pop(ENV, None)
        with contextlib.suppress(OSError):
            os.unlink(path)
