"""What `bnbench measure` adds to a command's own time: start-up, results folder and summary.

Runs a command bare and under `bnbench measure --quiet --device cpu`, alternated over `--rounds` rounds (the
order rotating, so drift on a shared machine hits both alike), each as a whole process the way a user's shell
runs it. Prints each round, then the median wall seconds measure added and the median CPU seconds (user +
system) it added; the target is under 0.5 s of wall time. CPU seconds hold better than wall seconds on a busy
machine, where a process waits for a core. Python's bytecode cache is on for the runs (PYTHONDONTWRITEBYTECODE
is cleared for them): an installed package has its modules compiled, and compiling bnbench's on every start
would add a tenth of a second no user pays. With --keep-results each metered run writes its results folder
(`--out`, a fresh one each time) where by default measure deletes it after printing, and so skips its power table.

    python benchmarks/measure_startup.py [--rounds 7] [--command true] [--keep-results]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGET_S = 0.5


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, every process waited for) of one run of `argv`."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=ENV)
    wall_s = time.perf_counter() - start
    after = os.times()
    return wall_s, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of one bare and one metered run (>= 1)")
    parser.add_argument("--command", default="true", help="the command, as a shell would split it")
    parser.add_argument("--keep-results", action="store_true",
                        help="give measure an --out folder (a fresh one each run), as a user keeping results does")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    command = shlex.split(args.command)
    scratch = Path(tempfile.mkdtemp(prefix="measure-startup-"))

    def metered_argv(run: int) -> list[str]:
        out = ["--out", str(scratch / f"run-{run}")] if args.keep_results else []
        return [sys.executable, "-m", "bnbench", "measure", "--quiet", "--device", "cpu", *out, "--", *command]

    try:
        measure_rounds(args, command, metered_argv)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure_rounds(args: argparse.Namespace, command: list[str], metered_argv: Callable[[int], list[str]]) -> None:
    timed(metered_argv(0))  # the first start reads the files from disk and compiles them: not what a user pays
    added_wall, added_cpu = [], []
    for round_ in range(args.rounds):
        metered = metered_argv(round_ + 1)
        order = [("bare", command), ("metered", metered)]
        results = dict((name, timed(argv)) for name, argv in (order if round_ % 2 == 0 else order[::-1]))
        added_wall.append(results["metered"][0] - results["bare"][0])
        added_cpu.append(results["metered"][1] - results["bare"][1])
        print(f"round {round_ + 1}: bare {results['bare'][0]:.3f} s, metered {results['metered'][0]:.3f} s "
              f"(CPU {results['bare'][1]:.3f} s, {results['metered'][1]:.3f} s)", flush=True)
    wall_s, cpu_s = statistics.median(added_wall), statistics.median(added_cpu)
    kept = " with --out" if args.keep_results else ""
    print(f"bnbench measure{kept} adds {wall_s:.2f} s of wall time and {cpu_s:.2f} CPU-seconds to `{args.command}` "
          f"(medians of {args.rounds} rounds; target < {TARGET_S} s of wall time"
          f"{': met' if wall_s < TARGET_S else ': not met'}), load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
