"""Shared GPU figures on a GPU host: packing the quick scenario 1, 2 and 4 runs per GPU, and a foreign load.

    python benchmarks/gpu_sharing.py                    # cuda:0, runs_per_gpu 1 2 4, then a foreign load
    python benchmarks/gpu_sharing.py --packs 1 4 --out /tmp/share

For each packing it reads the board's energy counter (NVML) right before and after a whole `bnbench run` of the
quick scenario on cuda:0 and prints: the session's wall time, the runs' mean busy %, each run's GPU joules
(energy_j - energy_host_j: its share of the board over its measured phases), their sum, and the board's counter
over the session. The sum stays below the board: start-up, the idle baseline, warm-ups and the report are in no
run's measured phases. Then it starts a matrix-multiply loop in a process bnbench did not start, runs the quick
scenario beside it (one run per GPU), and prints the warnings, `gpu_shared`, `gpu_attribution` and each run's
GPU joules against the same run alone. Needs a CUDA GPU and NVML; prints one line and exits 2 without them.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import time
from pathlib import Path

FOREIGN = """
import time, torch
x = torch.randn(4096, 4096, device='cuda')
print('ready', flush=True)
while True:
    x = (x @ x).tanh()
    torch.cuda.synchronize()
    time.sleep(0.002)
"""


def board_j() -> float:
    from bnbench.energy import nvml

    api = nvml.load_nvml()
    return nvml.counter_j(api, api.nvmlDeviceGetHandleByIndex(0))


def session(out: Path, runs_per_gpu: int, scenario: str) -> tuple[float, float, list[dict[str, str]], str]:
    """(wall s, board J over the session, runs.csv rows, stderr) of one quick session packed `runs_per_gpu`."""
    before, t0 = board_j(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bnbench", "run", scenario, "--device", "cuda:0", "--out", str(out),
                           "--runs-per-gpu", str(runs_per_gpu), "--workers", str(runs_per_gpu)],
                          capture_output=True, text=True)
    wall_s, board = time.perf_counter() - t0, board_j() - before
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
        raise SystemExit(f"gpu_sharing: bnbench run exited {done.returncode}")
    with (out / "runs.csv").open() as f:
        return wall_s, board, list(csv.DictReader(f)), done.stderr


def gpu_j(row: dict[str, str]) -> float:
    return float(row["energy_j"]) - float(row["energy_host_j"] or 0.0)


def report(label: str, wall_s: float, board: float, rows: list[dict[str, str]]) -> None:
    busy = [float(r["gpu_busy_pct"]) for r in rows if r["gpu_busy_pct"]]
    shares = [gpu_j(r) for r in rows]
    print(f"{label}: session {wall_s:.1f} s, busy {statistics.fmean(busy) if busy else float('nan'):.0f}%, "
          f"board {board:.0f} J over the session, runs' GPU shares {sum(shares):.0f} J "
          f"({sum(shares) / board:.1%} of the board)")
    for r in rows:
        print(f"  {r['run_id']}: {gpu_j(r):.0f} J GPU, {float(r['wall_s']):.1f} s, busy {r['gpu_busy_pct']}%, "
              f"gpu_shared {r.get('gpu_shared', '')}, {r.get('gpu_attribution', '')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, nargs="+", default=[1, 2, 4], help="runs_per_gpu values to try")
    parser.add_argument("--scenario", default="scenarios/quick.toml")
    parser.add_argument("--out", type=Path, default=Path("gpu-sharing-out"))
    args = parser.parse_args()
    try:
        board_j()
    except Exception as exc:  # noqa: BLE001 - a host without a GPU or NVML: say so in one line
        print(f"gpu_sharing: needs an NVIDIA GPU and NVML ({exc})", file=sys.stderr)
        raise SystemExit(2) from None
    alone: dict[str, float] = {}
    for k in args.packs:
        wall_s, board, rows, _ = session(args.out / f"pack-{k}", k, args.scenario)
        report(f"runs_per_gpu {k}", wall_s, board, rows)
        if k == 1:
            alone = {r["run_id"]: gpu_j(r) for r in rows}
    foreign = subprocess.Popen([sys.executable, "-c", FOREIGN], stdout=subprocess.PIPE, text=True)
    try:
        foreign.stdout.readline()  # type: ignore[union-attr]  # its CUDA context exists: it holds the GPU
        wall_s, board, rows, err = session(args.out / "foreign", 1, args.scenario)
    finally:
        foreign.kill()
    report(f"beside a foreign load (pid {foreign.pid})", wall_s, board, rows)
    print(f"  warnings naming pid {foreign.pid}: {err.count(f'process {foreign.pid}')}")
    for r in rows:
        if r["run_id"] in alone:
            print(f"  {r['run_id']}: {gpu_j(r):.0f} J beside the load vs {alone[r['run_id']]:.0f} J alone")


if __name__ == "__main__":
    main()
