"""`bnbench` on a host of two fake GPUs: `FAKE_GPUS_DIR=DIR python tests/execute/fake_gpus.py run ...` (DIR: a scratch
folder; the repository on PYTHONPATH).

The pool's workers are spawned processes, so a test's monkeypatch cannot reach them; multiprocessing's spawn
imports this script in every worker (as __mp_main__), so the fakes below hold in the parent and in each worker.
Torch is told of two CUDA GPUs; NVML is a fake whose boards draw a steady 100 W, read off the wall clock so that
every process sees one counter per board, and whose process list holds the workers pinned to each board (each
worker writes its pid under DIR/<uuid> when it first reads its board's counter), plus the pids listed in
FAKE_GPUS_FOREIGN (comma-separated: processes of another user). The runs themselves train on the CPU: only their
meters see GPUs.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.energy.fakes import FakeCuda, FakeGpu, FakeNvml

REPO = Path(__file__).resolve().parents[2]
UUIDS = ["GPU-fake-0000-aaaa", "GPU-fake-0000-bbbb"]
BOARD_W = 100.0
_EPOCH_S = 1.7e9  # keeps the counter's millijoules well inside NVML's 64 bits


class ClockNvml(FakeNvml):
    """FakeNvml whose counters and power follow the wall clock and whose process lists are the pinned workers."""

    def __init__(self, folder: Path) -> None:
        super().__init__([FakeGpu(uuid=u, bus_id=f"00000000:0{i + 1}:00.0", busy_pct=[30])
                          for i, u in enumerate(UUIDS)])
        self.folder = folder

    def hold(self, uuid: str) -> None:
        """This process holds board `uuid` from now on (as a CUDA context on it would)."""
        (self.folder / uuid).mkdir(parents=True, exist_ok=True)
        (self.folder / uuid / str(os.getpid())).touch()

    def _hold(self) -> None:
        """A worker pinned to one board holds it from its first read on (a worker is pinned after it starts)."""
        mine = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        if mine in UUIDS:
            self.hold(mine)

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        self._hold()
        return int((time.time() - _EPOCH_S) * BOARD_W * 1000)

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        return int(BOARD_W * 1000)

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:
        held = self.folder / gpu.uuid
        pids = sorted(int(p.name) for p in held.iterdir()) if held.is_dir() else []
        foreign = [int(p) for p in os.environ.get("FAKE_GPUS_FOREIGN", "").split(",") if p]
        return [SimpleNamespace(pid=pid, usedGpuMemory=1 << 30) for pid in pids + foreign if _alive(pid)]


def on_fake_gpus(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`bnbench ARGS` on the two fake GPUs of tests/execute/fake_gpus.py (`env`: more variables, such as
    FAKE_GPUS_FOREIGN), stdout and stderr together."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "FAKE_GPUS_DIR": str(cwd / "fake-gpus"),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]), **(env or {})}
    return subprocess.Popen([sys.executable, __file__, *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gpu_meter(api: ClockNvml, gpu: str, device: str, *args: Any, **kwargs: Any) -> Any:
    """open_run_meter for `gpu`, whatever device the run trains on; this process holds that board."""
    from bnbench.energy.devices import open_run_meter

    api.hold(UUIDS[int(gpu.partition(":")[2] or 0)])
    return open_run_meter(gpu, *args, **kwargs)


def install(folder: Path) -> None:
    """Two GPUs to torch's device count and to NVML; runs on them train on the CPU under their GPU meters."""
    import torch

    from bnbench.energy import identity, nvml
    from bnbench.execute import devices, driver

    api = ClockNvml(folder)
    nvml.load_nvml = lambda: api
    devices._visible_gpus = lambda: len(UUIDS)
    torch_uuid = identity.torch_uuid
    # torch's UUID of a device, as a process pinned by CUDA_VISIBLE_DEVICES (or not at all) would see it
    identity.torch_uuid = lambda index, cuda=None: torch_uuid(index, FakeCuda(UUIDS, os.environ.get(
        "CUDA_VISIBLE_DEVICES")))
    train_on_gpu = driver.execute_run

    def execute_run(spec: Any, device: Any, *args: Any, **kwargs: Any) -> Any:
        if "open_meter" not in kwargs:  # one slot, in this process: meter the GPU the run was given
            kwargs["open_meter"] = functools.partial(_gpu_meter, api, str(device))
        return train_on_gpu(spec, torch.device("cpu"), *args, **kwargs)

    driver.execute_run = execute_run


if __name__ in ("__main__", "__mp_main__"):
    install(Path(os.environ["FAKE_GPUS_DIR"]))

if __name__ == "__main__":
    from bnbench.cli import app

    app(sys.argv[1:], prog_name="bnbench")
