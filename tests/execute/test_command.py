"""Runs that are the user's own command (`[task] name = "command"`), end to end on the CPU through the CLI.

The commands are tiny `python -c` scripts (no torch), so a run costs an interpreter start.
"""

from __future__ import annotations

import json
import signal
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import bnbench
from bnbench.cli import app
from bnbench.execute.command_events import Evaluated, Logged, PhaseEdge, StdoutParser, parse_report_line
from bnbench.execute.runlog import ReportedFailure, describe_error, tail_text
from bnbench.reporter import ENV, Reporter
from bnbench.scenario import ParseConfig
from tests.reliability.helpers import bnbench_process, wait_for

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
PYTHON = json.dumps(sys.executable)


def scenario(tmp_path: Path, script: str, extra: str = "", seeds: str = "[0]", variants: str = "") -> Path:
    """A one-variant command scenario running `script` (Python source) with the seed as its argument."""
    (tmp_path / "job.py").write_text(textwrap.dedent(script), encoding="utf-8")
    variants = variants or f'[[variant]]\nname = "control"\ncommand = [{PYTHON}, "job.py", "{{seed}}"]\n'
    text = f"""
[scenario]
name = "cmd"
seeds = {seeds}
device = "cpu"

[task]
name = "command"
metric = "acc"
higher_is_better = true
{extra}

[energy]
idle_s = 0

{variants}
"""
    path = tmp_path / "cmd.toml"
    path.write_text(text, encoding="utf-8")
    return path


REPORTING = """
import sys
from bnbench.reporter import Reporter
seed = int(sys.argv[1])
r = Reporter()
r.log(1, loss=2.0)
r.log(2, loss=1.0)
with r.phase("eval"):
    pass
r.evaluate(2, acc=60.0 + seed, val_loss=0.5)
r.evaluate(4, acc=55.0 + seed)
"""


def test_reporter_lines_become_curves_evaluations_and_the_row(tmp_path):
    path = scenario(tmp_path, REPORTING, seeds="[0, 1]")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output

    runs = pd.read_csv(out / "runs.csv")
    assert runs["status"].tolist() == ["completed", "completed"]
    # Seed 1 evaluates 61 then 56: the final is the last (56), the best the highest (61); 4 is the last step.
    row = runs.set_index("run_id").loc["control-s1"]
    assert (row["final_acc"], row["best_acc"], row["steps"]) == (56.0, 61.0, 4)
    assert row["energy_source"] == "estimate" and row["energy_train_j"] >= 0 and row["cpu_s"] >= 0
    curves = pd.read_parquet(out / "curves.parquet")
    mine = curves[curves["run_id"] == "control-s0"]
    assert mine[mine["kind"] == "train"][["step", "loss"]].values.tolist() == [[1, 2.0], [2, 1.0]]
    evals = mine[mine["kind"] == "eval"]
    assert evals["acc"].tolist() == [60.0, 55.0] and evals["val_loss"].iloc[0] == 0.5
    # The report's reading of the folder works unchanged, the metric's stated direction included.
    results = bnbench.load(out)
    assert results.metric.higher_is_better and results.summary.variants["control"].completed == 2


def test_a_script_reporting_through_stdout_only(tmp_path):
    script = """
    import sys
    for step, loss in ((10, 0.75), (20, 0.5)):
        print(f"it {step} | train_loss={loss}")
    print("eval: step 20 accuracy 81.5%")
    print("eval: step 30 accuracy 84.25%", file=sys.stdout)
    """
    extra = '[task.parse]\nlog = \'it (?P<step>\\d+) \\| train_loss=(?P<loss>[0-9.]+)\'\n' \
            'eval = \'step (?P<step>\\d+) accuracy (?P<acc>[0-9.]+)%\''
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario(tmp_path, script, extra)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    # Evaluations 81.5 then 84.25: both final and best are 84.25, at step 30.
    assert (runs["final_acc"].iloc[0], runs["best_acc"].iloc[0], runs["steps"].iloc[0]) == (84.25, 84.25, 30)
    curves = pd.read_parquet(out / "curves.parquet")
    assert curves[curves["kind"] == "train"]["loss"].tolist() == [0.75, 0.5]
    assert "it 20 | train_loss=0.5" in (out / "runs" / "control-s0" / "stdout.log").read_text()


def test_a_failing_command_fails_its_run_only(tmp_path):
    script = """
    import sys
    from bnbench.reporter import Reporter
    if sys.argv[1] == "1":
        Reporter().evaluate(1, acc=50.0)
        sys.exit(0)
    for i in range(1, 8):
        print(f"problem {i}", file=sys.stderr)
    sys.exit(3)
    """
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario(tmp_path, script, seeds="[0, 1]")), "--out", str(out)])
    assert result.exit_code == 1, result.output  # some run failed
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")
    assert runs.loc["control-s1", "status"] == "completed"
    assert runs.loc["control-s0", "status"] == "failed"
    # The last 5 lines of stderr in runs.csv; all 7 in error.log.
    assert runs.loc["control-s0", "error"] == "exit code 3: " + " | ".join(f"problem {i}" for i in range(3, 8))
    log = (out / "runs" / "control-s0" / "error.log").read_text()
    assert all(f"problem {i}\n" in log for i in range(1, 8)) and "Traceback" not in log


def test_a_failing_command_behind_a_progress_bar_keeps_the_bar_last_state_and_the_exception(tmp_path):
    # tqdm draws on stderr: each frame starts with '\r' and only close() ends the line. Here two bars: one that
    # finished (its '\n'), one cut short by the exception, whose traceback starts on the bar's line.
    script = """
    import sys
    bar = lambda i: f"\\r{25 * i:3d}%|{'#' * i}{' ' * (4 - i)}| {i}/4"
    sys.stderr.write("".join(bar(i) for i in range(5)) + "\\n")
    sys.stderr.write("".join(bar(i) for i in range(3)))
    sys.stderr.write("Traceback (most recent call last):\\n  File 'job.py', line 7\\nValueError: loss is nan\\n")
    sys.exit(3)
    """
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario(tmp_path, script)), "--out", str(out)])
    assert result.exit_code == 1, result.output
    # Each bar collapses to its last frame (100% and 50%); the 4 stderr lines are all within the 5 kept.
    expected = ("exit code 3: 100%|####| 4/4 | 50%|##  | 2/4Traceback (most recent call last): | "
                "File 'job.py', line 7 | ValueError: loss is nan")
    assert pd.read_csv(out / "runs.csv")["error"].iloc[0] == expected
    assert f"failed: {expected}" in (out / "runs" / "control-s0" / "run.log").read_text()
    assert "failed after 0 steps" in result.output and expected in result.output


def test_an_error_tail_too_long_keeps_its_end():
    lines = ["x" * 600, "\r  0%|  | 0/2\r 50%|# | 1/2", "   ", "RuntimeError: boom"]
    # The 600 x's would push the exception past 500 chars; the start is cut instead: '...' + the last 497.
    text = tail_text(lines)
    assert len(text) == 500 and text.endswith("x | 50%|# | 1/2 | RuntimeError: boom") and text.startswith("...x")
    assert describe_error(ReportedFailure("\r 10%|#|\r 90%|#########| 9/10")) == " 90%|#########| 9/10"


def test_a_command_that_reports_no_metric_fails_saying_so(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario(tmp_path, "print('hello')")), "--out", str(out)])
    assert result.exit_code == 1
    error = pd.read_csv(out / "runs.csv")["error"].iloc[0]
    assert error.startswith("the command reported no 'acc'")


def test_malformed_reporter_lines_are_skipped_and_counted(tmp_path):
    script = """
    import os
    with open(os.environ["BNBENCH_REPORT"], "w") as pipe:
        pipe.write("not json\\n")
        pipe.write('{"event": "eval", "step": -1, "metrics": {}}\\n')
        pipe.write('{"event": "eval", "step": 5, "metrics": {"acc": 70.5}}\\n')
    """
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario(tmp_path, script)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out / "runs.csv")["final_acc"].iloc[0] == 70.5
    assert "skipped 2 malformed reporter line(s)" in (out / "runs" / "control-s0" / "run.log").read_text()


def test_a_command_that_forks_and_exits_early_is_metered_until_its_child_ends(tmp_path):
    # The command starts a child that reports after 1 s, and exits at once: the run waits for the child.
    script = """
    import subprocess, sys
    child = "import time\\nfrom bnbench.reporter import Reporter\\ntime.sleep(1.0)\\nReporter().evaluate(3, acc=42.0)"
    subprocess.Popen([sys.executable, "-c", child])
    """
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(scenario(tmp_path, script)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert runs["final_acc"].iloc[0] == 42.0 and runs["train_s"].iloc[0] >= 1.0


@pytest.mark.parametrize(("text", "message"), [
    ('command = ["python", "x.py", "{sed}"]', "unknown placeholder '{sed}'; did you mean 'seed'?"),
    ('command = ["no-such-program-here"]', "command 'no-such-program-here' not found on PATH"),
])
def test_bad_commands_are_one_line_errors(tmp_path, text, message):
    path = scenario(tmp_path, "", variants=f'[[variant]]\nname = "control"\n{text}\n')
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_scenario_must_state_its_metric_and_direction(write_scenario):
    path = write_scenario('[scenario]\nname = "x"\n[task]\nname = "command"\nmetric = "acc"\ncommand = ["true"]\n')
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "needs higher_is_better = true or false for 'acc'" in result.output
    path = write_scenario('[scenario]\nname = "x"\n[task]\ncommand = ["true"]\n')
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "command applies to name = 'command' only" in result.output


def test_sigterm_mid_command_then_resume(tmp_path):
    # The command ignores SIGTERM and sleeps while a 'slow' file exists: bnbench kills it after the grace
    # period, records the run interrupted and exits 143; resumed without the file, the run starts over and ends.
    script = """
    import os, signal, sys, time
    from bnbench.reporter import Reporter
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open("started", "w").write(str(os.getpid()))
    while os.path.exists("slow"):
        time.sleep(0.05)
    Reporter().evaluate(1, acc=90.0)
    """
    path = scenario(tmp_path, script, extra="grace_s = 1")
    (tmp_path / "slow").touch()
    out = tmp_path / "out"
    process = bnbench_process(["run", str(path), "--out", str(out)], cwd=tmp_path)
    wait_for(lambda: (tmp_path / "started").exists(), process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 143, output
    runs = pd.read_csv(out / "runs.csv")
    assert runs["status"].tolist() == ["interrupted"]
    pid = int((tmp_path / "started").read_text())
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped
    assert "did not end within 1 s of SIGTERM: killed" in (out / "runs" / "control-s0" / "run.log").read_text()

    (tmp_path / "slow").unlink()
    result = runner.invoke(app, ["run", str(path), "--resume", str(out)])
    assert result.exit_code == 0, result.output
    runs = bnbench.load(out).runs
    assert runs["status"].tolist() == ["completed"] and runs["final_acc"].tolist() == [90.0]


def test_reporter_does_nothing_outside_bnbench(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    report = Reporter()
    assert not report.active
    report.log(1, loss=1.0)
    with report.phase("eval"):
        report.evaluate(1, acc=1.0)
    with pytest.raises(ValueError, match="unknown phase 'warmup'"), report.phase("warmup"):
        pass


def test_report_lines_and_stdout_expressions_parse_to_events():
    assert parse_report_line('{"event": "log", "step": 3, "metrics": {"loss": 0.5}}') == Logged(3, {"loss": 0.5})
    assert parse_report_line('{"event": "phase", "phase": "eval", "edge": "open"}') == PhaseEdge("eval", True)
    for bad in ("[]", '{"event": "eval", "step": 1.5}', '{"event": "log", "step": 1, "metrics": {"a": "x"}}',
                '{"event": "tick"}'):
        with pytest.raises(ValueError):
            parse_report_line(bad)
    # Without a step group, the step is the count of matching lines: 1, then 2.
    parser = StdoutParser(ParseConfig(eval=r"acc=(?P<acc>[0-9.]+)"))
    assert parser.feed("epoch done acc=0.5") == [Evaluated(1, {"acc": 0.5})]
    assert parser.feed("nothing here") == []
    assert parser.feed("acc=0.75") == [Evaluated(2, {"acc": 0.75})]


def test_the_example_scenario_end_to_end(tmp_path):
    """examples/digits_bn.toml, shrunk: one seed, 10 steps, the example script itself."""
    example = REPO / "examples" / "digits_bn.toml"
    script = str(REPO / "examples" / "digits_bn.py")
    out = tmp_path / "out"
    sets = ["scenario.seeds=[0]", "energy.idle_s=0",
            f'variant.control.command=[{PYTHON}, "{script}", "--seed", "{{seed}}", "--steps", "10", '
            '"--eval-every", "5"]',
            f'variant.bn.command=[{PYTHON}, "{script}", "--seed", "{{seed}}", "--bn", "--steps", "10", '
            '"--eval-every", "5"]']
    result = runner.invoke(app, ["run", str(example), "--out", str(out), *[a for s in sets for a in ("--set", s)]])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert runs["status"].tolist() == ["completed", "completed"] and runs["steps"].tolist() == [10, 10]
    assert runs["final_val_accuracy_pct"].between(0, 100).all() and (runs["energy_j"] > 0).all()
    curves = pd.read_parquet(out / "curves.parquet")
    assert curves[curves["kind"] == "eval"].groupby("run_id")["step"].apply(list).tolist() == [[5, 10], [5, 10]]
    assert "bn" in bnbench.load(out).summary.comparisons
    assert (out / "report.html").is_file()


def test_command_runs_in_a_pool_of_workers(tmp_path):
    # Two CPU workers take the 2 seeds at once; each command is the child of its worker, recorded as usual.
    path = scenario(tmp_path, REPORTING, seeds="[0, 1]")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv").set_index("run_id").sort_index()
    assert runs["final_acc"].tolist() == [55.0, 56.0] and runs["best_acc"].tolist() == [60.0, 61.0]
    assert set(runs["device"]) == {"cpu[0]", "cpu[1]"}
    assert "[control-s0] step 2 acc 60.000" in result.output  # no step count: bnbench does not know a command's
