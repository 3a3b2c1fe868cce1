"""The training loop for one RunSpec. It knows models, data and optimizers; it knows nothing of energy.

The caller passes `Hooks`: phase windows (the energy meter lives behind them), log and eval callbacks, and a
stop flag. Steps run in blocks between evaluations, so a phase window opens and closes once per block, not
once per step, and the loss reaches the host once per `log_every` steps.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import torch

from bnbench.data import build_task
from bnbench.models import build_model
from bnbench.scenario import RunSpec

Status = Literal["completed", "diverged", "failed", "interrupted"]
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class StepLog:
    """Training loss over the `log_every` steps ending at `step`; `t_s` counts from the first step."""

    step: int
    t_s: float
    loss: float
    loss_max: float


@dataclass(frozen=True)
class EvalLog:
    step: int
    t_s: float
    metrics: dict[str, float]


@dataclass
class Outcome:
    status: Status
    steps: int
    train_s: float
    evals: list[EvalLog] = field(default_factory=list)
    stop_reason: str = ""


class Hooks(Protocol):
    def phase(self, name: str) -> contextlib.AbstractContextManager[None]:
        """A window around `name` work ('warmup', 'train', 'eval'); the device is synchronized inside."""
        ...

    def on_log(self, log: StepLog) -> None: ...

    def on_eval(self, log: EvalLog) -> None: ...

    def should_stop(self) -> bool: ...


class NullHooks:
    """Hooks that record nothing: for tests and notebooks."""

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        yield

    def on_log(self, log: StepLog) -> None:
        pass

    def on_eval(self, log: EvalLog) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(spec: RunSpec, model: torch.nn.Module) -> torch.optim.Optimizer:
    t = spec.train
    if t.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=t.lr, momentum=t.sgd_momentum, weight_decay=t.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)


def make_schedule(spec: RunSpec, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step learning-rate schedule: constant, or cosine decay to zero at `max_steps`."""
    if spec.train.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec.train.max_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(spec: RunSpec, device: torch.device, hooks: Hooks | None = None) -> tuple[Outcome, torch.nn.Module]:
    """Train one run to its step or wall-clock budget. A non-finite loss ends it as `diverged`."""
    hooks = hooks or NullHooks()
    t = spec.train
    if t.threads is not None:
        torch.set_num_threads(t.threads)
    with hooks.phase("warmup"):
        seed_everything(spec.seed)
        task = build_task(spec.task, device)
        model = build_model(spec.model, task.io).to(device)
        optimizer = make_optimizer(spec, model)
        schedule = make_schedule(spec, optimizer)
        forward = torch.compile(model) if t.compile else model
        generator = torch.Generator(device=device).manual_seed(spec.seed)
    autocast = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16))
        if t.precision == "bf16"
        else contextlib.nullcontext
    )
    outcome = Outcome(status="completed", steps=0, train_s=0.0)
    start = time.perf_counter()
    pending: list[torch.Tensor] = []
    step = 0
    while step < t.max_steps and not outcome.stop_reason:
        block_end = min(t.max_steps, (step // t.eval_every + 1) * t.eval_every)
        model.train()
        with hooks.phase("train"):
            while step < block_end:
                inputs, targets = task.batch(generator)
                with autocast():
                    loss = task.loss(forward(inputs), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                pending.append(loss.detach())
                step += 1
                stop = _stop_reason(hooks, start, t.max_wall_s)
                if step % t.log_every == 0 or step == block_end or stop:
                    losses = torch.stack(pending).float().cpu()
                    pending.clear()
                    hooks.on_log(
                        StepLog(step, time.perf_counter() - start, losses.mean().item(), losses.max().item())
                    )
                    if not bool(torch.isfinite(losses).all()):
                        outcome.status, stop = "diverged", f"non-finite loss by step {step}"
                if stop:
                    outcome.stop_reason = stop
                    break
        outcome.steps = step
        if outcome.stop_reason == INTERRUPTED:
            outcome.status = "interrupted"
        if outcome.status != "completed":
            break
        with hooks.phase("eval"):
            model.eval()
            with autocast():
                metrics = task.evaluate(forward)
        log = EvalLog(step, time.perf_counter() - start, metrics)
        outcome.evals.append(log)
        hooks.on_eval(log)
    outcome.train_s = time.perf_counter() - start
    return outcome, model


def _stop_reason(hooks: Hooks, start: float, max_wall_s: float | None) -> str:
    if hooks.should_stop():
        return INTERRUPTED
    if max_wall_s is not None and time.perf_counter() - start >= max_wall_s:
        return f"wall-clock budget of {max_wall_s:g} s reached"
    return ""

