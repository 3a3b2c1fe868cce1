"""The order runs are handed out in: pure functions of the run list, shared by every executor.

Runs are handed to slots (GPUs, CPU workers) in the order given, each to the next free slot. In matrix order
(variant by variant) every control run would train before every BN run, so whatever drifts with time (clocks,
temperature, other tenants) would drift with the variant. `interleave` orders them seed by seed instead, and
rotates the variants of each seed so that each variant takes each slot, and each place within a seed, in turn.
Where slots share a device (runs packed on a GPU), the rotation first keeps every variant equally packed: each
with as many runs training beside k - 1 others as the next, wherever the run count allows it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol, TypeVar

from bnbench.scenario import Order


class Run(Protocol):
    @property
    def variant(self) -> str: ...

    @property
    def seed(self) -> int: ...


R = TypeVar("R", bound=Run)


def lockstep_packing(n_runs: int, devices: Sequence[str]) -> list[int]:
    """How many runs train together on each position's device, in the lockstep model of the hand-out: the run at
    position p goes to slot p mod S (S = len(`devices`), slot i trains on `devices[i]`) in round p // S, and the
    runs of one round whose slots name the same device share it. All 1 when every slot has a device of its own.
    """
    slots = len(devices)
    packing = []
    for p in range(n_runs):
        start = p - p % slots
        packing.append(sum(devices[q % slots] == devices[p % slots] for q in range(start, min(start + slots, n_runs))))
    return packing


def interleave(runs: Sequence[R], slots: int = 1, devices: Sequence[str] = ()) -> list[R]:
    """`runs` seed by seed (seeds and variants in the order they first appear), each seed's variants rotated.

    Hand-out is modelled as lockstep: the run at position p goes to slot p mod `slots` (what happens when runs
    take about the same time). `devices` names each slot's device (empty: each slot its own); slots naming the
    same one share it (runs packed on a GPU), and a run's packing is how many runs of its round share its device
    (`lockstep_packing`). Each seed's variant list is rotated by the offset that first puts each variant on the
    packings it has met least so far, then on the slots it has met least (the sums of those counts are
    minimised, in that order); ties go to the offset `round` mod (number of variants), so with one slot the
    variants take turns at the front (A B, B A, A B, ...). With as many slots as variants, each variant meets each
    slot once every `slots` seeds. Where the count of runs allows it (a last round of whole seeds, say), every
    variant ends with the same packings; 9 runs of 3 variants 2 to a GPU cannot: one run is left alone.
    """
    if slots < 1:
        raise ValueError(f"slots must be >= 1 (got {slots})")
    if devices and len(devices) != slots:
        raise ValueError(f"devices name {len(devices)} slot(s), not {slots}")
    variants = list(dict.fromkeys(run.variant for run in runs))
    seeds = list(dict.fromkeys(run.seed for run in runs))
    by_key = {(run.variant, run.seed): run for run in runs}
    if len(by_key) != len(runs):
        raise ValueError("runs must be distinct (variant, seed) pairs")
    packing = lockstep_packing(len(runs), devices) if devices else [1] * len(runs)
    met = {v: [0] * slots for v in variants}  # met[variant][slot]: runs of that variant given to that slot
    packed: dict[str, Counter[int]] = {v: Counter() for v in variants}  # runs of that variant at each packing
    ordered: list[R] = []
    for round_index, seed in enumerate(seeds):
        present = [v for v in variants if (v, seed) in by_key]
        n = len(present)

        def rotated(offset: int, present: list[str] = present, n: int = n) -> list[str]:
            return [present[(i + offset) % n] for i in range(n)]

        def cost(offset: int, start: int = len(ordered)) -> tuple[int, int]:
            order = list(enumerate(rotated(offset), start))
            return (sum(packed[v][packing[p]] for p, v in order), sum(met[v][p % slots] for p, v in order))

        preferred = [(round_index + k) % n for k in range(n)]
        best = min(preferred, key=cost)  # min keeps the first of equal costs: the preferred offset
        for v in rotated(best):
            met[v][len(ordered) % slots] += 1
            packed[v][packing[len(ordered)]] += 1
            ordered.append(by_key[(v, seed)])
    return ordered


def arrange(runs: Sequence[R], order: Order, slots: int = 1, devices: Sequence[str] = ()) -> list[R]:
    """`runs` in the hand-out order a scenario asks for: 'interleaved' (see `interleave`; `devices`: each slot's
    device) or 'variant-major' (as given: the matrix's variant-by-variant order)."""
    return interleave(runs, slots, devices) if order == "interleaved" else list(runs)
