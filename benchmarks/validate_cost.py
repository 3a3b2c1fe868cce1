"""What `bnbench validate` costs as a whole process: wall seconds and peak memory for each bundled scenario, first
with an empty check record (what a first validate after installing or upgrading pays: torch's import and the
model checks) and then with the record its first run wrote (what every later validate pays).

    python benchmarks/validate_cost.py [--runs 3] [scenarios/quick.toml ...]

Each run is a fresh `python -m bnbench validate` process timed from spawn to exit; its peak resident memory comes
from the kernel's accounting of that child (os.wait4). The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUNDLED = sorted((REPO / "scenarios").glob("*.toml"))


def timed(scenario: Path, cache_dir: str) -> tuple[float, float]:
    """(wall s, peak MB) of one `bnbench validate` process."""
    env = {**os.environ, "BNBENCH_CACHE_DIR": cache_dir}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bnbench", "validate", str(scenario)], env=env,
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
    parser.add_argument("--runs", type=int, default=3, help="first and later validates of each scenario")
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"{'scenario':<16} {'first validate':>24} {'later validate':>24}")
    for scenario in args.scenarios:
        first, later = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as cache:
                first.append(timed(scenario, cache))
                later.append(timed(scenario, cache))
        cells = [f"{statistics.median(s for s, _ in runs):.2f} s ({min(s for s, _ in runs):.2f}-"
                 f"{max(s for s, _ in runs):.2f}), {max(m for _, m in runs):.0f} MB" for runs in (first, later)]
        print(f"{scenario.stem:<16} {cells[0]:>24} {cells[1]:>24}")
    load_after = os.getloadavg()
    print(f"\nmedian (min-max) of {args.runs} runs each; peak memory the largest. load average (1, 5, 15 min) "
          f"{', '.join(f'{x:.2f}' for x in load_before)} before, {', '.join(f'{x:.2f}' for x in load_after)} after, "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
