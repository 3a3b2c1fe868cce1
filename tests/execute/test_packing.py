"""Packing runs on a GPU: k slots per GPU, the option's edges, and a packed folder's resume."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.energy import busy
from bnbench.execute.pool import packed, plan_slots
from bnbench.execute.resume import scenario_changes
from bnbench.rendering.sharing import sharing_lines

from .helpers import read_rows


def test_two_runs_per_gpu_on_two_gpus_make_four_slots() -> None:
    slots = plan_slots(["cuda:0", "cuda:1"], runs_per_gpu=2, uuids=["GPU-a", "GPU-b"])
    # Round by round over the GPUs, so the first two runs handed out go to different GPUs.
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["GPU-a", "GPU-b", "GPU-a", "GPU-b"]
    assert [s.label for s in slots] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert [s.devices for s in slots] == [("cuda:0",)] * 4  # each worker sees its GPU as cuda:0
    assert packed(slots) == {0: 2, 1: 2, 2: 2, 3: 2}
    # Three workers: both GPUs get a first run, one a second.
    three = plan_slots(["cuda:0", "cuda:1"], workers=3, runs_per_gpu=2)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in three] == ["0", "1", "0"]
    assert packed(three) == {0: 2, 1: 1, 2: 2}


def test_packed_ddp_runs_share_their_pair_of_gpus() -> None:
    slots = plan_slots([f"cuda:{i}" for i in range(4)], gpus_per_run=2, runs_per_gpu=3)
    assert [s.label for s in slots] == ["cuda:0+cuda:1", "cuda:2+cuda:3"] * 3
    assert set(packed(slots).values()) == {3}


def test_suggested_runs_per_gpu_from_busy_percent() -> None:
    # Packing aims at 80% busy if busy % added up: 25% -> 3 runs, 12% -> 6, 60% -> 1; at most 8; unknown -> 1.
    assert [busy.suggest_runs_per_gpu(p) for p in (25.0, 12.0, 60.0, 5.0, float("nan"), None)] == [3, 6, 1, 8, 1, 1]
    assert "--runs-per-gpu 3" in busy.advice(25.0)


def test_runs_per_gpu_is_harmless_on_resume() -> None:
    old = {"scenario": {"name": "q", "runs_per_gpu": 1}}
    new = {"scenario": {"name": "q", "runs_per_gpu": 4}}
    real, harmless = scenario_changes(old, new)
    assert real == [] and harmless == ["scenario.runs_per_gpu 1 -> 4"]


def test_bad_runs_per_gpu_is_one_line(digits_scenario: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--runs-per-gpu", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["validate", str(digits_scenario), "--set", "scenario.runs_per_gpu=65"])
    assert result.exit_code == 2 and "runs_per_gpu" in result.output and "Traceback" not in result.output


def test_runs_per_gpu_on_the_cpu_says_so_and_packs_nothing(digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--runs-per-gpu", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "runs_per_gpu = 2 applies to GPUs" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_order"]["runs_per_gpu"] == 1
    rows = read_rows(out)
    # A CPU run: no GPU to share. The host's other users are measured where RAPL is shared (a percentage); the
    # CPU-time estimate charges only the run's own CPU time, and leaves the figure empty (unknown, never 0).
    assert all(r["gpu_attribution"] == "" and r["gpu_shared"] == "" for r in rows)
    assert all(r["host_others_pct"] == "" or 0.0 <= float(r["host_others_pct"]) <= 100.0 for r in rows)


def test_the_report_says_how_runs_shared_their_hardware() -> None:
    import pandas as pd

    runs = pd.DataFrame({"run_id": ["a", "b"], "gpu_shared": [0.25, 0.0], "gpu_attribution": ["sm-share", "whole"],
                         "host_others_pct": [12.0, 3.0]})
    lines = sharing_lines(runs, {"run_order": {"runs_per_gpu": 4}})
    assert lines[0].startswith("Runs were packed 4 per GPU")
    assert lines[1].startswith("1 run(s) shared their GPU with processes outside this session (a 25% of readings)")
    assert "(sm-share)" in lines[1]
    assert lines[2].startswith("Processes outside this session's runs used up to 12.0% of the host's busy CPU time")
    assert sharing_lines(runs.assign(gpu_shared=0.0, host_others_pct=1.0), {}) == []


def test_plan_suggests_packing_from_the_pilots_busy_percent() -> None:
    from bnbench.commands.plan import packing_line

    # A pilot at 20% busy: 80 // 20 = 4 runs per GPU.
    assert packing_line(20.0, 1) == ("the pilot kept its GPU 20% busy: --runs-per-gpu 4 (scenario.runs_per_gpu) "
                                     "trains 4 runs on each GPU at once, each charged its share of the board; "
                                     "costs above assume 1 per GPU")
    assert packing_line(20.0, 4) is None  # already packed that far
    assert packing_line(70.0, 1) is None  # busy enough
    assert packing_line(float("nan"), 1) is None  # a CPU pilot


def test_a_folder_from_before_the_sharing_columns_reports_no_sharing() -> None:
    import pandas as pd

    # runs.csv of an older folder has neither gpu_shared nor host_others_pct: nothing to say, and no error
    # (an empty column made up for it did not align with the runs' rows).
    runs = pd.DataFrame({"run_id": ["a", "b"], "energy_j": [1.0, 2.0]})
    assert sharing_lines(runs, {}) == []
