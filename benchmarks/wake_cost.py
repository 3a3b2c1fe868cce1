"""What waking a sampler thread costs, before it does any work: the floor under every tick's CPU time.

While the main thread trains a small SRCNN-shaped network (1 torch thread), a second thread runs the sampler's
loop with nothing in it: monotonic deadlines at `--hz`, waiting either on a threading.Event (what
bnbench.energy.sampler does, so that stop() is immediate) or in time.sleep. It reports its own CPU time per wake-up
(time.thread_time): the system calls, the timer and taking the GIL back from the training thread. Kinds alternate
for `--rounds` rounds so drift hits both.

    python benchmarks/wake_cost.py [--hz 100] [--seconds 8] [--rounds 2]

Compare with the sampler thread's CPU share that benchmarks/overhead.py prints: what is above this floor is the
tick's own work (meter reads, power rows).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable

import torch


def make_step() -> Callable[[], None]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 64, 9, padding=4), torch.nn.ReLU(), torch.nn.Conv2d(64, 32, 1),
                              torch.nn.ReLU(), torch.nn.Conv2d(32, 1, 5, padding=2))
    optimizer = torch.optim.Adam(net.parameters())
    batch = torch.randn(32, 1, 33, 33)

    def step() -> None:
        optimizer.zero_grad()
        net(batch).pow(2).mean().backward()
        optimizer.step()

    return step


def wake_ms(kind: str, hz: float, seconds: float, step: Callable[[], None]) -> tuple[float, int]:
    """(thread CPU milliseconds per wake-up, wake-ups) of an empty sampler loop while `step` runs for `seconds`."""
    stop, result = threading.Event(), {}

    def loop() -> None:
        start, wakes, deadline = time.thread_time(), 0, time.perf_counter()
        while not stop.is_set():
            wakes += 1
            deadline += 1.0 / hz
            pause = max(0.0, deadline - time.perf_counter())
            if kind == "event":
                stop.wait(pause)
            else:
                time.sleep(pause)
        result["ms"], result["wakes"] = (time.thread_time() - start) / wakes * 1e3, wakes

    thread = threading.Thread(target=loop, name="empty-sampler")
    thread.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        step()
    stop.set()
    thread.join()
    return result["ms"], result["wakes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hz", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    step = make_step()
    for _ in range(10):  # first-call costs out of the measured rounds
        step()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    costs: dict[str, list[float]] = {"event": [], "sleep": []}
    for round_ in range(args.rounds):
        for kind in (("event", "sleep") if round_ % 2 == 0 else ("sleep", "event")):
            ms, wakes = wake_ms(kind, args.hz, args.seconds, step)
            costs[kind].append(ms)
            print(f"round {round_ + 1}: {kind:5s} {ms:.3f} ms of thread CPU per wake-up ({wakes} wake-ups)", flush=True)
    for kind, values in costs.items():
        share = statistics.median(values) * args.hz / 10  # ms per wake-up x wake-ups per second, as % of a core
        print(f"{kind}: median {statistics.median(values):.3f} ms per wake-up = {share:.2f}% of a core at "
              f"{args.hz:g} Hz")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
