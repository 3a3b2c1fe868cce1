"""A stop that lands on a run's last step comes before that step's evaluation: the resumed run evaluates first."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.execute.driver import RunHooks

from .helpers import TINY

runner = CliRunner()
# One variant, 4 steps, an evaluation at steps 2 and 4, a checkpoint at every evaluation.
ONE_RUN = TINY.replace('[[variant]]\nname = "bn"\nnorm = "batch"\n', "").replace("eval_every = 4", "eval_every = 2")


@pytest.fixture(autouse=True)
def no_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bnbench.commands.report.report_after_run", lambda root, console: None)


def test_a_stop_on_the_last_step_leaves_the_final_evaluation_to_the_resume(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    scenario = tmp_path / "one.toml"
    scenario.write_text(ONE_RUN, encoding="utf-8")
    whole = tmp_path / "whole"
    assert runner.invoke(app, ["run", str(scenario), "--out", str(whole)]).exit_code == 0
    expected = pd.read_csv(whole / "runs.csv")["final_psnr_db"].iloc[0]

    # Ctrl-C as the 4th (last) step ends: the stop flag is set where a signal sets it, and the loop sees it on
    # its 4th stop check, before the evaluation of step 4.
    real, calls = RunHooks.should_stop, []

    def ctrl_c_on_the_last_step(self: RunHooks) -> bool:
        calls.append(1)
        if len(calls) == 4:
            self.stop.set()
        return real(self)

    monkeypatch.setattr(RunHooks, "should_stop", ctrl_c_on_the_last_step)
    out = tmp_path / "results"
    runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    first = pd.read_csv(out / "runs.csv")
    assert first["status"].tolist() == ["interrupted"] and first["steps"].tolist() == [4]
    monkeypatch.setattr(RunHooks, "should_stop", real)

    result = runner.invoke(app, ["run", str(scenario), "--resume", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert runs["status"].tolist() == ["interrupted", "completed"]
    # The evaluations are those of the uninterrupted run, step 2 then step 4, each once; the final figure is
    # step 4's (before the fix: step 2's, since the resumed run had no step left to train and never evaluated).
    curves = pd.read_parquet(out / "curves.parquet")
    evals = curves[curves["kind"] == "eval"]
    assert evals["step"].tolist() == [2, 4]
    assert runs["final_psnr_db"].iloc[-1] == evals["psnr_db"].iloc[-1] == expected
