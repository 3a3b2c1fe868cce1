"""`bnbench measure` and `bnbench tea` write numbers as `bnbench run` does: significant digits, no 1e-07,
a small cost in hundredths of the currency."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from bnbench.version import __version__

PY = shlex.quote(sys.executable)
BURN = f"{PY} -c 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass'"


def bnbench(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bnbench", *arguments], capture_output=True, text=True,
                          timeout=120)


def test_tea_of_5_joules_reads_in_significant_digits_and_cents():
    result = bnbench("tea", "5J")
    assert result.returncode == 0, result.stderr
    # 5 J = 5 / 3.6e6 kWh = 1.389e-6 kWh; 5 J / (33.33 Wh x 3600 J/Wh = 120 kJ a cup) = 4.17e-5 cups;
    # 1.389e-6 kWh x 475 g/kWh = 6.6e-4 g of CO2; x 0.30 USD/kWh = 4.2e-7 USD = 4.2e-5 US cents.
    assert result.stdout.splitlines() == [
        "5J = 0.00000139 kWh = 5.00 J",
        "= 0.0000417 cups of tea (33.3 Wh a cup; a perfect kettle needs 23.3 Wh to heat 250 ml by 80 K)",
        "= 0.00066 g CO2 at 475 g/kWh",
        "= 0.000042 US cents at 0.3 USD/kWh",
    ]


def test_tea_of_18_kwh_keeps_its_whole_numbers():
    result = bnbench("tea", "18kWh")
    # 18 kWh = 64.8 MJ = 540 cups; x 475 g = 8.55 kg; x 0.30 = 5.40 USD.
    assert result.stdout.splitlines()[0] == "18kWh = 18.0 kWh = 64.8 MJ"
    assert "= 8.55 kg CO2 at 475 g/kWh" in result.stdout and "= 5.40 USD at 0.3 USD/kWh" in result.stdout


def test_tea_of_gigajoules_says_gj():
    # 3e9 J = 3 GJ = 3e9 / 3.6e6 = 833 kWh (it said 3000 MJ).
    assert bnbench("tea", "3e9J").stdout.splitlines()[0] == "3e9J = 833 kWh = 3.00 GJ"


def test_measure_prints_no_raw_floats():
    result = bnbench("measure", "--device", "cpu", "-n", "2", "--quiet", "--", "sh", "-c", BURN.replace("'", '"'))
    assert result.returncode == 0, result.stderr
    assert not re.search(r"\de-\d", result.stderr), result.stderr  # never 8.056e-07
    # 0.2 s of CPU a run at the estimate's 10 W: about 2 J, 3 significant digits and the spread to the same
    # decimals ('2.03 ± 0.06 J'), as `bnbench run` writes a mean over seeds.
    energy = next(line for line in result.stderr.splitlines() if line.startswith("  energy"))
    assert re.fullmatch(r"  energy        \d\.\d\d ± \d\.\d\d J  \(an estimate from CPU time, not a measurement\)",
                        energy), energy
    wall = next(line for line in result.stderr.splitlines() if line.startswith("  wall time"))
    assert re.fullmatch(r"  wall time     [\d.]+ ± [\d.]+ s \(min [\d.]+, max [\d.]+\)", wall), wall
    # About 2e-6 kWh: 3 significant digits after the zeros; CO2 and cents (about 3e-4 g, 2e-5 cents) 2 of them.
    assert re.search(r"= 0\.0+[1-9]\d\d kWh = 0\.0+[1-9]\d\d cups of tea = 0\.0+[1-9]\d g CO2 = 0\.0+[1-9]\d US cents",
                     result.stderr), result.stderr


def test_measure_writes_a_zero_extreme_as_0_and_a_warm_up_in_words():
    # `sleep` uses almost no CPU: CPU time is 0 s in a run (the kernel counts in 10 ms ticks) or one tick.
    # Its extremes read 'min 0', never 'min 0.00000'; one warm-up run is '1 unmeasured run', not 'run(s)'.
    result = bnbench("measure", "--device", "cpu", "-n", "2", "--warmup", "1", "--", "sleep", "0.05")
    assert result.returncode == 0, result.stderr
    assert "warm-up: 1 unmeasured run of each command" in result.stderr.splitlines()
    # The results folder is a temporary one, deleted at the end: the first line names no path to it.
    assert result.stderr.splitlines()[1] == f"bnbench {__version__}: 2 runs of 'measure' on cpu", result.stderr
    cpu = next(line for line in result.stderr.splitlines() if line.startswith("  CPU time"))
    assert re.search(r"\(min (0|0\.0100), max (0|0\.0100)\)", cpu), cpu
    assert not re.search(r"\b0\.0000", cpu), cpu
