"""The ceiling of `benchmarks/parallel.py` on this machine: what two cores give two training processes at once.

Two worker processes, each pinned to its own core with one torch thread, build the SRCNN control of
`benchmarks/parallel.py` (batch 32, the bundled photos) and warm up. Then rounds of `--seconds` each, in an order
that alternates: one worker trains alone while the other waits (the two take turns), or both train at once.
A round's figure is the steps both workers made together per second, over the steps the lone worker made per
second: what a second core adds. With nothing shared, 2.00x; caches, memory bandwidth and a VM's neighbours
take their part, and no scheduler can win it back, so `parallel.py`'s speed-up cannot exceed this figure on the
same machine the same hour (its sessions also pay start-up, the parent's work and each run's set-up).

    python benchmarks/core_scaling.py [--seconds 20] [--rounds 6]

Prints each round, then the median and the range. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from multiprocessing.connection import Connection


def worker(core: int, commands: Connection) -> None:
    """Train on `core` for as many seconds as each command says; answer with the steps made."""
    os.sched_setaffinity(0, {core})
    import torch

    from bnbench.data import build_task
    from bnbench.models import build_model
    from bnbench.scenario import expand, from_dict

    torch.set_num_threads(1)
    spec = expand(from_dict({"scenario": {"name": "scaling", "seeds": [0], "device": "cpu"},
                             "task": {"batch_size": 32}}))[0]
    task = build_task(spec.task, torch.device("cpu"))
    model = build_model(spec.model, task.io)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(core)

    def step() -> None:
        inputs, target = task.batch(generator)
        optimizer.zero_grad(set_to_none=True)
        task.loss(model(inputs), target).backward()
        optimizer.step()

    for _ in range(20):  # warm-up: allocator, kernels' first calls
        step()
    commands.send("ready")
    while (seconds := commands.recv()) is not None:
        steps, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            step()
            steps += 1
        commands.send(steps / seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of (alone, both) in alternating order")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        raise SystemExit("core_scaling needs 2 cores")
    context = mp.get_context("spawn")
    pipes = [context.Pipe() for _ in cores]
    workers = [context.Process(target=worker, args=(core, child), daemon=True) for core, (_, child) in
               zip(cores, pipes, strict=True)]
    for process in workers:
        process.start()
    ends = [parent for parent, _ in pipes]
    for end in ends:
        assert end.recv() == "ready"
    load_before = os.getloadavg()
    ratios = []
    for index in range(args.rounds):
        lone = index % 2  # the workers take turns alone, so neither core is favoured
        figures: dict[str, float] = {}
        for phase in (("alone", "both") if index % 2 == 0 else ("both", "alone")):
            chosen = [ends[lone]] if phase == "alone" else ends
            for end in chosen:
                end.send(args.seconds)
            figures[phase] = sum(end.recv() for end in chosen)
        ratios.append(figures["both"] / figures["alone"])
        print(f"round {index + 1}: alone (core {cores[lone]}) {figures['alone']:.2f} steps/s, both "
              f"{figures['both']:.2f} steps/s: {ratios[-1]:.2f}x", flush=True)
    for end in ends:
        end.send(None)
    for process in workers:
        process.join()
    load_after = os.getloadavg()
    print(f"\ntwo training processes made {statistics.median(ratios):.2f}x the steps of one (median of "
          f"{len(ratios)} rounds, {min(ratios):.2f}-{max(ratios):.2f}): the ceiling of parallel.py's speed-up here")
    print(f"load average (1, 5, 15 min) {', '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{', '.join(f'{x:.2f}' for x in load_after)} after, on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
