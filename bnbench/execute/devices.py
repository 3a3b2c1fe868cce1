"""Which devices a scenario's device request names on this host: 'auto', 'cpu', 'cuda', 'cuda:N'.

Light to import (no pool, no meters) and torch-free where no GPU can exist, because `bnbench validate` and the
start of `bnbench run` resolve devices before anything else needs torch.
"""

from __future__ import annotations

import os
import sys

from bnbench.errors import UserError

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
