"""The training loop for one RunSpec. It knows models, data and optimizers; it knows nothing of energy.

The caller passes `Hooks`: phase windows (the energy meter lives behind them), log and eval callbacks, and a
stop flag. Steps run in blocks between evaluations, so a phase window opens and closes once per block, not
once per step, and the loss reaches the host once per `log_every` steps.
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from bnbench import backend
from bnbench.checkpoint import capture_training, restore_training
from bnbench.data import Task, build_task
from bnbench.energy.meter import warn_once
from bnbench.graphed import (
    GRAPH_ASKED,
    GRAPH_DEFAULT,
    Capture,
    CudaCapture,
    GraphedStep,
    Loop,
    capture_step,
    graph_refusal,
    requested,
    rng_devices,
)
from bnbench.hooks import INTERRUPTED, EvalLog, Hooks, Outcome, StepLog
from bnbench.models import build_model
from bnbench.replicas import Replicas
from bnbench.scenario import RunSpec


class NullHooks:
    """Hooks that record nothing: for tests and notebooks."""

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        yield

    def on_log(self, log: StepLog) -> None:
        pass

    def on_eval(self, log: EvalLog) -> None:
        pass

    def on_checkpoint(self, step: int, state: dict[str, Any]) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimizer(spec: RunSpec, model: torch.nn.Module, capturable: bool = False) -> torch.optim.Optimizer:
    """The run's optimizer; `capturable`: its step may be captured in a CUDA graph (Adam's step count lives on
    the device; SGD keeps no count and needs nothing)."""
    t = spec.train
    if t.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=t.lr, momentum=t.sgd_momentum, weight_decay=t.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay, capturable=capturable)


def make_schedule(spec: RunSpec, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step learning-rate schedule: constant, or cosine decay to zero at `max_steps`."""
    if spec.train.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec.train.max_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def device_capture(device: torch.device) -> Capture:
    """What captures and replays a graphed step on `device` (the seam tests fill with bnbench.graphed.CallCapture)."""
    return CudaCapture(device)


def graph_by_default(device: torch.device) -> bool:
    """Whether a run on `device` with [train] graph unset asks for the graphed loop: on a CUDA GPU (the seam tests
    fill to take that path on the CPU)."""
    return device.type == "cuda"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    spec: RunSpec, device: torch.device, hooks: Hooks | None = None, resume: dict[str, Any] | None = None
) -> tuple[Outcome, torch.nn.Module]:
    """Train one run to its step or wall-clock budget. A non-finite loss ends it as `diverged`.

    Checkpoints go to `hooks.on_checkpoint` every `checkpoint_every` steps (default: at every evaluation), at
    least every `checkpoint_every_s` seconds, and at the end. `resume` is such a checkpoint's state: the run
    continues from it as if it had never stopped (on the CPU, to the same weights bit for bit). The math mode
    (bnbench.backend) is set first; the data, model and optimizer are built inside the `setup` window;
    `warmup_steps` steps on copies, and the capture of the graphed step (`graph = true`, or unset on a CUDA GPU),
    then run inside the `warmup` window; the loop, its evaluations and checkpoints inside one `train` window
    (evaluations and checkpoints in windows of their own nested in it). The outcome names the loop that ran and,
    where it is not the one asked for, why (said once on stderr too where `graph = true` asked for it).
    """
    hooks = hooks or NullHooks()
    t = spec.train
    mode = backend.math_mode(t)
    backend.apply(mode)  # every flag that changes results or speed, set explicitly (bnbench.backend)
    autocast = backend.autocast(mode, device)
    with hooks.phase("setup"):
        seed_everything(spec.seed)
        task = build_task(spec.task, device)
        model = build_model(spec.model, task.io).to(device)
        if mode.channels_last:
            # Module.to takes memory_format at run time; torch's overloads for it leave the keyword out
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        replicas = Replicas.current()  # one process, or one of a DDP run's (bnbench.execute.ddp)
        loop = requested(t.graph, t.compile, graph_by_default(device))
        asked = GRAPH_ASKED if t.graph else GRAPH_DEFAULT
        capture: Capture | None = None
        if loop.name == "graph":
            refused = graph_refusal(device, replicas, t.optimizer, t.schedule, asked)
            loop, capture = (Loop("eager", refused), None) if refused else (loop, device_capture(device))
        optimizer = make_optimizer(spec, model, capturable=capture is not None and capture.capturable)
        schedule = make_schedule(spec, optimizer)
        forward = prepare_forward(model, device, mode, t.compile, replicas)
        generator = torch.Generator(device=device).manual_seed(replicas.seed(spec.seed))
    outcome = Outcome(status="completed", steps=0, train_s=0.0)
    pending: list[torch.Tensor] = []
    step, elapsed_s = 0, 0.0
    if resume is not None:  # before the capture: a graph holds the tensors it was captured with
        pending = restore_training(resume, model, optimizer, schedule, generator)
        step, elapsed_s = int(resume["step"]), float(resume["elapsed_s"])
        outcome.steps = step
        outcome.evals = [EvalLog(e["step"], e["t_s"], e["metrics"]) for e in resume["evals"]]
        if resume["stop_reason"] != INTERRUPTED:  # a finished run stays finished
            outcome.status, outcome.stop_reason = resume["status"], resume["stop_reason"]
        if replicas.rank:  # the checkpoint holds replica 0's patch stream; the others need streams of their own
            generator.manual_seed(replicas.seed(spec.seed) + step)
    graphed: GraphedStep | None = None
    if t.warmup_steps or capture is not None:
        with hooks.phase("warmup"):
            if t.warmup_steps:
                warm_up(spec, task, model, device, mode, replicas)
            if capture is not None:
                graphed, loop = graph_or_eager(task, forward, model, optimizer, mode, device, capture,
                                              rate_changes=t.schedule != "constant", asked=asked)
    if loop.note and t.graph:  # the default loop's fallback is recorded (loop_note), not said: nobody asked for it
        warn_once(f"{loop.note}; this run trains eager")
    outcome.loop, outcome.loop_note = loop.name, loop.note
    start = time.perf_counter() - elapsed_s
    every = t.checkpoint_every or t.eval_every
    last_checkpoint = time.perf_counter()

    def checkpoint() -> None:
        nonlocal last_checkpoint
        state = capture_training(
            model=model, optimizer=optimizer, schedule=schedule, generator=generator, step=step,
            elapsed_s=time.perf_counter() - start, pending_losses=pending,
            evals=[{"step": e.step, "t_s": e.t_s, "metrics": e.metrics} for e in outcome.evals],
            status=outcome.status, stop_reason=outcome.stop_reason,
        )
        with hooks.phase("checkpoint"):
            hooks.on_checkpoint(step, state)
        last_checkpoint = time.perf_counter()

    def checkpoint_due_by_time() -> bool:
        return t.checkpoint_every_s is not None and time.perf_counter() - last_checkpoint >= t.checkpoint_every_s

    def evaluate() -> None:
        with hooks.phase("eval"):
            model.eval()
            with autocast():
                metrics = task.evaluate(eager_module(forward))
        log = EvalLog(step, time.perf_counter() - start, metrics)
        outcome.evals.append(log)
        hooks.on_eval(log)

    # A stop on the last step of a block comes before that block's evaluation: a run resumed from there
    # evaluates first, or it would end (or go on) without that evaluation and report the one before it.
    due = bool(step) and (step % t.eval_every == 0 or step == t.max_steps)
    owed = due and outcome.status == "completed" and (not outcome.evals or outcome.evals[-1].step != step)
    # One window around the whole loop, evaluations and checkpoints nested in it: no gap between blocks
    # is left out of the measured phases.
    with hooks.phase("train"):
        if resume is not None and owed:
            evaluate()
            if step < t.max_steps:
                checkpoint()
        while step < t.max_steps and not outcome.stop_reason:
            block_end = min(t.max_steps, (step // t.eval_every + 1) * t.eval_every, (step // every + 1) * every)
            model.train()
            while step < block_end:
                if graphed is not None:
                    loss = graphed(generator)
                else:
                    loss = train_step(task, forward, optimizer, generator, autocast)
                schedule.step()
                pending.append(replicas.mean(loss.detach()))
                step += 1
                stop = replicas.agree(_stop_reason(hooks, start, t.max_wall_s), INTERRUPTED)
                if step % t.log_every == 0 or step % t.eval_every == 0 or step == t.max_steps or stop:
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
                if checkpoint_due_by_time():
                    break
            outcome.steps = step
            if outcome.stop_reason == INTERRUPTED:
                outcome.status = "interrupted"
            if outcome.status != "completed":
                break
            if step % t.eval_every == 0 or step == t.max_steps or outcome.stop_reason:
                evaluate()
            if step < t.max_steps and not outcome.stop_reason and (step % every == 0 or checkpoint_due_by_time()):
                checkpoint()
        outcome.train_s = time.perf_counter() - start
        checkpoint()  # the final state: what `bnbench eval` reloads, and where an interrupted run resumes
    return outcome, model


def graph_or_eager(
    task: Task, forward: torch.nn.Module, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
    mode: backend.MathMode, device: torch.device, capture: Capture, rate_changes: bool, asked: str = GRAPH_ASKED,
) -> tuple[GraphedStep | None, Loop]:
    """The run's step captured, or None and the eager loop with why, where the capture raised (a model that reads
    a value back to the host during its step, for one). Model and optimizer keep their values either way."""
    try:
        return capture_step(task, forward, model, optimizer, backend.autocast(mode, device, cache=False), capture,
                            device, rate_changes=rate_changes), Loop("graph")
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, Loop("eager", f"{asked} could not capture the training step ({first})")


def eager_module(forward: torch.nn.Module) -> torch.nn.Module:
    """What an evaluation calls: the loop's module without torch.compile. An evaluation runs whole images of
    several sizes; through the compiled module each new size would make Dynamo recompile and mark the sizes
    dynamic, so the training step, compiled again for any size, would run slower kernels. The graphed loop
    evaluates uncompiled too."""
    return getattr(forward, "_orig_mod", forward)


def prepare_forward(
    model: torch.nn.Module, device: torch.device, mode: backend.MathMode, compile: str, replicas: Replicas
) -> torch.nn.Module:
    """What the loop calls: `model` as one of the run's replicas (DDP), taking channels-last batches when the
    math mode says so, compiled in torch.compile's `compile` mode unless it is "none"."""
    forward = replicas.wrap(model, device)
    forward = backend.ChannelsLastInputs(forward) if mode.channels_last else forward
    if compile == "none":
        return forward
    return torch.compile(forward, mode=None if compile == "default" else compile)  # type: ignore[return-value]


def train_step(
    task: Task, forward: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]],
) -> torch.Tensor:
    """One optimizer step on a batch drawn with `generator`; returns the loss (on the device, not synchronized)."""
    inputs, targets = task.batch(generator)
    with autocast():
        loss = task.loss(forward(inputs), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def warm_up(
    spec: RunSpec, task: Task, model: torch.nn.Module, device: torch.device, mode: backend.MathMode,
    replicas: Replicas,
) -> None:
    """`spec.train.warmup_steps` steps and one evaluation through the run's own code path, on copies of `model`
    and its optimizer, with a patch stream of their own.

    What a first call costs (torch.compile, cuDNN's algorithm search, lazy kernel loading, allocator growth,
    first-touch initialisation) is paid here, inside the `warmup` window, instead of in the first measured
    `train` and `eval` windows. The run's model, optimizer, patch stream and every RNG state are left as they
    were, so on the CPU the run ends with the same weights, bit for bit, with or without a warm-up.
    """
    autocast = backend.autocast(mode, device)
    shadow = copy.deepcopy(model)
    forward = prepare_forward(shadow, device, mode, spec.train.compile, replicas)
    optimizer = make_optimizer(spec, shadow)
    generator = torch.Generator(device=device).manual_seed(replicas.seed(spec.seed))
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=rng_devices(device)):
        shadow.train()
        for _ in range(spec.train.warmup_steps):
            loss = train_step(task, forward, optimizer, generator, autocast)
            replicas.mean(loss.detach())
        shadow.eval()
        with autocast():
            task.evaluate(eager_module(forward))
        synchronize(device)
    random.setstate(python_state)
    np.random.set_state(numpy_state)


def _stop_reason(hooks: Hooks, start: float, max_wall_s: float | None) -> str:
    if hooks.should_stop():
        return INTERRUPTED
    if max_wall_s is not None and time.perf_counter() - start >= max_wall_s:
        return f"wall-clock budget of {max_wall_s:g} s reached"
    return ""

