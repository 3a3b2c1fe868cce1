"""What each piece of metering costs when timed alone, in CPU microseconds of the calling thread (a thread's CPU
clock counts only its own work, so a loaded machine disturbs it far less than wall time).

The pieces: the CPU source's read (this process's CPU time), one sampler tick's meter read (`RunMeter.sample`),
turning its samples into power rows in the store's buffer (`_power_rows`), a meter window (open + close) and
one curve row (`RunHooks.on_log`). Multiply by how often each happens (ticks: `sample_hz` per second; windows:
a few per evaluation; curve rows: one per `log_every` steps) for its share of a run; `benchmarks/overhead.py`
measures the same pieces inside training blocks, where caches and the GIL are shared with the training thread.

    python benchmarks/tick_cost.py [--repeat 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bnbench.data import task_metadata
from bnbench.energy.devices import open_run_meter
from bnbench.energy.estimate import process_cpu_s
from bnbench.execute.driver import RunHooks, _power_rows
from bnbench.execute.progress import SilentProgress
from bnbench.results.schema import POWER_COLUMNS, curve_columns, run_columns
from bnbench.results.store import RunStore
from bnbench.scenario import expand, from_dict
from bnbench.train import StepLog


def cpu_us(fn: Callable[[], object], repeat: int) -> float:
    """Median over 5 batches of the thread CPU microseconds one call of `fn` takes."""
    batches = []
    for _ in range(5):
        start = time.thread_time()
        for _ in range(repeat):
            fn()
        batches.append((time.thread_time() - start) / repeat * 1e6)
    return statistics.median(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5000)
    args = parser.parse_args()
    spec = expand(from_dict({"scenario": {"name": "tick", "seeds": [0], "device": "cpu"},
                             "energy": {"sample_hz": 100, "idle_s": 0}}))[0]
    metric, _, _, references = task_metadata(spec.task)
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore.create(Path(tmp), {}, {}, run_columns(metric, references))
        curves = store.writer("curves", spec.run_id, curve_columns(metric, references))
        power = store.writer("power", spec.run_id, POWER_COLUMNS)
        meter = open_run_meter("cpu", spec.energy, warn=lambda _: None)
        hooks = RunHooks(spec, torch.device("cpu"), curves, SilentProgress(), threading.Event(), meter)  # type: ignore[arg-type]
        meter.open("train")
        samples = meter.sample()

        def window() -> None:
            meter.open("eval")
            meter.close("eval")

        def buffers() -> None:  # keep the buffers as short as a run's between flushes
            power.rows.clear()
            curves.rows.clear()

        pieces: list[tuple[str, Callable[[], object]]] = [
            (f"CPU source read ({meter.parts[0].label})", process_cpu_s()),
            ("meter read of one tick (RunMeter.sample)", meter.sample),
            ("power rows of one tick (_power_rows)", lambda: _power_rows(spec, samples, power)),
            ("meter window (open + close)", window),
            ("curve row (RunHooks.on_log)", lambda: hooks.on_log(StepLog(10, 1.0, 0.5, 0.6))),
        ]
        print(f"thread CPU per call, median of 5 x {args.repeat} calls (load average "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores):")
        for name, fn in pieces:
            print(f"  {name:42s} {cpu_us(fn, args.repeat):7.1f} us")
            buffers()


if __name__ == "__main__":
    main()
