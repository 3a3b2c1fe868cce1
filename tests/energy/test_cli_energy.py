"""`bnbench tea`, `bnbench devices`, and a run's energy end to end on the CPU."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.energy import nvml, rapl
from bnbench.energy.source import SourceError

from .fakes import FakeGpu, FakeNvml

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_sensors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine without NVML and without RAPL, whatever machine runs the tests."""

    def missing() -> None:
        raise SourceError("NVML: NVML Shared Library Not Found")

    monkeypatch.setattr(nvml, "load_nvml", missing)
    monkeypatch.setattr(rapl, "POWERCAP", tmp_path / "no-powercap")


def test_tea_says_540_cups_for_18_kwh() -> None:
    result = runner.invoke(app, ["tea", "18kWh"])
    assert result.exit_code == 0
    assert "540 cups of tea" in result.output
    assert "8.55 kg CO2" in result.output  # 18 kWh x 475 g/kWh
    result = runner.invoke(app, ["tea", "1.5kW*12h", "--price", "0.2", "--currency", "EUR"])
    assert "= 18.0 kWh" in result.output and "3.60 EUR" in result.output  # 18 kWh x 0.2, 3 significant digits


def test_tea_bad_input_is_one_line_exit_2() -> None:
    result = runner.invoke(app, ["tea", "18 parsecs"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "bnbench: error: '18 parsecs' is not an energy; write e.g. 18kWh, 500Wh, 64.8MJ, 3600J or a power times "
        "a time: 1.5kW*12h"]


def test_devices_without_sensors_names_the_fallback() -> None:
    result = runner.invoke(app, ["devices"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "GPUs: none seen by NVML (NVML: NVML Shared Library Not Found)" in text
    assert "RAPL: no powercap zones" in text
    assert "energy source estimate" in text and "10 W per busy core" in text


def test_devices_lists_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeNvml([FakeGpu(energy_mj=[1], instant_mw=[1], usage_mw=[1])])
    monkeypatch.setattr(nvml, "load_nvml", lambda: api)
    result = runner.invoke(app, ["devices"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if "A100" in line)
    assert "Ampere" in row and "550.54.15" in row and "400" in row and "nvml-counter" in row
    # Drawn as every other table: a rule under the header, no box.
    assert "GPUs (NVML)" in result.output and not any(c in result.output for c in "┏┃│┡└"), result.output


def run_tiny(tmp_path: Path, *sets: str) -> tuple[pd.DataFrame, Path]:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(
        '[scenario]\nname = "tiny"\nseeds = [0]\ndevice = "cpu"\n[task]\nbatch_size = 8\neval_size = 48\n'
        "[train]\nmax_steps = 4\neval_every = 2\nlog_every = 2\nthreads = 1\n"
        "[energy]\nidle_s = 0.2\nsample_hz = 50\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out), *[a for s in sets for a in ("--set", s)]])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out / "runs.csv"), out


def test_cpu_run_without_sensors_is_an_estimate(tmp_path: Path) -> None:
    runs, out = run_tiny(tmp_path)
    run = runs.iloc[0]
    assert run["energy_source"] == "estimate"
    # Setup and warm-up are left out: the run's energy is its train, eval and checkpoint windows.
    assert run["energy_j"] > 0
    assert run["energy_j"] == pytest.approx(run["energy_train_j"] + run["energy_eval_j"] + run["energy_checkpoint_j"])
    assert run["kwh"] == pytest.approx(run["energy_j"] / 3.6e6)
    assert run["tea_cups"] == pytest.approx(run["energy_j"] / (3600 * 18_000 / 540))
    assert run["co2_g"] == pytest.approx(run["kwh"] * 475)
    assert not math.isnan(run["idle_w"]) and not math.isnan(run["net_kwh"])
    assert run["net_kwh"] <= run["kwh"]
    power = pd.read_parquet(out / "power.parquet")
    assert set(power["device"]) == {"cpu"} and len(power) >= 2
    assert set(power["phase"].dropna()) <= {"setup", "warmup", "train", "eval", "checkpoint"}
    assert power["t_s"].is_monotonic_increasing
    # Every joule is in a named phase: the estimate's power is its counter's difference over each sample's
    # interval, so the trace's right Riemann sum is the counter from the first sample to the last; the phases
    # hold the counter from the meter's opening to its closing, a few ms more on either side.
    phases_j = sum(run[f"energy_{p}_j"] for p in ("setup", "warmup", "train", "eval", "checkpoint"))
    trace_j = (power["power_w"] * power["t_s"].diff()).sum()
    assert phases_j == pytest.approx(trace_j, rel=0.05)
    assert run["energy_setup_j"] > 0 and run["measured_s"] <= run["wall_s"]
    evals = pd.read_parquet(out / "curves.parquet").query("kind == 'eval'")
    # Cumulative at each evaluation; after the last one only the final checkpoint's window is counted.
    assert evals["energy_j"].is_monotonic_increasing
    last = evals["energy_j"].iloc[-1]
    # The train window also holds the moments after it (writing the evaluation's row) until the final checkpoint:
    # the estimate counts CPU time in 10 ms ticks, 0.1 J each at 10 W, so one such tick may land there.
    assert run["energy_j"] - run["energy_checkpoint_j"] - 0.1 - 1e-9 <= last <= run["energy_j"] + 1e-9
    manifest = (out / "manifest.json").read_text()
    assert '"idle_w"' in manifest and '"gpus": []' in manifest


def test_the_manifest_says_what_rate_each_gpu_is_sampled_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from bnbench.energy import devices

    # The GPUs as probed: one whose counter read was timed at 3 ms, one not timed.
    probed = [{"index": 0, "uuid": "GPU-aaaa", "read_ms": 3.0, "counter_period_ms": 100.0},
              {"index": 1, "uuid": "GPU-bbbb", "read_ms": None, "counter_period_ms": None}]
    monkeypatch.setattr(devices, "gpu_manifest", lambda: probed)
    _, out = run_tiny(tmp_path, "energy.sample_hz=100", "train.max_steps=2")
    gpus = json.loads((out / "manifest.json").read_text())["gpus"]
    # 3 reads a tick at 3 ms = 9 ms, at most half of each period: 0.5 / 0.009 s = 55.6 Hz of the 100 asked;
    # the untimed GPU gets the rate asked.
    assert gpus[0]["sample_hz"] == pytest.approx(0.5 / 0.009) and gpus[1]["sample_hz"] == 100.0
    assert gpus[0]["counter_period_ms"] == 100.0


def test_nothing_to_read_and_no_estimate_leaves_energy_empty(tmp_path: Path) -> None:
    runs, _ = run_tiny(tmp_path, "energy.estimate=false")
    run = runs.iloc[0]
    assert run["energy_source"] == "none"
    for column in ("energy_j", "kwh", "net_kwh", "tea_cups", "co2_g", "cost", "energy_train_j"):
        assert math.isnan(run[column]), column  # an empty cell, never 0
