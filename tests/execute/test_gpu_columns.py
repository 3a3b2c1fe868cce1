"""runs.csv names each run's GPU (name and UUID) and its mean busy %; power.parquet carries busy % per sample."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.data import task_metadata
from bnbench.energy import identity, nvml
from bnbench.energy.meter import DeviceMeter
from bnbench.energy.run_meter import RunMeter
from bnbench.execute.driver import execute_run
from bnbench.execute.progress import SilentProgress
from bnbench.results.schema import run_columns
from bnbench.results.store import RunStore
from bnbench.scenario import expand, load
from tests.energy.fakes import FakeGpu, FakeNvml

from .helpers import read_rows


def test_cpu_runs_leave_the_gpu_columns_empty(digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for row in read_rows(out):
        assert (row["gpu_name"], row["gpu_uuid"], row["gpu_busy_pct"]) == ("", "", "")
    power = pd.read_parquet(out / "power.parquet")
    assert len(power) and power["gpu_busy_pct"].isna().all()  # unknown, never 0


def test_a_gpu_run_records_its_gpu_and_busy_percent(digits_scenario: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # The model trains on the CPU; its meter is a fake H100 whose counter climbs 1 J a read and whose
    # utilization always reads 30%: every sample in a measured phase says 30, so the mean is 30.
    api = FakeNvml([FakeGpu(name="NVIDIA H100 80GB HBM3", uuid="GPU-77", energy_mj=list(range(0, 10**6, 1000)),
                            usage_mw=[300_000], busy_pct=[30])])
    gpu = identity.identify(api, 0, None, "GPU-77")

    def open_meter(device: str, config: object = None, idle_w: object = None, start_from: object = None) -> RunMeter:
        part = DeviceMeter("cuda:0", nvml.gpu_chain(api, gpu.handle), gpu=gpu, busy=nvml.busy_reader(api, gpu.handle))
        return RunMeter([part], idle_w=idle_w, start_from=start_from)

    scenario = load(digits_scenario, ["train.max_steps=40", "energy.sample_hz=100"])
    spec = expand(scenario)[0]
    metric, _, _, references = task_metadata(scenario.task)
    store = RunStore.create(tmp_path / "out", scenario.to_dict(), {}, run_columns(metric, references))
    import torch

    execute_run(spec, torch.device("cpu"), store, SilentProgress(), threading.Event(), open_meter=open_meter)
    row = read_rows(store.root)[0]
    assert (row["gpu_name"], row["gpu_uuid"]) == ("NVIDIA H100 80GB HBM3", "GPU-77")
    assert float(row["gpu_busy_pct"]) == 30.0
    assert "kept its GPU 30% busy (under half)" in capsys.readouterr().err
    power = pd.read_parquet(store.root / "power.parquet")
    assert set(power["gpu_busy_pct"].dropna()) == {30.0}
    assert not math.isnan(float(row["energy_j"]))


def test_a_foreign_process_on_the_gpu_warns_once_and_is_recorded(digits_scenario: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # A run trained in this process (as `bnbench run` with one slot does) on a fake GPU that another user's
    # process (pid 3999999) also holds: its SM share is 10 % to this run's 30 %. Every reading sees it, so
    # gpu_shared is 1; the split is by SM share; one warning however many readings.
    import os

    from bnbench.energy.devices import open_run_meter
    from bnbench.execute.local import sharing_this_process

    me, foreign = os.getpid(), 3999999
    api = FakeNvml([FakeGpu(uuid="GPU-88", energy_mj=list(range(0, 10**7, 4000)), usage_mw=[300_000],
                            busy_pct=[70], processes=[me, foreign], sm_samples=[[(me, 30, 1), (foreign, 10, 1)]])])

    def open_meter(device: str, config: object = None, idle_w: object = None, start_from: object = None) -> RunMeter:
        return open_run_meter("cuda:0", config, idle_w=idle_w, start_from=start_from, nvml_api=api)  # type: ignore[arg-type]

    scenario = load(digits_scenario, ["train.max_steps=40", "energy.sample_hz=100"])
    spec = expand(scenario)[0]
    metric, _, _, references = task_metadata(scenario.task)
    store = RunStore.create(tmp_path / "out", scenario.to_dict(), {}, run_columns(metric, references))
    import torch

    with sharing_this_process():
        execute_run(spec, torch.device("cpu"), store, SilentProgress(), threading.Event(), open_meter=open_meter)
    row = read_rows(store.root)[0]
    assert (float(row["gpu_shared"]), row["gpu_attribution"]) == (1.0, "sm-share")
    err = capsys.readouterr().err
    assert err.count(f"process {foreign}") == 1 and "cuda:0 (GPU-88)" in err
