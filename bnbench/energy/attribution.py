"""Charging runs for shared hardware. Pure functions.

The host CPU (RAPL's package) is one meter for every run on the machine. When runs overlap, its energy over a
stretch is split between them in proportion to the CPU time each used (or equally when CPU time is unknown).
DDP ranks of one run each meter their own device; the run's energy sums each device once, however many ranks
report it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping


def split_shared_energy_j(total_j: float, weights: Mapping[str, float | None]) -> dict[str, float]:
    """Split `total_j` (shared host energy over one stretch) between runs, by weight (e.g. CPU seconds).

    Equal shares when any weight is missing or NaN, or when they sum to 0. NaN in gives NaN shares.
    """
    if not weights:
        return {}
    values = list(weights.values())
    if any(w is None or math.isnan(w) or w < 0 for w in values) or math.fsum(values) == 0:  # type: ignore[arg-type]
        return {run: total_j / len(weights) for run in weights}
    total_weight = math.fsum(values)  # type: ignore[arg-type]
    return {run: total_j * w / total_weight for run, w in weights.items()}  # type: ignore[operator]


def cpu_share(own_s: float, others_s: float, runs: int) -> float:
    """This run's fraction of a shared host over one stretch: its CPU seconds over everyone's (`own_s` and
    `others_s`, both >= 0), or 1/`runs` (the runs sharing the host, this one included) when nobody used any."""
    if own_s + others_s > 0:
        return own_s / (own_s + others_s)
    return 1.0 / max(runs, 1)


def sum_devices_once_j(per_rank: Iterable[Mapping[str, float]]) -> float:
    """A DDP run's energy from every rank's {device key: joules}: each device counted once (the first report).

    Ranks that meter the same device (the host, say) would otherwise count it once per rank.
    """
    seen: dict[str, float] = {}
    for report in per_rank:
        for device, joules in report.items():
            seen.setdefault(device, joules)
    return math.fsum(seen.values()) if seen else math.nan
