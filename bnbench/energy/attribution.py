"""Charging runs for shared hardware. Pure functions.

The host CPU (RAPL's package) is one meter for every run on the machine. When runs overlap, its energy over a
stretch is split between them in proportion to the CPU time each used (or equally when CPU time is unknown).
DDP ranks of one run each meter their own device; the run's energy sums each device once, however many ranks
report it.

A GPU is one meter for every process on it. Over a stretch, its idle power x seconds is split by time share
(equally between the processes holding the GPU) and the rest, the energy above idle, by each holder's share of
the GPU's SM activity (equally when the GPU gives no per-process samples). Whatever no process holds is left
unattributed. The parts always add up to the board's counter (`split_board_j`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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


@dataclass(frozen=True)
class BoardSplit:
    """One stretch of a shared GPU split between its holders (any hashable names: a run, a foreign pid).

    `charged_j`: each holder's joules; `held_s`: the seconds of the board's idle power each was charged (its
    time share); `unattributed_j`: what nobody held (the board with no process on it). `by_sm`: whether the energy
    above idle was split by SM activity (False: equally, for want of per-process samples).
    """

    charged_j: dict[object, float]
    held_s: dict[object, float]
    unattributed_j: float
    by_sm: bool


def split_board_j(
    energy_j: float, duration_s: float, idle_w: float | None, holders: Sequence[object],
    sm: Mapping[Any, float] | None = None,
) -> BoardSplit:
    """Split a GPU's `energy_j` over `duration_s` seconds between the processes holding it.

    The board's idle draw (`idle_w` x `duration_s`; 0 when `idle_w` is None or NaN) goes to the `holders` in equal
    time shares; the rest (the energy above idle, negative when the board drew less than its baseline) by each
    holder's SM activity in `sm` (weights of any scale: NVML's per-process SM % summed over its samples), equally
    when no holder has any. No holder: the whole stretch is unattributed. Conservation: the charged joules plus
    the unattributed ones are `energy_j`, exactly up to rounding.
    """
    if not holders:
        return BoardSplit({}, {}, energy_j, False)
    unique = list(dict.fromkeys(holders))
    known_idle = idle_w is not None and not math.isnan(idle_w)
    idle_j = idle_w * duration_s if known_idle else 0.0  # type: ignore[operator]
    active_j = energy_j - idle_j
    weights = {h: max(float((sm or {}).get(h, 0.0)), 0.0) for h in unique}
    total_weight = math.fsum(weights.values())
    by_sm = total_weight > 0
    n = len(unique)
    charged = {h: idle_j / n + active_j * (weights[h] / total_weight if by_sm else 1.0 / n) for h in unique}
    return BoardSplit(charged, {h: duration_s / n for h in unique}, 0.0, by_sm)
