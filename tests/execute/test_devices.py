"""Resolving 'auto' on a host that cannot have a GPU asks no torch; where a GPU driver's device node exists,
torch decides."""

from __future__ import annotations

import sys

import pytest

from bnbench.errors import UserError
from bnbench.execute import devices
from bnbench.execute.devices import gpu_impossible, resolve_devices


def test_no_gpu_is_possible_only_without_any_drivers_device_node(tmp_path):
    absent = (str(tmp_path / "nvidiactl"), str(tmp_path / "kfd"))
    assert gpu_impossible("linux", absent)
    (tmp_path / "kfd").touch()  # ROCm's kernel driver: torch.cuda may see an AMD GPU
    assert not gpu_impossible("linux", absent)
    assert gpu_impossible("darwin", absent)  # torch has no CUDA on macOS
    assert not gpu_impossible("win32", ())  # nothing to look at: ask torch


def test_auto_on_a_host_without_gpus_asks_no_torch(monkeypatch):
    monkeypatch.setattr(devices, "gpu_impossible", lambda: True)
    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch now fails
    assert resolve_devices("auto") == ["cpu"]
    with pytest.raises(UserError, match="no CUDA GPU is visible"):
        resolve_devices("cuda")


def test_where_a_gpu_may_be_torch_counts_them(monkeypatch):
    import torch

    monkeypatch.setattr(devices, "gpu_impossible", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_devices("auto") == ["cuda:0", "cuda:1"]
    assert resolve_devices(["cpu", "cuda:1"]) == ["cpu", "cuda:1"]
