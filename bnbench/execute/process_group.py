"""A command's processes: started in a process group of their own, stopped together, waited for together.

The command is its group's leader (a new session), so SIGTERM reaches every process it started, and a
Ctrl-C in the terminal reaches bnbench alone (which then stops the run its own way). This process becomes a
child subreaper (Linux), so a child the command leaves behind when it exits early is re-parented here: its CPU
time still counts for the run (bnbench.energy.estimate.process_cpu_s walks this process's tree), the run lasts
until the group is empty, and its zombie is reaped here. Groups still running when this process is told to
exit are killed (`kill_all`), so no command outlives the session that started it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

_PR_SET_CHILD_SUBREAPER = 36
_POLL_S = 0.05
_active: set[int] = set()


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (Linux); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class ProcessGroup:
    """A command started as the leader of its own process group; `pid` is also the group id."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], stdout: int | IO[bytes],
                 stderr: int | IO[bytes]) -> None:
        become_subreaper()
        self.process = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                        stdout=stdout, stderr=stderr, start_new_session=True)
        self.pid = self.process.pid
        _active.add(self.pid)
        self.killed = False

    def pids(self) -> set[int]:
        """The processes of the group now: the leader, its descendants, and orphans re-parented here."""
        import psutil

        from bnbench.energy.estimate import descendants

        found = set()
        for p in descendants(psutil.Process()):
            with contextlib.suppress(OSError):
                if os.getpgid(p.pid) == self.pid:
                    found.add(p.pid)
        return found

    def leader_exit_code(self) -> int | None:
        """The command's exit code once it has exited (negative: killed by that signal), else None."""
        return self.process.poll()

    def alive(self) -> bool:
        """True while any process of the group runs (or is a zombie not yet reaped); reaps this process's own."""
        if self.process.poll() is None:
            return True  # orphans left meanwhile are reaped once the leader is gone
        self._reap_orphans()
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            _active.discard(self.pid)
            return False
        except PermissionError:
            return True
        return True

    def _reap_orphans(self) -> None:
        """Wait for the group's processes re-parented here that have exited (the leader is Popen's). One waitid
        call per exited process, no walk of the process table: this runs every poll while orphans live on."""
        while True:
            try:
                found = os.waitid(os.P_PGID, self.pid, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                return
            if found is None:
                return

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def stop(self, grace_s: float) -> None:
        """SIGTERM to the whole group; SIGKILL to what is left after `grace_s` seconds. Returns once it is gone."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self.alive() and time.monotonic() < deadline:
            time.sleep(_POLL_S)
        if self.alive():
            self.killed = True
            self.signal(signal.SIGKILL)
            while self.alive():
                time.sleep(_POLL_S)


def kill_all() -> None:
    """SIGKILL every command group this process started that may still run (this process is about to end)."""
    for pgid in list(_active):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _active.discard(pgid)


atexit.register(kill_all)  # bnbench leaving at once (a second Ctrl-C) takes its commands with it
