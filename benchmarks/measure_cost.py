"""What metering a command costs: a fixed CPU workload run bare, and under `bnbench measure`, alternated.

The workload (a pure-Python loop of fixed length, one process) times its own loop with perf_counter and writes
the seconds to a file, so the figure is the work's speed alone, not bnbench's start-up or its results files.
Bare and metered runs alternate round after round (the order rotating), so drift on a shared machine hits both
alike. Prints each round and the median ratio bare / metered loop time: 1.00 means metering cost nothing, the
target is >= 0.99. `bnbench measure` runs in this process (its library call), as the command line would run it.

    python benchmarks/measure_cost.py [--rounds 6] [--loops 20000000] [--sample-hz 10]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bnbench.commands.measure import MeasureOptions, measure

WORKLOAD = """
import sys, time
start = time.perf_counter()
total = 0
for i in range({loops}):
    total += i * i
open(sys.argv[1], "w").write(repr(time.perf_counter() - start))
"""


def bare_s(code: str, folder: Path) -> float:
    path = folder / "bare.txt"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    return float(path.read_text())


def metered_s(code: str, folder: Path, round_: int, sample_hz: float) -> float:
    path = folder / "metered.txt"
    options = MeasureOptions(commands=((sys.executable, "-c", code, str(path)),), names=(), runs=1, metric=None,
                             higher_is_better=True, device=("cpu",), idle_s=0.0, sample_hz=sample_hz, quiet=True,
                             as_json=False, out=folder / f"results-{round_}")
    with contextlib.redirect_stderr(io.StringIO()):  # its summary: the figure here is the loop's own time
        code = measure(options, ["measure_cost.py"])
    if code != 0:
        raise SystemExit("bnbench measure failed")
    return float(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--loops", type=int, default=20_000_000)
    parser.add_argument("--sample-hz", type=float, default=10.0)
    args = parser.parse_args()
    code = WORKLOAD.format(loops=args.loops)
    bare, metered = [], []
    with tempfile.TemporaryDirectory(prefix="bnbench-measure-cost-") as tmp:
        folder = Path(tmp)
        bare_s(code, folder)  # burn-in: the interpreter's files in the page cache
        for round_ in range(args.rounds):
            order = ("bare", "metered") if round_ % 2 == 0 else ("metered", "bare")
            for kind in order:
                if kind == "bare":
                    bare.append(bare_s(code, folder))
                else:
                    metered.append(metered_s(code, folder, round_, args.sample_hz))
            print(f"round {round_ + 1}: bare {bare[-1]:.3f} s, metered {metered[-1]:.3f} s "
                  f"(ratio {bare[-1] / metered[-1]:.3f})", flush=True)
    ratio = statistics.median(bare) / statistics.median(metered)
    print(f"metering a command ({args.sample_hz:g} Hz): bare / metered loop time = {ratio:.3f} "
          f"(median of {args.rounds} rounds; target >= 0.99)")


if __name__ == "__main__":
    main()
