"""A folder's power samples read as numpy columns without pandas: the same samples `load_power` gives as a frame."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bnbench.analysis.folder import load_power
from bnbench.analysis.power_samples import PowerSamples, read_power_samples
from bnbench.errors import UserError


def table(run_id: list[str], device: list[str], t_s: list[float], power_w: list[float | None],
          phase: list[str | None]) -> pa.Table:
    return pa.table({"run_id": run_id, "device": device, "t_s": t_s, "power_w": pa.array(power_w, pa.float64()),
                     "phase": pa.array(phase, pa.string()), "gpu_busy_pct": [50.0] * len(run_id)})


def strings(column) -> list[str | None]:
    return [None if c < 0 else column.names[c] for c in column.codes.tolist()]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "runs.csv").write_text("run_id,variant,seed,status\n", encoding="utf-8")
    # power.parquet in two row groups whose dictionaries differ (b's device and phase come first in the second),
    # with a sample that has no phase and one that has no power.
    first = table(["a", "a", "a"], ["cuda:0"] * 3, [0.0, 0.1, 0.2], [10.0, 11.0, None], ["warmup", "train", None])
    second = table(["b", "b"], ["cuda:1", "cuda:1"], [0.0, 0.1], [20.0, 21.0], ["eval", "train"])
    with pq.ParquetWriter(tmp_path / "power.parquet", first.schema) as writer:
        writer.write_table(first)
        writer.write_table(second)
    # A chunk of run c (not folded in yet; its one sample taken before a phase began) and a stale chunk of run a
    # (folded: its rows are in power.parquet).
    for run, watts in (("c", 30.0), ("a", 99.0)):
        (tmp_path / "runs" / run).mkdir(parents=True)
        pq.write_table(table([run], ["cuda:0"], [5.0], [watts], [None if run == "c" else "train"]),
                       tmp_path / "runs" / run / "power-000000.parquet")
    return tmp_path


def test_the_samples_of_power_parquet_and_of_the_unfolded_chunks_in_file_order(folder: Path):
    samples = read_power_samples(folder)
    assert pq.ParquetFile(folder / "power.parquet").num_row_groups == 2
    assert strings(samples.run) == ["a", "a", "a", "b", "b", "c"]
    assert strings(samples.device) == ["cuda:0", "cuda:0", "cuda:0", "cuda:1", "cuda:1", "cuda:0"]
    assert strings(samples.phase) == ["warmup", "train", None, "eval", "train", None]
    assert samples.t_s.tolist() == [0.0, 0.1, 0.2, 0.0, 0.1, 5.0]
    assert samples.power_w[:2].tolist() == [10.0, 11.0] and math.isnan(samples.power_w[2])
    assert samples.power_w[3:].tolist() == [20.0, 21.0, 30.0]
    # One list of names per column across row groups and files: each name once.
    assert samples.device.names == ["cuda:0", "cuda:1"] and samples.phase.names == ["warmup", "train", "eval"]


def test_they_are_the_samples_the_pandas_frame_holds(folder: Path):
    samples, frame = read_power_samples(folder), load_power(folder)
    assert strings(samples.run) == frame["run_id"].astype(str).tolist()
    assert strings(samples.device) == frame["device"].astype(str).tolist()
    assert strings(samples.phase) == [None if p != p else p for p in frame["phase"].astype(object).tolist()]
    assert np.array_equal(samples.t_s, frame["t_s"].to_numpy())
    assert np.array_equal(samples.power_w, frame["power_w"].to_numpy(), equal_nan=True)


def test_a_folder_without_power_samples_has_none(tmp_path: Path):
    (tmp_path / "runs.csv").write_text("run_id,variant,seed,status\n", encoding="utf-8")
    assert len(read_power_samples(tmp_path)) == 0


def test_a_damaged_power_file_is_one_line_naming_it(folder: Path):
    (folder / "power.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(UserError, match=r"power\.parquet: damaged \("):
        read_power_samples(folder)
    pq.write_table(pa.table({"run_id": ["a"], "t_s": [0.0]}), folder / "power.parquet")
    with pytest.raises(UserError, match="not a power table: no device, power_w, phase column"):
        read_power_samples(folder)


def test_samples_from_lists_code_each_name_once():
    samples = PowerSamples.of(["a", "b", "a"], ["cpu"] * 3, [0.0, 1.0, 2.0], [1.0, 2.0, 3.0], ["train", None, "train"])
    assert samples.run.codes.tolist() == [0, 1, 0] and samples.run.names == ["a", "b"]
    assert samples.phase.codes.tolist() == [0, -1, 0] and len(samples) == 3


def test_reading_and_drawing_the_power_figure_imports_no_pandas(folder: Path):
    # The report forks the power figure's children before pandas is imported, the reducing one before matplotlib
    # too: reading and reducing may import neither, drawing no pandas nor scipy.
    code = ("import sys; from pathlib import Path\n"
            "from bnbench.analysis.power_samples import read_power_samples\n"
            "from bnbench.analysis.power_trace import power_traces\n"
            f"traces = power_traces(read_power_samples(Path({str(folder)!r})), ['a', 'b', 'c'], 800)\n"
            "print(sorted(m for m in ('matplotlib', 'pandas', 'scipy') if m in sys.modules))\n"
            "from bnbench.rendering.power_plot import plot_power\n"
            "assert len(plot_power(traces, 'rapl').axes) == 2\n"
            "print(sorted(m for m in ('pandas', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "[]"]
