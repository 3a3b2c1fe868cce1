"""The results folder, written as the runs go. Files are only appended to or atomically replaced.

Layout:
  scenario.toml   the scenario as resolved (defaults filled in, overrides applied)
  manifest.json   machine, software and timing stamps
  runs.csv        one row per finished run, appended as each finishes (a resumed run's last row wins)
  curves.parquet  logged steps and evaluations of every finished run
  power.parquet   power samples of every finished run
  runs/RUN_ID/    a run in progress: chunks of its curves and power, its log and checkpoints
A run's chunks are folded into the top-level Parquet files when it ends; a reader merges what is left.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from bnbench.energy.meter import warn_once
from bnbench.errors import UserError
from bnbench.results.atomic import append_line, atomic_write, atomic_write_text
from bnbench.results.lock import refuse_foreign_contents

if TYPE_CHECKING:  # pandas is imported where a table is read or written: a pool worker only ships rows
    import pandas as pd

TABLES = ("curves", "power")


def run_dir(root: Path, run_id: str) -> Path:
    return root / "runs" / run_id


def chunk_paths(root: Path, table: str, run_id: str | None = None) -> list[Path]:
    """Chunk files of `table` for one run (or all runs), in write order."""
    pattern = f"{run_id or '*'}/{table}-*.parquet"
    return sorted((root / "runs").glob(pattern))


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_rows(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> bool:
    """Write `rows` as a Parquet file with the column types pandas would give them, without importing pandas
    (half a second, most of what a short command's metering costs): a column with no value yet, or numbers
    with a gap or a fraction, float64; whole numbers int64; text string; flags bool. False, writing nothing,
    for a column that mixes kinds (the caller lets pandas decide)."""
    import pyarrow as pa
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    fields = []
    for column in columns:
        kind = _kind([row.get(column) for row in rows])
        if kind is None:
            return False
        fields.append((column, kind))
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in fields])
    floats = {name for name, kind in fields if kind == "float64"}

    def cell(name: str, value: Any) -> Any:
        if value is None or (name in floats and not math.isfinite(value)):
            return None  # NaN and inf are not JSON; read back, a null float is NaN as before
        return float(value) if name in floats else value

    text = "".join(json.dumps({name: cell(name, row.get(name)) for name in columns}) + "\n" for row in rows)
    table = pa_json.read_json(io.BytesIO(text.encode("utf-8")),
                              parse_options=pa_json.ParseOptions(explicit_schema=schema))
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    return True


def _kind(values: list[Any]) -> str | None:
    """The pyarrow type (its constructor's name) pandas would give a column of `values`; None: mixed kinds."""
    present = [v for v in values if v is not None]
    if not present or all(isinstance(v, float | int) and not isinstance(v, bool) for v in present):
        whole = present and len(present) == len(values) and all(isinstance(v, int) for v in present)
        return "int64" if whole else "float64"
    if all(isinstance(v, str) for v in present):
        return "string"
    if all(isinstance(v, bool) for v in present):
        return "bool_"
    return None


def damaged(path: Path, exc: BaseException) -> UserError:
    """The one-line error for a results file that cannot be read: what is wrong, and how to rebuild it where
    other files can (a chunk of a run in progress: the run starts over from its checkpoints' step 0)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return UserError(f"{path}: cannot read ({exc.strerror or exc})")
    problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if path.parent.parent.name == "runs":
        fix = f"delete the folder {path.parent} and resume: run {path.parent.name} starts over from step 0"
    else:
        fix = "its rows are kept nowhere else: restore it from a copy, or move it away to report without them"
    return UserError(f"{path}: damaged ({problem}); {fix}")


def read_frame(path: Path, **options: Any) -> pd.DataFrame:
    """A Parquet file of the results folder; UserError (`damaged`) when it is truncated or not Parquet."""
    import pandas as pd

    try:
        return pd.read_parquet(path, **options)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError, a bad footer an OSError
        raise damaged(path, exc) from None


# The columns each table has had since its first version: a file without them is another table's, or not
# bnbench's, and its rows must not be merged with the others.
REQUIRED_COLUMNS = {"curves": ("run_id", "variant", "seed", "kind", "step", "t_s"),
                    "power": ("run_id", "device", "t_s", "power_w", "phase")}


def check_columns(path: Path, table: str, names: Iterable[str]) -> None:
    """UserError (`damaged`) when the column `names` of the file at `path` lack one of `table`'s required ones."""
    missing = [c for c in REQUIRED_COLUMNS[table] if c not in set(names)]
    if missing:
        raise damaged(path, ValueError(f"not a {table} table: no {', '.join(missing)} column"))


def _row_count(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError) as exc:
        raise damaged(path, exc) from None


def check_tables(root: Path) -> None:
    """Every Parquet file of the folder has an intact footer (the end a cut-short copy loses): UserError
    naming the first that does not, before a resume starts writing."""
    import pyarrow.parquet as pq

    for table in TABLES:
        for path in [root / f"{table}.parquet", *chunk_paths(root, table)]:
            if path.exists():
                _row_count(path)
                try:
                    names = pq.read_schema(path).names
                except (OSError, ValueError) as exc:
                    raise damaged(path, exc) from None
                check_columns(path, table, names)


def _sequence(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


class ChunkWriter:
    """Buffers rows of one run's table and writes them as numbered Parquet chunks on `flush`.

    `written` counts the run's rows on disk (earlier chunks included): the position a checkpoint records, so
    a resumed run can drop what was written after it (`RunStore.rewind`).
    """

    def __init__(self, root: Path, table: str, run_id: str, columns: list[str]) -> None:
        self.folder = run_dir(root, run_id)
        self.table = table
        self.columns = columns
        self.rows: list[dict[str, Any]] = []
        self.lock = threading.Lock()  # the power sampler appends from its thread; a checkpoint flushes from ours
        existing = chunk_paths(root, table, run_id)
        self.sequence = _sequence(existing[-1]) + 1 if existing else 0
        self.written = sum(_row_count(chunk) for chunk in existing)

    def append(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append(row)

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        path = self.folder / f"{self.table}-{self.sequence:06d}.parquet"
        count = len(self.rows)
        if not write_rows(path, self.rows, self.columns):
            import pandas as pd

            frame = pd.DataFrame(self.rows, columns=self.columns)
            # A column with no value yet is float NaN, so chunks concatenate with the ones that have values.
            for column in frame.columns[frame.isna().all()]:
                frame[column] = frame[column].astype("float64")
            write_frame(path, frame)
        self.rows = []
        self.sequence += 1
        self.written += count


class DiscardedChunks(ChunkWriter):
    """A table the folder does not keep: rows are counted as written and dropped (nothing imports pyarrow)."""

    def _flush(self) -> None:
        self.written += len(self.rows)
        self.rows = []


class RunStore:
    """The results folder. `discard`: tables not written, for a folder deleted once its session's rows are read
    (`bnbench measure` without --out): a run's energy is summed from its samples as they arrive, so its power
    table serves only reports and plots, and writing it (pyarrow's import first) was most of what metering a
    short command cost."""

    def __init__(self, root: Path, discard: Iterable[str] = ()) -> None:
        self.root = root
        self.discard = frozenset(discard)

    @classmethod
    def create(cls, root: Path, scenario: dict[str, Any], manifest: dict[str, Any], columns: list[str],
               discard: Iterable[str] = ()) -> RunStore:
        """A new results folder with its scenario, manifest and runs.csv header. UserError if unwritable."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            if (root / "runs.csv").exists():
                raise UserError(f"{root}: already holds results; use --resume {root} or another --out")
            refuse_foreign_contents(root)
            store = cls(root, discard)
            atomic_write_text(root / "scenario.toml", tomli_w.dumps(scenario))
            store.write_manifest(manifest)
            atomic_write_text(root / "runs.csv", _csv_line(columns))
        except OSError as exc:
            raise UserError(f"{root}: cannot write results ({exc.strerror or exc})") from None
        return store

    @property
    def columns(self) -> list[str]:
        return next(csv.reader(io.StringIO(read_runs_text(self.root))))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.root / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n")

    def append_run(self, row: dict[str, Any]) -> None:
        """Append one run's row; keys must be columns of runs.csv, missing ones are written empty."""
        columns = self.columns
        unknown = set(row) - set(columns)
        if unknown:
            raise KeyError(f"not runs.csv columns: {sorted(unknown)}")
        dropped = append_line(self.root / "runs.csv", _csv_line([_cell(row.get(c)) for c in columns]))
        if dropped:
            warn_once(f"{self.root / 'runs.csv'}: dropped a cut-short last row ({len(dropped)} bytes) before "
                      "appending; that run is resumed like one killed before its row")

    def writer(self, table: str, run_id: str, columns: list[str]) -> ChunkWriter:
        run_dir(self.root, run_id).mkdir(parents=True, exist_ok=True)
        return (DiscardedChunks if table in self.discard else ChunkWriter)(self.root, table, run_id, columns)

    def rewind(self, table: str, run_id: str, keep_rows: int) -> None:
        """Make a run's `table` rows its first `keep_rows`, as chunks of a run in progress: for a resumed run,
        whose rows after its checkpoint must go. Whole later chunks are deleted, a chunk cut in two is replaced
        atomically; nothing is truncated in place. Rows already folded into `<table>.parquet` (an interrupted
        run) come back out as chunk 0, and the folded copy is dropped last, so a crash anywhere in between
        leaves a state this method repairs on the next try.
        """
        chunks = chunk_paths(self.root, table, run_id)
        target = self.root / f"{table}.parquet"
        folded = read_frame(target) if target.exists() else None
        if folded is not None and (folded["run_id"] == run_id).any():
            # The folded rows are complete (chunks are removed only after the fold is written).
            first = run_dir(self.root, run_id) / f"{table}-000000.parquet"
            kept = folded[folded["run_id"] == run_id].iloc[:keep_rows].reset_index(drop=True)
            if len(kept):
                write_frame(first, kept)
            else:
                first.unlink(missing_ok=True)
            for chunk in chunks:
                if _sequence(chunk) != 0:
                    chunk.unlink()
            write_frame(target, folded[folded["run_id"] != run_id].reset_index(drop=True))
            return
        seen = 0
        for chunk in chunks:
            rows = _row_count(chunk)
            if seen >= keep_rows:
                chunk.unlink()
            elif seen + rows > keep_rows:
                write_frame(chunk, read_frame(chunk).iloc[: keep_rows - seen])
            seen += rows

    def consolidate(self, table: str, run_id: str) -> None:
        """Fold a finished run's chunks into `<table>.parquet` (atomic replace), then drop the chunks."""
        chunks = chunk_paths(self.root, table, run_id)
        if not chunks:
            return
        target = self.root / f"{table}.parquet"
        if len(chunks) == 1 and not target.exists():  # the first run's one chunk is the whole table: no pandas
            os.replace(chunks[0], target)
            return
        import pandas as pd

        parts = [read_frame(target)] if target.exists() else []
        if parts:
            parts[0] = parts[0][parts[0]["run_id"] != run_id]
        parts += [read_frame(chunk) for chunk in chunks]
        write_frame(target, pd.concat([p for p in parts if len(p)], ignore_index=True))
        for chunk in chunks:
            chunk.unlink()


def read_runs_text(root: Path) -> str:
    """runs.csv as text, its header first, without a cut-short last line (reported once, never fatal: a write
    was interrupted and the run it belonged to counts as unfinished). UserError when it is not runs.csv text."""
    path = root / "runs.csv"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: damaged: not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                        "restore it from a copy, or move it away and run the scenario into a new folder") from None
    if not text.endswith("\n") and "\n" in text:
        cut = text.rfind("\n") + 1
        warn_once(f"{path}: ignored a cut-short last row ({len(text) - cut} characters, an interrupted write); "
                  "--resume repairs it")
        text = text[:cut]
    if not text.startswith("run_id,"):
        raise UserError(f"{path}: damaged: {'empty' if not text.strip() else 'no header line'}; "
                        "restore it from a copy, or move it away and run the scenario into a new folder")
    return text


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if value != value else repr(value)  # NaN -> empty: unknown is never written as 0
    return value


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
