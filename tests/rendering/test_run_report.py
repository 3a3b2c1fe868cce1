"""`bnbench run` ends with the lab report in its results folder and the verdicts on the terminal."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bnbench.cli import app


def test_run_writes_report_and_prints_verdict(tiny_scenario, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tiny_scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    # Two seeds a side: a verdict for bn against the baseline, control, whose interval two seeds cannot give.
    assert "bn: PSNR " in result.output and " vs control, " in result.output
    assert "n/a: 2 seeds cannot bound this" in result.output
    data = json.loads((out / "report.json").read_text())
    assert data["baseline"] == "control" and set(data["variants"]) == {"control", "bn"}
    assert data["comparisons"]["bn"]["differences"]["final"]["n_a"] == 2
    for name in ("report.md", "report.html", "figures/metric_vs_step.png", "figures/loss.png"):
        assert (out / name).exists(), name
