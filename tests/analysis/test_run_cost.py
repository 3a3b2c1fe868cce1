"""A full run's cost from a short pilot: steps, evaluations and checkpoints priced apart, against hand-worked
figures, and a real short pilot's price against a real run."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.analysis.run_cost import Schedule, schedule, unit_cost
from bnbench.cli import app
from tests.conftest import TINY_SCENARIO

runner = CliRunner()


def test_the_schedule_counts_evaluations_and_checkpoints_as_the_loop_does():
    # Evaluations at every multiple of eval_every and at max_steps, never at step 0; checkpoints at every multiple
    # of checkpoint_every (unset: eval_every) short of max_steps, and one at the end.
    assert schedule(600, 200, None) == Schedule(600, 3, 3)  # evals 200, 400, 600; checkpoints 200, 400, end
    assert schedule(250, 100, None) == Schedule(250, 3, 3)  # evals 100, 200, 250; checkpoints 100, 200, end
    assert schedule(20, 200, None) == Schedule(20, 1, 1)  # a short pilot still evaluates at its end
    assert schedule(600, 100, 300) == Schedule(600, 6, 2)  # checkpoints 300, end


def pilot_tables(phase_joules: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    # One 20-step pilot run, eval_every 10: a step 0.1 s and 2 J, an evaluation 0.5 s and 5 J, a checkpoint 0.05 s
    # and 0.5 J. The loop's train_s holds 20 steps (2.0 s), 2 evaluations (1.0 s) and the checkpoint at step 10
    # (0.05 s): 3.05 s; measured_s adds the final checkpoint: 3.10 s. Joules: 40 + 10 + 1 = 51 J.
    run = {"run_id": "control-s0", "variant": "control", "status": "completed", "steps": 20, "train_s": 3.05,
           "measured_s": 3.10, "energy_j": 51.0}
    if phase_joules:
        run |= {"energy_train_j": 40.0, "energy_eval_j": 10.0, "energy_checkpoint_j": 1.0}
    # Loss logged at step 10 at 1.0 s, its evaluation ends at 1.5 s; the checkpoint, 10 steps, then the loss at
    # step 20 at 2.55 s and its evaluation ends at 3.05 s.
    curves = pd.DataFrame({"run_id": "control-s0", "kind": ["train", "eval", "train", "eval"],
                           "step": [10, 10, 20, 20], "t_s": [1.0, 1.5, 2.55, 3.05]})
    return pd.DataFrame([run]), curves


def test_a_short_pilot_prices_a_full_run_by_its_steps_evaluations_and_checkpoints():
    runs, curves = pilot_tables(phase_joules=True)
    unit = unit_cost(runs, curves, "control", eval_every=10, checkpoint_every=None)
    # step: (3.05 - 2 x 0.5 - 1 x 0.05) / 20 = 0.1 s and 40 / 20 = 2 J; eval: 0.5 s, 10 / 2 = 5 J; checkpoint:
    # 3.10 - 3.05 = 0.05 s, 1 J / 2 checkpoints = 0.5 J.
    assert unit.step_s == pytest.approx(0.1) and unit.eval_s == pytest.approx(0.5)
    assert unit.checkpoint_s == pytest.approx(0.05)
    assert (unit.step_j, unit.eval_j, unit.checkpoint_j) == pytest.approx((2.0, 5.0, 0.5))
    # A full run of 600 steps, eval_every 100: 6 evaluations, 6 checkpoints (100 ... 500 and the end):
    # 600 x 0.1 + 6 x 0.5 + 6 x 0.05 = 63.3 s and 600 x 2 + 6 x 5 + 6 x 0.5 = 1233 J. Per step, the pilot's
    # 3.10 s / 20 x 600 = 93 s and 51 J / 20 x 600 = 1530 J: an evaluation every 10 steps where the run has
    # one every 100.
    full = schedule(600, 100, None)
    assert unit.run_s(full) == pytest.approx(63.3) and unit.run_j(full) == pytest.approx(1233.0)


def test_a_pilot_begun_before_measured_s_is_priced_from_its_wall_time():
    # runs.csv without the measured_s column (an older folder): its wall time stands in, as in the summary. A
    # wall_s of 3.10 s is the same run as above, priced the same.
    runs, curves = pilot_tables(phase_joules=True)
    runs = runs.drop(columns="measured_s").assign(wall_s=3.10)
    unit = unit_cost(runs, curves, "control", eval_every=10, checkpoint_every=None)
    assert unit.run_s(schedule(600, 100, None)) == pytest.approx(63.3)


def test_without_phase_joules_the_runs_power_is_spread_over_its_seconds():
    # 51 J over 3.10 s: 16.45 W. A full run's 63.3 s at that power: 63.3 x 51 / 3.10 = 1041.4 J.
    runs, curves = pilot_tables(phase_joules=False)
    unit = unit_cost(runs, curves, "control", eval_every=10, checkpoint_every=None)
    assert unit.run_j(schedule(600, 100, None)) == pytest.approx(63.3 * 51 / 3.10)


def test_plan_prices_a_full_run_by_the_scenarios_own_schedule(tmp_path, folder):
    # The pilot (tests/conftest.py's folder): 30 steps with an evaluation every 10, train_s = measured_s = 30 s,
    # 100 J; each of its 3 evaluations moved to end 0.5 s after its step's loss row. Step: (30 - 3 x 0.5 - 2 x 0)
    # / 30 = 0.95 s; evaluation 0.5 s; checkpoint 30 - 30 = 0 s. The scenario's full run, 60 steps with an
    # evaluation every 20: 60 x 0.95 + 3 x 0.5 = 58.5 s (per step, as plan priced it before: 60.0 s), and at
    # the pilot's 100 J / 30 s, 58.5 x 3.333 W = 195 J = 0.0000542 kWh.
    pilot = folder(finals={"control": [29.0, 30.0, 31.0], "bn": [29.5, 30.5, 31.5]},
                   energy_j={"control": [100.0] * 3, "bn": [100.0] * 3}, source="rapl")
    curves = pd.read_parquet(pilot / "curves.parquet")
    curves.loc[curves["kind"] == "eval", "t_s"] += 0.5
    curves.to_parquet(pilot / "curves.parquet", index=False)
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SCENARIO, encoding="utf-8")
    result = runner.invoke(app, ["plan", str(path), "--pilot", str(pilot), "--set", "stats.min_effect=0.5",
                                 "--set", "train.max_steps=60", "--set", "train.eval_every=20"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "control: 60 steps, 0.0000542 kWh, 58.5 s" in text and "bn: 60 steps, 0.0000542 kWh, 58.5 s" in text
