"""What measuring costs: SRCNN training throughput through bnbench (meter windows, sampler thread at 10 Hz and
100 Hz, curves, checkpoints) against a bare PyTorch loop doing the same steps with the same threads.

The three are alternated in one process, round after round (the order rotates each round), so drift on a
shared machine hits them alike. Throughput is steps per second of the training windows (warm-up, data loading
and evaluation are outside them in both); a short untimed burn-in comes first. Prints each measurement and the
median ratio per rate, then the sampler's own cost: the time one tick takes, as a share of a core at 100 Hz.

    python benchmarks/overhead.py [--steps 100] [--rounds 8] [--threads 1] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

from bnbench.data import build_task, task_metadata
from bnbench.display import SilentProgress
from bnbench.energy.devices import open_run_meter
from bnbench.energy.sampler import Sampler
from bnbench.execute.driver import RunHooks, _power_rows
from bnbench.models import build_model
from bnbench.results.schema import POWER_COLUMNS, curve_columns, run_columns
from bnbench.results.store import RunStore
from bnbench.scenario import RunSpec, expand, from_dict
from bnbench.train import make_optimizer, make_schedule, seed_everything, train

DEVICE = torch.device("cpu")


def make_spec(steps: int, threads: int, batch_size: int, hz: float) -> RunSpec:
    scenario = from_dict({
        "scenario": {"name": "overhead", "seeds": [0], "device": "cpu"},
        "task": {"batch_size": batch_size},
        "train": {"max_steps": steps, "eval_every": steps, "log_every": 10, "threads": threads},
        "energy": {"sample_hz": hz, "idle_s": 0},
    })
    return expand(scenario)[0]


def bare_steps_per_s(spec: RunSpec) -> float:
    """The same model, data, optimizer and host syncs (one per log_every steps), nothing else."""
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
    """The run driver's path: meter windows at every phase, the sampler thread streaming power.parquet."""
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


def sampler_tick_s(ticks: int = 2000) -> float:
    """Seconds one sampler tick takes (read the CPU meter, build the power rows), timed alone."""
    spec = make_spec(1, 1, 1, 100.0)
    meter = open_run_meter("cpu", spec.energy, warn=lambda _: None)
    rows: list[object] = []
    meter.open("train")
    start = time.perf_counter()
    for _ in range(ticks):
        rows.extend(meter.sample())
    return (time.perf_counter() - start) / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    kinds = ["bare", "bnbench 10 Hz", "bnbench 100 Hz"]
    rates = {"bnbench 10 Hz": 10.0, "bnbench 100 Hz": 100.0}
    results: dict[str, list[float]] = {k: [] for k in kinds}
    bare_steps_per_s(make_spec(20, args.threads, args.batch_size, 10.0))  # burn-in: one-time library set-up
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i in range(len(kinds)):
                kind = kinds[(r + i) % len(kinds)]  # rotate the order each round
                spec = make_spec(args.steps, args.threads, args.batch_size, rates.get(kind, 10.0))
                folder = Path(tmp) / f"{r}-{i}"
                value = bare_steps_per_s(spec) if kind == "bare" else bnbench_steps_per_s(spec, folder)
                results[kind].append(value)
                print(f"round {r + 1}: {kind:15s} {value:7.2f} steps/s", flush=True)
    bare = results["bare"]
    print(f"\nSRCNN, batch {args.batch_size}, {args.steps} steps, {args.threads} thread(s), {args.rounds} rounds")
    for kind in rates:
        ratios = [b / a for a, b in zip(bare, results[kind], strict=True)]
        print(f"{kind}: median throughput {statistics.median(ratios):.3f} x the bare loop's "
              f"(per round: {', '.join(f'{x:.3f}' for x in ratios)})")
    tick_s = sampler_tick_s()
    print(f"sampler tick: {tick_s * 1e6:.0f} us, {tick_s * 100:.2%} of one core at 100 Hz, "
          f"{tick_s * 10:.3%} at 10 Hz")


if __name__ == "__main__":
    main()
