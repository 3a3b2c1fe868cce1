"""What a checkpoint costs, in training steps: SRCNN with zero-debias batch norm on the CPU.

One process trains the quick scenario's network and takes a checkpoint every `--every` steps through the real
writer (torch.save to a temporary file, fsync, rename, pruning), then verifies and loads the newest one as a
resume does (zip CRCs, `torch.load(weights_only=True)`). Both are measured against the mean training step of
the same run, so the ratio holds on a shared machine better than either time alone.

    python benchmarks/checkpoint_cost.py [--steps 120] [--every 10] [--threads 1] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from bnbench import checkpoint
from bnbench.scenario import expand, from_dict
from bnbench.train import NullHooks, train


class Timed(NullHooks):
    """Times every 'train' window and every checkpoint write."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.train_s = 0.0
        self.save_s: list[float] = []

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        if name == "train":
            self.train_s += time.perf_counter() - start

    def on_checkpoint(self, step: int, state: dict[str, Any]) -> None:
        start = time.perf_counter()
        checkpoint.save(self.folder, step, state)
        self.save_s.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    spec = expand(from_dict({
        "scenario": {"name": "checkpoint-cost"}, "task": {"batch_size": args.batch_size},
        "model": {"norm": "batch", "decay": 0.999, "zero_debias": True},
        "train": {"max_steps": args.steps, "eval_every": args.steps, "checkpoint_every": args.every,
                  "threads": args.threads},
    }))[0]
    with tempfile.TemporaryDirectory() as tmp:
        hooks = Timed(Path(tmp))
        outcome, _ = train(spec, torch.device("cpu"), hooks)
        start = time.perf_counter()
        found, state, _ = checkpoint.load_latest(Path(tmp))
        load_s = time.perf_counter() - start
        size_kb = found.path.stat().st_size / 1024 if found else float("nan")
    step_s = hooks.train_s / outcome.steps
    save_s = statistics.median(hooks.save_s)
    print(f"training step: {step_s * 1e3:.2f} ms (mean of {outcome.steps}, batch {args.batch_size}, "
          f"{args.threads} thread(s))")
    print(f"checkpoint save (write, fsync, rename, prune): {save_s * 1e3:.2f} ms median of {len(hooks.save_s)}, "
          f"{size_kb:.0f} KiB")
    print(f"checkpoint verify + load: {load_s * 1e3:.2f} ms")
    print(f"one checkpoint costs {save_s / step_s:.2f} training steps; at checkpoint_every = 500 that is "
          f"{100 * save_s / (500 * step_s):.3f}% of training time")


if __name__ == "__main__":
    main()
