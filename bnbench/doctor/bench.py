"""SRCNN without and with batch norm: steps per second, joules per step and GPU busy % at a few batch sizes and
precisions, in the eager loop and with the step captured in a CUDA graph. Control and BN alternate at every
setting, so drift (clocks, heat) falls on both alike."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from bnbench.doctor.outcome import PASS, SKIP, WARN, Outcome
from bnbench.energy.busy import UNDER_BUSY_PCT

PATCH = 33  # SRCNN's training patch; the 9-1-5 network returns its centre 21 x 21
VARIANTS = (("control", "none"), ("bn", "batch"))
LOOPS = ("eager", "graph")  # the step launched op by op, and captured once in a CUDA graph (bnbench.graphed)
NEEDS_GPU = "graphed: needs a CUDA GPU"


class FixedPatches:
    """One batch of random patches, the same at every step: the bench measures the step, not the sampling."""

    def __init__(self, inputs: Any, targets: Any) -> None:
        self.inputs, self.targets = inputs, targets

    def batch(self, generator: Any) -> tuple[Any, Any]:
        return self.inputs, self.targets

    def loss(self, output: Any, target: Any) -> Any:
        import torch

        return torch.nn.functional.mse_loss(output.float(), target)


def measure(device: Any, norm: str, batch_size: int, precision: str, seconds: float,
            open_meter: Callable[[str], Any], warmup_steps: int = 10, loop: str = "eager",
            capture: Any = None) -> dict[str, Any]:
    """Train SRCNN (random patches, Adam) on `device` for about `seconds` after a warm-up; the run's meter of
    that device and its sampler give joules per step and busy %. `loop` "graph": after the warm-up the step is
    captured (`capture`, default a CUDA graph on `device`, as `[train] graph = true` does) and each step replays
    it."""
    import torch

    from bnbench.energy.run_meter import RunMeter
    from bnbench.energy.sampler import Sampler
    from bnbench.graphed import CudaCapture, capture_step
    from bnbench.models import ModelIO, build_model
    from bnbench.scenario import ModelConfig
    from bnbench.train import synchronize

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="srcnn", norm=norm, decay=0.9 if norm == "batch" else None),
                        ModelIO(1, 1, 1, PATCH)).to(device)
    graphed = loop == "graph"
    capture = capture or (CudaCapture(device) if graphed else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=graphed and capture.capturable)
    task = FixedPatches(torch.rand(batch_size, 1, PATCH, PATCH, device=device),
                        torch.rand(batch_size, 1, PATCH - 12, PATCH - 12, device=device))
    bf16 = precision == "bf16"

    def autocast() -> Any:  # no cache of cast weights in a graph: it would hold the copies made at capture
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=not graphed)

    def eager_step() -> None:
        with autocast():
            loss = task.loss(model(task.inputs), task.targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup_steps):
        eager_step()
    step: Callable[[], Any] = eager_step
    if graphed:
        replay = capture_step(task, model, model, optimizer, autocast, capture, device, rate_changes=False)
        generator = torch.Generator(device=device)

        def step() -> None:
            replay(generator)

    synchronize(device)
    meter = RunMeter([open_meter(str(device))])
    busy: list[float] = []
    sampler = Sampler(meter, 10.0, lambda samples: busy.extend(
        s.busy_pct for s in samples if s.busy_pct is not None and s.phase is not None))
    sampler.start()
    meter.open("train")
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            step()
        steps += 10
        synchronize(device)  # before every clock read: the time is the work's, not the launches'
    meter.close("train")
    sampler.stop()
    meter.close_parts()
    elapsed = meter.phase_s["train"]
    energy_j = meter.phase_j[str(device)]["train"]
    return {"norm": norm, "batch_size": batch_size, "precision": precision, "loop": loop, "steps": steps,
            "steps_per_s": steps / elapsed, "j_per_step": energy_j / steps, "source": meter.energy_source,
            "busy_pct": statistics.fmean(busy) if busy else math.nan}


def srcnn_bench(device: Any, batch_sizes: Sequence[int], precisions: Sequence[str], seconds: float,
                open_meter: Callable[[str], Any], loops: Sequence[str] = LOOPS) -> list[Outcome]:
    """One line per (batch size, precision): control and BN side by side, in each loop of `loops` the device
    runs (a CUDA graph needs a CUDA GPU; elsewhere the line says so). Figures in `data[loop][variant]`."""
    runnable = [loop for loop in loops if loop != "graph" or getattr(device, "type", "") == "cuda"]
    if not runnable:  # only the graphed loop asked for, off a CUDA GPU
        return [Outcome(SKIP, "srcnn bench", NEEDS_GPU)]
    outcomes = []
    for batch_size in batch_sizes:
        for precision in precisions:
            figures = {loop: {name: measure(device, norm, batch_size, precision, seconds, open_meter, loop=loop)
                              for name, norm in VARIANTS} for loop in runnable}
            outcomes.append(_line(batch_size, precision, figures, skipped=len(runnable) < len(loops)))
    return outcomes


def _line(batch_size: int, precision: str, figures: dict[str, dict[str, dict[str, Any]]], skipped: bool) -> Outcome:
    parts = []
    for loop, rows in figures.items():
        shown = "; ".join(f"{name} {r['steps_per_s']:.0f} steps/s, {r['j_per_step'] * 1000:.2f} mJ/step"
                          + ("" if math.isnan(r["busy_pct"]) else f", {r['busy_pct']:.0f}% busy")
                          for name, r in rows.items())
        ratio = rows["bn"]["steps_per_s"] / rows["control"]["steps_per_s"]
        parts.append(f"{loop}: {shown}; bn/control speed {ratio:.2f}x")
    if "eager" in figures and "graph" in figures:
        gain = ", ".join(f"{name} {figures['graph'][name]['steps_per_s'] / figures['eager'][name]['steps_per_s']:.2f}x"
                         for name in figures["eager"])
        parts.append(f"graphed/eager speed: {gain}")
    if skipped:
        parts.append(NEEDS_GPU)
    # The loop a run would choose: the faster one for BN. Under half busy there, launches still set the pace.
    best = max(figures, key=lambda loop: figures[loop]["bn"]["steps_per_s"])
    idle = [name for name, r in figures[best].items() if r["busy_pct"] < UNDER_BUSY_PCT]
    note = (f"; {', '.join(idle)} under half busy ({best}): launch overhead dominates at this batch size"
            if idle else "")
    return Outcome(WARN if idle else PASS, f"srcnn b{batch_size} {precision}", " | ".join(parts) + note, figures)
