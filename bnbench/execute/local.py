"""Running the matrix on this host's devices.

Importing this module does not import torch: `bnbench run` resolves a CPU device request and starts its pool's
workers before it pays for torch itself, so the workers' start-up overlaps its own (bnbench.commands.run).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bnbench.execute.pool import Slot, WorkerPool, pooled, run_pool, with_threads
from bnbench.scenario import RunSpec

if TYPE_CHECKING:
    from bnbench.execute.progress import Progress
    from bnbench.results.store import RunStore


def run_matrix(
    specs: list[RunSpec], devices: list[str], store: RunStore, progress: Progress, stop: threading.Event,
    slots: list[Slot] | None = None, pool: WorkerPool | None = None,
) -> list[dict[str, Any]]:
    """Run every spec, in the order given, on the first device, until done or `stop` is set. Runs the results folder
    already holds as finished are skipped (their recorded rows are returned); the others continue from their
    checkpoints (see `resume.plan_runs`). With more than one worker process in `slots` (several devices, CPU
    workers, DDP runs), the runs go to a pool of them (bnbench.execute.pool): `pool`, when it was started ahead
    (and is closed by whoever started it), else one started for these runs."""
    from bnbench.execute.driver import execute_run
    from bnbench.execute.resume import finished_rows, plan_runs

    device = devices[0]  # a torch.device where a built-in run trains (a command's run imports no torch)
    rows: list[dict[str, Any]] = []
    plans = plan_runs(store.root, specs)
    for spec, row in finished_rows(plans):
        rows.append(row)
        progress.finished(spec, row)
    todo = [plan for plan in plans if plan.action != "skip"]
    if slots and pooled(slots):
        by_id = {plan.spec.run_id: plan for plan in todo}

        def options(spec: RunSpec) -> dict[str, Any]:
            return {"plan": by_id[spec.run_id]}

        if pool is not None:
            return rows + pool.run([p.spec for p in todo], store, progress, stop, options)
        return rows + run_pool([p.spec for p in todo], slots, store, progress, stop, options)
    from bnbench.execute.command import is_command

    with sharing_this_process(commands=any(is_command(plan.spec) for plan in todo)):
        for plan in todo:
            if stop.is_set():
                break
            spec = with_threads(plan.spec, slots[0].threads) if slots else plan.spec  # the slot's share of the cores
            rows.append(execute_run(spec, device, store, progress, stop, plan=plan))
    return rows


@contextlib.contextmanager
def sharing_this_process(commands: bool = False) -> Iterator[None]:
    """While open, runs trained in this process are charged their share of the host package (this process's
    CPU time over the host's busy time) and of their GPU (bnbench.energy.shared_gpu), not the whole of either.
    With `commands` (the runs are commands this process starts and watches), the CPU time is its children's
    alone: bnbench polling them is not the commands' work, as the CPU-time estimate already counts it."""
    from bnbench.energy.estimate import process_cpu_s
    from bnbench.energy.shared_host import (
        Peers,
        caller_quiet_pids,
        current_peers,
        host_busy_s,
        share_host_with,
        tree_pids,
    )
    from bnbench.execute.slot_meter import cpu_seconds_of

    me = (os.getpid(),)
    before = current_peers()
    own_cpu_s = process_cpu_s(own=False) if commands else cpu_seconds_of(me)
    share_host_with(Peers(own_cpu_s=own_cpu_s, all_cpu_s=own_cpu_s, runs=lambda: 1, host_busy_s=host_busy_s,
                          own_pids=tree_pids(lambda: me), session_pids=tree_pids(lambda: me),
                          quiet_pids=caller_quiet_pids()))
    try:
        yield
    finally:
        share_host_with(before)
