"""`bnbench` on a host of two fake GPUs: `FAKE_GPUS_DIR=DIR python tests/execute/fake_gpus.py run ...` (DIR: a scratch
folder; the repository on PYTHONPATH).

The pool's workers are spawned processes, so a test's monkeypatch cannot reach them; multiprocessing's spawn
imports this script in every worker (as __mp_main__), so the fakes below hold in the parent and in each worker.
Torch is told of two CUDA GPUs; NVML is a fake whose boards draw a steady 100 W, read off the wall clock so that
every process sees one counter per board, and whose process list holds the workers pinned to each board (each
worker writes its pid under DIR/<uuid> when it first reads its board's counter). The runs themselves train on
the CPU: only their meters see GPUs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.energy.fakes import FakeGpu, FakeNvml

UUIDS = ["GPU-fake-0000-aaaa", "GPU-fake-0000-bbbb"]
BOARD_W = 100.0
_EPOCH_S = 1.7e9  # keeps the counter's millijoules well inside NVML's 64 bits


class ClockNvml(FakeNvml):
    """FakeNvml whose counters and power follow the wall clock and whose process lists are the pinned workers."""

    def __init__(self, folder: Path) -> None:
        super().__init__([FakeGpu(uuid=u, bus_id=f"00000000:0{i + 1}:00.0", busy_pct=[30])
                          for i, u in enumerate(UUIDS)])
        self.folder = folder

    def _hold(self) -> None:
        """A worker pinned to one board holds it from its first read on (a worker is pinned after it starts)."""
        mine = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        if mine in UUIDS:
            (self.folder / mine).mkdir(parents=True, exist_ok=True)
            (self.folder / mine / str(os.getpid())).touch()

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        self._hold()
        return int((time.time() - _EPOCH_S) * BOARD_W * 1000)

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        return int(BOARD_W * 1000)

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:
        held = self.folder / gpu.uuid
        pids = sorted(int(p.name) for p in held.iterdir()) if held.is_dir() else []
        return [SimpleNamespace(pid=pid, usedGpuMemory=1 << 30) for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def install(folder: Path) -> None:
    """Two GPUs to torch's device count and to NVML; runs on them train on the CPU under their GPU meters."""
    import torch

    from bnbench.energy import identity, nvml
    from bnbench.execute import devices, driver

    api = ClockNvml(folder)
    nvml.load_nvml = lambda: api
    devices._visible_gpus = lambda: len(UUIDS)
    identity.cuda_uuids = lambda count, cuda=None: list(UUIDS[:count])
    train_on_gpu = driver.execute_run

    def execute_run(spec: Any, device: Any, *args: Any, **kwargs: Any) -> Any:
        return train_on_gpu(spec, torch.device("cpu"), *args, **kwargs)

    driver.execute_run = execute_run


if __name__ in ("__main__", "__mp_main__"):
    install(Path(os.environ["FAKE_GPUS_DIR"]))

if __name__ == "__main__":
    from bnbench.cli import app

    app(sys.argv[1:], prog_name="bnbench")
