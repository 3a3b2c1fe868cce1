"""A GPU shared with other processes: each run is charged its share of the board, other tenants are seen."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pandas as pd
import pytest

from bnbench.energy import devices, shared_host
from bnbench.energy.attribution import split_board_j
from bnbench.energy.gpu_ledger import MemoryLedgerStore
from bnbench.energy.meter import DeviceMeter
from bnbench.energy.run_meter import RunMeter
from bnbench.energy.shared_gpu import (
    EQUAL,
    SM_SHARE,
    WHOLE,
    GpuTenants,
    SharedGpuSource,
    SharingTally,
    sharing_columns,
    sharing_state,
)
from bnbench.energy.shared_host import Peers
from bnbench.rendering.sharing import sharing_lines

from .fakes import FakeClock, FakeGpu, FakeNvml

OWN_PID, PEER_PID, FOREIGN_PID, PARENT_PID = 4100, 4200, 3999999, 4000


def test_idle_by_time_share_and_the_rest_by_sm_share() -> None:
    # 300 J in 1 s on a board idling at 100 W: 100 J idle, split 50/50 between the two holders; 200 J above idle
    # split by SM activity 60:20, so 150 J and 50 J. This run: 200 J; the other: 100 J.
    split = split_board_j(300.0, 1.0, 100.0, ["own", 77], {"own": 60.0, 77: 20.0})
    assert split.charged_j == {"own": pytest.approx(200.0), 77: pytest.approx(100.0)}
    assert split.held_s == {"own": 0.5, 77: 0.5}
    assert split.unattributed_j == 0.0 and split.by_sm


def test_no_samples_split_equally_and_nobody_on_the_board_is_unattributed() -> None:
    # No SM samples: 300 J three ways, 100 J each.
    split = split_board_j(300.0, 2.0, 50.0, ["a", "b", "c"], {})
    assert split.charged_j == {"a": pytest.approx(100.0), "b": pytest.approx(100.0), "c": pytest.approx(100.0)}
    assert not split.by_sm
    # Nobody holds the GPU: its 160 J (idle power) belong to no run.
    empty = split_board_j(160.0, 2.0, 80.0, [], {})
    assert empty.charged_j == {} and empty.unattributed_j == 160.0
    # Unknown idle power: everything by SM share, 3:1.
    unknown = split_board_j(400.0, 1.0, None, ["a", "b"], {"a": 30.0, "b": 10.0})
    assert unknown.charged_j == {"a": pytest.approx(300.0), "b": pytest.approx(100.0)}


def test_conservation_over_random_sample_streams() -> None:
    # Whatever the stream (energy below idle included), the holders' joules plus the unattributed ones are the
    # board's, stretch by stretch and so over any window.
    rng = random.Random(23)
    for _ in range(2000):
        holders = rng.sample(["own", "peer-1", "peer-2", 901, 902, 903], rng.randint(0, 6))
        sm = {h: rng.choice([0.0, rng.uniform(0, 100)]) for h in holders if rng.random() < 0.8}
        energy_j, duration_s = rng.uniform(0, 2000), rng.uniform(0.001, 3)
        idle_w = rng.choice([None, math.nan, rng.uniform(0, 400)])
        split = split_board_j(energy_j, duration_s, idle_w, holders, sm)
        assert math.fsum(split.charged_j.values()) + split.unattributed_j == pytest.approx(energy_j, rel=1e-9,
                                                                                            abs=1e-9)
        assert set(split.charged_j) == set(holders)
        if holders:
            assert math.fsum(split.held_s.values()) == pytest.approx(duration_s)


class Board:
    """One GPU as several readers see it at once: a counter that climbs `watts` per second of the fake clock,
    the processes holding it and their SM % per sample (1/6 s apart, NVML's period on many GPUs)."""

    NVMLError = FakeNvml.NVMLError
    NVML_ERROR_NOT_FOUND = FakeNvml([]).NVML_ERROR_NOT_FOUND
    NVML_SUCCESS = 0

    def __init__(self, clock: FakeClock, watts: float, sm: dict[int, float]) -> None:
        self.clock, self.watts, self.sm = clock, watts, sm

    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[SimpleNamespace]:
        return [SimpleNamespace(pid=pid) for pid in self.sm]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: object) -> list[SimpleNamespace]:
        return []

    def nvmlDeviceGetProcessUtilization(self, handle: object, last_seen_us: int) -> list[SimpleNamespace]:
        now_us = int(self.clock() * 1e6)
        times = [t for t in range(0, now_us + 1, 166_667) if t > last_seen_us]
        if not times:
            raise self.NVMLError(self.NVML_ERROR_NOT_FOUND)
        return [SimpleNamespace(pid=pid, smUtil=sm, timeStamp=t) for t in times for pid, sm in self.sm.items()]


class Counter:
    name = "nvml-counter"

    def __init__(self, board: Board) -> None:
        self.board = board

    def energy_j(self) -> float:
        return self.board.watts * self.board.clock()

    def power_w(self) -> float:
        return self.board.watts

    def close(self) -> None:
        pass


def peers(own: set[int], session: set[int], runs_per_gpu: int = 1) -> Peers:
    return Peers(own_cpu_s=lambda: 0.0, all_cpu_s=lambda: 0.0, runs=lambda: 1, own_pids=lambda: set(own),
                 session_pids=lambda: set(session), quiet_pids=frozenset({PARENT_PID}), runs_per_gpu=runs_per_gpu)


def test_four_packed_runs_and_a_foreign_process_add_up_to_the_board() -> None:
    # Four runs of the session packed on one 400 W GPU that idles at 100 W, plus another user's process; SM %:
    # the runs 10, 10, 20, 20, the foreign one 40. Readings come every 0.125 s, holders and samples once a
    # second. The first reading (0 s) has no samples yet, so the stretches up to 0.875 s are split equally: 350 J,
    # 70 J each of the 5 holders. From 1 s on, by SM: 3650 J, of which 912.5 J idle (182.5 J each by time) and
    # 2737.5 J above idle (273.75, 273.75, 547.5, 547.5 and 1095 J).
    clock = FakeClock(0.0)
    board = Board(clock, 400.0, {1: 10.0, 2: 10.0, 3: 20.0, 4: 20.0, FOREIGN_PID: 40.0})
    warnings: list[str] = []
    store = MemoryLedgerStore()  # the GPU's ledger, which the four runs keep together
    sources = [SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda pid: True),
                               peers({pid}, {1, 2, 3, 4}, runs_per_gpu=4), 100.0, "cuda:0", warnings.append, clock,
                               store=store)
               for pid in (1, 2, 3, 4)]
    for _ in range(80):
        clock.advance(0.125)
        charged = [s.energy_j() for s in sources]
    assert charged == pytest.approx([526.25, 526.25, 800.0, 800.0])
    foreign_j = 70 + 182.5 + 1095
    assert math.fsum(charged) + foreign_j == pytest.approx(400.0 * 10)  # conservation: the board's counter
    assert store.state.others_j == pytest.approx(foreign_j) and store.state.balance_j() == pytest.approx(0.0)
    # One warning per foreign process in each reader (a process of its own), naming the pid and the GPU.
    assert len(warnings) == 4 and all(f"process {FOREIGN_PID}" in w and "cuda:0" in w for w in warnings)
    tally = sources[0].tally
    assert tally.gpu_shared == 1.0 and tally.attribution == SM_SHARE  # 73 of 80 stretches by SM


def test_own_process_alone_is_charged_the_whole_board() -> None:
    clock = FakeClock(0.0)
    board = Board(clock, 250.0, {OWN_PID: 35.0, PARENT_PID: 0.0})  # the parent holds a context, trains nothing
    source = SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda pid: True),
                             peers({OWN_PID}, {OWN_PID}), 80.0, "cuda:0", lambda _: None, clock)
    clock.advance(4.0)
    assert source.energy_j() == pytest.approx(1000.0)  # all 250 W x 4 s: the parent holds no share
    assert source.held_s == pytest.approx(4.0)
    assert source.tally.attribution == WHOLE and source.tally.gpu_shared == 0.0


def test_pids_of_another_namespace_are_counted_and_said_once() -> None:
    # In a container NVML lists host pids: none matches. Three processes on the GPU, this session packs 2 runs
    # there: one foreign. Only this run's meter is open, so the session's other worker trains nothing now and
    # holds no share: this run and the foreign process are charged half each of 300 W x 3 s, 450 J.
    clock = FakeClock(0.0)
    board = Board(clock, 300.0, {71001: 30.0, 71002: 30.0, 71003: 30.0})
    warnings: list[str] = []
    source = SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda pid: pid == OWN_PID),
                             peers({OWN_PID}, {OWN_PID, PEER_PID}, runs_per_gpu=2), 0.0, "cuda:0", warnings.append,
                             clock)
    for _ in range(30):
        clock.advance(0.1)
        charged = source.energy_j()
    assert charged == pytest.approx(300.0 * 3.0 / 2)
    assert len(warnings) == 1 and "another pid namespace" in warnings[0] and "3 process(es)" in warnings[0]
    assert source.tally.gpu_shared == 1.0 and source.tally.attribution == EQUAL


def test_fake_nvml_foreign_process_warns_once_and_splits_by_sm() -> None:
    # The project's fake NVML: the board's counter reads 0, 500, 1000 J (after the two reads of opening), this
    # run and a foreign process hold it; each reading's samples give 30 % to this run and 10 % to the other.
    clock = FakeClock(0.0)
    gpu = FakeGpu(uuid="GPU-share", energy_mj=[0, 0, 500_000, 1_000_000], usage_mw=[250_000],
                  processes=[OWN_PID, FOREIGN_PID],
                  sm_samples=[[(OWN_PID, 30, 1), (FOREIGN_PID, 10, 1)], [(OWN_PID, 30, 2), (FOREIGN_PID, 10, 2)],
                              [(OWN_PID, 30, 3), (FOREIGN_PID, 10, 3)]])
    api = FakeNvml([gpu])
    warnings: list[str] = []
    source = SharedGpuSource(devices.nvml.NvmlCounterSource(api, gpu), GpuTenants(api, gpu, exists=lambda p: True),
                             peers({OWN_PID}, {OWN_PID}), 100.0, "cuda:0 (GPU-share)", warnings.append, clock)
    clock.advance(1.0)
    # 500 J in 1 s, 100 W idle: 50 J each by time; 400 J by SM 3:1, 300 J: this run 350 J.
    assert source.energy_j() == pytest.approx(350.0)
    clock.advance(1.0)
    assert source.energy_j() == pytest.approx(700.0)
    assert warnings == [f"cuda:0 (GPU-share): process {FOREIGN_PID} is not part of this session and uses the GPU; "
                        "this run is charged only its share of the board's energy"]
    assert source.tally.attribution == SM_SHARE and source.tally.gpu_shared == 1.0
    # The trace: the board's 250 W x this run's share of the last stretch (350 of 500 J).
    assert source.power_w() == pytest.approx(175.0)


def test_gpu_without_per_process_samples_is_split_equally() -> None:
    gpu = FakeGpu(energy_mj=[0, 0, 600_000], usage_mw=[300_000], processes=[OWN_PID, FOREIGN_PID], sm_samples=None)
    api = FakeNvml([gpu])
    clock = FakeClock(0.0)
    source = SharedGpuSource(devices.nvml.NvmlCounterSource(api, gpu), GpuTenants(api, gpu, exists=lambda p: True),
                             peers({OWN_PID}, {OWN_PID}), 0.0, "cuda:0", lambda _: None, clock)
    clock.advance(2.0)
    assert source.energy_j() == pytest.approx(300.0)
    assert source.tally.attribution == EQUAL


def test_run_meter_on_a_shared_gpu_charges_idle_on_held_seconds() -> None:
    # The board idles at 100 W and draws 300 W; this run and a foreign process have equal SM shares: 50 W of idle
    # and 100 W above idle each. Over a 5 s window: 750 J, idle charged on 2.5 held seconds (250 J), net 500 J.
    clock = FakeClock(0.0)
    board = Board(clock, 300.0, {OWN_PID: 50.0, FOREIGN_PID: 50.0})
    source = SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda p: True),
                             peers({OWN_PID}, {OWN_PID}), 100.0, "cuda:0", lambda _: None, clock)
    meter = RunMeter([DeviceMeter("cuda:0", [("nvml-counter", lambda: source)], clock=clock)],
                     idle_w={"cuda:0": 100.0}, clock=clock)
    clock.advance(1.0)
    meter.open("train")
    for _ in range(40):
        clock.advance(0.125)
        meter.sample()
    meter.close("train")
    result = meter.result()
    assert result.energy_j == pytest.approx(750.0)
    assert result.idle_j == pytest.approx(250.0)
    assert result.net_j == pytest.approx(500.0)


def test_a_gpu_is_shared_only_where_a_process_trains_runs() -> None:
    # The idle baseline opens meters before any run (no Peers): the whole board. A run's meter: its share.
    board = Board(FakeClock(0.0), 100.0, {OWN_PID: 1.0})
    chain = [("nvml-counter", lambda: Counter(board))]
    gpu = SimpleNamespace(uuid="GPU-x", handle=None)
    assert isinstance(devices._shared(chain, board, gpu, None, "cuda:0", lambda _: None)[0][1](), Counter)
    shared_host.share_host_with(peers({OWN_PID}, {OWN_PID}))
    try:
        wrapped = devices._shared(chain, board, gpu, None, "cuda:0", lambda _: None)[0][1]()
    finally:
        shared_host.share_host_with(None)
    assert isinstance(wrapped, SharedGpuSource) and wrapped.name == "nvml-counter"


def test_sharing_columns_by_hand() -> None:
    # 10 readings, 4 with a foreign process; 3 stretches shared by SM; carried from an earlier attempt: 10
    # readings, none foreign. Host: 30 of 120 busy CPU seconds were other processes'.
    state = {"gpu": [10, 4, 3, 0], "others_s": 30.0, "busy_s": 120.0, "gpus": True}
    part = SimpleNamespace(gpu=object(), source=None)
    combined = sharing_state([part], state)
    assert combined["gpu"] == [10, 4, 3, 0, 0, 0]  # an older checkpoint's four counts, read with the two it lacked
    columns = sharing_columns(combined)
    assert columns == {"gpu_shared": pytest.approx(0.4), "gpu_attribution": SM_SHARE, "host_others_pct": 25.0}
    cpu = sharing_columns(sharing_state([SimpleNamespace(gpu=None, source=None)]))
    assert math.isnan(cpu["gpu_shared"]) and cpu["gpu_attribution"] == "" and math.isnan(cpu["host_others_pct"])
    assert SharingTally(2, 1, 0, 0, 2).add(SharingTally(2, 0, 1, 0, 1, 1)).state() == (4, 1, 1, 0, 3, 1)


def test_mig_slice_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    # A MIG slice in CUDA_VISIBLE_DEVICES that NVML cannot match to one GPU: the reason names MIG, not the UUID.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-1f2e3d4c-0000-1111-2222-333344445555")
    api = FakeNvml([FakeGpu(uuid="GPU-a"), FakeGpu(uuid="GPU-b")])
    chain, why, gpu = devices.gpu_chain(0, api)
    assert (chain, why, gpu) == ([], "NVML reports no energy per MIG slice", None)
    warnings: list[str] = []
    meter = devices.open_device_meter("cuda:0", nvml_api=api, warn=warnings.append)
    assert math.isnan(meter.total_j)
    assert warnings == ["cuda:0: no energy source (NVML reports no energy per MIG slice); its energy is unknown"]


def test_a_gpu_with_power_only_is_integrated_then_shared() -> None:
    # No counter (pre-Volta): the board's power, 200 W then 400 W over 2 s, is 600 J by the trapezoid; this run
    # and a foreign process split it equally (no SM samples, no idle baseline): 300 J.
    gpu = FakeGpu(usage_mw=[200_000, 200_000, 400_000], processes=[OWN_PID, FOREIGN_PID])
    api = FakeNvml([gpu])
    clock = FakeClock(0.0)
    source = SharedGpuSource(devices.nvml.NvmlPowerSource(api, gpu), GpuTenants(api, gpu, exists=lambda p: True),
                             peers({OWN_PID}, {OWN_PID}), None, "cuda:0", lambda _: None, clock)
    clock.advance(2.0)
    assert source.energy_j() == pytest.approx(300.0)


def test_the_wrapped_sources_timing_shows_through() -> None:
    # The run meter judges short windows by the counter's measured period and caps the sampler by its read cost.
    board = Board(FakeClock(0.0), 100.0, {OWN_PID: 1.0})
    inner = Counter(board)
    inner.period_s, inner.read_s = 0.05, 0.003  # type: ignore[attr-defined]
    source = SharedGpuSource(inner, GpuTenants(board, None, exists=lambda p: True), peers({OWN_PID}, {OWN_PID}), None,
                             "cuda:0", lambda _: None, board.clock)
    assert (source.period_s, source.read_s, source.averaged) == (0.05, 0.003, False)


class MpsBoard(Board):
    """A board behind an MPS server: the compute list holds the server, the run is listed only as an MPS client."""

    def __init__(self, clock: FakeClock, watts: float, sm: dict[int, float], clients: list[int]) -> None:
        super().__init__(clock, watts, sm)
        self.clients = clients

    def nvmlDeviceGetMPSComputeRunningProcesses(self, handle: object) -> list[SimpleNamespace]:
        return [SimpleNamespace(pid=pid) for pid in self.clients]


def test_a_run_nvml_never_lists_is_said_and_labelled_unlisted() -> None:
    # NVML lists only a foreign process on the 200 W board for 3 s: this run holds no share, so it is charged
    # nothing; at close one line says so and names the label, which runs.csv then carries.
    clock = FakeClock(0.0)
    board = Board(clock, 200.0, {FOREIGN_PID: 50.0})
    warnings: list[str] = []
    source = SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda pid: True),
                             peers({OWN_PID}, {OWN_PID}), 50.0, "cuda:0", warnings.append, clock)
    for _ in range(3):
        clock.advance(1.0)
        assert source.energy_j() == 0.0
    source.close()
    assert source.tally.attribution == "unlisted" and source.unknown
    assert sharing_columns(sharing_state([SimpleNamespace(gpu=0, source=source)]))["gpu_attribution"] == "unlisted"
    assert len(warnings) == 2 and "never this run's" in warnings[1] and "cuda:0" in warnings[1]


def test_a_run_listed_after_its_setup_is_not_unlisted() -> None:
    # The first reading comes before the run's first CUDA call (a foreign process alone); from 1 s on both are
    # listed with equal SM: 0-1 s nothing is charged, then 200 W x 2 s split evenly, 200 J.
    clock = FakeClock(0.0)
    board = Board(clock, 200.0, {FOREIGN_PID: 50.0})
    warnings: list[str] = []
    source = SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda pid: True),
                             peers({OWN_PID}, {OWN_PID}), 0.0, "cuda:0", warnings.append, clock)
    clock.advance(1.0)
    assert source.energy_j() == 0.0
    board.sm[OWN_PID] = 50.0
    for _ in range(2):
        clock.advance(1.0)
        charged = source.energy_j()
    source.close()
    assert charged == pytest.approx(200.0)
    assert source.tally.attribution == SM_SHARE and not any("never this run's" in w for w in warnings)


def test_an_mps_client_is_found_in_nvmls_client_list() -> None:
    # Under MPS the compute list holds only the server (a process of no session); the run is an MPS client.
    # Listed there, it holds its share: 300 W x 2 s, by SM 30:0 against the server, all 600 J to the run.
    clock = FakeClock(0.0)
    server_pid = 5000
    board = MpsBoard(clock, 300.0, {server_pid: 0.0}, clients=[OWN_PID])
    source = SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda pid: True),
                             peers({OWN_PID}, {OWN_PID}), None, "cuda:0", lambda _: None, clock)
    board.sm[OWN_PID] = 30.0
    for _ in range(2):
        clock.advance(1.0)
        charged = source.energy_j()
    assert charged == pytest.approx(600.0)
    assert source.tally.own_listed > 0 and source.tally.attribution != "unlisted"


def test_a_run_nvml_never_lists_has_unknown_energy_not_zero() -> None:
    # Only a foreign process listed on the 200 W board over a 3 s window: the meter charged this run 0 J, but its
    # share is unknown, so the run's figures give NaN (an empty cell), never 0; a listed run in the same setting
    # is charged its half, 300 J.
    def window(listed: dict[int, float]) -> float:
        clock = FakeClock(0.0)
        board = Board(clock, 200.0, listed)
        source = SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda p: True),
                                 peers({OWN_PID}, {OWN_PID}), None, "cuda:0", lambda _: None, clock)
        meter = RunMeter([DeviceMeter("cuda:0", [("nvml-counter", lambda: source)], clock=clock)], clock=clock)
        meter.open("train")
        for _ in range(24):
            clock.advance(0.125)
            meter.sample()
        meter.close("train")
        return meter.result().energy_j

    assert math.isnan(window({FOREIGN_PID: 50.0}))
    assert window({OWN_PID: 50.0, FOREIGN_PID: 50.0}) == pytest.approx(300.0)


def test_the_report_names_the_runs_nvml_never_listed() -> None:
    runs = pd.DataFrame({"run_id": ["control-s0", "bn-s0"], "gpu_shared": [1.0, 1.0],
                         "gpu_attribution": ["sm-share", "unlisted"]})
    lines = sharing_lines(runs, {})
    assert lines[-1] == ("NVML never listed 1 run(s) on their GPU while it listed other processes (bn-s0): their "
                         "share of the board is unknown, so their energy is not given.")


def test_the_process_that_started_the_session_holds_no_share(monkeypatch: pytest.MonkeyPatch) -> None:
    # `bnbench doctor` keeps a CUDA context from its bench while its end-to-end session runs; it names itself in
    # $BNBENCH_QUIET_PIDS, so it is neither a foreign tenant nor a holder: the run is charged the whole 250 W x 2 s.
    caller = 4321
    monkeypatch.setenv(shared_host.QUIET_PIDS_ENV, f"{caller}, 77,not-a-pid")
    assert shared_host.caller_quiet_pids() == frozenset({caller, 77})
    clock = FakeClock(0.0)
    board = Board(clock, 250.0, {OWN_PID: 40.0, caller: 0.0})
    quiet = Peers(own_cpu_s=lambda: 0.0, all_cpu_s=lambda: 0.0, runs=lambda: 1, own_pids=lambda: {OWN_PID},
                  session_pids=lambda: {OWN_PID}, quiet_pids=shared_host.caller_quiet_pids())
    warnings: list[str] = []
    source = SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda p: True), quiet, 80.0, "cuda:0",
                             warnings.append, clock)
    clock.advance(2.0)
    assert source.energy_j() == pytest.approx(500.0)
    assert warnings == [] and source.tally.attribution == WHOLE and source.tally.gpu_shared == 0.0
