"""Per-GPU facts and the CUDA-to-NVML mapping, checked in the parent, in a spawned pool worker and in a process
started with a permuted CUDA_VISIBLE_DEVICES. All of it through bnbench.energy.identity, as a run does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bnbench.doctor.outcome import FAIL, PASS, WARN, Outcome
from bnbench.energy import identity, nvml

Probe = Callable[[str], list[dict[str, Any]]]
"""Runs the identity probe in another process under CUDA_VISIBLE_DEVICES=<argument>; returns its findings."""


def nvml_broken(why: str, cuda_devices: int, control_node: bool) -> Outcome:
    """The FAIL of a host whose GPUs are visible (torch sees `cuda_devices`, or the driver's `control_node`
    /dev/nvidiactl exists) while NVML cannot load (`why`): every run there would record GPU energy as none."""
    seen = f"torch sees {cuda_devices} CUDA device(s)" if cuda_devices else "/dev/nvidiactl exists"
    fix = ("install it: pip install nvidia-ml-py" if "not installed" in why
           else "fix the NVIDIA driver until nvidia-smi works")
    return Outcome(FAIL, "nvml", f"{seen} but {why}; every run here would record GPU energy as none: {fix}",
                   {"why": why, "cuda_devices": cuda_devices, "control_node": control_node})


def gpu_facts(api: Any, own_pids: Sequence[int] = ()) -> list[Outcome]:
    """Per GPU NVML sees: name, UUID, power limit, persistence mode, MIG mode, and other processes on it."""
    outcomes = []
    for info in nvml.inventory(api):
        handle = api.nvmlDeviceGetHandleByIndex(info.index)
        persistence = _maybe(lambda h=handle: int(api.nvmlDeviceGetPersistenceMode(h)))
        procs = _maybe(lambda h=handle: [int(p.pid) for p in api.nvmlDeviceGetComputeRunningProcesses(h)]) or []
        others = sorted(p for p in procs if p not in own_pids)
        data = {**info.__dict__, "energy_source": info.source, "persistence_mode": persistence,
                "other_processes": others}
        warnings = []
        if persistence == 0:
            warnings.append("persistence mode is off (the driver unloads between jobs: slow starts and idle "
                            "readings of an uninitialised GPU; `sudo nvidia-smi -pm 1`)")
        if info.mig:
            warnings.append("MIG is enabled: NVML cannot meter a slice, so runs here have no GPU energy")
        if others:
            warnings.append(f"{len(others)} other process(es) use it (pids {', '.join(map(str, others[:5]))}): "
                            "their work is in every joule measured here")
        if not info.counter:
            warnings.append(f"no energy counter: energy comes from integrated power ({info.source})")
        limit = "?" if info.power_limit_w is None else f"{info.power_limit_w:.0f} W"
        text = f"{info.name} {info.uuid}, limit {limit}, persistence {_on(persistence)}, MIG {_on(info.mig)}"
        status = WARN if warnings else PASS
        outcomes.append(Outcome(status, f"gpu {info.index}", text + "".join(f"; {w}" for w in warnings), data))
    return outcomes


def _maybe(read: Callable[..., Any]) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001 - a fact NVML cannot give is unknown, not a failure
        return None


def _on(flag: Any) -> str:
    return "?" if flag is None else "on" if flag else "off"


def mapping_here(api: Any, count: int, cuda: Any = None) -> list[dict[str, Any]]:
    """cuda:N of this process -> torch's UUID, the UUID of the NVML GPU matched to it, its NVML index and name."""
    by_uuid = {g.uuid: g.index for g in nvml.inventory(api)}
    rows = []
    for n in range(count):
        gpu = identity.identify_here(api, n, cuda)
        rows.append({"cuda": f"cuda:{n}", "torch_uuid": identity.torch_uuid(n, cuda), "nvml_uuid": gpu.uuid,
                     "nvml_index": by_uuid.get(gpu.uuid), "name": gpu.name})
    return rows


def parent_mapping(api: Any, count: int, cuda: Any = None) -> Outcome:
    rows = mapping_here(api, count, cuda)
    problems = [r["cuda"] for r in rows if not r["torch_uuid"] or not identity.same_gpu(r["torch_uuid"],
                                                                                         r["nvml_uuid"])]
    if len({r["nvml_uuid"] for r in rows}) != len(rows):
        problems.append("two CUDA devices matched to one GPU")
    shown = ", ".join(f"{r['cuda']} = NVML {r['nvml_index']} ({r['nvml_uuid']})" for r in rows)
    if problems:
        return Outcome(FAIL, "identity: parent", f"{shown}; mismatch at {', '.join(problems)}", {"mapping": rows})
    return Outcome(PASS, "identity: parent", shown, {"mapping": rows})


def _compare(name: str, expected: list[str], found: list[dict[str, Any]], visible: str) -> Outcome:
    """The devices a child process saw (`found`, in its cuda order) against the UUIDs the parent expects."""
    got = [r.get("nvml_uuid") for r in found]
    torch_said = [r.get("torch_uuid") for r in found]
    data = {"cuda_visible_devices": visible, "expected": expected, "found": found}
    ok = len(got) == len(expected) and all(
        g and t and identity.same_gpu(g, e) and identity.same_gpu(t, e)
        for g, t, e in zip(got, torch_said, expected, strict=False))
    shown = ", ".join(f"cuda:{i} = {u}" for i, u in enumerate(got))
    if ok:
        return Outcome(PASS, name, f"CUDA_VISIBLE_DEVICES={visible}: {shown}", data)
    return Outcome(FAIL, name, f"CUDA_VISIBLE_DEVICES={visible}: expected {', '.join(expected)}, found {shown} "
                               f"(torch: {', '.join(map(str, torch_said))})", data)


def pool_worker_mapping(parent: list[dict[str, Any]], probe: Probe) -> list[Outcome]:
    """Each GPU as a pool slot hands it to its worker (bnbench.execute.pool.plan_slots), probed in that worker."""
    from bnbench.execute.pool import plan_slots

    uuids = [r["torch_uuid"] for r in parent]
    slots = plan_slots([r["cuda"] for r in parent], visible=os.environ.get("CUDA_VISIBLE_DEVICES"), uuids=uuids)
    outcomes = []
    for slot, row in zip(slots, parent, strict=True):
        visible = slot.env["CUDA_VISIBLE_DEVICES"]
        outcomes.append(_compare(f"identity: pool worker {slot.label}", [row["nvml_uuid"]], probe(visible), visible))
    return outcomes


def permuted_mapping(parent: list[dict[str, Any]], probe: Probe) -> list[Outcome]:
    """The parent's devices in reverse order, by index and by UUID, in a new process: cuda:i there must be the
    parent's cuda:(n-1-i)."""
    entries = identity.visible_entries(os.environ.get("CUDA_VISIBLE_DEVICES"))
    indices = entries if entries is not None else [str(i) for i in range(len(parent))]
    expected = [r["nvml_uuid"] for r in reversed(parent)]
    by_index = ",".join(reversed(indices[:len(parent)]))
    by_uuid = ",".join(r["torch_uuid"] or r["nvml_uuid"] for r in reversed(parent))
    return [_compare("identity: permuted by index", expected, probe(by_index), by_index),
            _compare("identity: permuted by UUID", expected, probe(by_uuid), by_uuid)]


def probe_subprocess(visible: str, timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """`python -m bnbench.doctor.probe` under CUDA_VISIBLE_DEVICES=`visible`: a fresh process, as a worker is."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": visible}
    done = subprocess.run([sys.executable, "-m", "bnbench.doctor.probe"], env=env, capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the probe process failed ({done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def probe_spawned(visible: str) -> list[dict[str, Any]]:
    """The probe in a process started by multiprocessing's spawn, as the pool starts its workers."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(probe_in_worker, (visible,))


def probe_in_worker(visible: str) -> list[dict[str, Any]]:
    """In a fresh process: set CUDA_VISIBLE_DEVICES first (as a pool worker does), then start torch and NVML."""
    os.environ["CUDA_VISIBLE_DEVICES"] = visible
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return mapping_here(nvml.load_nvml(), count)
