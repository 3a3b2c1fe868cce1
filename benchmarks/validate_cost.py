"""What `bnbench validate` costs as a whole process: wall seconds and peak memory for each bundled scenario.

    python benchmarks/validate_cost.py [--runs 5] [scenarios/quick.toml ...]

Each run is a fresh `python -m bnbench validate` process timed from spawn to exit (Python's start-up, the
imports, the scenario, every check and the printed matrix); its peak resident memory comes from the kernel's
accounting of that child (os.wait4). The first run of a scenario is timed like the others: validate keeps no
record between runs. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUNDLED = sorted((REPO / "scenarios").glob("*.toml"))


def timed(scenario: Path) -> tuple[float, float]:
    """(wall s, peak MB) of one `bnbench validate` process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bnbench", "validate", str(scenario)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)  # reaped here, for its rusage: tell Popen the code
    wall_s = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"validate {scenario} failed: {process.stderr.read().decode().strip()}")  # type: ignore[union-attr]
    return wall_s, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", type=Path, default=BUNDLED)
    parser.add_argument("--runs", type=int, default=5, help="validate processes per scenario")
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"{'scenario':<16} {'first':>8} {'median (min-max) of all':>26} {'peak':>8}")
    for scenario in args.scenarios:
        runs = [timed(scenario) for _ in range(args.runs)]
        walls = [s for s, _ in runs]
        spread = f"{statistics.median(walls):.2f} s ({min(walls):.2f}-{max(walls):.2f})"
        print(f"{scenario.stem:<16} {walls[0]:>6.2f} s {spread:>26} {max(m for _, m in runs):>5.0f} MB")
    load_after = os.getloadavg()
    print(f"\n{args.runs} runs each; peak memory the largest. load average (1, 5, 15 min) "
          f"{', '.join(f'{x:.2f}' for x in load_before)} before, {', '.join(f'{x:.2f}' for x in load_after)} after, "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
