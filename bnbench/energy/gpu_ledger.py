"""One GPU's ledger, kept by every run of a session on it, so that the runs' shares add up to the board.

Each run's meter once split the board alone: it read who held the GPU and their SM samples at most once a
second, at moments of its own, and charged itself its share of what its own counter reads had seen. Meters a
fraction of a second apart then disagreed about the holders (a run that had just started, one that had just
ended) and about the samples, and their shares summed to more than the board: +20% with 2 runs packed on an
H200 and +89% with 4 (docs/gpu-validation.md, 2026-12-04).

Here every stretch of the board's counter is split once, by whichever run reads the ledger first after it, under
one lock, with one view of the holders, and each holder's joules go to its account: a run's, another tenant's,
or nobody's when no process held the GPU. A run's meter reads its own account. So, across processes and by
construction, the runs' accounts plus other tenants' plus the unattributed joules are the counter's travel
since the ledger began (`Ledger.settle`'s invariant, tested over random interleavings).

The ledger is a small JSON file beside a lock file (`fcntl.flock`) in a folder every worker of a session is
given (`bnbench.energy.shared_host.Peers.ledger_dir`), one file per GPU, or a dictionary in memory where the
runs train in one process. Holders are refreshed at most every `refresh_s`, and at once when a run joins or
leaves. Times come from `time.monotonic`, one clock for every process of the host.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bnbench.energy.attribution import split_board_j

RUN, PID, OTHER = "run:", "pid:", "other:"  # holder keys: a run of the session, another tenant's pid, an unmatched one


@dataclass
class Account:
    """One run's part of the ledger. `charged_j`, `held_s`: its joules and the seconds of the board's idle power
    charged to it since it joined; `share`: its fraction of the last stretch it held, for its power trace;
    `tally`: the six counts of `bnbench.energy.shared_gpu.SharingTally`; `foreign`: the pids of other tenants
    seen while it was open; `pids`: its processes, as it last said; `namespace`: the line to say once when the
    listed pids were another namespace's."""

    pids: list[int] = field(default_factory=list)
    charged_j: float = 0.0
    held_s: float = 0.0
    share: float = 1.0
    tally: list[int] = field(default_factory=lambda: [0] * 6)
    foreign: list[int] = field(default_factory=list)
    namespace: str = ""


@dataclass
class LedgerState:
    """Everything the ledger keeps between two readers. `t`, `board_j`, `power_w`: the last settled moment, the
    board's joules then (its counter, or its power integrated here), its power then; `origin_j`: the board's
    joules at the ledger's first reading; `read_at`: the last reading
    of the holders; `holders` and `sm`: who held the GPU at that reading and their SM weights; `accounts`: the
    open runs'; `others_j`, `unattributed_j`, `closed_j`: joules charged to other tenants, to nobody, and to runs
    that have left."""

    t: float | None = None
    origin_j: float = 0.0
    board_j: float = 0.0
    power_w: float | None = None
    read_at: float | None = None
    last_seen_us: int = 0
    samples: bool = True
    holders: list[str] = field(default_factory=list)
    sm: dict[str, float] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    others_j: float = 0.0
    unattributed_j: float = 0.0
    closed_j: float = 0.0

    def balance_j(self) -> float:
        """The board's joules since the first reading less everything charged (runs open and closed, other
        tenants, nobody): zero up to rounding, by construction."""
        charged = math.fsum([*(a.charged_j for a in self.accounts.values()), self.closed_j, self.others_j,
                             self.unattributed_j])
        return (self.board_j - self.origin_j) - charged

    @classmethod
    def of(cls, raw: dict[str, Any]) -> LedgerState:
        accounts = {key: Account(**value) for key, value in raw.pop("accounts", {}).items()}
        return cls(**raw, accounts=accounts)


class LedgerStore(Protocol):
    def transaction(self) -> contextlib.AbstractContextManager[LedgerState]:
        """The state, locked against every other reader until the block ends, then saved."""
        ...


class MemoryLedgerStore:
    """A ledger for readers in one process."""

    def __init__(self) -> None:
        self.state = LedgerState()
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[LedgerState]:
        with self.lock:
            yield self.state


class FileLedgerStore:
    """A ledger in `path` (JSON), for readers in several processes; `path` + '.lock' is locked around each use.
    A file that cannot be read (a writer killed before its rename, which cannot happen short of a crash of the
    host) starts the ledger afresh rather than stopping the run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[LedgerState]:
        with open(self.lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    state = LedgerState.of(json.loads(self.path.read_text(encoding="utf-8")))
                except (OSError, ValueError, TypeError):
                    state = LedgerState()
                yield state
                scratch = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
                scratch.write_text(json.dumps(asdict(state)), encoding="utf-8")
                os.replace(scratch, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


_in_memory: dict[str, MemoryLedgerStore] = {}
_in_memory_lock = threading.Lock()


def ledger_store(uuid: str, folder: str | None) -> LedgerStore:
    """The store of GPU `uuid`'s ledger: a file in `folder` (a session's worker processes), else this process's."""
    if folder:
        return FileLedgerStore(Path(folder) / f"{uuid}.json")
    with _in_memory_lock:
        return _in_memory.setdefault(uuid, MemoryLedgerStore())


@dataclass(frozen=True)
class Reading:
    """What a reader brings to the ledger: its board reading now (`counter_j`, the counter, or None where the board
    has only `power_w`), and its view of the session (`own`: its run's pids; `session`: every run process of the
    session; `quiet`: the session's processes that train nothing; `runs_per_gpu`: the session's runs on this GPU
    at once, for counting holders whose pids are another namespace's)."""

    counter_j: float | None
    power_w: float | None
    own: set[int]
    session: set[int]
    quiet: frozenset[int] = frozenset()
    runs_per_gpu: int = 1


@dataclass(frozen=True)
class Seen:
    """One reading of the GPU's holders (bnbench.energy.shared_gpu.GpuTenants): every listed pid, SM % summed per
    pid over the samples newer than the last seen, the newest sample's time, whether the GPU keeps per-process
    samples at all, and whether the listed pids are processes of this namespace."""

    pids: set[int]
    sm: dict[int, float]
    last_seen_us: int
    samples: bool
    matched: bool


class Ledger:
    """One GPU's ledger as one reader uses it (see the module doc). `board` reads the board (a Reading's counter
    and power, taken under the lock so readings are in time order); `tenants(last_seen_us)` reads its holders."""

    def __init__(self, store: LedgerStore, idle_w: float | None, tenants: Callable[[int], Seen],
                 clock: Callable[[], float] = time.monotonic, refresh_s: float = 1.0,
                 exists: Callable[[int], bool] = lambda pid: True) -> None:
        self.store, self.idle_w, self.tenants, self.clock, self.refresh_s = store, idle_w, tenants, clock, refresh_s
        self.exists = exists

    def settle(self, key: str, read: Callable[[], Reading], joining: bool = False, leaving: bool = False) -> Account:
        """Split the board's joules since the last reader between the holders and return run `key`'s account (a
        copy). The holders are read again when due, before the split: the samples a reading brings describe the
        stretch just past. `joining` opens the account after the split (the run holds no part of the time before
        it began) and `leaving` closes it after (it is charged up to now); both read the holders again at once."""
        with self.store.transaction() as state:
            t = self.clock()
            reading = read()
            energy_j = self._advance(state, t, reading)
            due = state.read_at is None or t - state.read_at >= self.refresh_s
            if due and not (joining or leaving):
                self._refresh(state, t, reading)
            if energy_j is not None:
                self._split(state, energy_j, t - state.t if state.t is not None else 0.0)
            state.t = t
            if joining:
                state.accounts.setdefault(key, Account())
            account = state.accounts.get(key, Account())
            account.pids = sorted(reading.own)
            if leaving:
                state.accounts.pop(key, None)
                state.closed_j += account.charged_j
            if joining or leaving:
                self._refresh(state, t, reading)
            return Account(**asdict(account))

    @staticmethod
    def _advance(state: LedgerState, t: float, reading: Reading) -> float | None:
        """The board's joules since the last settled moment (None at the first), advancing the state's board."""
        if reading.counter_j is not None:
            board_j = reading.counter_j
        elif reading.power_w is not None and state.t is not None and state.power_w is not None:
            board_j = state.board_j + 0.5 * (state.power_w + reading.power_w) * (t - state.t)
        else:
            board_j = state.board_j
        first = state.t is None
        if first:
            state.origin_j = board_j
        energy_j = board_j - state.board_j
        if energy_j < 0 and not first:  # the counter restarted (a driver reload): that stretch at the last power
            energy_j = (state.power_w or 0.0) * (t - (state.t or t))
            state.origin_j += (board_j - state.board_j) - energy_j  # the balance counts the stretch as charged
        state.board_j, state.power_w = board_j, reading.power_w if reading.power_w is not None else state.power_w
        return None if first else energy_j

    def _split(self, state: LedgerState, energy_j: float, duration_s: float) -> None:
        split = split_board_j(energy_j, duration_s, self.idle_w, state.holders, state.sm)
        state.unattributed_j += split.unattributed_j
        shared = len(state.holders) > 1
        for holder, joules in split.charged_j.items():
            name = str(holder)
            account = state.accounts.get(name[len(RUN):]) if name.startswith(RUN) else None
            if account is None:
                state.others_j += joules  # another tenant's, or a run's that left since the holders were read
                continue
            account.charged_j += joules
            account.held_s += split.held_s[holder]
            if energy_j > 0:
                account.share = min(max(joules / energy_j, 0.0), 1.0)
            if shared:
                account.tally[2 if split.by_sm else 3] += 1

    def _refresh(self, state: LedgerState, t: float, reading: Reading) -> None:
        """Read the GPU's holders again: the open runs listed (by any of their pids), other tenants, their SM."""
        seen = self.tenants(state.last_seen_us)
        state.read_at, state.last_seen_us, state.samples = t, seen.last_seen_us, seen.samples
        for key, account in list(state.accounts.items()):
            # A run whose every process is gone (a worker killed mid-run) never closed its account: close it
            # here, or a driver that lists no processes would keep charging it a share.
            if account.pids and not any(map(self.exists, account.pids)):
                state.closed_j += state.accounts.pop(key).charged_j
        accounts = state.accounts
        ours = set().union(*(set(a.pids) for a in accounts.values())) if accounts else set()
        session = reading.session | ours | set(reading.quiet)
        for account in accounts.values():
            account.tally[0] += 1
        if not seen.matched and not seen.pids & session:
            # Pids of another namespace (a container): count them. The session's processes on this GPU are its
            # workers (runs_per_gpu), of which those with an open meter hold shares.
            workers = max(reading.runs_per_gpu, len(accounts), 1)
            strangers = max(len(seen.pids) - workers, 0)
            line = (f"NVML lists processes of another pid namespace (a container?), so they cannot be "
                    f"matched to this session's: {len(seen.pids)} process(es) on the GPU against "
                    f"{workers} of this session's; each is charged an equal share")
            for account in accounts.values():
                account.tally[1] += strangers > 0
                account.tally[4] += 1  # taken to be listed: it cannot be told apart
                account.namespace = line
            state.holders = [RUN + key for key in accounts] + [f"{OTHER}{i}" for i in range(strangers)]
            state.sm = {}
            return
        foreign = sorted(seen.pids - session)
        holders: list[str] = []
        weights: dict[str, float] = {}
        for key, account in accounts.items():
            mine = set(account.pids) & seen.pids
            account.tally[1] += bool(foreign)
            account.tally[4] += bool(mine)
            account.tally[5] += bool(seen.pids) and not mine
            account.foreign = sorted(set(account.foreign) | set(foreign))
            # Nobody listed at all (a driver that lists no processes): every open run is taken to hold the GPU.
            if mine or not seen.pids:
                holders.append(RUN + key)
                weights[RUN + key] = math.fsum(seen.sm.get(pid, 0.0) for pid in mine)
        for pid in foreign:
            holders.append(f"{PID}{pid}")
            weights[f"{PID}{pid}"] = seen.sm.get(pid, 0.0)
        state.holders = holders
        if not seen.samples:
            state.sm = {}
        elif seen.sm:
            state.sm = weights
        else:  # no sample since the last reading: the last weights stand for the holders that remain
            state.sm = {h: w for h, w in state.sm.items() if h in holders}
