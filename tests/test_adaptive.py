"""Adaptive seeds end to end: rounds until the answer is known, what was not spent, and a resume that takes the
same decisions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from typer.testing import CliRunner

from bnbench.analysis.results import load
from bnbench.analysis.summary import summarize
from bnbench.cli import app
from bnbench.errors import UserError
from bnbench.scenario import expand, from_dict
from tests.conftest import write_folder

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent

# The digits scenario, shortened: 10 steps a run, and a min_effect of 90 accuracy points, so that the two
# variants are soon shown to be within it ("equivalent") and the session stops long before 8 rounds. Pocock
# spending lets early rounds decide.
DIGITS = ["--set", "scenario.seeds={ min = 2, max = 8 }", "--set", "stats.min_effect=90",
          "--set", 'stats.spending="pocock"', "--set", "train.max_steps=10", "--set", "train.eval_every=10",
          "--set", "train.log_every=10", "--set", "train.threads=1", "--set", "energy.idle_s=0"]


def test_digits_stops_before_max_says_what_was_not_spent_and_resumes_the_same(tmp_path):
    out = tmp_path / "digits"
    result = runner.invoke(app, ["run", str(REPO / "scenarios" / "digits.toml"), "--out", str(out), *DIGITS])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    rounds = runs["seed"].nunique()
    assert 2 <= rounds < 8 and len(runs) == 2 * rounds  # one run per variant per round, stopped early
    text = " ".join(result.output.split())
    assert f"adaptive seeds: no round {rounds + 1} (decided)" in text
    assert f"Decided after {rounds} of at most 8 seeds; {8 - rounds} rounds not run: about" in text
    assert "cups of tea) not spent" in text
    summary = load(out).summary
    assert summary.decided and summary.rounds.stop == "decided"
    # The report's saving is the rounds not run times a round's energy: the mean run's energy x 2 variants.
    mean_j = pd.to_numeric(runs["energy_j"]).mean()
    assert summary.rounds.saved_energy_j == pytest.approx((8 - rounds) * 2 * mean_j)

    again = runner.invoke(app, ["run", str(REPO / "scenarios" / "digits.toml"), "--resume", str(out), *DIGITS])
    assert again.exit_code == 0, again.output
    assert f"adaptive seeds: no round {rounds + 1} (decided)" in " ".join(again.output.split())
    assert len(pd.read_csv(out / "runs.csv")) == len(runs)  # nothing more ran


def adaptive_folder(root: Path, seeds: dict) -> Path:
    # Three rounds, finals too noisy to decide anything; energy 100 J (control) and 120 J (bn) per run.
    write_folder(root, finals={"control": [29.0, 31.0, 30.0], "bn": [30.5, 29.0, 31.0]},
                 energy_j={"control": [100.0] * 3, "bn": [120.0] * 3}, source="rapl")
    scenario = load(root).scenario
    scenario["scenario"]["seeds"] = seeds
    scenario["stats"] = {"min_effect": 0.1}
    (root / "scenario.toml").write_text(tomli_w.dumps(scenario), encoding="utf-8")
    return root


def test_the_next_round_stops_when_it_would_break_the_energy_budget(tmp_path):
    # Spent 3 x (100 + 120) = 660 J; the next round costs the mean run (110 J) x 2 variants = 220 J; 880 J would
    # pass a budget of 800 J (0.000222 kWh), so round 4 does not run, and 5 rounds of 220 J = 1100 J are saved
    # (1100 J / (33.33 Wh x 3600) = 0.00917 cups of tea).
    root = adaptive_folder(tmp_path / "tight", {"min": 2, "max": 8, "budget_kwh": 800 / 3.6e6})
    status = summarize(load(root)).rounds
    assert (status.run, status.stop, status.spent_energy_j, status.round_energy_j) == (3, "budget_kwh", 660, 220)
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert ("Stopped after 3 of at most 8 seeds: the next round would pass the budget of 0.000222 kWh; 5 rounds "
            "not run: about 1100 J (0.00917 cups of tea) not spent.") in text
    # A budget of 1000 J leaves room for the next round: the session goes on.
    roomy = adaptive_folder(tmp_path / "roomy", {"min": 2, "max": 8, "budget_kwh": 1000 / 3.6e6})
    assert summarize(load(roomy)).rounds.stop is None


def test_the_next_round_stops_when_it_would_break_the_time_budget(tmp_path):
    # Six runs of 30 s = 180 s so far; a round is 2 x 30 s = 60 s more: 240 s passes a budget of 200 s, not 240 s
    # (scenario.toml holds the budget resolved to seconds).
    tight = adaptive_folder(tmp_path / "tight", {"min": 2, "max": 8, "budget_s": 200})
    assert summarize(load(tight)).rounds.stop == "budget_s"
    assert summarize(load(adaptive_folder(tmp_path / "exact", {"min": 2, "max": 8, "budget_s": 240}))).rounds.stop \
        is None


def test_the_decision_before_a_round_uses_only_the_rounds_before_it(tmp_path):
    # Before round 3 only seeds 0 and 1 count; before round 2 (< min) no look is taken at all.
    root = adaptive_folder(tmp_path / "f", {"min": 2, "max": 8})
    assert summarize(load(root), rounds=2).rounds.run == 2
    assert summarize(load(root), rounds=2).comparisons["bn"].decision.n == 2
    early = summarize(load(root), rounds=1)
    assert early.rounds.stop is None
    assert early.comparisons["bn"].decision.reason == "too few seeds: 1 round so far, the first look is after 2"


def test_seed_range_expands_to_seeds_zero_to_max():
    scenario = from_dict({"scenario": {"name": "a", "seeds": {"min": 2, "max": 4}}})
    assert [s.seed for s in expand(scenario)] == [0, 1, 2, 3]
    assert scenario.scenario.adaptive.min == 2


@pytest.mark.parametrize(("seeds", "message"), [
    ({"min": 5, "max": 3}, "max (3) must be at least min (5)"),
    ({"min": 1, "max": 3}, "min: Input should be greater than or equal to 2"),
    ({"min": 2, "mx": 3}, "unknown key 'mx' in seeds; did you mean 'max'?"),
    ({"min": 2, "max": 3, "budget_s": "soon"}, "'soon' is not a duration"),
])
def test_bad_seed_ranges_are_one_line_errors(seeds, message):
    with pytest.raises(UserError, match="seeds") as error:
        from_dict({"scenario": {"name": "a", "seeds": seeds}})
    assert message in str(error.value)
