"""Shared GPU figures on a GPU host: packing the quick scenario 1, 2 and 4 runs per GPU, and a foreign load.

    python benchmarks/gpu_sharing.py                    # cuda:0, runs_per_gpu 1 2 4, then a foreign load
    python benchmarks/gpu_sharing.py --packs 1 4 --out /tmp/share

While each `bnbench run` of the quick scenario on cuda:0 goes, a thread here reads the board's energy counter
(bnbench's own NVML counter source) every `--every-ms`, stamped with Unix time. Each run writes its meter window
to its run.log (bnbench.energy.meter_window: when its meter opened and last read, and the GPU joules it was
charged over every phase, setup and warm-up included). For each packing this prints the session's wall time, the
runs' mean busy %, each run's GPU joules, and the conservation check: the sum over runs of their windows' GPU
joules against the board's counter over the seconds in which at least one run's meter was open (the union of
the windows), target within 1%. What lies outside every window (start-up, the idle baseline, a pool worker
between two runs, the report) is in neither figure. The runs keep one ledger per GPU (bnbench.energy.gpu_ledger), so
every joule of the counter goes to one account; what may still differ: a foreign process's share (no run records
it), the stretch between a run's last meter reading and its close (settled to its account, not to its window),
and the moments apart at which this thread and the runs read the counter.

Then it starts a matrix-multiply loop in a process bnbench did not start, runs the quick scenario beside it (one
run per GPU), and prints the warnings, `gpu_shared`, `gpu_attribution`, each run's GPU joules against the same
run alone, and the same comparison, whose gap is then the foreign process's share. Needs a CUDA GPU and NVML;
prints one line and exits 2 without them.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import math
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bnbench.energy.meter_window import MeterWindow, parse_window

FOREIGN = """
import time, torch
x = torch.randn(4096, 4096, device='cuda')
print('ready', flush=True)
while True:
    x = (x @ x).tanh()
    torch.cuda.synchronize()
    time.sleep(0.002)
"""

Reading = tuple[float, float]  # (Unix seconds, the board's counter in joules)


def meter_windows(results: Path) -> list[MeterWindow]:
    """Every meter window the runs of a results folder logged (runs/RUN_ID/run.log), one per attempt."""
    windows = []
    for log in sorted(results.glob("runs/*/run.log")):
        windows += [w for w in map(parse_window, log.read_text(encoding="utf-8").splitlines()) if w is not None]
    return windows


def merged(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of (start, end) spans as disjoint spans, in time order."""
    union: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if union and start <= union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], end))
        else:
            union.append((start, end))
    return union


def counter_at(readings: Sequence[Reading], t_s: float) -> float:
    """The counter as a meter reading it at `t_s` saw it: the last reading at or before `t_s` (the counter moves
    in steps, every 20-100 ms, so read often it holds its value between readings). ValueError outside them."""
    times = [t for t, _ in readings]
    i = bisect.bisect_right(times, t_s) - 1
    if i < 0 or t_s > times[-1]:
        raise ValueError(f"no counter reading around {t_s:.3f} (readings span {times[0]:.3f} to {times[-1]:.3f})")
    return readings[i][1]


@dataclass(frozen=True)
class Conservation:
    """The runs' GPU joules (`runs_j`, every window's, every phase) against the board's counter over the union of
    their windows (`board_j`, `covered_s` seconds)."""

    runs_j: float
    board_j: float
    covered_s: float

    @property
    def gap(self) -> float:
        """(runs - board) / board: negative when the runs were charged less than the board counted."""
        return self.runs_j / self.board_j - 1.0 if self.board_j else math.nan


def conservation(windows: Sequence[MeterWindow], readings: Sequence[Reading]) -> Conservation:
    """The conservation check of one session (see the module doc) from its meter windows and the counter's
    readings, which must span every window."""
    union = merged([(w.opened_s, w.closed_s) for w in windows])
    board_j = math.fsum(counter_at(readings, end) - counter_at(readings, start) for start, end in union)
    return Conservation(math.fsum(w.gpu_j for w in windows), board_j, math.fsum(e - s for s, e in union))


class CounterLog:
    """Reads the board's counter every `every_s` in a thread, stamped with Unix time, through bnbench's own
    NVML counter source for cuda:0."""

    def __init__(self, every_s: float) -> None:
        from bnbench.energy import nvml

        api = nvml.load_nvml()
        self.source = nvml.NvmlCounterSource(api, api.nvmlDeviceGetHandleByIndex(0))
        self.every_s = every_s
        self.readings: list[Reading] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def read(self) -> None:
        self.readings.append((time.time(), self.source.energy_j()))

    def _loop(self) -> None:
        while not self.done.wait(self.every_s):
            self.read()

    def __enter__(self) -> CounterLog:
        self.read()
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()
        self.read()


@dataclass
class Session:
    wall_s: float
    board_j: float  # the counter from the first reading to the last: the whole session
    rows: list[dict[str, str]]
    stderr: str
    check: Conservation


def session(out: Path, runs_per_gpu: int, scenario: str, every_s: float) -> Session:
    """One quick session on cuda:0 packed `runs_per_gpu`, the board's counter read throughout."""
    with CounterLog(every_s) as counter:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bnbench", "run", scenario, "--device", "cuda:0", "--out",
                               str(out), "--runs-per-gpu", str(runs_per_gpu), "--workers", str(runs_per_gpu)],
                              capture_output=True, text=True)
        wall_s = time.perf_counter() - t0
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
        raise SystemExit(f"gpu_sharing: bnbench run exited {done.returncode}")
    with (out / "runs.csv").open() as f:
        rows = list(csv.DictReader(f))
    readings = counter.readings
    return Session(wall_s, readings[-1][1] - readings[0][1], rows, done.stderr,
                   conservation(meter_windows(out), readings))


def gpu_j(row: dict[str, str]) -> float:
    """A run's GPU joules over its measured phases (train, eval, checkpoint), as runs.csv holds them."""
    return float(row["energy_j"]) - float(row["energy_host_j"] or 0.0)


def report(label: str, s: Session) -> None:
    busy = [float(r["gpu_busy_pct"]) for r in s.rows if r["gpu_busy_pct"]]
    c = s.check
    print(f"{label}: session {s.wall_s:.1f} s, busy {statistics.fmean(busy) if busy else float('nan'):.0f}%, "
          f"board {s.board_j:.0f} J over the whole session")
    print(f"  conservation: runs' GPU joules over their whole meter windows {c.runs_j:.1f} J against the board's "
          f"counter over the union of the windows ({c.covered_s:.1f} s) {c.board_j:.1f} J: {c.gap:+.2%} "
          f"({'within' if abs(c.gap) <= 0.01 else 'outside'} the 1% target)")
    for r in s.rows:
        print(f"  {r['run_id']}: {gpu_j(r):.0f} J GPU (measured phases), {float(r['wall_s']):.1f} s, "
              f"busy {_pct(r['gpu_busy_pct'])}, gpu_shared {r.get('gpu_shared', '')}, {r.get('gpu_attribution', '')}")


def _pct(cell: str) -> str:
    return f"{float(cell):.0f}%" if cell else "n/a"


def packing_gains(sessions: dict[int, Session]) -> list[str]:
    """Against one run a GPU: each packing's session speed-up (wall time at 1 over at k) and how many times lower
    the mean run's GPU joules over its measured phases were (mean at 1 over mean at k)."""
    if 1 not in sessions:
        return []
    one = sessions[1]
    one_j = statistics.fmean(gpu_j(r) for r in one.rows)
    lines = []
    for k, s in sorted(sessions.items()):
        if k == 1:
            continue
        mean_j = statistics.fmean(gpu_j(r) for r in s.rows)
        lines.append(f"runs_per_gpu {k} against 1: session {one.wall_s / s.wall_s:.2f}x faster "
                     f"({one.wall_s:.1f} s -> {s.wall_s:.1f} s), mean run's GPU joules {one_j / mean_j:.2f}x lower "
                     f"({one_j:.0f} J -> {mean_j:.0f} J)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, nargs="+", default=[1, 2, 4], help="runs_per_gpu values to try")
    parser.add_argument("--scenario", default="scenarios/quick.toml")
    parser.add_argument("--out", type=Path, default=Path("gpu-sharing-out"))
    parser.add_argument("--every-ms", type=float, default=10.0, help="how often the board's counter is read")
    args = parser.parse_args()
    if args.every_ms <= 0 or min(args.packs) < 1:
        parser.error("--every-ms must be above 0 and every --packs value at least 1")
    if args.out.exists() and any(args.out.iterdir()):  # a session there would resume the old one's runs
        parser.error(f"{args.out} is not empty: give a fresh --out")
    every_s = args.every_ms / 1000
    try:
        CounterLog(every_s)
    except Exception as exc:  # noqa: BLE001 - a host without a GPU or NVML: say so in one line
        print(f"gpu_sharing: needs an NVIDIA GPU and NVML ({exc})", file=sys.stderr)
        raise SystemExit(2) from None
    alone: dict[str, float] = {}
    sessions: dict[int, Session] = {}
    for k in args.packs:
        packed = sessions[k] = session(args.out / f"pack-{k}", k, args.scenario, every_s)
        report(f"runs_per_gpu {k}", packed)
        if k == 1:
            alone = {r["run_id"]: gpu_j(r) for r in packed.rows}
    for line in packing_gains(sessions):
        print(line)
    foreign = subprocess.Popen([sys.executable, "-c", FOREIGN], stdout=subprocess.PIPE, text=True)
    try:
        foreign.stdout.readline()  # type: ignore[union-attr]  # its CUDA context exists: it holds the GPU
        beside = session(args.out / "foreign", 1, args.scenario, every_s)
    finally:
        foreign.kill()
    report(f"beside a foreign load (pid {foreign.pid}; the gap is its share)", beside)
    print(f"  warnings naming pid {foreign.pid}: {beside.stderr.count(f'process {foreign.pid}')}")
    for r in beside.rows:
        if r["run_id"] in alone:
            print(f"  {r['run_id']}: {gpu_j(r):.0f} J beside the load vs {alone[r['run_id']]:.0f} J alone")


if __name__ == "__main__":
    main()
