"""A results folder's power samples as plain numpy columns, read with pyarrow alone: what the power figure draws.

A night of 10 Hz samples on 8 GPUs is 3.5 million rows. Read into a pandas frame they are copied twice (Arrow's
buffers, then pandas' blocks and categoricals), and on a virtual machine every fresh page of memory is slow to
map: `read_power_samples` fills one numpy array per column, row group by row group, so each sample is copied once
and the Arrow buffers of one row group are all that is held beside them. It needs no pandas, so the report can
begin the power figure in a forked child before pandas is even imported. `folder.load_power` gives the same
samples as a pandas frame, with every column, for a notebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bnbench.results.load import check_results_dir
from bnbench.results.store import check_columns, chunk_paths, damaged

if TYPE_CHECKING:
    import pyarrow as pa

NAMED = ("run_id", "device", "phase")  # string columns, read as numpy codes into their names
NUMBERS = ("t_s", "power_w")


@dataclass(frozen=True)
class Codes:
    """A string column as numpy codes into `names` (-1 where a row has none)."""

    codes: np.ndarray
    names: list[str]


@dataclass(frozen=True)
class PowerSamples:
    """Power samples in file order: the run, device and phase of each, its time (s, the run's clock) and watts."""

    run: Codes
    device: Codes
    phase: Codes
    t_s: np.ndarray
    power_w: np.ndarray

    def __len__(self) -> int:
        return len(self.t_s)

    @classmethod
    def of(cls, run_id: list[str], device: list[str], t_s: list[float], power_w: list[float],
           phase: list[str | None]) -> PowerSamples:
        """Samples from lists (one value per sample), as a test or a caller without files has them."""
        return cls(codes_of(run_id), codes_of(device), codes_of(phase), np.asarray(t_s, dtype=float),
                   np.asarray(power_w, dtype=float))


def codes_of(values: list[str] | list[str | None]) -> Codes:
    """`values` as codes into their distinct names, in order of first appearance; None is -1."""
    names: dict[str, int] = {}
    codes = [-1 if v is None else names.setdefault(v, len(names)) for v in values]
    return Codes(np.asarray(codes, dtype=np.int32), list(names))


def unfolded_chunks(root: Path, folded: set[str]) -> list[Path]:
    """The power chunk files of the runs not yet folded into power.parquet (`folded`: the run ids it holds)."""
    return [c for c in chunk_paths(root, "power") if c.parent.name not in folded]


class _Columns:
    """The arrays being filled: per string column its codes and the names they index, per number its values."""

    def __init__(self, rows: int) -> None:
        self.codes = {name: np.empty(rows, dtype=np.int32) for name in NAMED}
        self.names: dict[str, dict[str, int]] = {name: {} for name in NAMED}
        self.numbers = {name: np.empty(rows, dtype=np.float64) for name in NUMBERS}
        self.filled = 0

    def add(self, table: pa.Table) -> None:
        """Append a row group's rows."""
        for name in NAMED:
            for chunk, rows in _chunks(table.column(name), self.filled):
                self._add_codes(name, chunk, rows)
        for name in NUMBERS:
            for chunk, rows in _chunks(table.column(name), self.filled):
                out = self.numbers[name][rows]
                out[:] = _values(chunk, np.float64)
                nulls = _nulls(chunk)
                if nulls is not None:
                    out[nulls] = np.nan
        self.filled += table.num_rows

    def _add_codes(self, name: str, chunk: pa.Array, rows: slice) -> None:
        import pyarrow as pa

        if not isinstance(chunk, pa.DictionaryArray):  # a column stored without a dictionary
            chunk = chunk.dictionary_encode()
        known = self.names[name]
        # The row group's own dictionary mapped onto the names met so far.
        remap = np.array([known.setdefault(str(v), len(known)) for v in chunk.dictionary.to_pylist()], dtype=np.int32)
        out = self.codes[name][rows]
        if not len(remap):  # no value at all in this row group
            out[:] = -1
            return
        np.take(remap, _values(chunk.indices, np.int32), out=out, mode="wrap")
        nulls = _nulls(chunk)
        if nulls is not None:
            out[nulls] = -1

    def samples(self) -> PowerSamples:
        n = self.filled
        run, device, phase = (Codes(self.codes[c][:n], list(self.names[c])) for c in NAMED)
        return PowerSamples(run, device, phase, self.numbers["t_s"][:n], self.numbers["power_w"][:n])


def _values(array: pa.Array, dtype: type[np.generic]) -> np.ndarray:
    """A numeric Arrow array's values as numpy `dtype`: a read-only view of its buffer when it has that type
    (a null's slot holds any value: see `_nulls`). Arrow's own `to_numpy`, and its compute functions' null
    handling, import pandas, which this module is written to do without."""
    import pyarrow as pa

    wanted = pa.from_numpy_dtype(dtype)
    if array.type != wanted:
        array = array.cast(wanted)
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * itemsize)


def _nulls(array: pa.Array) -> np.ndarray | None:
    """Where `array` has no value (from its validity bitmap), or None when it has a value everywhere."""
    if not array.null_count:
        return None
    bits = np.unpackbits(np.frombuffer(array.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[array.offset:array.offset + len(array)] == 0


def _chunks(column: pa.ChunkedArray, start: int) -> list[tuple[pa.Array, slice]]:
    """Each chunk of `column` with the rows it fills, counting from `start`."""
    out = []
    for chunk in column.chunks:
        out.append((chunk, slice(start, start + len(chunk))))
        start += len(chunk)
    return out


def _read(path: Path) -> PowerSamples:
    import pyarrow.parquet as pq

    try:
        plain = pq.ParquetFile(path)  # read_dictionary below names the columns: a missing one is checked first
        check_columns(path, "power", plain.schema_arrow.names)
        file = pq.ParquetFile(path, metadata=plain.metadata, read_dictionary=list(NAMED), pre_buffer=False)
        columns = _Columns(file.metadata.num_rows)
        for group in range(file.num_row_groups):
            columns.add(file.read_row_group(group, columns=[*NAMED, *NUMBERS], use_threads=False))
    except (OSError, ValueError) as exc:  # a truncated file, or not Parquet (ArrowInvalid is a ValueError)
        raise damaged(path, exc) from None
    return columns.samples()


def read_power_samples(root: Path) -> PowerSamples:
    """power.parquet and the chunks of runs not yet folded into it, as numpy columns (see the module's text).

    Raises UserError (`results.store.damaged`) for a file that is truncated, not Parquet, or lacks a column.
    """
    check_results_dir(root)
    target = root / "power.parquet"
    parts = [_read(target)] if target.exists() else []
    folded: set[str] = set()
    if parts:
        run = parts[0].run
        present = np.bincount(run.codes[run.codes >= 0], minlength=len(run.names))
        folded = {run.names[c] for c in np.flatnonzero(present)}
    parts += [_read(chunk) for chunk in unfolded_chunks(root, folded)]
    parts = [p for p in parts if len(p)]
    if len(parts) == 1:
        return parts[0]
    return joined(parts) if parts else _Columns(0).samples()


def joined(parts: list[PowerSamples]) -> PowerSamples:
    """Samples of several files one after another, their codes brought onto one list of names per column."""

    def join(columns: list[Codes]) -> Codes:
        names: dict[str, int] = {}
        codes = []
        for column in columns:
            remap = np.array([names.setdefault(n, len(names)) for n in column.names] + [-1], dtype=np.int32)
            codes.append(remap[column.codes])
        return Codes(np.concatenate(codes), list(names))

    return PowerSamples(join([p.run for p in parts]), join([p.device for p in parts]), join([p.phase for p in parts]),
                        np.concatenate([p.t_s for p in parts]), np.concatenate([p.power_w for p in parts]))
