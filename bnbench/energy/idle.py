"""The idle baseline: what each device draws doing nothing, measured once before the first run.

A run's net energy is its energy minus idle watts x its measured seconds: the part the training itself caused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from bnbench.energy.meter import Clock, DeviceMeter
from bnbench.energy.source import ESTIMATE

IDLE_SAMPLE_S = 0.1


def sees_idle(meter: DeviceMeter) -> bool:
    """Whether waiting on `meter` can show idle power. The estimate cannot: it counts the CPU seconds of the
    process that reads it, and a run's idle share is 0 W by that model, so measuring it only costs `idle_s`."""
    return meter.label != ESTIMATE


def measure_idle_w(
    meters: Sequence[DeviceMeter],
    idle_s: float,
    clock: Clock = time.perf_counter,
    sleep: Callable[[float], object] = time.sleep,
    stopped: Callable[[], bool] = lambda: False,
) -> dict[str, float | None]:
    """Mean watts of each meter over `idle_s` seconds of sleep, by key; None where the energy is unknown.

    Power-only sources are sampled every 0.1 s meanwhile (their integral needs samples; counters need two
    reads). `idle_s` 0 returns {}: no baseline. `stopped()` true ends the wait early (a signal arrived).
    """
    if idle_s <= 0:
        return {}
    for meter in meters:
        meter.tick(sample=True)
    start = clock()
    origin = {m.key: m.total_j for m in meters}
    while not stopped() and (left := idle_s - (clock() - start)) > 0:
        sleep(min(IDLE_SAMPLE_S, left))
        for meter in meters:
            meter.tick(sample=True)
    elapsed = clock() - start
    idle: dict[str, float | None] = {}
    for meter in meters:
        watts = (meter.total_j - origin[meter.key]) / elapsed if elapsed > 0 else math.nan
        idle[meter.key] = None if math.isnan(watts) else watts
    return idle
