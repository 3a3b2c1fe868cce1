"""The benchmarks' documented options, each run with its smallest settings: they finish and exit 0, and a bad
value is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def benchmark(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def test_overhead_without_whole_runs_prints_the_blocks_and_exits_0():
    # --whole-rounds 0 is documented to skip the whole-run figure; --minutes 0 still gives one round of blocks.
    done = benchmark("overhead.py", "--minutes", "0", "--min-rounds", "1", "--block-steps", "1",
                     "--whole-rounds", "0", "--batch-size", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Blocks: SRCNN, batch 2, 1 thread(s), 1 rounds of 1-step blocks" in done.stdout
    assert "metered at 100 Hz wall: " in done.stdout and "Whole runs: skipped (--whole-rounds 0)" in done.stdout


def test_overhead_refuses_a_negative_count_in_one_line():
    done = benchmark("overhead.py", "--whole-rounds", "-1")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "overhead.py: error: argument --whole-rounds: must be at least 0 (got -1)"
