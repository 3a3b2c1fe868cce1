"""The order runs are handed out in: pure functions of the run list, shared by every executor.

Runs are handed to slots (GPUs, CPU workers) in the order given, each to the next free slot. In matrix order
(variant by variant) every control run would train before every BN run, so whatever drifts with time (clocks,
temperature, other tenants) would drift with the variant. `interleave` orders them seed by seed instead, and
rotates the variants of each seed so that each variant takes each slot, and each place within a seed, in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from bnbench.scenario import Order


class Run(Protocol):
    @property
    def variant(self) -> str: ...

    @property
    def seed(self) -> int: ...


R = TypeVar("R", bound=Run)


def interleave(runs: Sequence[R], slots: int = 1) -> list[R]:
    """`runs` seed by seed (seeds and variants in the order they first appear), each seed's variants rotated.

    Hand-out is modelled as lockstep: the run at position p goes to slot p mod `slots` (what happens when runs
    take about the same time). Each seed's variant list is rotated by the offset that puts each variant on the
    slots it has met least so far (the sum of those counts is minimised); ties go to the offset `round` mod
    (number of variants), so with one slot the variants take turns at the front (A B, B A, A B, ...). With as
    many slots as variants, each variant meets each slot once every `slots` seeds.
    """
    if slots < 1:
        raise ValueError(f"slots must be >= 1 (got {slots})")
    variants = list(dict.fromkeys(run.variant for run in runs))
    seeds = list(dict.fromkeys(run.seed for run in runs))
    by_key = {(run.variant, run.seed): run for run in runs}
    if len(by_key) != len(runs):
        raise ValueError("runs must be distinct (variant, seed) pairs")
    met = {v: [0] * slots for v in variants}  # met[variant][slot]: runs of that variant given to that slot
    ordered: list[R] = []
    for round_index, seed in enumerate(seeds):
        present = [v for v in variants if (v, seed) in by_key]
        n = len(present)

        def rotated(offset: int, present: list[str] = present, n: int = n) -> list[str]:
            return [present[(i + offset) % n] for i in range(n)]

        def cost(offset: int, start: int = len(ordered)) -> int:
            return sum(met[v][(start + i) % slots] for i, v in enumerate(rotated(offset)))

        preferred = [(round_index + k) % n for k in range(n)]
        best = min(preferred, key=cost)  # min keeps the first of equal costs: the preferred offset
        for v in rotated(best):
            met[v][len(ordered) % slots] += 1
            ordered.append(by_key[(v, seed)])
    return ordered


def arrange(runs: Sequence[R], order: Order, slots: int = 1) -> list[R]:
    """`runs` in the hand-out order a scenario asks for: 'interleaved' (see `interleave`) or 'variant-major'
    (as given: the matrix's variant-by-variant order)."""
    return interleave(runs, slots) if order == "interleaved" else list(runs)
