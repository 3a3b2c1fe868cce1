"""GPU tasks under Ray: one task per worker process, and the task checks it trains on the GPU Ray gave it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bnbench.energy.identity import GpuMismatch
from bnbench.execute.node import claim_gpu
from bnbench.execute.ray_executor import remote_task
from tests.energy.fakes import FakeCuda

PHYSICAL = [f"GPU-000{i}-aaaa" for i in range(4)]


class FakeRay:
    """Ray's scheduling of a remote function: tasks run in a worker process it keeps and reuses for the next
    task (Ray's default) unless the decorator said max_calls=1. Ray rewrites CUDA_VISIBLE_DEVICES per task;
    a reused process keeps the CUDA view it built for its first task."""

    def __init__(self) -> None:
        self.decorator: dict[str, Any] = {}
        self.worker: FakeCuda | None = None
        self.processes = 0

    def remote(self, *fn: Callable[..., Any], **options: Any) -> Any:
        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.decorator = options
            return fn

        return wrap(fn[0]) if fn else wrap

    def run_gpu_task(self, assigned: str) -> str | None:
        if self.worker is None or self.decorator.get("max_calls") == 1:
            self.worker = FakeCuda(PHYSICAL, assigned)
            self.processes += 1
        return claim_gpu(self.worker, assigned)


def test_gpu_tasks_get_a_fresh_worker_each() -> None:
    ray = FakeRay()
    remote_task(ray, gpu=True)
    # max_calls must be in the decorator: Ray ignores it in .options().
    assert ray.decorator == {"num_gpus": 1, "num_cpus": 1, "max_calls": 1}
    # Two tasks on two GPUs: two processes, each on the GPU it was given.
    assert ray.run_gpu_task("GPU-0001-aaaa") == "GPU-0001-aaaa"
    assert ray.run_gpu_task("GPU-0003-aaaa") == "GPU-0003-aaaa"
    assert ray.processes == 2
    remote_task(ray, gpu=False)
    assert ray.decorator == {}  # CPU tasks may share worker processes: they hold no CUDA context


def test_a_reused_worker_is_refused() -> None:
    ray = FakeRay()
    ray.decorator = {"num_gpus": 1}  # what .options(num_gpus=1) used to give: the worker is reused
    assert ray.run_gpu_task("2") == "GPU-0002-aaaa"
    with pytest.raises(GpuMismatch, match="already used CUDA for an earlier task"):
        ray.run_gpu_task("0")  # its context is still on GPU 2: it would train there and meter GPU 0


def test_torch_on_another_gpu_than_ray_assigned_is_refused() -> None:
    cuda = FakeCuda(PHYSICAL, "GPU-0001-aaaa")  # CUDA saw GPU 1 when the process started
    with pytest.raises(GpuMismatch, match="GPU-0001-aaaa to torch but this process was given GPU-0002"):
        claim_gpu(cuda, "GPU-0002-aaaa")
