"""`bnbench compare A B --fail-on worse` as a CI job meets it: exit codes, the sentence that says why, and the
Markdown of `--format github` for the job's summary page."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()

FINALS = {"control": [30.0, 30.2, 30.4], "bn": [29.0, 29.2, 29.4]}
ENERGY_A = {"control": [100.0, 102.0, 104.0], "bn": [120.0, 122.0, 124.0]}


@pytest.fixture
def regressed(folder):
    """B's bn uses 22 J more a run than A's (142-146 against 120-124, sd 2 each side): +22.0 J, se = 1.633,
    t = 13.47 on the decisions' conservative df (min(n) - 1 = 2), p = 0.0055, below Holm's first level
    0.05 / 6 = 0.0083 for 2 variants x 3 quantities."""
    a = folder("a", finals=FINALS, energy_j=ENERGY_A, source="rapl")
    b = folder("b", finals=FINALS, energy_j={**ENERGY_A, "bn": [142.0, 144.0, 146.0]}, source="rapl")
    return a, b


def test_a_real_energy_regression_fails_the_gate_and_says_why(regressed):
    a, b = regressed
    result = runner.invoke(app, ["compare", str(a), str(b), "--fail-on", "worse"])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "gate failed on metric, energy, measured time (6 tests, Holm at alpha 0.05):" in out
    # 144 / 122 = 1.180; interval 1.14 to 1.22 from the delta method. Piped (a CI log), one line each.
    assert ("  - bn in b: 1.18 x [1.14, 1.22] the energy of a; worse beyond seed luck (p=0.005, n=3; Holm level "
            "0.00833)") in result.stdout.splitlines()
    # Gating the metric and the measured time only, the same folders pass.
    result = runner.invoke(app, ["compare", str(a), str(b), "--fail-on", "worse", "--gate-on", "metric,wall"])
    assert result.exit_code == 0, result.output
    # A 20% tolerance for the costs: 22 J is 18.0% of A's 122 J, so B is not worse by more than 20%.
    result = runner.invoke(app, ["compare", str(a), str(b), "--fail-on", "worse", "--tolerance", "20"])
    assert result.exit_code == 0, result.output
    assert ("gate passed: no shared variant is worse beyond seed luck in metric, energy by more than 20%, measured "
            "time by more than 20% (6 tests") in " ".join(result.output.split())
    # 8% is less than the 18% it grew by, but not beyond seed luck at Holm's level: (22 - 9.76) / 1.633 = 7.50,
    # p = 0.017 on 2 df, above 0.0083.
    result = runner.invoke(app, ["compare", str(a), str(b), "--fail-on", "worse", "--tolerance", "8"])
    assert result.exit_code == 0, result.output


def test_two_folders_of_the_same_code_pass(folder):
    # The same runs in both folders (a copy): every difference is 0, every p is 1.
    a = folder("a", finals=FINALS, energy_j=ENERGY_A, source="rapl", wall_s={"bn": [30.0, 31.0, 32.0]})
    b = a.parent / "b"
    shutil.copytree(a, b)
    result = runner.invoke(app, ["compare", str(a), str(b), "--fail-on", "worse"])
    assert result.exit_code == 0, result.output
    assert "gate passed: no shared variant is worse beyond seed luck in metric, energy, measured time (6 tests" in (
        " ".join(result.output.split()))


def test_a_slower_and_worse_variant_fails_on_both(folder):
    # bn in B: 2 dB lower PSNR (se 0.163, t = 12.2 on the conservative 2 df, p = 0.0066) and 45-47 s against
    # 30-32 s (+15 s, sd 1 each side, se = 0.816, t = 18.4, p = 0.0029). The ratio 46 / 31 = 1.48: its log's
    # se = sqrt(1/(3 x 31^2) + 1/(3 x 46^2)) = 0.0225 -> [1.39, 1.59].
    # No energy: 4 tests, so Holm's levels are 0.05/4 for the measured time's p, then 0.05/3 for the PSNR's.
    a = folder("a", finals=FINALS, wall_s={"bn": [30.0, 31.0, 32.0]})
    b = folder("b", finals={**FINALS, "bn": [27.0, 27.2, 27.4]}, wall_s={"bn": [45.0, 46.0, 47.0]})
    result = runner.invoke(app, ["compare", str(a), str(b), "--fail-on", "worse", "--format", "json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["gate"]["passed"] is False
    assert data["gate"]["failures"] == [
        "bn in b: PSNR -2.00 dB [-2.45, -1.55] vs a; worse beyond seed luck (p=0.007, n=3; Holm level 0.0167)",
        "bn in b: 1.48 x [1.39, 1.59] the measured time of a; worse beyond seed luck (p=0.003, n=3; Holm level 0.0125)",
    ]
    # Energy was not measured in either folder: four tests, and a note for each variant.
    assert "control: energy not tested (not measured in a)" in data["gate"]["notes"]
    # The job's log says why even though stdout holds the JSON.
    assert "bnbench: gate failed on metric, energy, measured time (4 tests" in result.stderr


def test_github_format_is_a_markdown_summary_with_the_gate_first(regressed):
    a, b = regressed
    result = runner.invoke(app, ["compare", str(a), str(b), "--fail-on", "worse", "--format", "github"])
    assert result.exit_code == 1, result.output
    md = result.stdout
    assert md.startswith("# bnbench compare: b against a\n\n❌ **gate failed on metric, energy, measured time")
    assert "- bn in b: 1.18 x \\[1.14, 1.22\\] the energy of a; worse beyond seed luck" in md
    # Means per side: 122 and 144 J; the difference +22.0 J, +-2.776 x 1.633 = 4.53 -> [+17.5, +26.5] (the table's
    # Welch interval and p, on Welch's 4 df).
    assert "| bn | energy (J) | 122.0 | 144.0 | +22.0 [+17.5, +26.5] | 1.18 [1.14, 1.22] | p<0.001 | 3 vs 3 | worse |" \
        in md
    assert "| control | final PSNR | 30.20 | 30.20 | +0.00 [-0.45, +0.45] |" in md
    assert "bnbench: gate failed" in result.stderr and "bnbench:" not in md
    # Without a gate, the same document without the gate's line; exit 0.
    result = runner.invoke(app, ["compare", str(a), str(b), "--format", "github"])
    assert result.exit_code == 0 and "gate" not in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--fail-on", "better"], "--fail-on must be worse (got 'better')"),
    (["--fail-on", "worse", "--gate-on", "energy,power"], "--gate-on takes a comma-separated list of metric, "
                                                         "energy, wall (got 'energy,power')"),
    (["--gate-on", "energy"], "--gate-on only applies with --fail-on worse"),
    (["--fail-on", "worse", "--tolerance", "150"], "--tolerance is a percentage of A's mean, from 0 to below 100"),
    (["--format", "md"], "--format must be one of table, json, github (got 'md')"),
])
def test_bad_gate_flags_are_one_line_exit_2(regressed, args, message):
    a, b = regressed
    result = runner.invoke(app, ["compare", str(a), str(b), *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith("bnbench: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_gate_that_can_test_nothing_is_an_error_not_a_pass(folder):
    a = folder("a", finals={"control": [30.0], "bn": [29.0]})
    result = runner.invoke(app, ["compare", str(a), str(a), "--fail-on", "worse", "--gate-on", "metric"])
    assert result.exit_code == 2, result.output
    assert "--fail-on worse tested nothing: each gated quantity needs at least 2 completed runs" in result.stderr
