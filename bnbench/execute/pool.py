"""The local executor: one worker process per device, runs handed out in the order given as devices free up.

`plan_slots` (pure) turns the device request into slots: every visible GPU for 'auto', the GPUs listed, or
the CPU split into `workers` slots of cores/workers threads, each pinned to its own cores. A slot has one
process per device of a run (`gpus_per_run`, see bnbench.execute.ddp), pinned by CUDA_VISIBLE_DEVICES, so the
run's meter opens its own devices alone. With `runs_per_gpu` k, each GPU (or group of them) gets k slots: k runs
train on it at once, each charged its share of the board (bnbench.energy.shared_gpu). Workers report through
events (bnbench.execute.events); only this process writes the results folder.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnbench.energy.meter import warn_once
from bnbench.errors import UserError
from bnbench.execute.events import EventReplay, ShippingProgress, ShippingStore, Where, failed_row
from bnbench.execute.progress import Progress
from bnbench.execute.slot_meter import SlotMeter
from bnbench.results.manifest import now_iso
from bnbench.results.store import RunStore
from bnbench.scenario import COMMAND, RunSpec

_POLL_S = 0.2
# Seconds a worker may take to start (spawn, import torch, initialize CUDA, join its group) before its slot is
# given up: seconds on a workstation, a minute or two from a slow shared file system.
START_TIMEOUT_S = 600.0
_SHUTDOWN_S = 30.0
READY = "ready"  # a worker's first event: started, quiet, waiting for the results folder


@dataclass(frozen=True)
class Slot:
    """Where one run at a time trains: `devices` (one per rank), each rank's process environment and cores.

    `label` names the slot in runs.csv and on screen: 'cuda:3', 'cuda:2+cuda:3', 'cpu[0]', 'cpu[2-3]'.
    """

    index: int
    label: str
    devices: tuple[str, ...]  # what each rank's process calls its device: 'cuda:R' (pinned) or 'cpu'
    env: dict[str, str]
    cores: tuple[tuple[int, ...], ...] | None  # per rank, on the CPU; None: not pinned
    threads: int | None  # torch threads per rank on the CPU

    names: dict[str, str] = field(default_factory=dict)  # device seen by a rank -> its real name

    @property
    def ranks(self) -> int:
        return len(self.devices)

    @property
    def where(self) -> Where:
        return Where(self.label, self.devices[0], self.names or {self.devices[0]: self.label})


def _span(cores: Sequence[int]) -> str:
    return str(cores[0]) if len(cores) == 1 else f"{cores[0]}-{cores[-1]}"


def plan_slots(
    devices: Sequence[str],
    workers: int | None = None,
    gpus_per_run: int = 1,
    cores: Sequence[int] = (0,),
    visible: str | None = None,
    uuids: Sequence[str | None] = (),
    runs_per_gpu: int = 1,
) -> list[Slot]:
    """Slots for resolved `devices` ('cpu' or 'cuda:N', from resolve_devices). UserError when they do not fit.

    GPUs: consecutive groups of `gpus_per_run`, at most `workers` groups (default: as many as fit), each taken by
    `runs_per_gpu` slots (the GPUs' first slots first, so fewer workers than slots still spread over them). The CPU:
    `workers` slots (default 1) of `gpus_per_run` processes, the `cores` shared out evenly, each process pinned
    to its own. A worker is given its GPUs by UUID (`uuids[N]`: torch's UUID of this process's cuda:N), so no
    numbering can send it to another GPU; where a UUID is unknown, by the entry of `visible` (this process's
    CUDA_VISIBLE_DEVICES) that names cuda:N, else by N.
    """
    gpus = [d for d in devices if d.startswith("cuda")]
    if gpus and len(gpus) != len(devices):
        raise UserError(f"devices {', '.join(devices)}: use either GPUs or the CPU, not both")
    if gpus:
        return _gpu_slots(gpus, workers, gpus_per_run, visible, uuids, runs_per_gpu)
    n = workers or 1
    per_process = len(cores) // (n * gpus_per_run)
    if per_process < 1:
        raise UserError(f"{n} worker(s) x {gpus_per_run} process(es) per run need {n * gpus_per_run} CPU cores; "
                        f"this machine lets bnbench use {len(cores)}")
    slots = []
    for i in range(n):
        mine = [tuple(cores[(i * gpus_per_run + r) * per_process:][:per_process]) for r in range(gpus_per_run)]
        every = [c for rank_cores in mine for c in rank_cores]
        env = {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(per_process)}
        slots.append(Slot(i, f"cpu[{_span(every)}]", ("cpu",) * gpus_per_run, env, tuple(mine), per_process))
    return slots


def _gpu_slots(gpus: list[str], workers: int | None, gpus_per_run: int, visible: str | None,
               uuids: Sequence[str | None], runs_per_gpu: int = 1) -> list[Slot]:
    listed = [v.strip() for v in visible.split(",")] if visible else None

    def entry(g: int) -> str:
        if g < len(uuids) and uuids[g]:
            return str(uuids[g])
        return listed[g] if listed else str(g)

    indices = [int(g.partition(":")[2]) for g in gpus]
    groups = len(indices) // gpus_per_run
    if groups == 0:
        raise UserError(f"gpus_per_run = {gpus_per_run} but only {len(indices)} GPU(s): {', '.join(gpus)}")
    slots = []
    for i in range(min(groups * runs_per_gpu, workers or groups * runs_per_gpu)):
        group = i % groups  # round by round over the groups: every GPU gets its first run before any its second
        mine = indices[group * gpus_per_run:(group + 1) * gpus_per_run]
        env = {"CUDA_VISIBLE_DEVICES": ",".join(entry(g) for g in mine)}
        devices = tuple(f"cuda:{r}" for r in range(gpus_per_run))
        names = {seen: f"cuda:{g}" for seen, g in zip(devices, mine, strict=True)}
        slots.append(Slot(i, "+".join(f"cuda:{g}" for g in mine), devices, env, None, None, names))
    return slots


def packed(slots: Sequence[Slot]) -> dict[int, int]:
    """The runs each slot shares its devices with, itself included, by slot index (1: alone on them)."""
    counts: dict[tuple[str, ...], int] = {}
    for slot in slots:
        key = tuple(slot.names.values()) or (slot.label,)
        counts[key] = counts.get(key, 0) + 1
    return {slot.index: counts[tuple(slot.names.values()) or (slot.label,)] for slot in slots}


def pooled(slots: Sequence[Slot]) -> bool:
    """Whether runs on `slots` need worker processes: several slots, or runs over several processes (DDP). One
    slot of one process trains in the calling process."""
    return len(slots) > 1 or any(slot.ranks > 1 for slot in slots)


def free_address() -> str:
    """A 'tcp://127.0.0.1:PORT' nobody listens on now, for a slot's process group."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def with_threads(spec: RunSpec, threads: int | None) -> RunSpec:
    """`spec` with its torch threads capped to the slot's share of the cores (None: left as it is)."""
    if threads is None:
        return spec
    import dataclasses

    mine = threads if spec.train.threads is None else min(spec.train.threads, threads)
    return dataclasses.replace(spec, train=spec.train.model_copy(update={"threads": mine}))


def _exit_with_parent() -> None:
    """End this worker when its parent is gone (killed with SIGKILL, say): nobody would record its results, and
    its run resumes from its last checkpoint."""
    parent = os.getppid()

    def watch() -> None:
        from bnbench.execute.process_group import kill_all

        while os.getppid() == parent:
            time.sleep(1.0)
        kill_all()  # a command it was running must not outlive the session either
        os._exit(1)

    threading.Thread(target=watch, name="bnbench-parent-watch", daemon=True).start()


def _worker(slot: Slot, rank: int, address: str, inbox: Any, outbox: Any, stop: Any) -> None:
    """A worker process: pin itself, import torch and the run driver, join the slot's group, say it is ready,
    then train what its inbox hands it until None.

    The inbox's first item is who shares the host and the GPUs with it: every process of the session (the
    parent's pid first, then the workers'), the number of slots, and the runs on this slot's GPUs at once; the
    next is the results folder and its columns (a pool starts before the folder exists)."""
    # Ctrl-C (the whole terminal group) and a SIGTERM to every process of a job (Slurm, systemd) are the
    # parent's to handle: it asks the runs to stop after their step, so they checkpoint and end 'interrupted'.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _exit_with_parent()
    os.environ.update(slot.env)  # before torch touches CUDA
    if slot.cores is not None:
        os.sched_setaffinity(0, slot.cores[rank])
    import torch

    from bnbench.execute import ddp
    from bnbench.execute.driver import execute_run

    if slot.threads is not None:
        torch.set_num_threads(slot.threads)
    device = torch.device(slot.devices[rank])

    def send(event: tuple[Any, ...]) -> None:
        outbox.put((slot.index, *event))

    pids: tuple[int, ...] = (os.getpid(),)
    if slot.ranks > 1:
        pids = ddp.join_group(rank, slot.ranks, address, device)
    meter = SlotMeter(slot.devices, slot.where.names, pids)
    _share_devices(pids, *inbox.get())
    send((READY, rank))
    try:
        first = inbox.get()
        if first is None:  # closed before any run: the checks refused the scenario, or nothing was left to train
            return
        root, columns = first
        store, progress = ShippingStore(Path(root), send, columns), ShippingProgress(send)
        while (item := inbox.get()) is not None:
            spec, options = item
            if spec.task.name == COMMAND:  # one command for the whole slot: it starts its own ranks
                if not rank:
                    _run_command_in_slot(spec, slot, device, store, progress, stop, meter, options, send)
                continue
            spec = ddp.rank_spec(with_threads(spec, slot.threads), slot.ranks)
            if rank:
                ddp.follow(spec, device, stop, ddp.resume_state(options.get("plan"), Path(root), spec.run_id))
                continue
            try:
                execute_run(spec, device, store, progress, stop, open_meter=meter, **options)
            except Exception as exc:  # noqa: BLE001 - the driver failed outside the run; report, go on
                send(("row", failed_row(spec, f"{type(exc).__name__}: {exc}"[:500], None, now_iso())))
            send(("idle",))
    finally:
        ddp.leave_group()


def _share_devices(pids: tuple[int, ...], session_pids: tuple[int, ...], slots: int, runs_per_gpu: int,
                   ledger_dir: str) -> None:
    """Charge this worker's runs only their share of the host package (by CPU time, over the host's busy time)
    and of their GPUs (bnbench.energy.shared_gpu, through the session's GPU ledgers in `ledger_dir`): other
    slots, the parent and other users are not theirs."""
    from bnbench.energy.shared_host import (
        Peers,
        caller_quiet_pids,
        host_busy_s,
        pool_cpu_s,
        share_host_with,
        tree_pids,
    )
    from bnbench.execute.slot_meter import cpu_seconds_of

    parent, *workers = session_pids
    share_host_with(Peers(own_cpu_s=cpu_seconds_of(pids), all_cpu_s=pool_cpu_s(lambda: session_pids),
                          runs=lambda: slots, host_busy_s=host_busy_s, own_pids=tree_pids(lambda: pids),
                          session_pids=tree_pids(lambda: workers), quiet_pids=frozenset({parent}) | caller_quiet_pids(),
                          runs_per_gpu=runs_per_gpu, ledger_dir=ledger_dir))


def _run_command_in_slot(spec: RunSpec, slot: Slot, device: Any, store: ShippingStore, progress: ShippingProgress,
                         stop: Any, meter: SlotMeter, options: dict[str, Any], send: Any) -> None:
    """Rank 0 of a slot runs a command run on every device of the slot (its CUDA_VISIBLE_DEVICES holds them all);
    its CPU time, children included, is what the host's share is weighed by."""
    from bnbench.execute.driver import execute_run

    try:
        execute_run(spec, device, store, progress, stop, open_meter=meter, devices=slot.devices, **options)
    except Exception as exc:  # noqa: BLE001 - the driver failed outside the run; report, go on
        send(("row", failed_row(spec, f"{type(exc).__name__}: {exc}"[:500], None, now_iso())))
    send(("idle",))


@dataclass
class _Running:
    slot: Slot
    processes: list[Any]
    inboxes: list[Any]
    spec: RunSpec | None = None
    started_at: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def dead(self) -> list[int]:
        return [p.exitcode for p in self.processes if p.exitcode is not None]


class WorkerPool:
    """The worker processes of `slots`, started ahead of the runs.

    Starting a worker costs seconds (spawn, import torch, join its group), so `bnbench run` starts the pool as
    soon as the slots are known and does its own checks meanwhile; `wait_ready` then holds the idle baseline
    until every worker is started and quiet. `run` hands out runs and may be called again (adaptive seeds run a
    round at a time); `close` ends the workers. A worker that dies fails its run; its slot takes no more runs.
    """

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.slots = list(slots)
        ctx = mp.get_context("spawn")  # a forked child would inherit torch's threads and locks mid-use
        self._outbox, self._stop_flag = ctx.Queue(), ctx.Event()
        self._running: dict[int, _Running] = {}
        self._ready: set[tuple[int, int]] = set()
        self._root: Path | None = None
        self._started_at = time.monotonic()
        # The session's GPU ledgers: each GPU's runs split its board's joules there, once (bnbench.energy.gpu_ledger).
        self._ledgers = tempfile.mkdtemp(prefix="bnbench-gpu-ledgers-")
        for slot in slots:
            address = free_address() if slot.ranks > 1 else ""
            inboxes = [ctx.Queue() for _ in range(slot.ranks)]
            processes = [
                ctx.Process(target=_worker, name=f"bnbench-{slot.label}-rank{rank}",
                            args=(slot, rank, address, inboxes[rank], self._outbox, self._stop_flag))
                for rank in range(slot.ranks)
            ]
            for process in processes:
                process.start()
            self._running[slot.index] = _Running(slot, processes, inboxes)
        # Each worker reads the CPU time of the session's own processes, never a walk of the host's table.
        session_pids = (os.getpid(), *(p.pid for r in self._running.values() for p in r.processes))
        sharing = packed(slots)
        for r in self._running.values():
            for inbox in r.inboxes:
                inbox.put((session_pids, len(slots), sharing[r.slot.index], self._ledgers))

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Return once every worker has started (imported torch, joined its group) or died. A slot with a worker
        still not started `timeout_s` (default START_TIMEOUT_S) after the pool started it, a hung CUDA driver or a
        group that never forms, is ended with a warning: its processes are killed, so it takes no runs and the
        idle baseline is not kept waiting."""
        timeout_s = START_TIMEOUT_S if timeout_s is None else timeout_s
        deadline = self._started_at + timeout_s
        while self._starting():
            if time.monotonic() >= deadline:
                for r in self._starting():
                    warn_once(f"{r.slot.label}: its worker did not start within {timeout_s:g} s; ended it, "
                              f"so its slot takes no runs")
                    for process in r.processes:
                        process.kill()  # SIGTERM is ignored by workers (the parent handles it)
                        process.join(5)
                return
            with contextlib.suppress(queue.Empty):
                index, *event = self._outbox.get(timeout=_POLL_S)
                if event[0] != READY:  # a worker says nothing else before it is handed the results folder
                    raise RuntimeError(f"worker of slot {index} sent {event[0]!r} before it was ready")
                self._ready.add((index, event[1]))

    def _starting(self) -> list[_Running]:
        """The slots with a worker alive but not yet started."""
        return [r for r in self._running.values()
                if any((r.slot.index, rank) not in self._ready and p.exitcode is None
                       for rank, p in enumerate(r.processes))]

    def run(self, specs: Sequence[RunSpec], store: RunStore, progress: Progress, stop: Any,
            options_of: Callable[[RunSpec], dict[str, Any]] = lambda spec: {}) -> list[dict[str, Any]]:
        """Train `specs` into `store`, each run on the next free slot in the order given; returns their rows.

        `stop` (an Event) stops handing out runs and asks the running ones to stop after their current step.
        `options_of(spec)` gives extra keyword arguments of `execute_run` for that run (where to resume from)."""
        if self._root is None:
            self._root = store.root
            for r in self._running.values():
                for inbox in r.inboxes:
                    inbox.put((str(store.root), store.columns))
        elif self._root != store.root:
            raise ValueError(f"this pool writes to {self._root}, not {store.root}")
        replay = EventReplay(store, progress)
        running = self._running
        todo = deque(specs)
        while todo or any(r.spec for r in running.values()):
            if stop.is_set():
                self._stop_flag.set()
                todo.clear()
            for r in running.values():
                if r.spec is None and todo and not r.dead():
                    r.spec, r.started_at = todo.popleft(), now_iso()
                    r.options = options_of(r.spec)
                    for inbox in r.inboxes:
                        inbox.put((r.spec, r.options))
            if all(r.dead() for r in running.values()):
                _fail_dead(running, replay, self._outbox)
                break  # no worker left: the remaining runs stay undone (resume picks them up)
            try:
                index, *event = self._outbox.get(timeout=_POLL_S)
            except queue.Empty:
                _fail_dead(running, replay, self._outbox)
                continue
            _apply(running[index], event, replay)
        return replay.rows

    def close(self) -> None:
        try:
            if self._root is None:  # never handed a run (a check refused the scenario): nothing to finish or save
                for r in self._running.values():
                    for process in r.processes:
                        process.kill()  # SIGTERM is ignored by workers (the parent handles it)
                        process.join(5)
                return
            _shut_down(self._running, self._stop_flag)
        finally:
            shutil.rmtree(self._ledgers, ignore_errors=True)


def run_pool(
    specs: Sequence[RunSpec],
    slots: Sequence[Slot],
    store: RunStore,
    progress: Progress,
    stop: Any,
    options_of: Callable[[RunSpec], dict[str, Any]] = lambda spec: {},
) -> list[dict[str, Any]]:
    """Train `specs` on a pool of `slots` started for them and closed afterwards (see WorkerPool.run)."""
    pool = WorkerPool(slots)
    try:
        return pool.run(specs, store, progress, stop, options_of)
    finally:
        pool.close()


def _apply(r: _Running, event: list[Any], replay: EventReplay) -> None:
    if event[0] == READY:  # a worker that starts while runs are handed out (WorkerPool.run without wait_ready)
        return
    if event[0] == "idle":
        r.spec = None
    else:
        replay.apply(tuple(event), r.slot.where)


def _fail_dead(running: dict[int, _Running], replay: EventReplay, outbox: Any) -> None:
    """Fail the run of every busy slot whose process died, after applying what it sent before dying."""
    busy_dead = [r for r in running.values() if r.spec is not None and r.dead()]
    if not busy_dead:
        return
    with contextlib.suppress(queue.Empty):
        while True:
            index, *event = outbox.get(timeout=_POLL_S)
            _apply(running[index], event, replay)
    for r in busy_dead:
        if r.spec is None:
            continue
        spec, r.spec = r.spec, None
        codes = ", ".join(str(c) for c in r.dead())
        replay.fail(spec, f"worker process died (exit code {codes})", r.started_at, r.slot.where)
        for process in r.processes:
            if process.exitcode is None:
                process.terminate()


def _shut_down(running: dict[int, _Running], stop_flag: Any) -> None:
    stop_flag.set()
    for r in running.values():
        for inbox in r.inboxes:
            with contextlib.suppress(Exception):
                inbox.put(None)
    deadline = time.monotonic() + _SHUTDOWN_S
    for r in running.values():
        for process in r.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                process.terminate()
                process.join(5)
