"""The doctor's GPU checks against a fake NVML and a fake torch.cuda: the lines they print and what they judge."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from bnbench.commands import doctor
from bnbench.commands.doctor import gpu_checks
from bnbench.doctor import bench, gpus, meters
from bnbench.doctor.outcome import FAIL, PASS, WARN, DoctorLog, Outcome
from bnbench.energy import identity, nvml
from bnbench.energy.devices import open_device_meter
from bnbench.energy.meter import DeviceMeter
from tests.energy.fakes import FakeClock, FakeCuda, FakeGpu, FakeNvml

UUIDS = ["GPU-a0", "GPU-a1", "GPU-a2"]
CUDA_ORDER = [2, 0, 1]  # CUDA's physical device k is NVML device CUDA_ORDER[k]
PHYSICAL = [UUIDS[n] for n in CUDA_ORDER]


class Physics(FakeNvml):
    """GPUs whose energy counter integrates their power over real time: 70 W idle, 470 W while `loaded`."""

    def __init__(self) -> None:
        super().__init__([FakeGpu(uuid=u, bus_id=f"00000000:{i + 1:02x}:00.0", busy_pct=[0]) for i, u in
                          enumerate(UUIDS)])
        self.lock = threading.Lock()
        self.t0 = time.perf_counter()
        self.state = {id(g): [self.t0, 0.0, 70.0] for g in self.gpus}  # last t, joules, watts

    def _advance(self, gpu: FakeGpu) -> list[float]:
        with self.lock:
            s = self.state[id(gpu)]
            now = time.perf_counter()
            s[1] += s[2] * (now - s[0])
            s[0] = now
            return s

    def set_watts(self, gpu: FakeGpu, watts: float) -> None:
        self._advance(gpu)[2] = watts

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        return int(self._advance(gpu)[1] * 1000)

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        return int(self._advance(gpu)[2] * 1000)

    def nvmlDeviceGetFieldValues(self, gpu: FakeGpu, ids: list[int]) -> list[SimpleNamespace]:
        return [SimpleNamespace(nvmlReturn=pynvml.NVML_SUCCESS, valueType=pynvml.NVML_VALUE_TYPE_UNSIGNED_INT,
                                value=SimpleNamespace(uiVal=int(self._advance(gpu)[2] * 1000)))]


def child_probe(api: FakeNvml, lie: bool = False) -> Any:
    """A worker process: a new CUDA view under CUDA_VISIBLE_DEVICES=visible, matched through identity."""
    def probe(visible: str) -> list[dict[str, Any]]:
        cuda = FakeCuda(PHYSICAL, visible)
        rows = [{"cuda": f"cuda:{n}", "torch_uuid": identity.torch_uuid(n, cuda),
                 "nvml_uuid": identity.identify(api, n, visible, identity.torch_uuid(n, cuda)).uuid}
                for n in range(len(cuda.uuids))]
        if lie:  # a child that meters NVML's device n for cuda:n: the old index arithmetic
            rows = [{**r, "nvml_uuid": UUIDS[n]} for n, r in enumerate(rows)]
        return rows

    return probe


def test_identity_checks_pass_through_parent_worker_and_permutation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    api = Physics()
    parent = gpus.parent_mapping(api, 3, FakeCuda(PHYSICAL))
    # cuda:0 is CUDA's physical 0 = NVML 2; cuda:1 = NVML 0; cuda:2 = NVML 1.
    assert parent.status == PASS
    assert parent.message.startswith("cuda:0 = NVML 2 (GPU-a2), cuda:1 = NVML 0 (GPU-a0)")
    mapping = parent.data["mapping"]
    workers = gpus.pool_worker_mapping(mapping, child_probe(api))
    assert [o.status for o in workers] == [PASS] * 3
    assert workers[1].message == "CUDA_VISIBLE_DEVICES=GPU-a0: cuda:0 = GPU-a0"
    by_index, by_uuid = gpus.permuted_mapping(mapping, child_probe(api))
    # Reversed, "2,1,0": the child's cuda:0 must be the parent's cuda:2 = GPU-a1.
    assert (by_index.status, by_index.message) == (PASS, "CUDA_VISIBLE_DEVICES=2,1,0: cuda:0 = GPU-a1, "
                                                          "cuda:1 = GPU-a0, cuda:2 = GPU-a2")
    assert by_uuid.status == PASS and by_uuid.data["cuda_visible_devices"] == "GPU-a1,GPU-a0,GPU-a2"
    wrong, _ = gpus.permuted_mapping(mapping, child_probe(api, lie=True))
    assert wrong.status == FAIL and "expected GPU-a1, GPU-a0, GPU-a2, found cuda:0 = GPU-a0" in wrong.message


def test_gpu_facts_warn_about_persistence_mig_and_other_processes() -> None:
    api = FakeNvml([FakeGpu(energy_mj=[0], usage_mw=[1]),
                    FakeGpu(uuid="GPU-b", energy_mj=[0], usage_mw=[1], persistence=0, processes=[4242, 7]),
                    FakeGpu(uuid="GPU-c", mig_enabled=True, energy_mj=[0], usage_mw=[1])])
    ok, busy, mig = gpus.gpu_facts(api, own_pids=(7,))
    assert ok.status == PASS and ok.message == ("NVIDIA A100-SXM4-40GB GPU-aaaa, limit 400 W, persistence on, "
                                                "MIG off")
    assert busy.status == WARN and "persistence mode is off" in busy.message
    assert "1 other process(es) use it (pids 4242)" in busy.message  # pid 7 is the doctor itself
    assert mig.status == WARN and "NVML cannot meter a slice" in mig.message


def test_counter_period_and_read_latency_from_a_scripted_counter() -> None:
    # The clock moves 1 ms per call; each loop iteration calls it twice (before and after a read), so reads are
    # 2 ms apart. The counter steps every 10 reads: every 20 ms. A read itself spans 1 ms.
    ticks = iter(range(10**6))
    api = FakeNvml([FakeGpu(energy_mj=[1000 * (i // 10) for i in range(2000)])])
    outcome = meters.counter_period(api, api.gpus[0], duration_s=1.0, clock=lambda: next(ticks) / 1000)
    assert outcome.status == PASS
    assert outcome.data["period_ms"] == pytest.approx(20.0)
    assert outcome.data["read_ms"] == pytest.approx(1.0)
    slow = FakeNvml([FakeGpu(energy_mj=[1000 * (i // 100) for i in range(2000)])])
    ticks = iter(range(10**6))
    # Every 100 reads = 200 ms: slower than NVML's 100 ms at worst, so short phases read 0 J.
    late = meters.counter_period(slow, slow.gpus[0], duration_s=1.0, clock=lambda: next(ticks) / 1000)
    assert late.status == WARN and "lengthen eval_every" in late.message


def test_idle_watts_three_ways() -> None:
    # 5 s at 8 Hz (0.125 s steps, exact in binary): 40 rounds of samples. Counter 0 -> 500,000 mJ: 500 J / 5 s =
    # 100 W. Instant field 103 W (3% off), averaged API 80 W (20% off): WARN, trust the counter.
    api = FakeNvml([FakeGpu(energy_mj=[0, 500_000], instant_mw=[103_000], usage_mw=[80_000])])
    clock = FakeClock(0.0)
    outcome = meters.idle_three_ways(api, api.gpus[0], seconds=5.0, hz=8.0, clock=clock, sleep=clock.sleep)
    assert outcome.data["counter_w"] == pytest.approx(100.0)
    assert (outcome.data["instant_w"], outcome.data["average_w"]) == (pytest.approx(103.0), pytest.approx(80.0))
    assert outcome.status == WARN and outcome.data["worst_difference"] == pytest.approx(0.20)


def test_judge_burn() -> None:
    idle = {"cuda:0": 70.0, "cuda:1": 72.0}
    # cuda:0 rose 400 W; cuda:1 rose 5 W (allowed: max(10, 40) W); sampled 1010 J vs counter 1000 J: +1%.
    good = meters.judge_burn("cuda:0", idle, {"cuda:0": 470.0, "cuda:1": 77.0}, 1010.0, 1000.0)
    assert good.status == PASS and good.message == "cuda:0 70 -> 470 W; cuda:1 +5.0 W; sampled vs counter +1.00%"
    # The load showed on cuda:1's meter instead: the meters are swapped.
    swapped = meters.judge_burn("cuda:0", idle, {"cuda:0": 71.0, "cuda:1": 472.0}, 1010.0, 1000.0)
    assert swapped.status == FAIL and "cuda:0's own meter rose only 1.0 W" in swapped.message
    assert "cuda:1 rose 400.0 W though idle" in swapped.message
    # 4% off the counter: more than 3%.
    off = meters.judge_burn("cuda:0", idle, {"cuda:0": 470.0, "cuda:1": 72.0}, 1040.0, 1000.0)
    assert off.status == FAIL and "+4.0% (more than 3%)" in off.message


def test_all_gpu_checks_in_order_with_a_load_that_only_its_gpu_sees(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    api = Physics()
    cuda = FakeCuda(PHYSICAL)

    def open_meter(key: str) -> DeviceMeter:
        if key == "cpu":
            return open_device_meter("cpu")
        gpu = identity.identify_here(api, int(key.partition(":")[2]), cuda)
        return DeviceMeter(key, nvml.gpu_chain(api, gpu.handle), gpu=gpu, busy=nvml.busy_reader(api, gpu.handle))

    def load(key: str, seconds: float) -> None:
        gpu = identity.identify_here(api, int(key.partition(":")[2]), cuda).handle
        api.set_watts(gpu, 470.0)
        time.sleep(seconds)
        api.set_watts(gpu, 70.0)

    monkeypatch.setattr(meters, "burn", lambda *a, **k: _burn(*a, **k))
    # The SRCNN benchmark for real, on the CPU, small: batch 4, 0.2 s per variant and precision.
    monkeypatch.setattr(doctor, "_bench", lambda quick, open_meter, device: bench.srcnn_bench(
        device, (4,), ("fp32", "bf16"), 0.2, open_meter))
    lines: list[str] = []
    log = DoctorLog(tmp_path / "doctor.json", lines.append)
    import torch

    gpu_checks(log, api, 3, quick=False, burn_s=1.5, open_meter=open_meter, load=load,
               probe_spawned=child_probe(api), probe_subprocess=child_probe(api), cuda=cuda,
               bench_device=torch.device("cpu"))
    names = [o.name for o in log.outcomes]
    assert names[:8] == ["gpu 0", "gpu 1", "gpu 2", "identity: parent", "identity: pool worker cuda:0",
                         "identity: pool worker cuda:1", "identity: pool worker cuda:2",
                         "identity: permuted by index"]
    by_name = {o.name: o for o in log.outcomes}
    for name in ("identity: parent", "identity: permuted by UUID", "meters", "idle watts cuda:2",
                 "burn cuda:0", "burn cuda:1", "burn cuda:2"):
        assert by_name[name].status == PASS, by_name[name].line
    # The burn of cuda:1 (NVML device 0) raised cuda:1's meter by about 400 W and no other.
    rise = by_name["burn cuda:1"].data["rise_w"]
    assert rise["cuda:1"] == pytest.approx(400.0, rel=0.05) and abs(rise["cuda:0"]) < 1 and abs(rise["cuda:2"]) < 1
    # The benchmark ran for real (on the CPU here): both variants, fp32 and bf16, eager only: the CPU cannot graph.
    srcnn = [o for o in log.outcomes if o.name.startswith("srcnn")]
    assert [o.name for o in srcnn] == ["srcnn b4 fp32", "srcnn b4 bf16"]
    assert list(srcnn[0].data) == ["eager"]
    assert srcnn[0].data["eager"]["control"]["steps"] >= 10 and srcnn[0].data["eager"]["bn"]["j_per_step"] > 0
    assert srcnn[0].message.startswith("eager: control ") and "| graphed: needs a CUDA GPU" in srcnn[0].message
    assert log.exit_code == 0
    saved = json.loads((tmp_path / "doctor.json").read_text())
    assert saved["summary"]["FAIL"] == 0 and len(saved["checks"]) == len(log.outcomes)


def _burn(keys: Any, target: str, load: Any, seconds: float, open_meter: Any, idle: Any, hz: float = 10.0) -> Outcome:
    return BURN(keys, target, load, seconds, open_meter, idle, hz=50.0)  # fine sampling: a step of 400 W is sharp


BURN = meters.burn
