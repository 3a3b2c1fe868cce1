"""What a run does on a cluster's node, whichever scheduler put it there (Ray, Slurm).

Energy on a node: the node's idle baseline (its host and every GPU) is metered with nothing of the session
running, so each run's net energy is taken against its own node. The runs of a session running at once on a
node share its host package as the local pool's workers do: each registers its pid in a node-local folder for
the session, and its RAPL reading is its CPU-time share among the registered runs (`bnbench.energy.shared_host`).
Identity: a GPU run checks that torch's cuda:0 is the GPU it was given.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bnbench.scenario import EnergyConfig


@contextlib.contextmanager
def share_node_host(session: str) -> Iterator[None]:
    """While it is open, this process's host energy is its CPU-time share among the session's tasks running on
    this node: each registers its pid as a file in a node-local folder named after the session. The last task
    to leave removes the folder, so a node keeps nothing of a session once its tasks are done."""
    from bnbench.energy.shared_host import Peers, host_busy_s, pool_cpu_s, share_host_with, tree_pids
    from bnbench.execute.slot_meter import cpu_seconds_of

    folder = Path(tempfile.gettempdir()) / f"bnbench-{session}"
    mine = folder / str(os.getpid())
    while True:  # another task of the session may remove the folder between its creation and our file
        folder.mkdir(exist_ok=True)
        try:
            mine.touch()
            break
        except FileNotFoundError:
            continue

    def pids() -> list[int]:
        return [int(p.name) for p in folder.iterdir() if p.name.isdigit()]

    me = (os.getpid(),)
    share_host_with(Peers(own_cpu_s=cpu_seconds_of(me), all_cpu_s=pool_cpu_s(pids), runs=lambda: max(len(pids()), 1),
                          host_busy_s=host_busy_s, own_pids=tree_pids(lambda: me), session_pids=tree_pids(pids)))
    try:
        yield
    finally:
        share_host_with(None)  # Ray may reuse this worker process for a task of another session
        mine.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: another task of the session still runs here
            folder.rmdir()


def measure_node_idle(config: EnergyConfig, gpu: bool) -> dict[str, Any]:
    """On a node, with nothing running: the idle watts of its host and, for GPU runs, of every GPU (keyed by
    its UUID: this process has no GPU, so no CUDA numbering applies), with their sources."""
    from bnbench.energy.devices import nvml_gpu_meters, open_device_meter
    from bnbench.energy.idle import measure_idle_w
    from bnbench.energy.run_meter import HOST

    meters = [open_device_meter(HOST if gpu else "cpu", config), *(nvml_gpu_meters() if gpu else [])]
    meters = [m for m in meters if m.source is not None]
    idle = measure_idle_w(meters, config.idle_s)
    for meter in meters:
        meter.close()
    return {"idle_w": idle, "idle_sources": {m.key: m.label for m in meters}}


def node_idle_w(baseline: dict[str, Any], gpu_uuids: list[str]) -> dict[str, float | None]:
    """The idle watts a run on a node reads, named as the task sees its devices (its GPU, `gpu_uuids[0]`, is
    cuda:0), from the node's `baseline` ({idle_w, idle_sources}); empty (net energy unknown) when it is empty."""
    idle = baseline.get("idle_w", {})
    mine = {k: w for k, w in idle.items() if k in ("cpu", "host")}
    mine.update({f"cuda:{seen}": idle.get(uuid) for seen, uuid in enumerate(gpu_uuids)})
    return mine


def claim_gpu(cuda: Any, visible: str | None) -> str | None:
    """In a GPU task, before it trains: refuse a worker process that already holds a CUDA context (a reused
    Ray worker: its context stays on the GPU of an earlier task while Ray rewrites CUDA_VISIBLE_DEVICES), then
    start CUDA and check that torch's cuda:0 is the GPU the scheduler (Ray, Slurm) assigned. Returns that GPU's
    UUID (None: unknown). GpuMismatch (one line) when either check fails. `cuda` is torch.cuda (a fake in tests)."""
    from bnbench.energy.identity import GpuMismatch, check_same, torch_uuid

    if cuda.is_initialized():
        raise GpuMismatch(f"this worker process already used CUDA for an earlier task, so it may train on that "
                          f"task's GPU and not on the one assigned now (CUDA_VISIBLE_DEVICES={visible}); GPU tasks "
                          "must run one per worker process (max_calls=1)")
    cuda.init()
    uuid = torch_uuid(0, cuda)
    check_same(0, visible, uuid)
    return uuid
