"""What the local pool buys on a 2-core CPU: the same matrix with 1 worker, then with 2 workers of 1 thread each.

The matrix: SRCNN on the bundled photos, `--runs` runs (2 variants x seeds) of `--steps` steps, batch 32, one
evaluation at the end, torch threads 1 per run, no idle baseline. 1 worker trains them one after another in the
session's own process (the executor `bnbench run` uses for one worker); 2 workers are the pool: two spawned
processes, each pinned to its own core.

`--scope session` (the default) times what a user waits for: a fresh Python process that does everything
`bnbench run` does but the report (imports, checks, results folder, the runs), for each worker count. There the
pool's workers start while the session imports torch and checks the scenario (bnbench.commands.run.early_pool),
so their start-up is off the critical path. `--scope matrix` times the matrix alone in this process, which has
torch imported already and starts the pool inside the timing: the start-up's whole cost, as a second figure.
Rounds alternate the two worker counts (the order flips each round), so drift on a shared machine hits both;
the load average before and after each measurement says how shared the machine was.

    python benchmarks/parallel.py [--runs 4] [--steps 1000] [--rounds 1] [--scope session|matrix]

Prints each measurement and the speed-up (1-worker wall / 2-worker wall; the median over rounds). Target: >= 1.9x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bnbench.execute.local import run_matrix
from bnbench.execute.pool import plan_slots
from bnbench.execute.progress import SilentProgress
from bnbench.results.schema import run_columns
from bnbench.results.store import RunStore
from bnbench.scenario import expand, from_dict


def scenario(runs: int, steps: int) -> dict:
    return {
        "scenario": {"name": "parallel", "seeds": list(range(runs // 2)), "device": "cpu"},
        "task": {"batch_size": 32},
        "train": {"max_steps": steps, "eval_every": steps, "log_every": 50, "threads": 1},
        "energy": {"idle_s": 0},
        "variant": [{"name": "control"}, {"name": "bn", "norm": "batch", "decay": 0.9}],
    }


# A session as `bnbench run` has it, without the report: argv is scenario file, results folder, workers.
SESSION = """
import sys
from pathlib import Path
from bnbench.commands.run import execute_scenario
from bnbench.scenario import load
session = execute_scenario(load(Path(sys.argv[1]), []), out=Path(sys.argv[2]), devices=None, argv=[],
                           workers=int(sys.argv[3]), report=False)
failed = [r["run_id"] for r in session.rows if r["status"] != "completed"]
if session.code or failed or len(session.rows) != int(sys.argv[4]):
    raise SystemExit(f"runs did not complete: {failed or session.rows}")
"""


def measure_session(workers: int, runs: int, steps: int) -> tuple[float, float, float]:
    """(wall seconds of a fresh session process, 1-minute load average before, after)."""
    import tomli_w

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "parallel.toml"
        path.write_text(tomli_w.dumps(scenario(runs, steps)))
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", SESSION, str(path), str(Path(folder) / "out"), str(workers),
                               str(runs)], capture_output=True, text=True)
        wall = time.perf_counter() - start
        load_after = os.getloadavg()[0]
    if done.returncode:
        raise SystemExit(f"the session failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return wall, load_before, load_after


def measure_matrix(workers: int, runs: int, steps: int) -> tuple[float, float, float]:
    """(wall seconds of the matrix in this process, 1-minute load average before, after)."""
    parsed = from_dict(scenario(runs, steps))
    specs = expand(parsed)
    slots = plan_slots(["cpu"], workers=workers, cores=(0, 1))
    with tempfile.TemporaryDirectory() as folder:
        columns = run_columns("psnr_db", ("bicubic_psnr_db",))
        store = RunStore.create(Path(folder) / "out", parsed.to_dict(), {}, columns)
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        rows = run_matrix(specs, ["cpu"], store, SilentProgress(), threading.Event(), slots=slots)
        wall = time.perf_counter() - start
        load_after = os.getloadavg()[0]
    failed = [r["run_id"] for r in rows if r["status"] != "completed"]
    if failed or len(rows) != len(specs):
        raise SystemExit(f"runs did not complete: {failed or rows}")
    return wall, load_before, load_after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="runs in the matrix (even: 2 variants x runs/2 seeds)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--scope", choices=("session", "matrix"), default="session",
                        help="a fresh session process (what a user waits for), or the matrix alone in this one")
    args = parser.parse_args()
    measure = measure_session if args.scope == "session" else measure_matrix
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs 2 CPU cores")
    ratios = []
    for round_ in range(args.rounds):
        walls = {}
        for workers in ((1, 2) if round_ % 2 == 0 else (2, 1)):
            wall, before, after = measure(workers, args.runs, args.steps)
            walls[workers] = wall
            print(f"round {round_ + 1}: {workers} worker(s): {args.runs} runs x {args.steps} steps, {args.scope}, "
                  f"in {wall:.1f} s "
                  f"(load average {before:.1f} -> {after:.1f} on {os.cpu_count()} cores)", flush=True)
        ratios.append(walls[1] / walls[2])
        print(f"round {round_ + 1}: speed-up {ratios[-1]:.2f}x", flush=True)
    print(f"2 workers of 1 thread finished the {args.scope} {statistics.median(ratios):.2f}x as fast as 1 worker "
          f"(median of {len(ratios)} round(s); target >= 1.9x)")


if __name__ == "__main__":
    main()
