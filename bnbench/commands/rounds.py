"""Adaptive seeds: the matrix in rounds of one run per variant, until the answer is known.

Before each round after the first `min`, `bnbench run` asks the same Summary that renders the report whether to
go on (`Summary.rounds.stop`): every comparison decided, `max` reached, or the next round would break
`budget_kwh` / `budget_s`. The Summary is computed from the results folder alone, restricted to the rounds run
before this one, so a resumed session takes the same decisions at the same rounds. The loop belongs to the
command, above both the executor that runs each round and the analysis that decides whether to go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bnbench.execute.progress import Progress
from bnbench.results.store import RunStore
from bnbench.scenario import RunSpec, Scenario


def round_specs(specs: list[RunSpec], seed: int) -> list[RunSpec]:
    """One round: every variant's run of `seed`, in variant order."""
    return [spec for spec in specs if spec.seed == seed]


def stop_before(store: RunStore, rounds: int) -> str | None:
    """Why round `rounds` (0-based) should not start, from the folder's first `rounds` rounds; None: run it."""
    from bnbench.analysis.results import load
    from bnbench.analysis.summary import summarize

    status = summarize(load(store.root), rounds=rounds).rounds
    return None if status is None else status.stop


def run_rounds(
    scenario: Scenario, specs: list[RunSpec], run_on: Callable[..., list[dict[str, Any]]], devices: list[str],
    store: RunStore, progress: Progress, stop: threading.Event, say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Run rounds until `stop_before` says stop, `stop` is set (a signal), or every seed up to `max` ran."""
    seeds = scenario.scenario.seed_list
    first = scenario.scenario.adaptive.min if scenario.scenario.adaptive else len(seeds)
    rows: list[dict[str, Any]] = []
    for index, seed in enumerate(seeds):
        if stop.is_set():
            break
        if index >= first:
            reason = stop_before(store, index)
            if reason is not None:
                say(f"adaptive seeds: no round {index + 1} ({reason})")
                break
        rows += run_on(round_specs(specs, seed), devices, store, progress, stop)
    return rows
