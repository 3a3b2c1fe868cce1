"""What `bnbench measure` adds to a command's own time: start-up, results folder and summary.

Runs a command bare and under `bnbench measure --quiet --device cpu`, alternated over `--rounds` rounds (the
order rotating, so drift on a shared machine hits both alike), each as a whole process the way a user's shell
runs it. Prints each round, then the median wall seconds measure added and the median CPU seconds (user +
system) it added; the target is under 0.5 s of wall time. CPU seconds hold better than wall seconds on a busy
machine, where a process waits for a core. Python's bytecode cache is on for the runs (PYTHONDONTWRITEBYTECODE
is cleared for them): an installed package has its modules compiled, and compiling bnbench's on every start
would add a tenth of a second no user pays.

    python benchmarks/measure_startup.py [--rounds 7] [--command true]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time

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
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    command = shlex.split(args.command)
    metered = [sys.executable, "-m", "bnbench", "measure", "--quiet", "--device", "cpu", "--", *command]
    timed(metered)  # the first start reads the files from disk and compiles them: not what a user pays every time
    added_wall, added_cpu = [], []
    for round_ in range(args.rounds):
        order = [("bare", command), ("metered", metered)]
        results = dict((name, timed(argv)) for name, argv in (order if round_ % 2 == 0 else order[::-1]))
        added_wall.append(results["metered"][0] - results["bare"][0])
        added_cpu.append(results["metered"][1] - results["bare"][1])
        print(f"round {round_ + 1}: bare {results['bare'][0]:.3f} s, metered {results['metered'][0]:.3f} s "
              f"(CPU {results['bare'][1]:.3f} s, {results['metered'][1]:.3f} s)", flush=True)
    wall_s, cpu_s = statistics.median(added_wall), statistics.median(added_cpu)
    print(f"bnbench measure adds {wall_s:.2f} s of wall time and {cpu_s:.2f} CPU-seconds to `{args.command}` "
          f"(medians of {args.rounds} rounds; target < {TARGET_S} s of wall time"
          f"{': met' if wall_s < TARGET_S else ': not met'}), load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
