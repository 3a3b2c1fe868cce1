"""Run one Slurm daemon as the child of this process, which adopts and reaps every orphan below it.

A test process may be a child subreaper (bnbench makes itself one to wait for what a measured command leaves
behind, and a test runs it in-process). A daemon started straight from it would hand its orphans to the test
process, which never reaps them: slurmstepd's zombies then keep a job's process group alive, slurmd reports
"Kill task failed", and the node drains with jobs still queued. Started through this script, the orphans stop
here. SIGTERM and SIGINT are passed to the daemon; the exit code is the daemon's.

    python slurm_reaper.py DAEMON [ARG ...]
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(argv: list[str]) -> int:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    daemon = subprocess.Popen(argv)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda s, _frame: daemon.send_signal(s))
    code = 0
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return code  # the daemon and every orphan it left are reaped
        except InterruptedError:
            continue
        if pid == daemon.pid:
            code = os.waitstatus_to_exitcode(status)
            daemon.returncode = code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
