"""SRCNN without and with batch norm: steps per second, joules per step and GPU busy % at a few batch sizes and
precisions. Control and BN alternate at every setting, so drift (clocks, heat) falls on both alike."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from bnbench.doctor.outcome import PASS, WARN, Outcome
from bnbench.energy.busy import UNDER_BUSY_PCT

PATCH = 33  # SRCNN's training patch; the 9-1-5 network returns its centre 21 x 21
VARIANTS = (("control", "none"), ("bn", "batch"))


def measure(device: Any, norm: str, batch_size: int, precision: str, seconds: float,
            open_meter: Callable[[str], Any], warmup_steps: int = 10) -> dict[str, Any]:
    """Train SRCNN (random patches, Adam) on `device` for about `seconds` after a warm-up; the run's meter of
    that device and its sampler give joules per step and busy %."""
    import torch

    from bnbench.energy.run_meter import RunMeter
    from bnbench.energy.sampler import Sampler
    from bnbench.models import ModelIO, build_model
    from bnbench.scenario import ModelConfig
    from bnbench.train import synchronize

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="srcnn", norm=norm, decay=0.9 if norm == "batch" else None),
                        ModelIO(1, 1, 1, PATCH)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch_size, 1, PATCH, PATCH, device=device)
    y = torch.rand(batch_size, 1, PATCH - 12, PATCH - 12, device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup_steps):
        step()
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
        synchronize(device)
    meter.close("train")
    sampler.stop()
    meter.close_parts()
    elapsed = meter.phase_s["train"]
    energy_j = meter.phase_j[str(device)]["train"]
    return {"norm": norm, "batch_size": batch_size, "precision": precision, "steps": steps,
            "steps_per_s": steps / elapsed, "j_per_step": energy_j / steps, "source": meter.energy_source,
            "busy_pct": statistics.fmean(busy) if busy else math.nan}


def srcnn_bench(device: Any, batch_sizes: Sequence[int], precisions: Sequence[str], seconds: float,
                open_meter: Callable[[str], Any]) -> list[Outcome]:
    """One line per (batch size, precision): control and BN side by side."""
    outcomes = []
    for batch_size in batch_sizes:
        for precision in precisions:
            rows = {name: measure(device, norm, batch_size, precision, seconds, open_meter)
                    for name, norm in VARIANTS}
            c, b = rows["control"], rows["bn"]
            parts = [f"{name} {r['steps_per_s']:.0f} steps/s, {r['j_per_step'] * 1000:.2f} mJ/step"
                     + ("" if math.isnan(r["busy_pct"]) else f", {r['busy_pct']:.0f}% busy")
                     for name, r in rows.items()]
            ratio = b["steps_per_s"] / c["steps_per_s"]
            idle = [n for n, r in rows.items() if r["busy_pct"] < UNDER_BUSY_PCT]
            status = WARN if idle else PASS
            note = (f"; {', '.join(idle)} under half busy: launch overhead dominates at this batch size"
                    if idle else "")
            outcomes.append(Outcome(status, f"srcnn b{batch_size} {precision}",
                                    f"{'; '.join(parts)}; bn/control speed {ratio:.2f}x{note}",
                                    {"control": c, "bn": b}))
    return outcomes
