"""`bnbench measure`: one-off metering of commands, end to end on the CPU through the CLI."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.commands.measure import split_commands, variant_names
from bnbench.errors import UserError

runner = CliRunner()
PY = shlex.quote(sys.executable)
SLEEP_S = 1.0
SLEEP = f"{PY} -c 'import time; time.sleep({SLEEP_S})'"
BURN = f"{PY} -c 'import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass'"


def bare_start_s() -> float:
    """Wall seconds of the interpreter starting and exiting, the best of 3 (what `time` would add to a sleep)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def test_measure_times_a_sleep_and_charges_a_burn_more(tmp_path):
    start_s = bare_start_s()
    out = tmp_path / "results"
    result = runner.invoke(app, ["measure", "--json", "--out", str(out), "--name", "sleep", "--name", "burn",
                                 SLEEP, BURN])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    sleep, burn = data["commands"]
    assert [c["name"] for c in data["commands"]] == ["sleep", "burn"]
    # The sleep's wall time is its 1 s plus an interpreter start, within 5%.
    wall_s = sleep["train_s"]["mean"]
    assert SLEEP_S <= wall_s <= 1.05 * (SLEEP_S + start_s), (wall_s, start_s)
    # A second of CPU burnt costs more estimated energy than a second asleep; both are labelled estimates.
    assert burn["cpu_s"]["mean"] >= 1.0 > sleep["cpu_s"]["mean"]
    assert burn["energy_j"]["mean"] > sleep["energy_j"]["mean"] > 0
    assert burn["energy_source"] == sleep["energy_source"] == "estimate"
    # Compared with the first command, as `bnbench run` compares variants, and kept as a results folder.
    assert data["comparisons"][0]["command"] == "burn" and data["comparisons"][0]["against"] == "sleep"
    assert set(data["comparisons"][0]["figures"]) == {"measured_s", "energy_j"}
    assert data["results"] == str(out)
    import pandas as pd  # a folder kept with --out has every run's power samples (a temporary one skips them)

    assert set(pd.read_parquet(out / "power.parquet")["run_id"]) == {"sleep-s0", "burn-s0"}
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output


def test_measure_prints_like_time_and_passes_the_exit_code_through(tmp_path):
    result = runner.invoke(app, ["measure", "--", sys.executable, "-c",
                                 "import sys; print('from the', 'command'); sys.exit(3)"])
    assert result.exit_code == 3
    # the header echoes the command line, so the text printed is not a substring of it
    assert "from the command" in result.output  # its output passes through
    # A cost this small reads in hundredths of the currency, as `bnbench run` writes it.
    for label in ("wall time", "CPU time", "energy", "kWh", "cups of tea", "g CO2", "US cents", "exit code     3"):
        assert label in result.output, label
    quiet = runner.invoke(app, ["measure", "--quiet", "--", sys.executable, "-c", "print('from the', 'command')"])
    assert quiet.exit_code == 0 and "from the command" not in quiet.output


def test_measure_bad_input(tmp_path):
    result = runner.invoke(app, ["measure", "--", "no-such-program-here"])
    assert result.exit_code == 2 and "not found on PATH" in result.output
    result = runner.invoke(app, ["measure", "--name", "a", "'true' 'x'", "'true'"])
    assert result.exit_code == 2 and "--name was given 1 time(s) for 2 command(s)" in result.output


def test_commands_are_one_argv_or_several_quoted():
    assert split_commands(["python", "-c", "import time; time.sleep(1)"]) == [
        ["python", "-c", "import time; time.sleep(1)"]]
    assert split_commands(["python a.py", "python b.py --bn"]) == [["python", "a.py"], ["python", "b.py", "--bn"]]
    assert variant_names([["python", "a.py"], ["python", "a.py"]], []) == ["python-a.py", "python-a.py-2"]
    with pytest.raises(UserError):
        split_commands([])


def test_a_decided_comparison_prints_the_interval_its_decision_used():
    # Three runs each of a 0.1 s and a 0.4 s sleep: the difference is 0.3 s (and the few ms a longer sleep
    # oversleeps), its runs' spread a few ms, so the 95% interval (t(0.975, 2) = 4.3 standard errors a side)
    # lies within a few hundredths of +0.3 s and the longer sleep is worse; the word comes with that interval.
    result = runner.invoke(app, ["measure", "--quiet", "-n", "3", "sleep 0.1", "sleep 0.4"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("sleep-0.4 against sleep-0.1: measured time"))
    match = re.search(r"-> worse \(difference \[\+(0\.\d+), \+(0\.\d+)\], 95% interval\)$", line)
    assert match, line
    low, high = float(match.group(1)), float(match.group(2))
    assert 0.25 < low < high < 0.35, line
    data = runner.invoke(app, ["measure", "--json", "-n", "3", "sleep 0.1", "sleep 0.4"])
    used = json.loads(data.stdout)["comparisons"][0]["figures"]["measured_s"]["verdict_interval"]
    assert used["label"] == "95% interval" and 0.25 < used["low"] < used["high"] < 0.35
