"""Verdicts, plans and the cost table compare the time of the measured phases, never a process's start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()


def test_a_slow_start_up_on_each_workers_first_run_leaves_the_time_verdict_undecided(folder) -> None:
    # 4 workers, variant by variant: control's 4 runs are each its worker's first, and each pays 13 s of
    # start-up (imports, data, model, warm-up) that gn's runs, started in warm workers, do not. The measured
    # phases took the same 0.64-0.66 s in both. Wall times: control 14.1-14.3 s, gn about 1 s, so comparing
    # them read "gn 0.07 x the wall time, better"; the measured seconds differ by exactly 0 (p = 1).
    root = folder(finals={"control": [30.0, 30.2, 29.8, 30.1], "gn": [30.1, 29.9, 30.0, 30.2]})
    runs = pd.read_csv(root / "runs.csv")
    runs["wall_s"] = [14.3, 14.1, 14.2, 14.3, 1.0, 1.05, 0.98, 1.02]
    runs["measured_s"] = [0.64, 0.66, 0.65, 0.63, 0.65, 0.64, 0.66, 0.63]
    runs.to_csv(root / "runs.csv", index=False)
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    gn = json.loads((root / "report.json").read_text())["comparisons"]["gn"]
    assert "wall_s" not in gn["words"]
    assert gn["words"]["measured_s"] == "undecided"
    assert gn["differences"]["measured_s"]["diff"] == 0.0 and gn["differences"]["measured_s"]["p"] == 1.0
    # The cost table beside the joules: 0.64 + 0.66 + 0.65 + 0.63 = 2.58 s for each variant, 5.16 s in all.
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert "control 2.6 s not measured n/a n/a n/a" in lines and "total 5.2 s not measured n/a n/a n/a" in lines


def test_the_plan_costs_the_measured_phases(tmp_path: Path, folder) -> None:
    # The pilot's runs: 30 steps in 30 s of measured phases each but 90 s of wall time (a slow start-up); a
    # full run of 60 steps is then 60 s, not 180 s.
    pilot = folder(finals={"control": [29.0, 30.0, 31.0], "bn": [29.5, 30.5, 31.5]},
                   energy_j={"control": [100.0] * 3, "bn": [120.0] * 3}, source="rapl")
    runs = pd.read_csv(pilot / "runs.csv")
    runs["wall_s"] = 90.0
    runs.to_csv(pilot / "runs.csv", index=False)
    scenario = tmp_path / "plan.toml"
    scenario.write_text('[scenario]\nname = "synthetic"\nseeds = [0, 1, 2]\ndevice = "cpu"\n[train]\n'
                        'max_steps = 60\n[stats]\nmin_effect = 0.5\n[[variant]]\nname = "control"\n'
                        '[[variant]]\nname = "bn"\nnorm = "batch"\n', encoding="utf-8")
    result = runner.invoke(app, ["plan", str(scenario), "--pilot", str(pilot)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    # 200 J and 240 J a run, in the kWh `run` speaks: 0.0000556 and 0.0000667 kWh.
    assert "control: 60 steps, 0.0000556 kWh, 60.0 s" in text and "bn: 60 steps, 0.0000667 kWh, 60.0 s" in text
