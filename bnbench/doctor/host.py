"""The host checks, which need no GPU: versions, CPU, torch, and whether RAPL can be read."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from bnbench.doctor.outcome import PASS, WARN, Outcome
from bnbench.version import __version__


def versions(api: Any = None) -> Outcome:
    """bnbench, Python, torch, CUDA, cuDNN, NCCL, and (with a driver) the NVIDIA driver and NVML versions."""
    import torch

    data: dict[str, Any] = {"bnbench": __version__, "python": sys.version.split()[0],
                            "torch": torch.__version__, "cuda": torch.version.cuda,
                            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                            "nccl": None, "driver": None, "nvml": None, "cuda_driver": None}
    if torch.cuda.is_available():
        try:
            nccl = torch.cuda.nccl.version()
            data["nccl"] = ".".join(map(str, nccl)) if isinstance(nccl, tuple) else str(nccl)
        except Exception:  # noqa: BLE001 - a torch built without NCCL
            data["nccl"] = None
    if api is not None:
        data.update(nvml_versions(api))
    shown = ", ".join(f"{k} {v}" for k, v in data.items() if v is not None)
    return Outcome(PASS, "versions", shown, data)


def nvml_versions(api: Any) -> dict[str, Any]:
    """The driver, NVML library and CUDA driver API versions NVML reports (None where it cannot)."""
    def maybe(name: str) -> Any:
        try:
            value = getattr(api, name)()
        except Exception:  # noqa: BLE001 - an older NVML lacks some of these calls
            return None
        return value.decode() if isinstance(value, bytes) else value

    cuda = maybe("nvmlSystemGetCudaDriverVersion")
    return {"driver": maybe("nvmlSystemGetDriverVersion"), "nvml": maybe("nvmlSystemGetNVMLVersion"),
            "cuda_driver": None if cuda is None else f"{int(cuda) // 1000}.{int(cuda) % 1000 // 10}"}


def cpu() -> Outcome:
    from bnbench.cores import usable_cores
    from bnbench.results.manifest import cpu_model

    cores = usable_cores()
    data = {"model": cpu_model(), "cores": os.cpu_count(), "usable_cores": len(cores),
            "platform": platform.platform()}
    return Outcome(PASS, "cpu", f"{data['model']}, {len(cores)} of {data['cores']} cores usable", data)


def torch_check() -> Outcome:
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    data = {"threads": torch.get_num_threads(), "cuda_available": torch.cuda.is_available(), "cuda_devices": gpus,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "cuda_device_order": os.environ.get("CUDA_DEVICE_ORDER")}
    where = f"{gpus} CUDA device(s)" if gpus else "no CUDA device (CPU only)"
    return Outcome(PASS, "torch", f"torch {torch.__version__}, {torch.get_num_threads()} threads, {where}", data)


def rapl() -> Outcome:
    """RAPL zones and whether this user can read them; what the host's energy will come from otherwise."""
    from bnbench.energy.devices import host_report

    report = host_report()
    zones = [{"zone": z.path.name, "name": z.name, "counted": z.counted, "readable": z.readable, "reason": z.reason}
             for z in report.zones]
    data = {"source": report.source, "zones": zones, "note": report.note}
    if report.source == "rapl":
        return Outcome(PASS, "rapl", f"{len(zones)} zone(s) readable; the host's energy is measured", data)
    unreadable = [z for z in report.zones if not z.readable]
    if unreadable:
        fix = ("zones exist but this user cannot read energy_uj (root only since CVE-2020-8694): run as root, "
               "or grant read access, e.g. `sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj`, or mount "
               "the tree read-only into the container")
    else:
        fix = "no RAPL zones on this machine (a VM or container without /sys/class/powercap)"
    return Outcome(WARN, "rapl", f"{fix}; the host's energy will be '{report.source}'", data)
