"""Per-step cost of each norm on SRCNN 9-1-5, as a ratio to no norm, measured in one process.

Prints one line per norm: median seconds per training step (forward, backward, Adam) over interleaved rounds and
its ratio to `none`. Usage: python benchmarks/norm_cost.py [--steps 20] [--rounds 5] [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bnbench.models import ModelIO, build_model
from bnbench.scenario import ModelConfig

NORMS = ("none", "batch", "batchrenorm", "group", "layer", "instance")


def step_s(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        loss = model(x).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 1, 33, 33)
    setups = {}
    for norm in NORMS:
        model = build_model(ModelConfig(norm=norm, groups=8, renorm_warmup=0, renorm_ramp=0), ModelIO(1, 1))
        setups[norm] = (model, torch.optim.Adam(model.parameters(), lr=1e-4))
        step_s(*setups[norm], x, 3)  # warm-up
    times: dict[str, list[float]] = {norm: [] for norm in NORMS}
    for _ in range(args.rounds):  # interleaved, so a burst of load on a shared machine hits every norm alike
        for norm in NORMS:
            times[norm].append(step_s(*setups[norm], x, args.steps))
    base = statistics.median(times["none"])
    for norm in NORMS:
        median = statistics.median(times[norm])
        print(f"{norm:12s} {1000 * median:8.1f} ms/step  {median / base:5.2f} x none")


if __name__ == "__main__":
    main()
