"""`bnbench measure` starts fast: it imports neither torch, pandas nor scipy for one run of a command, and its
start-up benchmark runs with its smallest settings."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import sys
from bnbench.cli import app
try:
    app(["measure", "--quiet", "--device", "cpu", "--", "true"], standalone_mode=False)
finally:
    print(sorted(m for m in ("torch", "pandas", "scipy", "matplotlib") if m in sys.modules))
"""


def test_measuring_a_command_imports_no_torch_pandas_scipy_or_matplotlib():
    # torch alone was 2 to 5 s of a 0.03 s command's 5 s under measure, pandas half a CPU-second; none of them is
    # needed to run a command once, meter it, write its results folder and print its figures.
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_the_startup_benchmark_prints_its_figure():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "measure_startup.py"), "--rounds", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("round 1: bare ") and len(lines) == 2
    assert lines[1].startswith("bnbench measure adds ") and "CPU-seconds to `true` (medians of 1 rounds" in lines[1]
