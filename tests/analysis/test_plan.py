"""`bnbench plan` against hand-computed sample sizes and the pilot's own per-run energy and time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()

SCENARIO = """
[scenario]
name = "synthetic"
seeds = [0, 1, 2]
device = "cpu"
workers = 2

[train]
max_steps = 60

[stats]
min_effect = 0.5

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
"""


def scenario_file(tmp_path: Path, text: str = SCENARIO) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def plan_output(tmp_path: Path, folder, *extra: str) -> str:
    # Pilot: 3 seeds each, final PSNR sd 1.0 on both sides; 30 steps in 30 s per run; 100 J (control) and
    # 120 J (bn) per run.
    pilot = folder(finals={"control": [29.0, 30.0, 31.0], "bn": [29.5, 30.5, 31.5]},
                   energy_j={"control": [100.0] * 3, "bn": [120.0] * 3}, source="rapl")
    result = runner.invoke(app, ["plan", str(scenario_file(tmp_path)), "--pilot", str(pilot), *extra])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_plan_gives_the_textbook_seeds_and_the_pilots_costs(tmp_path, folder):
    text = plan_output(tmp_path, folder)
    # min_effect 0.5 dB with sd 1 on both sides: d = 0.5, the textbook 64 seeds per variant (alpha 0.05, 80%),
    # plus one for the decisions' conservative df (n - 1 = 64, not 2n - 2): 65.
    assert "65 seeds per variant tell 0.50 dB apart: 130 runs" in text
    # Each spread names its variant (it read 'sd 1.00 dB (vs 1.00 dB)', which left the reader to guess).
    assert "bn vs control: seed-to-seed sd 1.00 dB for bn, 1.00 dB for control" in text
    # The pilot's evaluations take no time (each ends at its step's loss row) and its loop's 30 s are its
    # measured 30 s, so its 30 steps take 1 s each; without phase joules its 100 J over 30 s are spread over the
    # steps. A full run is 60 steps: control 200 J and 60 s, bn 240 J and 60 s, in run's units:
    # 200 J / 3.6 MJ = 0.0000556 kWh, 240 J = 0.0000667 kWh.
    assert "control: 60 steps, 0.0000556 kWh, 60.0 s" in text and "bn: 60 steps, 0.0000667 kWh, 60.0 s" in text
    # 65 x (200 + 240) J = 28,600 J = 0.00794 kWh = 28600 / (33.33 Wh x 3600) = 0.238 cups of tea;
    # CO2 0.00794 kWh x 475 g/kWh = 3.77 g, shown as 3.8 g; run time 130 x 60 s = 7800 s over 2 workers = 65.0 min.
    assert "0.00794 kWh (0.238 cups of tea, 3.8 g CO2), no GPU-hours (CPU), about 65.0 min with 2 workers" in text
    # The scenario's 3 seeds per variant: df 2 (n - 1), t_crit 4.303, and 80% power needs a noncentrality of
    # 5.65, so the smallest difference found is 5.65 x sqrt(2/3) = 4.62 dB (sd 1).
    assert "with the scenario's 3 seeds, the smallest difference found with 80% power is 4.62 dB" in text
    assert "the whole question: 65 seeds per variant, 130 runs" in text


def test_piped_plan_lines_are_never_wrapped(tmp_path, folder):
    # CliRunner's output is a pipe: each sentence of the plan is one line, however long.
    pilot = folder(finals={"control": [29.0, 30.0, 31.0], "bn": [29.5, 30.5, 31.5]},
                   energy_j={"control": [100.0] * 3, "bn": [120.0] * 3}, source="rapl")
    result = runner.invoke(app, ["plan", str(scenario_file(tmp_path)), "--pilot", str(pilot)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("65 seeds per variant tell 0.50 dB apart: 130 runs, 0.00794 kWh (0.238 cups of tea, 3.8 g CO2), no "
               "GPU-hours (CPU), about 65.0 min with 2 workers" in line for line in lines), result.output


def test_plan_without_min_effect_says_what_to_set(tmp_path, folder):
    pilot = folder(finals={"control": [29.0, 30.0, 31.0], "bn": [29.5, 30.5, 31.5]})
    text = SCENARIO.replace("min_effect = 0.5", "alpha = 0.05")
    result = runner.invoke(app, ["plan", str(scenario_file(tmp_path, text)), "--pilot", str(pilot)])
    assert result.exit_code == 0, result.output
    assert "set [stats] min_effect" in result.output
    assert "energy not measured" not in result.output  # no seeds planned, so no cost line at all


def test_plan_needs_a_pilot_and_only_one(tmp_path, folder):
    path = scenario_file(tmp_path)
    # Without a terminal to ask on, the offer is the error: the pilot it would run and the option that runs it
    # (2 x eval_every 50 = 100 steps, more than the scenario's 60: a full run).
    result = runner.invoke(app, ["plan", str(path)])
    assert result.exit_code == 2
    assert ("plan needs a pilot: --pilot DIR (a results folder of this scenario), or --pilot-steps 60 for a short "
            "pilot now: 6 runs of 60 steps (3 seeds of 2 variants) on cpu") in " ".join(result.output.split())
    result = runner.invoke(app, ["plan", str(path), "--pilot", str(tmp_path), "--pilot-steps", "5"])
    assert result.exit_code == 2 and "not both" in result.output


def test_plan_names_variants_the_pilot_lacks(tmp_path, folder):
    pilot = folder(finals={"control": [29.0, 30.0, 31.0]})
    result = runner.invoke(app, ["plan", str(scenario_file(tmp_path)), "--pilot", str(pilot)])
    assert result.exit_code == 2 and "the pilot has no runs of bn" in result.output


def test_plan_runs_its_own_short_pilot(tiny_scenario, tmp_path, monkeypatch):
    # --pilot-steps 2: three seeds of every variant, 2 steps each, in reports/tiny/pilot-<time>/ under the working
    # folder; the plan then prices the scenario's 4 steps a run from the pilot's steps, evaluation and checkpoint.
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["plan", str(tiny_scenario), "--pilot-steps", "2", "--set", "stats.min_effect=0.5"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    pilots = list((tmp_path / "reports" / "tiny").glob("pilot-*"))
    assert len(pilots) == 1
    runs = pd.read_csv(pilots[0] / "runs.csv")
    assert sorted(runs["seed"].unique()) == [0, 1, 2] and set(runs["steps"]) == {2}
    assert text.startswith("pilot: 6 runs of 2 steps (3 seeds of 2 variants) on cpu; its time is not known")
    assert f"plan from 6 completed pilot runs in {Path('reports') / 'tiny' / pilots[0].name}" in text
    assert "per full run (control: 4 steps," in text and "bn vs control: seed-to-seed sd" in text


def test_a_pilot_of_another_metric_is_refused(tmp_path, folder):
    # The pilot measured PSNR (a super-resolution folder); digits.toml measures accuracy, with the same variant
    # names: its plan would take dB spreads for percentage points.
    pilot = folder(finals={"control": [29.0, 30.0, 31.0], "bn": [29.5, 30.5, 31.5]})
    digits = Path(__file__).resolve().parents[2] / "scenarios" / "digits.toml"
    result = runner.invoke(app, ["plan", str(digits), "--pilot", str(pilot)])
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()) == (
        f"bnbench: error: {pilot}: the pilot measures psnr_db, scenario 'digits' measures accuracy_pct; give a "
        "pilot of this scenario (--pilot DIR of its results, or --pilot-steps N)")


# The same question of two variants that each run a command (which reads neither max_steps nor norm).
COMMAND_SCENARIO = (SCENARIO.replace("[train]\nmax_steps = 60\n",
                                     '[task]\nname = "command"\nmetric = "psnr_db"\nhigher_is_better = true\n')
                    .replace('name = "control"\n', 'name = "control"\ncommand = ["true"]\n')
                    .replace('name = "bn"\nnorm = "batch"\n', 'name = "bn"\ncommand = ["true"]\n'))


def test_a_command_s_full_run_is_as_long_as_its_pilot_runs(tmp_path, folder):
    # A command runs to its own end: the pilot's runs (30 steps, 30 s, 100 J and 120 J) are full runs. The plan
    # scaled them to max_steps' default of 300 steps, which no command run takes: 10 x the time and energy.
    # 100 J / 3.6 MJ = 0.0000278 kWh; 120 J = 0.0000333 kWh.
    pilot = folder(finals={"control": [29.0, 30.0, 31.0], "bn": [29.5, 30.5, 31.5]},
                   energy_j={"control": [100.0] * 3, "bn": [120.0] * 3}, source="rapl")
    result = runner.invoke(app, ["plan", str(scenario_file(tmp_path, COMMAND_SCENARIO)), "--pilot", str(pilot)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "per full run (control: 30 steps, 0.0000278 kWh, 30.0 s, bn: 30 steps, 0.0000333 kWh, 30.0 s)" in text


def test_a_command_s_pilot_is_not_said_to_be_short(tmp_path):
    # --pilot-steps sets max_steps, which a command never reads: '6 runs of 20 steps' promised a short pilot of
    # what would be 6 full runs.
    result = runner.invoke(app, ["plan", str(scenario_file(tmp_path, COMMAND_SCENARIO))])
    assert result.exit_code == 2
    assert ("for a pilot now: 6 full runs (3 seeds of 2 variants) on cpu: a command runs to its own end, however "
            "many steps --pilot-steps asks for") in " ".join(result.output.split()), result.output
