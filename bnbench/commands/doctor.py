"""`bnbench doctor`: every check of this machine in order, host first, then each GPU, then a real run."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bnbench.doctor import bench, endtoend, gpus, host, meters
from bnbench.doctor.outcome import PASS, DoctorLog, Outcome
from bnbench.energy import identity, nvml
from bnbench.energy.source import SourceError

NVIDIA_CONTROL = Path("/dev/nvidiactl")  # the driver's control node: present where NVIDIA GPUs are installed
GPU_CHECKS = ["gpu facts", "identity: parent", "identity: pool worker", "identity: permuted", "counter period",
              "nvml latency", "idle watts", "burn", "srcnn bench"]
FOLDED = f" (the {len(GPU_CHECKS)} GPU checks on one line)"  # the summary's note where they were one SKIP line


def run_doctor(out: Path | None, json_path: Path | None, quick: bool, burn_s: float,
               echo: Callable[[str], None], api: Any = None) -> int:
    """Run every check, print one line each, write the JSON as it goes; 0 when nothing failed, else 1."""
    from bnbench.errors import UserError
    from bnbench.results.manifest import now_iso

    if json_path is not None and not json_path.parent.is_dir():  # a typo must not become a tree of folders
        raise UserError(f"--json {json_path}: no folder {json_path.parent}; create it first or name another file")
    folder = out or Path.cwd()
    json_path = json_path or folder / "doctor.json"
    log = DoctorLog(json_path, echo, {"command": "bnbench doctor", "started_at": now_iso(), "quick": quick})
    why = ""
    if api is None:
        try:
            api = nvml.load_nvml()
        except SourceError as exc:
            why = str(exc)
    log.run("versions", lambda: host.versions(api))
    log.run("cpu", host.cpu)
    log.run("torch", host.torch_check)
    log.run("rapl", host.rapl)
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    folded = ""  # the summary counts each check; where the GPU checks were one SKIP line, it says so
    if api is None and (count or NVIDIA_CONTROL.exists()):
        log.add(gpus.nvml_broken(why, count, NVIDIA_CONTROL.exists()))
        log.skip(GPU_CHECKS, "needs NVML (see the nvml line)", "GPU checks need NVML: skipped (see the nvml line)")
        folded = FOLDED
    elif api is None or count == 0:
        needs = "NVML" if api is None else "a CUDA device"
        log.skip(GPU_CHECKS, f"needs a GPU ({why or 'torch sees no CUDA device'})",
                 f"GPU checks need {needs}: skipped ({why or 'torch sees no CUDA device'})")
        folded = FOLDED
    else:
        gpu_checks(log, api, count, quick, burn_s)
    if quick:
        log.skip(["end-to-end run"], "skipped by --quick")
    else:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        device = "cuda:0" if api is not None and count else "cpu"
        if out is None:  # a scratch run: in a temporary folder, removed after (--out DIR keeps it)
            with tempfile.TemporaryDirectory(prefix="bnbench-doctor-") as scratch:
                log.run("end-to-end run", lambda: endtoend.run_end_to_end(Path(scratch) / f"doctor-run-{stamp}",
                                                                          device))
        else:
            log.run("end-to-end run", lambda: endtoend.run_end_to_end(out / f"doctor-run-{stamp}", device))
    counts = {s: sum(o.status == s for o in log.outcomes) for s in ("PASS", "WARN", "FAIL", "SKIP")}
    echo(f"doctor: {', '.join(f'{n} {s}' for s, n in counts.items())}{folded}; details in {json_path}")
    return log.exit_code


def open_gpu_meter(key: str) -> Any:
    """The meter a run opens for `key`: the same chain, the same identity by UUID."""
    from bnbench.energy.devices import open_device_meter

    return open_device_meter(key)


def gpu_checks(log: DoctorLog, api: Any, count: int, quick: bool, burn_s: float,
               open_meter: Callable[[str], Any] = open_gpu_meter, load: Callable[[str, float], None] | None = None,
               probe_spawned: gpus.Probe = gpus.probe_spawned, probe_subprocess: gpus.Probe = gpus.probe_subprocess,
               cuda: Any = None, bench_device: Any = None) -> None:
    """The GPU checks, each in its own try/except (DoctorLog.run). The injectables stand in for the hardware in
    tests: `open_meter`, `load` (a burn), the two probes, `cuda` (torch.cuda) and the benchmark's device."""
    keys = [f"cuda:{i}" for i in range(count)]
    log.run("gpu facts", lambda: gpus.gpu_facts(api, own_pids=(os.getpid(),)))
    parent = log.run("identity: parent", lambda: gpus.parent_mapping(api, count, cuda))
    mapping = parent[0].data.get("mapping")
    if mapping:
        log.run("identity: pool worker", lambda: gpus.pool_worker_mapping(mapping, probe_spawned))
        log.run("identity: permuted", lambda: gpus.permuted_mapping(mapping, probe_subprocess))
    else:
        log.skip(["identity: pool worker", "identity: permuted"], "the parent's mapping failed")
    handles: dict[str, Any] = {}

    def find_handles() -> Outcome:
        handles.update({k: identity.identify_here(api, i, cuda).handle for i, k in enumerate(keys)})
        return Outcome(PASS, "meters", f"{len(handles)} GPU meter(s) matched by UUID")

    if log.run("meters", find_handles)[0].status != PASS:
        log.skip(GPU_CHECKS[4:], "no GPU could be matched to its NVML handle")
        return
    log.run("counter period", lambda: meters.counter_period(api, handles["cuda:0"]))
    log.run("nvml latency", lambda: meters.call_latency(api, handles["cuda:0"]))
    for key, handle in handles.items():
        name = f"idle watts {key}"
        log.run(name, lambda h=handle, n=name: _named(meters.idle_three_ways(api, h, 2.0 if quick else 4.0), n))
    if quick:
        log.skip(["burn"], "skipped by --quick")
    else:
        def burns() -> list[Outcome]:
            idle = meters.idle_watts(keys, open_meter)
            return [meters.burn(keys, k, load or meters.matmul_load, burn_s, open_meter, idle) for k in keys]

        log.run("burn", burns)
    log.run("srcnn bench", lambda: _bench(quick, open_meter, bench_device))


def _named(outcome: Outcome, name: str) -> Outcome:
    return Outcome(outcome.status, name, outcome.message, outcome.data)


def _bench(quick: bool, open_meter: Callable[[str], Any], device: Any) -> list[Outcome]:
    import torch

    device = device or torch.device("cuda:0")
    sizes, seconds = ((256,), 1.5) if quick else ((64, 128, 256, 1024), 2.5)
    return bench.srcnn_bench(device, sizes, ("fp32", "bf16"), seconds, open_meter)


