"""`bnbench measure` starts fast: it imports neither torch, pandas, scipy, PIL nor (without --out) pyarrow for one
run of a command, and its start-up benchmark runs with its smallest settings."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import sys
from bnbench.cli import app
try:
    app(["measure", "--quiet", "--device", "cpu", "--", "true"], standalone_mode=False)
finally:
    print(sorted(m for m in ("torch", "pandas", "scipy", "matplotlib", "PIL", "pyarrow", "numpy") if m in sys.modules))
"""


def test_measuring_a_command_imports_no_torch_pandas_scipy_matplotlib_pil_or_pyarrow():
    # torch alone was 2 to 5 s of a 0.03 s command's 5 s under measure, pandas half a CPU-second, PIL (the task
    # registry's image checks) 0.02 s, pyarrow with its numpy a fifth of a second to write a power table into a
    # folder deleted once the figures are printed; none of them is needed to run a command once, meter it and
    # print its figures.
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_the_startup_benchmark_prints_its_figure():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "measure_startup.py"), "--rounds", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("round 1: bare ") and len(lines) == 2
    assert lines[1].startswith("bnbench measure adds ") and "CPU-seconds to `true` (medians of 1 rounds" in lines[1]


def test_chunks_written_without_pandas_read_back_as_pandas_wrote_them(tmp_path):
    import math

    import pandas as pd

    from bnbench.results.store import write_frame, write_rows

    columns = ["run_id", "step", "t_s", "power_w", "phase", "flag", "empty"]
    rows = [{"run_id": "a-s0", "step": 1, "t_s": 0.5, "power_w": None, "phase": "train", "flag": True},
            {"run_id": "a-s0", "step": 2, "t_s": 1, "power_w": 9.5, "phase": None, "flag": False},
            {"run_id": "a-s0", "step": 3, "t_s": 1.5, "power_w": math.nan, "phase": "eval", "flag": True}]
    assert write_rows(tmp_path / "new.parquet", rows, columns)
    frame = pd.DataFrame(rows, columns=columns)
    frame["empty"] = frame["empty"].astype("float64")  # as the pandas path writes a column with no value yet
    write_frame(tmp_path / "old.parquet", frame)
    new, old = pd.read_parquet(tmp_path / "new.parquet"), pd.read_parquet(tmp_path / "old.parquet")
    # step: int64; t_s (1 among fractions), power_w (a gap, a NaN) and empty: float64; phase: text with a gap.
    assert list(new.dtypes.astype(str)) == list(old.dtypes.astype(str))
    assert [str(new[c].dtype) for c in ("step", "t_s", "power_w", "flag", "empty")] == [
        "int64", "float64", "float64", "bool", "float64"]
    pd.testing.assert_frame_equal(new, old)
    # A column that mixes text and numbers is left to pandas: nothing written.
    assert not write_rows(tmp_path / "mixed.parquet", [{"x": 1}, {"x": "one"}], ["x"])
    assert not (tmp_path / "mixed.parquet").exists()


def test_a_scratch_folder_drops_its_power_table_and_keeps_its_curves(tmp_path):
    import pandas as pd

    from bnbench.results.schema import POWER_COLUMNS
    from bnbench.results.store import RunStore

    store = RunStore.create(tmp_path / "r", {"scenario": {"name": "x"}}, {}, ["run_id"], discard=("power",))
    power = store.writer("power", "a-s0", POWER_COLUMNS)
    curves = store.writer("curves", "a-s0", ["run_id", "variant", "seed", "kind", "step", "t_s"])
    for t_s in (0.1, 0.2, 0.3):
        power.append({"run_id": "a-s0", "device": "cpu", "t_s": t_s, "power_w": 10.0, "phase": "train"})
    curves.append({"run_id": "a-s0", "variant": "a", "seed": 0, "kind": "train", "step": 1, "t_s": 0.2})
    power.flush()
    curves.flush()
    assert power.written == 3 and curves.written == 1  # a checkpoint's position counts the dropped rows alike
    store.consolidate("power", "a-s0")
    store.consolidate("curves", "a-s0")
    assert not (tmp_path / "r" / "power.parquet").exists()
    assert not list((tmp_path / "r" / "runs").glob("*/power-*"))
    assert pd.read_parquet(tmp_path / "r" / "curves.parquet")["t_s"].tolist() == [0.2]
