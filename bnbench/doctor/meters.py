"""The GPU energy readings themselves: how often the counter moves, what an NVML call costs, idle watts three
ways, and a one-GPU-at-a-time load that only that GPU's meter may see. Through the meters a run opens."""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from bnbench.doctor.outcome import FAIL, PASS, WARN, Outcome
from bnbench.energy import nvml
from bnbench.energy.source import SourceError

Clock = Callable[[], float]
MAX_DISCREPANCY = 0.03  # integrated sampled power against the counter, over the same spans
ROSE_W = 20.0  # a loaded GPU must draw at least this much above idle for the test to mean anything


def counter_period(api: Any, handle: Any, duration_s: float = 2.0, clock: Clock = time.perf_counter) -> Outcome:
    """Read the energy counter back to back for `duration_s`: the median time between changes is its real
    update period, the median read its call latency."""
    last = nvml.counter_j(api, handle)
    changes: list[float] = []
    latencies: list[float] = []
    t0 = clock()
    while True:
        a = clock()
        if a - t0 >= duration_s:
            break
        value = nvml.counter_j(api, handle)
        b = clock()
        latencies.append(b - a)
        if value != last:
            changes.append(b)
            last = value
    periods = [y - x for x, y in zip(changes, changes[1:], strict=False)]
    data: dict[str, Any] = {"reads": len(latencies), "changes": len(changes),
            "period_ms": statistics.median(periods) * 1000 if periods else None,
            "read_ms": statistics.median(latencies) * 1000 if latencies else None}
    if not periods:
        return Outcome(WARN, "counter period", f"the counter moved {len(changes)} time(s) in {duration_s:g} s: "
                       "too few to tell its period", data)
    status = PASS if data["period_ms"] <= 100 else WARN
    advice = "" if status == PASS else "; a phase window shorter than this reads 0 J: lengthen eval_every"
    return Outcome(status, "counter period", f"moves every {data['period_ms']:.1f} ms (median of {len(periods)}), "
                   f"a read takes {data['read_ms']:.3f} ms{advice}", data)


def call_latency(api: Any, handle: Any, calls: int = 200, clock: Clock = time.perf_counter) -> Outcome:
    """The median cost of each NVML call a sampler tick makes (counter, instant power, averaged power, busy %)."""
    reads = {"counter": lambda: nvml.counter_j(api, handle), "instant_power": lambda: nvml.instant_power_w(api, handle),
             "average_power": lambda: nvml.usage_power_w(api, handle), "busy": lambda: nvml.busy_pct(api, handle)}
    data: dict[str, float | None] = {}
    for name, read in reads.items():
        times = []
        try:
            for _ in range(calls):
                a = clock()
                read()
                times.append(clock() - a)
        except SourceError:
            data[f"{name}_ms"] = None
            continue
        data[f"{name}_ms"] = statistics.median(times) * 1000
    known = {k: v for k, v in data.items() if v is not None}
    tick_ms = sum(known.values())
    data["tick_ms"] = tick_ms
    shown = ", ".join(f"{k.removesuffix('_ms')} {v:.3f} ms" for k, v in known.items())
    status = PASS if tick_ms < 5.0 else WARN
    return Outcome(status, "nvml latency", f"{shown} (unsupported: "
                   f"{', '.join(k.removesuffix('_ms') for k, v in data.items() if v is None) or 'none'})", data)


def idle_three_ways(api: Any, handle: Any, seconds: float = 5.0, hz: float = 10.0, clock: Clock = time.perf_counter,
                    sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Idle watts from the counter (difference / time), the instant field and the averaged power API."""
    instant: list[float] = []
    average: list[float] = []
    t0, e0 = clock(), nvml.counter_j(api, handle)
    while clock() - t0 < seconds:
        for values, read in ((instant, nvml.instant_power_w), (average, nvml.usage_power_w)):
            with contextlib.suppress(SourceError):
                values.append(read(api, handle))
        sleep(1.0 / hz)
    e1, t1 = nvml.counter_j(api, handle), clock()
    counter_w = (e1 - e0) / (t1 - t0)
    data = {"counter_w": counter_w, "instant_w": statistics.fmean(instant) if instant else None,
            "average_w": statistics.fmean(average) if average else None, "seconds": t1 - t0}
    shown = f"counter {counter_w:.1f} W"
    worst = 0.0
    for key, label in (("instant_w", "instant field"), ("average_w", "averaged API")):
        value = data[key]
        shown += f", {label} " + ("unsupported" if value is None else f"{value:.1f} W")
        if value is not None and counter_w > 0:
            worst = max(worst, abs(value / counter_w - 1.0))
    data["worst_difference"] = worst
    status = PASS if worst <= 0.10 else WARN
    return Outcome(status, "idle watts", shown + ("" if status == PASS else
                   f"; they differ by {worst * 100:.0f}%: trust the counter"), data)


def judge_burn(target: str, idle_w: dict[str, float], load_w: dict[str, float], integral_j: float,
               counter_j: float) -> Outcome:
    """Whether a load on `target` showed only on its own meter, and its sampled power matched its counter.

    `idle_w` and `load_w`: mean watts per GPU before and during the load; `integral_j` and `counter_j`: the
    target's integrated sampled power and its counter over the same spans. Another GPU may rise by at most
    10% of the target's rise (at least 10 W: a shared board or cooling moves a little).
    """
    rise = {k: load_w[k] - idle_w.get(k, math.nan) for k in load_w}
    target_rise = rise[target]
    others = {k: r for k, r in rise.items() if k != target}
    allowed = max(10.0, 0.1 * target_rise)
    discrepancy = integral_j / counter_j - 1.0 if counter_j else math.nan
    data = {"target": target, "idle_w": idle_w, "load_w": load_w, "rise_w": rise, "integral_j": integral_j,
            "counter_j": counter_j, "discrepancy": discrepancy}
    problems = []
    if not target_rise >= ROSE_W:
        problems.append(f"{target}'s own meter rose only {target_rise:.1f} W")
    problems += [f"{k} rose {r:.1f} W though idle" for k, r in others.items() if r > allowed]
    if not abs(discrepancy) <= MAX_DISCREPANCY:
        problems.append(f"integrated sampled power differs from the counter by {discrepancy * 100:+.1f}% "
                        f"(more than {MAX_DISCREPANCY * 100:.0f}%)")
    shown = (f"{target} {idle_w.get(target, math.nan):.0f} -> {load_w[target]:.0f} W; "
             + "".join(f"{k} {r:+.1f} W; " for k, r in others.items())
             + f"sampled vs counter {discrepancy * 100:+.2f}%")
    if problems:
        return Outcome(FAIL, f"burn {target}", f"{shown}: {'; '.join(problems)}", data)
    return Outcome(PASS, f"burn {target}", shown, data)


def burn(keys: Sequence[str], target: str, load: Callable[[str, float], None], seconds: float,
         open_meter: Callable[[str], Any], idle_w: dict[str, float], hz: float = 10.0) -> Outcome:
    """Load `target` for `seconds` while every GPU in `keys` is metered by the run's own meters and sampler."""
    from bnbench.energy.run_meter import RunMeter
    from bnbench.energy.sampler import Sampler

    parts = [open_meter(k) for k in keys]
    meter = RunMeter(parts)
    sampler = Sampler(meter, hz, lambda samples: None)
    meter.open("train")
    sampler.start()
    try:
        load(target, seconds)
    finally:
        sampler.stop()
        meter.close("train")
        meter.close_parts()
    seconds_in = meter.phase_s["train"]
    load_w = {p.key: meter.phase_j[p.key]["train"] / seconds_in for p in parts}
    mine = next(p for p in parts if p.key == target)
    return judge_burn(target, idle_w, load_w, mine.integral_j, mine.counter_span_j)


def matmul_load(key: str, seconds: float) -> None:
    """A bf16 matrix-multiply burn on `key` for `seconds` (synchronized, so the time is the GPU's)."""
    import torch

    device = torch.device(key)
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(10):
            a = (a @ b).clamp_(-1, 1)
        torch.cuda.synchronize(device)
    del a, b
    torch.cuda.empty_cache()


def idle_watts(keys: Sequence[str], open_meter: Callable[[str], Any], seconds: float = 3.0,
               sleep: Callable[[float], None] = time.sleep) -> dict[str, float]:
    """Mean watts of each GPU over `seconds` of nothing, from the meters a run opens."""
    from bnbench.energy.run_meter import RunMeter

    meter = RunMeter([open_meter(k) for k in keys])
    meter.open("train")
    sleep(seconds)
    meter.close("train")
    meter.close_parts()
    return {k: meter.phase_j[k]["train"] / meter.phase_s["train"] for k in keys}
