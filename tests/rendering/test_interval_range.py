"""Intervals a quantity can take: an accuracy's interval never passes 100%, two seeds print 'n/a' instead of an
interval 12.7 standard errors wide, and every bundled scenario runs at least three seeds."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from bnbench.analysis import stats
from bnbench.analysis.metric_info import MetricInfo, bounds
from bnbench.cli import app
from tests.conftest import write_folder

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def as_accuracy(root: Path) -> Path:
    """The folder's metric renamed from PSNR (dB) to accuracy in percent, its values unchanged."""
    runs = pd.read_csv(root / "runs.csv").drop(columns=["bicubic_psnr_db"])
    runs.columns = [c.replace("psnr_db", "accuracy_pct") for c in runs.columns]
    runs.to_csv(root / "runs.csv", index=False)
    curves = pd.read_parquet(root / "curves.parquet").drop(columns=["bicubic_psnr_db"])
    curves.columns = [c.replace("psnr_db", "accuracy_pct") for c in curves.columns]
    curves.to_parquet(root / "curves.parquet", index=False)
    return root


def test_an_accuracy_interval_stops_at_100_percent(tmp_path):
    # control 97.0, 99.0, 99.8%: mean 98.60, sd sqrt((1.6^2 + 0.4^2 + 1.2^2) / 2) = 1.442, half-width
    # t(0.975, 2) 4.303 x 1.442 / sqrt(3) = 3.583: [95.02, 102.18], cut at 100 -> [95.02, 100.00].
    root = as_accuracy(write_folder(tmp_path / "acc", target=None, finals={"control": [97.0, 99.0, 99.8],
                                                                         "bn": [96.0, 97.0, 98.0]}))
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    assert "98.60 [95.02, 100.00]" in result.output
    assert "102.18" not in result.output
    # The bounds come from the metric: a percentage, or an accuracy as a fraction when every value is one.
    percent = MetricInfo("accuracy_pct", "accuracy", "%", True)
    assert bounds(percent, [97.0]) == (0.0, 100.0)
    assert bounds(MetricInfo("val_acc", "val acc", "", True), [0.97, 0.99]) == (0.0, 1.0)
    assert bounds(MetricInfo("psnr_db", "PSNR", "dB", True), [30.0]) is None
    low, high = stats.bounded_interval(pd.Series([0.97, 0.99, 0.998]).to_numpy(), (0.0, 1.0))
    assert (round(low, 4), high) == (0.9502, 1.0)


def test_two_seeds_say_they_cannot_bound_anything(tmp_path):
    # Two seeds a side: the mean's, the difference's and the energy ratio's 95% intervals would be
    # t(0.975, 1) = 12.7 standard errors wide; each says 'n/a' instead, and the verdict says why.
    root = write_folder(tmp_path / "two", finals={"control": [29.0, 31.0], "bn": [29.5, 30.0]},
                        energy_j={"control": [100.0, 140.0], "bn": [90.0, 160.0]}, source="rapl")
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    # bn - control = 29.75 - 30.00 = -0.25 dB; energy 125 / 120 = 1.04 x.
    assert ("bn: PSNR -0.25 dB [n/a: 2 seeds cannot bound this] vs control, 1.04 x [n/a: 2 seeds cannot bound "
            "this] the energy") in text
    # se = sqrt(2 / 2 + 0.125 / 2) = 1.031, t = -0.243 on min(2, 2) - 1 = 1 df: p = 0.85.
    assert "undecided (too few seeds: p=0.85, n=2, and two seeds cannot bound a difference" in text
    assert "control   2 completed   30.00 (n/a: 2 seeds cannot bound this)" in result.output
    assert "control: final PSNR 30.00 dB (n/a: 2 seeds cannot bound this) (n=2)" in text
    assert "not clearly above or below (2 seeds cannot bound the mean)" in text
    md = (root / "report.md").read_text()
    assert "-0.25 [n/a: 2 seeds cannot bound this]" in md and "1.04 [n/a: 2 seeds cannot bound this]" in md


def test_every_bundled_scenario_runs_at_least_three_seeds():
    for path in sorted((REPO / "scenarios").glob("*.toml")):
        seeds = tomllib.loads(path.read_text(encoding="utf-8"))["scenario"]["seeds"]
        count = seeds["min"] if isinstance(seeds, dict) else len(seeds)
        assert count >= 3, f"{path.name}: {seeds}"
