"""Which physical GPU a CUDA device is: its UUID, the link between torch's numbering and NVML's.

CUDA numbers the GPUs a process may see (CUDA_VISIBLE_DEVICES, entries being indices, GPU- or MIG- UUIDs or
UUID prefixes), fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID; NVML numbers every GPU of the host in an
order it does not promise. Index arithmetic between the two is wrong on any host whose orders differ, so a CUDA
device is matched to its NVML handle by UUID, in every process: torch's UUID of the device first, else a UUID
CUDA_VISIBLE_DEVICES names, else (no torch, an index) NVML's devices sorted by PCI bus when CUDA is told to
order them that way. When CUDA_VISIBLE_DEVICES names a UUID and torch's device is another GPU (a process whose
CUDA context predates its GPU assignment), the run is refused: it would train on one GPU and meter another.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from bnbench.energy.source import SourceError
from bnbench.errors import UserError

UUID_PREFIXES = ("GPU-", "MIG-")


class GpuMismatch(UserError):
    """torch trains on one GPU while this process was assigned another: refuse the run."""


@dataclass(frozen=True)
class GpuIdentity:
    """A CUDA device as NVML knows it: `cuda` as this process names it ('cuda:0'), its `uuid` and `name`."""

    cuda: str
    uuid: str
    name: str | None
    handle: Any = None


def visible_entries(visible: str | None) -> list[str] | None:
    """CUDA_VISIBLE_DEVICES as a list of entries; None when unset (every GPU visible)."""
    if visible is None:
        return None
    return [e.strip() for e in visible.split(",") if e.strip()]


def is_uuid(entry: str) -> bool:
    return entry.startswith(UUID_PREFIXES)


def torch_uuid(index: int, cuda: Any = None) -> str | None:
    """torch's UUID ('GPU-...') of CUDA device `index` in this process, or None when torch is not loaded or
    cannot tell (no CUDA). `cuda` stands for torch.cuda (a fake in tests)."""
    if cuda is None:
        torch = sys.modules.get("torch")
        if torch is None:
            return None
        cuda = torch.cuda
    try:
        if not cuda.is_available():
            return None
        uuid = str(cuda.get_device_properties(index).uuid)
    except Exception:  # noqa: BLE001 - an old torch, a lost device: the UUID is unknown, not an error
        return None
    return uuid if is_uuid(uuid) else f"GPU-{uuid}"


def same_gpu(a: str, b: str) -> bool:
    """Two UUIDs name the same GPU: equal, or one a prefix of the other (CUDA_VISIBLE_DEVICES takes prefixes)."""
    a, b = a.strip().lower(), b.strip().lower()
    return a.startswith(b) or b.startswith(a)


def uuid_of(api: Any, handle: Any) -> str:
    value = api.nvmlDeviceGetUUID(handle)
    return value.decode() if isinstance(value, bytes) else str(value)


def name_of(api: Any, handle: Any) -> str | None:
    try:
        value = api.nvmlDeviceGetName(handle)
    except api.NVMLError:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def handle_by_uuid(api: Any, uuid: str) -> Any:
    """The NVML handle of the GPU (or MIG device) `uuid` names, a unique UUID prefix included. SourceError if none."""
    try:
        return api.nvmlDeviceGetHandleByUUID(uuid)
    except api.NVMLError:
        pass
    try:
        count = api.nvmlDeviceGetCount()
        found = [h for h in (api.nvmlDeviceGetHandleByIndex(i) for i in range(count)) if same_gpu(uuid_of(api, h),
                                                                                                   uuid)]
    except api.NVMLError as exc:
        raise SourceError(f"NVML: GPU {uuid}: {exc}") from None
    if len(found) != 1:
        raise SourceError(f"NVML: no single GPU has the UUID {uuid} ({len(found)} match)")
    return found[0]


def pci_order(api: Any) -> list[Any]:
    """NVML's GPUs sorted by PCI bus id: CUDA's order under CUDA_DEVICE_ORDER=PCI_BUS_ID."""
    count = api.nvmlDeviceGetCount()
    handles = [api.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    def bus(handle: Any) -> str:
        value = api.nvmlDeviceGetPciInfo(handle).busId
        return (value.decode() if isinstance(value, bytes) else str(value)).lower()

    return sorted(handles, key=bus)


def _by_cuda_index(api: Any, physical: int) -> Any:
    """The NVML handle of CUDA's physical device `physical` when torch cannot tell its UUID."""
    count = api.nvmlDeviceGetCount()
    if count == 1 and physical == 0:
        return api.nvmlDeviceGetHandleByIndex(0)
    if os.environ.get("CUDA_DEVICE_ORDER", "").upper() == "PCI_BUS_ID":
        handles = pci_order(api)
        if physical < len(handles):
            return handles[physical]
        raise SourceError(f"NVML: CUDA device {physical} does not exist ({count} GPUs)")
    raise SourceError(f"cannot tell which of {count} GPUs CUDA device {physical} is without torch's UUID (CUDA "
                      "orders them fastest first, NVML does not); set CUDA_DEVICE_ORDER=PCI_BUS_ID or list GPU "
                      "UUIDs in CUDA_VISIBLE_DEVICES")


def expected_uuid(cuda_index: int, visible: str | None) -> str | None:
    """The GPU UUID CUDA_VISIBLE_DEVICES names for `cuda_index` (None for an index, a MIG id, or unset: a MIG
    id's spellings vary by driver, and NVML cannot meter a slice anyway)."""
    entries = visible_entries(visible)
    if entries is None or cuda_index >= len(entries):
        return None
    return entries[cuda_index] if entries[cuda_index].startswith("GPU-") else None


def check_same(cuda_index: int, visible: str | None, uuid: str | None) -> None:
    """GpuMismatch when CUDA_VISIBLE_DEVICES names one GPU for `cuda_index` and torch's device is another."""
    wanted = expected_uuid(cuda_index, visible)
    if wanted and uuid and not same_gpu(wanted, uuid):
        raise GpuMismatch(f"cuda:{cuda_index} is {uuid} to torch but this process was given {wanted} "
                          f"(CUDA_VISIBLE_DEVICES={visible}): its CUDA context predates the assignment; "
                          "refusing to train on one GPU and meter another")


def identify(
    api: Any, cuda_index: int, visible: str | None = None, uuid: str | None = None,
) -> GpuIdentity:
    """The GPU behind CUDA device `cuda_index` of this process, matched by UUID (see the module doc).

    `visible`: this process's CUDA_VISIBLE_DEVICES; `uuid`: torch's UUID of the device (None: unknown).
    GpuMismatch when the two disagree; SourceError when NVML cannot find the GPU.
    """
    check_same(cuda_index, visible, uuid)
    entries = visible_entries(visible)
    if entries is not None and cuda_index >= len(entries):
        raise SourceError(f"NVML: cuda:{cuda_index} is not in CUDA_VISIBLE_DEVICES={visible}")
    entry = entries[cuda_index] if entries is not None else None
    wanted = uuid or (entry if entry and is_uuid(entry) else None)
    try:
        if wanted:
            handle = handle_by_uuid(api, wanted)
        elif entry is not None and not entry.isdigit():
            raise SourceError(f"NVML: CUDA_VISIBLE_DEVICES entry '{entry}' is neither an index nor a UUID")
        else:
            handle = _by_cuda_index(api, int(entry) if entry is not None else cuda_index)
        found = uuid_of(api, handle)
    except api.NVMLError as exc:
        raise SourceError(f"NVML: cuda:{cuda_index}: {exc}") from None
    return GpuIdentity(f"cuda:{cuda_index}", found, name_of(api, handle), handle)


def identify_here(api: Any, cuda_index: int, cuda: Any = None) -> GpuIdentity:
    """`identify` in this process: its CUDA_VISIBLE_DEVICES and torch's UUID of the device."""
    return identify(api, cuda_index, os.environ.get("CUDA_VISIBLE_DEVICES"), torch_uuid(cuda_index, cuda))


def cuda_uuids(count: int, cuda: Any = None) -> list[str | None]:
    """torch's UUIDs of CUDA devices 0..count-1 in this process (None where unknown)."""
    return [torch_uuid(i, cuda) for i in range(count)]
