"""The way out of a finished command: its objects are frozen rather than scanned by the interpreter's last
collections, while its atexit handlers and output still run and arrive."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import atexit, gc, sys
from bnbench.cli import main
atexit.register(lambda: print("atexit ran", flush=True))
sys.argv = ["bnbench", "tea", "18kWh"]
try:
    main()
except SystemExit as done:
    print("exit", done.code, "frozen", gc.get_freeze_count() > 1000)
"""


def test_a_finished_command_freezes_its_objects_and_still_runs_atexit_and_prints():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "18kWh = 18.0 kWh = 64.8 MJ"  # the command's own output came first, whole
    assert lines[-2:] == ["exit 0 frozen True", "atexit ran"]
