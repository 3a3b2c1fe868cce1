"""What measuring costs: SRCNN training throughput with bnbench's metering against the same steps bare.

First figure, built so that the machine's noise cancels: one model, one data stream and one optimizer in this
process, trained in short blocks of `--block-steps` steps, one round after another. A round holds three blocks,
bare, metered at 10 Hz and metered at 100 Hz, in an order that rotates each round. A metered block is what the
run driver adds around the same steps: the sampler thread at its rate streaming power rows into a RunStore, a
`train` meter window around the block (RunHooks.phase) and a curve row every `log_every` steps
(RunHooks.on_log). The sampler starts before a metered block's clock and stops after it, as it runs through a
whole training phase of a real run, so a block pays its ticks but not the thread's start and join. Each round
gives a ratio per rate, bare seconds / metered seconds (the metered block's throughput as a share of the bare
one's), for wall time and for the CPU time of the whole process (the sampler thread included). Neighbouring
blocks share the machine's state of the moment, so drift cancels in the ratio; the median of the rounds'
ratios is printed with a 95% bootstrap interval (scipy.stats.bootstrap), whose half-width is the resolution
the run reached.

How long it runs: on a VM whose steps swing by 10-30% from one second to the next, a pair of blocks differs by
5-10% almost whatever their length, so many short blocks narrow the interval fastest. Rounds go on until both
rates' wall intervals are within +-`--target` (checked every 20 rounds after `--min-rounds`, every 100 past
200) or `--minutes` have passed (at least one round, so `--minutes 0` still prints a figure); the printout
says which.

Where a metered block's extra time goes, measured inside the same blocks: the sampler thread's own CPU time
(its thread clock), the meter windows (open + close), the store's per-log work (on_log); the rest of the gap
(GIL hand-offs to the sampler, caches) is what is left of the wall-time difference.

Second figure: whole runs, as before: `train()` through the run driver's path against a bare loop, each built
from scratch, alternated in one process for `--whole-rounds` rounds (0 skips it). Parquet flushes (every
30 s and at each evaluation) show here only: blocks flush their buffered rows between blocks, untimed.

    python benchmarks/overhead.py [--target 0.005] [--minutes 30] [--block-steps 3] [--whole-rounds 3]

The load average is printed before and after: on a shared machine the interval widens, and the final figure
needs an idle one. One training thread (`--threads 1`) leaves the sampler a core of its own, as on any machine
with a core more than the run uses; where every core trains, the sampler's CPU share printed below is taken
from training.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from bnbench.data import build_task, task_metadata
from bnbench.energy.devices import open_run_meter
from bnbench.energy.sampler import Sampler
from bnbench.execute.driver import RunHooks, _power_rows
from bnbench.execute.progress import SilentProgress
from bnbench.models import build_model
from bnbench.results.schema import POWER_COLUMNS, curve_columns, run_columns
from bnbench.results.store import RunStore
from bnbench.scenario import RunSpec, expand, from_dict
from bnbench.train import StepLog, make_optimizer, make_schedule, seed_everything, train

DEVICE = torch.device("cpu")
RATES = {"10 Hz": 10.0, "100 Hz": 100.0}


def make_spec(steps: int, threads: int, batch_size: int, hz: float) -> RunSpec:
    scenario = from_dict({
        "scenario": {"name": "overhead", "seeds": [0], "device": "cpu"},
        "task": {"batch_size": batch_size},
        "train": {"max_steps": steps, "eval_every": steps, "log_every": 10, "threads": threads},
        "energy": {"sample_hz": hz, "idle_s": 0},
    })
    return expand(scenario)[0]


def interval(ratios: list[float]) -> tuple[float, float, float]:
    """(median, low, high): the median of the rounds' ratios and its 95% percentile-bootstrap interval."""
    values = np.asarray(ratios)
    if len(values) < 3:
        median = float(np.median(values))
        return median, float(values.min()), float(values.max())
    result = stats.bootstrap((values,), np.median, confidence_level=0.95, n_resamples=5000, method="percentile",
                             random_state=np.random.default_rng(0))
    return float(np.median(values)), float(result.confidence_interval.low), float(result.confidence_interval.high)


def ratios(seconds: dict[str, list[float]], kind: str) -> list[float]:
    """Each round's bare seconds / `kind` seconds: the metered block's throughput as a share of the bare one's."""
    return [b / m for b, m in zip(seconds["bare"], seconds[kind], strict=True)]


def half_width(values: list[float]) -> float:
    _, low, high = interval(values)
    return (high - low) / 2


@dataclass
class Costs:
    """Seconds spent in one metered block, by where they went."""

    sampler_cpu_s: float = 0.0
    windows_s: float = 0.0
    logs_s: float = 0.0


@dataclass
class Blocks:
    """One training state, advanced block by block, bare or metered."""

    spec: RunSpec
    root: Path
    sampled: dict[str, list[Costs]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = self.spec
        torch.set_num_threads(spec.train.threads or torch.get_num_threads())
        seed_everything(spec.seed)
        self.task = build_task(spec.task, DEVICE)
        self.model = build_model(spec.model, self.task.io).to(DEVICE).train()
        self.optimizer = make_optimizer(spec, self.model)
        self.schedule = make_schedule(spec, self.optimizer)
        self.generator = torch.Generator(device=DEVICE).manual_seed(spec.seed)
        metric, _, _, references = task_metadata(spec.task)
        self.store = RunStore.create(self.root, {}, {}, run_columns(metric, references))
        self.curves = self.store.writer("curves", spec.run_id, curve_columns(metric, references))
        self.power = self.store.writer("power", spec.run_id, POWER_COLUMNS)
        self.step, self.start = 0, time.perf_counter()

    def _steps(self, n: int, hooks: RunHooks | None, costs: Costs) -> None:
        """The train loop's inner steps (bnbench.train.train); with hooks, its per-step stop check and logs."""
        pending: list[torch.Tensor] = []
        log_every = self.spec.train.log_every
        for _ in range(n):
            inputs, targets = self.task.batch(self.generator)
            loss = self.task.loss(self.model(inputs), targets)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
            pending.append(loss.detach())
            self.step += 1
            if hooks is not None:
                hooks.should_stop()
            if self.step % log_every == 0:
                losses = torch.stack(pending).float().cpu()
                pending.clear()
                if hooks is not None:
                    t0 = time.perf_counter()
                    hooks.on_log(StepLog(self.step, t0 - self.start, losses.mean().item(), losses.max().item()))
                    costs.logs_s += time.perf_counter() - t0

    def bare(self, n: int) -> tuple[float, float]:
        """(wall s, process CPU s) of `n` bare steps."""
        wall, cpu = time.perf_counter(), time.process_time()
        self._steps(n, None, Costs())
        return time.perf_counter() - wall, time.process_time() - cpu

    def metered(self, n: int, hz: float) -> tuple[float, float, Costs]:
        """(wall s, process CPU s, where the extra went) of `n` steps as the run driver meters them at `hz`."""
        spec, costs = self.spec, Costs()
        meter = open_run_meter("cpu", spec.energy, warn=lambda _: None)
        hooks = RunHooks(spec, DEVICE, self.curves, SilentProgress(), threading.Event(), meter)  # type: ignore[arg-type]
        hooks.power = self.power
        sampler = Sampler(meter, hz, lambda samples: _power_rows(spec, samples, self.power), self.power.flush).start()
        wall, cpu = time.perf_counter(), time.process_time()
        window = hooks.phase("train")
        t0 = time.perf_counter()
        window.__enter__()
        costs.windows_s += time.perf_counter() - t0
        self._steps(n, hooks, costs)
        t0 = time.perf_counter()
        window.__exit__(None, None, None)
        costs.windows_s += time.perf_counter() - t0
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        costs.sampler_cpu_s = time.clock_gettime(time.pthread_getcpuclockid(sampler._thread.ident))  # noqa: SLF001
        sampler.stop()
        self.curves.flush()  # outside the timed block: keep the buffers as short as a run's
        self.power.flush()
        return wall, cpu, costs


def run_blocks(args: argparse.Namespace, root: Path) -> None:
    blocks = Blocks(make_spec(10**6, args.threads, args.batch_size, 10.0), root)
    kinds = ["bare", *RATES]
    for _ in range(3):  # burn-in: allocator, caches, the first parquet chunk
        blocks.bare(args.block_steps)
        blocks.metered(args.block_steps, 10.0)
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    cpus: dict[str, list[float]] = {k: [] for k in kinds}
    costs: dict[str, list[Costs]] = {k: [] for k in RATES}
    start, why = time.monotonic(), f"the {args.minutes:g}-minute budget ran out"
    r = 0
    while r == 0 or time.monotonic() - start < args.minutes * 60:  # one round at least: a figure to print
        for i in range(len(kinds)):
            kind = kinds[(r + i) % len(kinds)]
            if kind == "bare":
                wall, cpu = blocks.bare(args.block_steps)
            else:
                wall, cpu, cost = blocks.metered(args.block_steps, RATES[kind])
                costs[kind].append(cost)
            walls[kind].append(wall)
            cpus[kind].append(cpu)
        r += 1
        if args.verbose:
            print(f"round {r}: " + ", ".join(f"{k} {walls[k][-1] * 1e3:.0f} ms" for k in kinds), flush=True)
        if r >= args.min_rounds and r % (20 if r < 200 else 100) == 0:
            widths = [half_width(ratios(walls, kind)) for kind in RATES]
            print(f"  {r} rounds, {(time.monotonic() - start) / 60:.1f} min: wall resolution "
                  + ", ".join(f"{k} +-{w:.2%}" for k, w in zip(RATES, widths, strict=True)), flush=True)
            if max(widths) <= args.target:
                why = f"both wall intervals reached +-{args.target:.1%}"
                break
    step_ms = statistics.median(walls["bare"]) / args.block_steps * 1e3
    minutes = (time.monotonic() - start) / 60
    print(f"\nBlocks: SRCNN, batch {args.batch_size}, {args.threads} thread(s), {r} rounds of "
          f"{args.block_steps}-step blocks ({step_ms:.1f} ms a bare step) in {minutes:.1f} min; stopped because {why}")
    for kind in RATES:
        for what, values in (("wall", walls), ("CPU", cpus)):
            median, low, high = interval(ratios(values, kind))
            print(f"  metered at {kind:6s} {what:4s}: {median:.4f} x the bare throughput, 95% interval "
                  f"[{low:.4f}, {high:.4f}] (resolution +-{(high - low) / 2:.2%})")
        block_s = statistics.median(walls[kind])
        gap_s = block_s - statistics.median(walls["bare"])
        sampler_s = statistics.median(c.sampler_cpu_s for c in costs[kind])
        windows_s = statistics.median(c.windows_s for c in costs[kind])
        logs_s = statistics.median(c.logs_s for c in costs[kind])
        rest_s = gap_s - sampler_s - windows_s - logs_s
        print(f"  where a {kind} block's {block_s * 1e3:.0f} ms went beyond bare (median {gap_s * 1e3:+.1f} ms): "
              f"sampler thread CPU {sampler_s / block_s:.3%}, meter windows {windows_s / block_s:.3%}, "
              f"store per log {logs_s / block_s:.3%}, rest (GIL, caches, noise) {rest_s / block_s:+.3%}")


def bare_steps_per_s(spec: RunSpec) -> float:
    """A whole bare run: the same model, data, optimizer and host syncs (one per log_every steps), nothing else."""
    torch.set_num_threads(spec.train.threads or torch.get_num_threads())
    seed_everything(spec.seed)
    task = build_task(spec.task, DEVICE)
    model = build_model(spec.model, task.io).to(DEVICE)
    optimizer = make_optimizer(spec, model)
    schedule = make_schedule(spec, optimizer)
    generator = torch.Generator(device=DEVICE).manual_seed(spec.seed)
    model.train()
    pending: list[torch.Tensor] = []
    start = time.perf_counter()
    for step in range(1, spec.train.max_steps + 1):
        inputs, targets = task.batch(generator)
        loss = task.loss(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        pending.append(loss.detach())
        if step % spec.train.log_every == 0:
            torch.stack(pending).float().cpu()
            pending.clear()
    return spec.train.max_steps / (time.perf_counter() - start)


def bnbench_steps_per_s(spec: RunSpec, root: Path) -> float:
    """A whole run on the run driver's path: meter windows at every phase, the sampler streaming power.parquet."""
    metric, _, _, references = task_metadata(spec.task)
    store = RunStore.create(root, {}, {}, run_columns(metric, references))
    curves = store.writer("curves", spec.run_id, curve_columns(metric, references))
    power = store.writer("power", spec.run_id, POWER_COLUMNS)
    meter = open_run_meter("cpu", spec.energy, warn=lambda _: None)
    sampler = Sampler(meter, spec.energy.sample_hz, lambda s: _power_rows(spec, s, power), power.flush).start()
    hooks = RunHooks(spec, DEVICE, curves, SilentProgress(), threading.Event(), meter)  # type: ignore[arg-type]
    hooks.power = power
    try:
        outcome, _ = train(spec, DEVICE, hooks)
    finally:
        sampler.stop()
    return outcome.steps / meter.phase_s["train"]


def run_whole(args: argparse.Namespace, root: Path) -> None:
    if args.whole_rounds == 0:
        print("\nWhole runs: skipped (--whole-rounds 0)")
        return
    kinds = ["bare", *RATES]
    results: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(args.whole_rounds):
        for i in range(len(kinds)):
            kind = kinds[(r + i) % len(kinds)]  # rotate the order each round
            spec = make_spec(args.whole_steps, args.threads, args.batch_size, RATES.get(kind, 10.0))
            folder = root / f"whole-{r}-{i}"
            value = bare_steps_per_s(spec) if kind == "bare" else bnbench_steps_per_s(spec, folder)
            results[kind].append(value)
    print(f"\nWhole runs: {args.whole_steps} steps, built from scratch, {args.whole_rounds} rounds")
    for kind in RATES:
        ratios = [m / b for b, m in zip(results["bare"], results[kind], strict=True)]
        print(f"  metered at {kind:6s}: median throughput {statistics.median(ratios):.3f} x the bare run's "
              f"(per round: {', '.join(f'{x:.3f}' for x in ratios)})")


def at_least(low: float, kind: type = int) -> Callable[[str], float]:
    """An argparse type: a number of `kind` no smaller than `low` (argparse turns the error into exit 2)."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None
        if not value >= low:  # NaN too
            raise argparse.ArgumentTypeError(f"must be at least {low:g} (got {text})")
        return value

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=at_least(0.0, float), default=0.005,
                        help="stop once both wall intervals are this narrow (+-, as a fraction)")
    parser.add_argument("--minutes", type=at_least(0.0, float), default=30.0,
                        help="stop after this long whatever the intervals (one round at least)")
    parser.add_argument("--min-rounds", type=at_least(1), default=60)
    parser.add_argument("--block-steps", type=at_least(1), default=3)
    parser.add_argument("--whole-rounds", type=at_least(0), default=3, help="rounds of whole runs; 0 skips them")
    parser.add_argument("--whole-steps", type=at_least(1), default=200)
    parser.add_argument("--threads", type=at_least(1), default=1)
    parser.add_argument("--batch-size", type=at_least(1), default=32)
    parser.add_argument("--verbose", action="store_true", help="print every round's block times")
    args = parser.parse_args()
    load_before = os.getloadavg()
    bare_steps_per_s(make_spec(20, args.threads, args.batch_size, 10.0))  # burn-in: one-time library set-up
    with tempfile.TemporaryDirectory() as tmp:
        run_blocks(args, Path(tmp) / "blocks")
        run_whole(args, Path(tmp))
    load_after = os.getloadavg()
    print(f"\nload average (1, 5, 15 min) {', '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{', '.join(f'{x:.2f}' for x in load_after)} after, on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
