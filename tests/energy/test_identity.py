"""Which GPU a CUDA device is, on a fake 8-GPU host whose NVML, PCI and CUDA orders all differ."""

from __future__ import annotations

import os

import pytest

from bnbench.energy import devices, identity
from bnbench.energy.source import SourceError

from .fakes import FakeCuda, FakeGpu, FakeNvml

# NVML index i holds the GPU with UUID GPU-000i. Their PCI buses run the other way round (NVML promises no
# order, and here it is not the PCI order), and CUDA's fastest-first order is a third permutation.
NVML_UUIDS = [f"GPU-000{i}-aaaa" for i in range(8)]
BUS_IDS = [f"00000000:{0x80 - 0x10 * i:02x}:00.0" for i in range(8)]  # NVML 0 is on bus 0x80, NVML 7 on 0x10
CUDA_ORDER = [3, 1, 7, 0, 5, 2, 6, 4]  # CUDA physical device k is NVML device CUDA_ORDER[k]


def host() -> FakeNvml:
    return FakeNvml([FakeGpu(uuid=u, bus_id=b, name=f"GPU model {i}", energy_mj=[0])
                     for i, (u, b) in enumerate(zip(NVML_UUIDS, BUS_IDS, strict=True))])


PHYSICAL = [NVML_UUIDS[n] for n in CUDA_ORDER]


def cuda_of(visible: str | None) -> FakeCuda:
    return FakeCuda(PHYSICAL, visible)


def test_permuted_indices_are_matched_by_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    api = host()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,2")
    cuda = cuda_of("5,2")
    # cuda:0 is CUDA's physical device 5 = NVML device CUDA_ORDER[5] = 2; cuda:1 is physical 2 = NVML 7.
    # Treating the entries as NVML indices would meter NVML devices 5 and 2 instead.
    first, second = identity.identify_here(api, 0, cuda), identity.identify_here(api, 1, cuda)
    assert (first.uuid, first.name, first.handle) == ("GPU-0002-aaaa", "GPU model 2", api.gpus[2])
    assert (second.uuid, second.handle) == ("GPU-0007-aaaa", api.gpus[7])


def test_permuted_uuids_and_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    api = host()
    visible = "GPU-0006-aaaa,GPU-0000"  # a UUID prefix is enough for CUDA
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    cuda = cuda_of(visible)
    assert identity.identify_here(api, 0, cuda).handle is api.gpus[6]
    assert identity.identify_here(api, 1, cuda).handle is api.gpus[0]
    # Without torch's word (no CUDA here), the UUID in CUDA_VISIBLE_DEVICES alone finds it.
    assert identity.identify(api, 1, visible, uuid=None).uuid == "GPU-0000-aaaa"


def test_every_gpu_of_the_host_without_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    api = host()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    cuda = cuda_of(None)
    # cuda:k is NVML device CUDA_ORDER[k] for every k: the old index arithmetic was right only for k = 1 and 6.
    assert [api.gpus.index(identity.identify_here(api, k, cuda).handle) for k in range(8)] == CUDA_ORDER


def test_without_torch_an_index_needs_pci_order(monkeypatch: pytest.MonkeyPatch) -> None:
    api = host()
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    with pytest.raises(SourceError, match="CUDA_DEVICE_ORDER=PCI_BUS_ID"):
        identity.identify(api, 0, "3", uuid=None)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    # By bus, the GPUs run NVML 7 (0x10), 6, 5, 4 (0x40), ...: CUDA's device 3 is NVML device 4.
    assert identity.identify(api, 0, "3", uuid=None).handle is api.gpus[4]


def test_torch_on_another_gpu_than_assigned_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    api = host()
    # A reused worker: CUDA initialised under GPU-0001, then the environment was rewritten to GPU-0004.
    cuda = cuda_of("GPU-0001-aaaa")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0004-aaaa")
    with pytest.raises(identity.GpuMismatch, match="GPU-0001-aaaa to torch but this process was given GPU-0004"):
        identity.identify_here(api, 0, cuda)
    with pytest.raises(identity.GpuMismatch):
        devices.gpu_chain(0, api, cuda)


def test_the_meter_of_a_pinned_process_reads_its_own_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    api = host()
    api.gpus[2].energy_mj, api.gpus[5].energy_mj = [2_000], [5_000]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    chain, why, gpu = devices.gpu_chain(0, api, cuda_of("5"))
    assert why == "" and gpu is not None and gpu.uuid == "GPU-0002-aaaa"
    # The counter read is NVML device 2's (2,000 mJ), not device 5's.
    assert chain[0][1]().energy_j() == pytest.approx(2.0)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"


def test_pool_workers_get_their_gpus_by_uuid_and_find_the_same_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from bnbench.execute.pool import plan_slots

    api = host()
    # The parent may use CUDA's devices 5, 2, 7 and 0 (permuted), two GPUs per run.
    parent = cuda_of("5,2,7,0")
    slots = plan_slots([f"cuda:{i}" for i in range(4)], gpus_per_run=2, visible="5,2,7,0",
                       uuids=identity.cuda_uuids(4, parent))
    # Its cuda:0-3 are physical 5, 2, 7, 0 = NVML 2, 7, 4, 3: each worker is handed those GPUs by UUID.
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["GPU-0002-aaaa,GPU-0007-aaaa",
                                                              "GPU-0004-aaaa,GPU-0003-aaaa"]
    # In the worker (a new process, so a new CUDA view under the slot's environment), each rank's device is the
    # GPU the parent called it: the second slot's cuda:1 is the parent's cuda:3 = NVML device 3.
    env = slots[1].env["CUDA_VISIBLE_DEVICES"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", env)
    worker = cuda_of(env)
    assert [identity.identify_here(api, r, worker).handle for r in (0, 1)] == [api.gpus[4], api.gpus[3]]


def test_a_node_baseline_names_every_gpu_by_uuid() -> None:
    from bnbench.execute.node import node_idle_w

    api = host()
    meters = devices.nvml_gpu_meters(api)
    assert [m.key for m in meters] == NVML_UUIDS and meters[2].gpu.name == "GPU model 2"
    # A task given GPU-0005 reads that GPU's idle watts as its cuda:0, whatever Ray's index for it was.
    manifest = {"idle_nodes": {"10.0.0.7": {"idle_w": {"host": 40.0, "GPU-0005-aaaa": 61.5, "GPU-0002-aaaa": 70.0}}}}
    assert node_idle_w(manifest["idle_nodes"]["10.0.0.7"], ["GPU-0005-aaaa"]) == {"host": 40.0, "cuda:0": 61.5}
