"""Runs in other processes (pool workers, DDP ranks, Ray tasks) report through events; one process writes.

A worker runs the ordinary run driver against a `ShippingStore` and a `ShippingProgress`: instead of writing
runs.csv, Parquet chunks or the terminal, they send each write as an event (a picklable tuple). The parent
replays the events in order onto the real `RunStore` and display with `EventReplay`, so the results files are
written by one process only and a run's rows are attributed to the device its worker was given.

Files a run writes in its own folder (its error log, its checkpoints) are written where the run executes; a
worker on another machine ships them back as `file` events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnbench.execute.progress import Progress
from bnbench.results.manifest import now_iso
from bnbench.results.store import TABLES, ChunkWriter, RunStore, chunk_paths, run_dir
from bnbench.scenario import RunSpec

if TYPE_CHECKING:
    from bnbench.hooks import EvalLog, StepLog

Event = tuple[Any, ...]
Send = Callable[[Event], None]


def row_count(chunk: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(chunk).metadata.num_rows


class ShippedChunks:
    """A ChunkWriter lookalike: `flush` sends the buffered rows as one `chunk` event.

    `written` counts the run's rows sent so far, earlier attempts' kept rows included: what a checkpoint
    records, as ChunkWriter's does. `folder` is the run's folder where it executes.
    """

    def __init__(self, send: Send, folder: Path, table: str, run_id: str, columns: list[str], written: int) -> None:
        self.send, self.folder, self.table, self.run_id, self.columns = send, folder, table, run_id, columns
        self.written = written
        self.rows: list[dict[str, Any]] = []
        self.lock = threading.Lock()  # the power sampler appends from its thread

    def append(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append(row)

    def flush(self) -> None:
        with self.lock:
            rows, self.rows = self.rows, []
            if rows:
                self.send(("chunk", self.table, self.run_id, self.columns, rows))
                self.written += len(rows)


class ShippingStore(RunStore):
    """The RunStore a worker's driver sees: reads go to `root`, writes of shared files become events."""

    def __init__(self, root: Path, send: Send, columns: list[str]) -> None:
        super().__init__(root)
        self.send = send
        self._columns = columns
        self.kept: dict[tuple[str, str], int] = {}

    @property
    def columns(self) -> list[str]:
        return self._columns

    def writer(self, table: str, run_id: str, columns: list[str]) -> ShippedChunks:  # type: ignore[override]
        folder = run_dir(self.root, run_id)
        folder.mkdir(parents=True, exist_ok=True)
        # After a rewind the parent holds exactly the kept rows (it applies the rewind first); it may not have
        # yet, so the count comes from the rewind, not from the files.
        written = self.kept.get((table, run_id))
        if written is None:
            written = sum(row_count(chunk) for chunk in chunk_paths(self.root, table, run_id))
        return ShippedChunks(self.send, folder, table, run_id, columns, written)

    def rewind(self, table: str, run_id: str, keep_rows: int) -> None:
        self.kept[(table, run_id)] = keep_rows
        self.send(("rewind", table, run_id, keep_rows))

    def consolidate(self, table: str, run_id: str) -> None:
        self.send(("consolidate", table, run_id))

    def append_run(self, row: dict[str, Any]) -> None:
        self.send(("row", row))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        raise RuntimeError("a worker never writes the manifest")


class ShippingProgress:
    """The Progress a worker's driver sees: every call becomes a `progress` event."""

    def __init__(self, send: Send) -> None:
        self.send = send

    def started(self, spec: RunSpec, device: str) -> None:
        self.send(("progress", "started", spec, device))

    def logged(self, spec: RunSpec, log: StepLog, power_w: float | None, energy_wh: float | None) -> None:
        self.send(("progress", "logged", spec, log, power_w, energy_wh))

    def evaluated(self, spec: RunSpec, log: EvalLog) -> None:
        self.send(("progress", "evaluated", spec, log))

    def finished(self, spec: RunSpec, row: dict[str, Any]) -> None:
        self.send(("progress", "finished", spec, row))

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Where:
    """Where a worker ran: `label` names its device(s) in runs.csv and on screen ('cuda:3', 'cuda:2+cuda:3',
    'cpu[1]'); `names` maps the devices it saw (a pinned worker sees its GPU as cuda:0) to their real names,
    for the power trace."""

    label: str
    seen: str
    names: dict[str, str]


class EventReplay:
    """Applies a worker's events to the real store and display, in the order they were sent."""

    def __init__(self, store: RunStore, progress: Progress) -> None:
        self.store, self.progress = store, progress
        self.writers: dict[tuple[str, str], ChunkWriter] = {}
        self.rows: list[dict[str, Any]] = []

    def apply(self, event: Event, where: Where) -> None:
        kind, *payload = event
        if kind == "chunk":
            table, run_id, columns, rows = payload
            writer = self.writers.get((run_id, table))
            if writer is None:
                writer = self.writers[(run_id, table)] = self.store.writer(table, run_id, columns)
            for row in rows:
                if "device" in row:
                    row = {**row, "device": where.names.get(row["device"], row["device"])}
                writer.append(row)
            writer.flush()
        elif kind == "rewind":
            table, run_id, keep_rows = payload
            self.writers.pop((run_id, table), None)
            self.store.rewind(table, run_id, keep_rows)
        elif kind == "consolidate":
            table, run_id = payload
            self.writers.pop((run_id, table), None)
            self.store.consolidate(table, run_id)
        elif kind == "row":
            row = {**payload[0], "device": where.label}
            self.store.append_run(row)
            self.rows.append(row)
        elif kind == "file":
            relative, data = payload
            path = (self.store.root / relative).resolve()
            if not path.is_relative_to(self.store.root.resolve() / "runs"):
                raise ValueError(f"a worker sent a file outside the runs folder: {relative}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        elif kind == "progress":
            method, spec, *args = payload
            if method == "started":  # 'cuda:0 (nvml-counter)' -> 'cuda:3 (nvml-counter)'
                seen = str(args[0])
                args = [where.label + seen[len(where.seen):] if seen.startswith(where.seen) else where.label]
            elif method == "finished":
                args = [{**args[0], "device": where.label}]
            getattr(self.progress, method)(spec, *args)
        else:
            raise ValueError(f"unknown event '{kind}'")

    def fail(self, spec: RunSpec, error: str, started_at: str | None, where: Where) -> dict[str, Any]:
        """End a run whose worker, task or job is gone without its row: what it wrote kept (its tables
        consolidated), a failed row with `error` (cut to 500 characters), and the display told. Returns the row."""
        row = failed_row(spec, error[:500], started_at, now_iso())
        for table in TABLES:
            self.apply(("consolidate", table, spec.run_id), where)
        self.apply(("row", row), where)
        self.apply(("progress", "finished", spec, {**row, "steps": 0, "wall_s": None}), where)
        return self.rows[-1]


def failed_row(spec: RunSpec, error: str, started_at: str | None, ended_at: str) -> dict[str, Any]:
    """The runs.csv row of a run whose worker died under it (killed, out of memory, a crash in native code)."""
    return {"run_id": spec.run_id, "variant": spec.variant, "seed": spec.seed, "status": "failed",
            "energy_source": "none", "error": error, "started_at": started_at, "ended_at": ended_at}
