"""Running the matrix on this host's devices.

Importing this module does not import torch: `bnbench run` resolves a CPU device request and starts its pool's
workers before it pays for torch itself, so the workers' start-up overlaps its own (bnbench.commands.run).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from bnbench.errors import UserError
from bnbench.execute.pool import Slot, WorkerPool, pooled, run_pool, with_threads
from bnbench.scenario import RunSpec

if TYPE_CHECKING:
    from bnbench.execute.progress import Progress
    from bnbench.results.store import RunStore


# The device nodes torch.cuda cannot work without on Linux: NVIDIA's driver, ROCm's kernel driver, WSL's GPU.
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/kfd", "/dev/dxg")


def gpu_impossible(platform: str = sys.platform, nodes: tuple[str, ...] = GPU_DEVICE_NODES) -> bool:
    """Whether this host certainly has no GPU torch could use (macOS, or Linux without any GPU driver's device
    node), so that resolving 'auto' there need not import torch (seconds)."""
    if platform == "darwin":
        return True
    return platform.startswith("linux") and not any(os.path.exists(node) for node in nodes)


def _visible_gpus() -> int:
    if gpu_impossible():
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_devices(request: str | list[str]) -> list[str]:
    """'auto' -> every visible GPU, else ['cpu']; 'cpu', 'cuda', 'cuda:N' or a list of them. UserError if absent."""
    requested = [request] if isinstance(request, str) else list(request)
    gpus = _visible_gpus() if any(item.strip().lower() != "cpu" for item in requested) else 0
    devices: list[str] = []
    for item in requested:
        item = item.strip().lower()
        if item == "auto":
            devices += [f"cuda:{i}" for i in range(gpus)] or ["cpu"]
        elif item == "cpu":
            devices.append("cpu")
        elif item == "cuda":
            if not gpus:
                raise UserError("device 'cuda' requested but no CUDA GPU is visible; use --device cpu")
            devices += [f"cuda:{i}" for i in range(gpus)]
        elif item.startswith("cuda:") and item[5:].isdigit():
            if int(item[5:]) >= gpus:
                raise UserError(f"device '{item}' requested but {gpus} CUDA GPU(s) are visible")
            devices.append(item)
        else:
            raise UserError(f"unknown device '{item}'; use auto, cpu, cuda or cuda:N")
    return list(dict.fromkeys(devices))


def run_matrix(
    specs: list[RunSpec], devices: list[str], store: RunStore, progress: Progress, stop: threading.Event,
    slots: list[Slot] | None = None, pool: WorkerPool | None = None,
) -> list[dict[str, Any]]:
    """Run every spec, in the order given, on the first device, until done or `stop` is set. Runs the results folder
    already holds as finished are skipped (their recorded rows are returned); the others continue from their
    checkpoints (see `resume.plan_runs`). With more than one worker process in `slots` (several devices, CPU
    workers, DDP runs), the runs go to a pool of them (bnbench.execute.pool): `pool`, when it was started ahead
    (and is closed by whoever started it), else one started for these runs."""
    import torch

    from bnbench.execute.driver import execute_run
    from bnbench.execute.resume import finished_rows, plan_runs

    device = torch.device(devices[0])
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
    for plan in todo:
        if stop.is_set():
            break
        spec = with_threads(plan.spec, slots[0].threads) if slots else plan.spec  # the slot's share of the cores
        rows.append(execute_run(spec, device, store, progress, stop, plan=plan))
    return rows
