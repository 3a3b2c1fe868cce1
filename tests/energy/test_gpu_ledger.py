"""One GPU's ledger: runs reading the board at moments of their own still split every joule of it exactly once."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import random
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bnbench.energy.gpu_ledger import FileLedgerStore, LedgerState, MemoryLedgerStore
from bnbench.energy.shared_gpu import GpuTenants, SharedGpuSource
from bnbench.energy.shared_host import Peers

from .fakes import FakeClock, FakeNvml
from .test_shared_gpu import Board as SampledBoard

FOREIGN_PID = 3999999


class Board(SampledBoard):
    """A GPU whose counter integrates `watts` (which a test may change) over the fake clock, listing the pids in
    `sm` with that SM % in a sample every 1/6 s."""

    def __init__(self, clock: FakeClock, watts: float) -> None:
        super().__init__(clock, watts, {})
        self.joules, self.at = 0.0, clock()

    def counter_j(self) -> float:
        now = self.clock()
        self.joules += self.watts * (now - self.at)
        self.at = now
        return self.joules

    def set_watts(self, watts: float) -> None:
        self.counter_j()
        self.watts = watts


class Counter:
    name = "nvml-counter"

    def __init__(self, board: Board) -> None:
        self.board = board

    def energy_j(self) -> float:
        return self.board.counter_j()

    def power_w(self) -> float:
        return self.board.watts

    def close(self) -> None:
        pass


def peers(own: int, session: set[int]) -> Peers:
    return Peers(own_cpu_s=lambda: 0.0, all_cpu_s=lambda: 0.0, runs=lambda: 1, own_pids=lambda: {own},
                 session_pids=lambda: set(session))


def source(board: Board, pid: int, session: set[int], store: object, idle_w: float | None = None,
           warn: list[str] | None = None) -> SharedGpuSource:
    return SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda p: True), peers(pid, session), idle_w,
                           "cuda:0", (warn if warn is not None else []).append, board.clock,
                           store=store)  # type: ignore[arg-type]


def test_a_run_that_joins_is_a_holder_for_every_reader_at_once() -> None:
    # A 200 W board, no idle baseline, equal SM. Run A starts at 0 s; B at 0.5 s; both read every 0.1 s to 2 s.
    # A alone to 0.5 s: 100 J; then 300 J in halves: A 250 J, B 150 J, 400 J in all, the board's travel. When
    # each meter read the holders at its own moments, A kept itself alone until its next reading at 1 s and was
    # charged 290 J: 440 J for a 400 J board.
    clock = FakeClock(0.0)
    board = Board(clock, 200.0)
    board.sm[1] = 50.0
    store = MemoryLedgerStore()
    a = source(board, 1, {1, 2}, store)
    b = None
    for step in range(1, 21):
        clock.t = step / 10
        if step == 5:
            board.sm[2] = 50.0
            b = source(board, 2, {1, 2}, store)
        a.energy_j()
        if b is not None:
            b.energy_j()
    assert b is not None
    assert (a.charged_j, b.charged_j) == (pytest.approx(250.0), pytest.approx(150.0))
    assert a.charged_j + b.charged_j == pytest.approx(board.joules)


def test_a_run_that_ends_leaves_the_board_to_the_others_at_once() -> None:
    # Two runs from 0 s on a 100 W board, equal SM, reading every 0.25 s; B ends at 1 s, A reads on to 3 s. Each
    # is charged 50 J to 1 s; A then holds the board alone: 250 J. B's process is still listed (a worker between
    # runs keeps its CUDA context) but trains nothing, so it holds no share.
    clock = FakeClock(0.0)
    board = Board(clock, 100.0)
    board.sm.update({1: 30.0, 2: 30.0})
    store = MemoryLedgerStore()
    a, b = source(board, 1, {1, 2}, store), source(board, 2, {1, 2}, store)
    for step in range(1, 13):
        clock.t = step / 4
        a.energy_j()
        if step <= 4:
            b.energy_j()
        if step == 4:
            b.close()
    assert (a.charged_j, b.charged_j) == (pytest.approx(250.0), pytest.approx(50.0))
    assert store.state.balance_j() == pytest.approx(0.0, abs=1e-9)


def test_every_joule_is_charged_once_over_random_interleavings() -> None:
    # Runs join and leave at random moments, read at random cadences; the board's power changes; a foreign
    # process comes and goes. Whatever the order, the runs' charges, the foreign process's and the unattributed
    # joules add up to the board's travel since the ledger's first reading.
    for seed in range(60):
        rng = random.Random(seed)
        clock = FakeClock(0.0)
        board = Board(clock, rng.uniform(60, 700))
        store = MemoryLedgerStore()
        pids = list(range(1, rng.randint(2, 5) + 1))
        starts = {pid: rng.uniform(0, 3) for pid in pids}
        ends = {pid: starts[pid] + rng.uniform(0.2, 4) for pid in pids}
        cadence = {pid: rng.uniform(0.01, 0.4) for pid in pids}
        idle_w = rng.choice([None, rng.uniform(20, 90)])
        open_: dict[int, SharedGpuSource] = {}
        closed: list[SharedGpuSource] = []
        next_read = dict(starts)
        t = 0.0
        while t < 8.0:
            t += rng.uniform(0.005, 0.05)
            clock.t = t
            if rng.random() < 0.02:
                board.set_watts(rng.uniform(60, 700))
            if rng.random() < 0.02:
                board.sm.pop(FOREIGN_PID, None) if FOREIGN_PID in board.sm else board.sm.update({FOREIGN_PID: 40.0})
            for pid in pids:
                if pid not in open_ and starts[pid] <= t < ends[pid] and next_read[pid] <= t:
                    board.sm[pid] = rng.uniform(0, 90)
                    open_[pid] = source(board, pid, set(pids), store, idle_w)
                elif pid in open_ and t >= ends[pid]:
                    done = open_.pop(pid)
                    done.close()
                    closed.append(done)
                    board.sm.pop(pid, None) if rng.random() < 0.5 else None  # some workers keep their context
                    starts[pid] = math.inf
                elif pid in open_ and next_read[pid] <= t:
                    open_[pid].energy_j()
                    next_read[pid] = t + cadence[pid]
        for still in open_.values():
            still.close()
            closed.append(still)
        state = store.state
        runs_j = math.fsum(s.charged_j for s in closed)
        assert runs_j + state.others_j + state.unattributed_j == pytest.approx(state.board_j - state.origin_j,
                                                                                rel=1e-9, abs=1e-6)
        assert runs_j <= state.board_j - state.origin_j + 1e-6


def _reader(path: str, watts: float, read_every_s: float, for_s: float, out: object) -> None:
    """A run in its own process: a board whose counter is `watts` x the host's monotonic clock, no process
    listed (each open run then holds an equal share), read every `read_every_s` for `for_s` seconds."""

    class HostBoard:
        NVMLError = FakeNvml.NVMLError
        NVML_ERROR_NOT_FOUND = FakeNvml([]).NVML_ERROR_NOT_FOUND
        NVML_SUCCESS = 0
        name = "nvml-counter"

        def energy_j(self) -> float:
            return watts * time.monotonic()

        def power_w(self) -> float:
            return watts

        def close(self) -> None:
            pass

        def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> list[SimpleNamespace]:
            return []

        def nvmlDeviceGetGraphicsRunningProcesses(self, handle: object) -> list[SimpleNamespace]:
            return []

        def nvmlDeviceGetProcessUtilization(self, handle: object, last_seen_us: int) -> list[SimpleNamespace]:
            raise self.NVMLError(self.NVML_ERROR_NOT_FOUND)

    board = HostBoard()
    opened = time.monotonic()
    mine = SharedGpuSource(board, GpuTenants(board, None), peers(os.getpid(), set()), None, "cuda:0",
                           lambda _: None, store=FileLedgerStore(Path(path)))
    end = time.monotonic() + for_s
    while time.monotonic() < end:
        time.sleep(read_every_s)
        mine.energy_j()
    mine.close()
    out.put((mine.charged_j, time.monotonic() - opened))  # type: ignore[attr-defined]


def test_runs_in_separate_processes_keep_one_ledger_file(tmp_path: Path) -> None:
    # Three processes read one ledger file at cadences of their own, for different spans; the board draws 300 W.
    # Their charges, with the stretches nobody held, add up to the board's travel between the ledger's first and
    # last readings; and nobody was charged more than the board drew while its account was open.
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    path = tmp_path / "GPU-x.json"
    spans = [(0.007, 0.6), (0.013, 0.9), (0.029, 0.45)]
    workers = [ctx.Process(target=_reader, args=(str(path), 300.0, every, span, out)) for every, span in spans]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=60) for _ in workers]
    charged = [joules for joules, _ in results]
    for worker in workers:
        worker.join(10)
    with FileLedgerStore(path).transaction() as state:
        assert isinstance(state, LedgerState)
        travel_j = state.board_j - state.origin_j
        assert not state.accounts and state.others_j == 0.0
        assert math.fsum(charged) + state.unattributed_j == pytest.approx(travel_j, rel=1e-9)
        assert state.closed_j == pytest.approx(math.fsum(charged), rel=1e-9)
    # Nobody was charged more than the board drew while its account was open (a loaded machine stretches that).
    assert all(0 < joules <= 300.0 * open_s for joules, open_s in results)


def test_a_run_whose_processes_are_gone_is_closed_at_the_next_reading() -> None:
    # A worker killed mid-run never closes its account. On a board whose driver lists no processes every open run
    # holds an equal share: 50 J each in the first second. The reading at 2 s finds the killed run's process gone
    # and closes its account first, so the living run holds the whole 100 W from 1 s on: 250 J at 3 s.
    clock = FakeClock(0.0)
    board = Board(clock, 100.0)
    alive = {1, 2}
    store = MemoryLedgerStore()

    def run(pid: int) -> SharedGpuSource:
        return SharedGpuSource(Counter(board), GpuTenants(board, None, exists=lambda p: p in alive),
                               peers(pid, {1, 2}), None, "cuda:0", lambda _: None, clock, store=store)

    a, _ = run(1), run(2)
    clock.t = 1.0
    assert a.energy_j() == pytest.approx(50.0)
    alive.discard(2)  # killed: its account stays open
    clock.t = 2.0
    assert a.energy_j() == pytest.approx(150.0)
    clock.t = 3.0
    assert a.energy_j() == pytest.approx(250.0)
    assert list(store.state.accounts) == [a.key] and store.state.balance_j() == pytest.approx(0.0)
