"""The answer at a glance: the terminal summary at 80 and 120 columns and piped, the report's first screen, and
numbers printed to the precision they have."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bnbench.analysis.metric_info import resolve
from bnbench.analysis.results import load
from bnbench.cli import app
from bnbench.rendering import format as fmt
from bnbench.rendering import glance
from bnbench.rendering.table import print_glance

runner = CliRunner()

# control finals 29.9, 30.0, 30.1: mean 30.00, sd 0.1, 95% CI 30.00 ± t(2) 4.303 x 0.1 / sqrt(3) = ± 0.248.
# bn-debiased 27.9, 28.0, 28.1: 28.00 [27.75, 28.25]. Bicubic is 27.0 on every row, so both whole intervals are
# above it (+3.00 and +1.00). Difference: -2.00 with se 0.0816 on min(3, 3) - 1 = 2 df, t = -24.5: worse,
# p = 0.002; the interval -2.00 ± 4.303 x 0.0816 = [-2.35, -1.65].
# Energy (estimate): control 1200 J a run, 3600 J in all = 1 Wh = 0.001 kWh = 1 / 33.3 = 0.0300 cups of tea,
# 0.4 g CO2 (400 g/kWh) and 0.0002 USD (0.2 USD/kWh) = 0.020 US cents; bn-debiased 1800 J a run, 5400 J =
# 0.0015 kWh = 0.0450 cups, 0.60 g, 0.030 US cents. Session: 0.0025 kWh, 2.5 / 33.3 = 0.0751 cups, 1.0 g,
# 0.050 US cents; six runs of 30 s = 3.0 min of run time, in a session that took 150 s from start to end.
EXPECTED = {
    "control": ["control", "3 completed", "30.00 [29.75, 30.25]", "+3.00 above", "baseline", "90.0 s", "0.00100",
                "0.0300", "0.40 g", "0.020 US cents"],
    "bn-debiased": ["bn-debiased", "3 completed", "28.00 [27.75, 28.25]", "+1.00 above", "worse (p=0.002)",
                    "90.0 s", "0.00150", "0.0450", "0.60 g", "0.030 US cents"],
    "total": ["total", "3.0 min", "0.00250", "0.0751", "1.0 g", "0.050 US cents"],
}
HEADLINE = "synthetic: 6 runs, 150.0 s elapsed, 3.0 min of run time, 0.00250 kWh = 0.0751 cups of tea (estimate)"
VERDICT = ("bn-debiased: PSNR -2.00 dB [-2.35, -1.65] vs control, 1.50 x [1.50, 1.50] the energy (estimate), "
           "1.00 x [1.00, 1.00] the measured time; worse (p=0.002, n=3: the interval is below zero)")


@pytest.fixture
def results(folder):
    root = folder(finals={"control": [29.9, 30.0, 30.1], "bn-debiased": [27.9, 28.0, 28.1]},
                  energy_j={"control": [1200.0] * 3, "bn-debiased": [1800.0] * 3}, source="estimate")
    (root / "manifest.json").write_text(json.dumps({"started_at": "2026-01-01T10:00:00+00:00",
                                                    "ended_at": "2026-01-01T10:02:30+00:00"}), encoding="utf-8")
    return root


def test_elapsed_time_counts_each_session_and_leaves_out_the_gaps():
    # First session 10:00:00-10:02:30 (150 s), killed and resumed at 11:00:00 until 11:01:00 (60 s): 210 s, the
    # hour between them left out. A session whose end was never written makes the whole unknown.
    resumed = {"started_at": "2026-01-01T10:00:00+00:00", "first_ended_at": "2026-01-01T10:02:30+00:00",
               "ended_at": "2026-01-01T11:01:00+00:00",
               "resumes": [{"started_at": "2026-01-01T11:00:00+00:00", "ended_at": "2026-01-01T11:01:00+00:00"}]}
    assert glance.elapsed_s(resumed) == 210.0
    assert glance.elapsed_s({"started_at": "2026-01-01T10:00:00+00:00", "ended_at": None}) is None
    assert glance.elapsed_s({}) is None


def rows_of(text: str) -> list[list[str]]:
    """Each line split into cells at runs of two or more spaces (cells hold single spaces)."""
    return [re.split(r" {2,}", line.strip()) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_summary_fits_and_keeps_every_number_whole(results, width):
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    print_glance(glance.build(load(results)), console)
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    assert HEADLINE in " ".join(text.split())  # a terminal of 80 columns wraps it between words
    cells = [cell for row in rows_of(text) for cell in row]
    for expected in EXPECTED.values():
        for cell in expected:
            assert cell in cells, cell


def test_piped_summary_is_plain_and_unwrapped(results):
    # CliRunner's output is not a terminal: no colour codes, and each sentence on one line however long.
    result = runner.invoke(app, ["report", str(results)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output
    lines = result.output.splitlines()
    assert HEADLINE in lines and VERDICT in lines
    assert "control: final PSNR 30.00 dB [29.75, 30.25] (n=3) against bicubic 27.00 dB: above it (the whole 95% " \
           "interval is above)" in lines
    assert f"report: {results / 'report.html'} (report.md, report.html, report.json, 4 figures)" in lines
    cells = [cell for row in rows_of(result.output) for cell in row]
    for expected in EXPECTED.values():
        for cell in expected:
            assert cell in cells, cell


def test_report_first_screen_holds_verdicts_kwh_and_cups(results):
    assert runner.invoke(app, ["report", str(results)]).exit_code == 0
    html = (results / "report.html").read_text()
    first_screen = html[:html.index("<figure")]
    for text in ('<span class="verdict v-worse">worse</span> (p=0.002)', "0.00250", "0.0751", "cups of tea",
                 '+3.00 <span class="verdict v-above">above</span>', "bicubic (27.00 dB)", "0.050 US cents"):
        assert text in first_screen, text
    # The glance, then the figures, and only then the long sections.
    assert "At a glance" in first_screen and "Abstract" not in first_screen
    md = (results / "report.md").read_text()
    top = md[:md.index("## Abstract")]
    assert "## At a glance" in top and HEADLINE + "." in top and f"- {VERDICT}" in top
    assert "| total | 3.0 min | 0.00250 | 0.0751 | 1.0 g | 0.050 US cents | estimate |" in top


def test_html_renders_code_spans_instead_of_backticks(results):
    (results / "manifest.json").write_text('{"command": ["bnbench", "run", "quick.toml"]}', encoding="utf-8")
    assert runner.invoke(app, ["report", str(results)]).exit_code == 0
    html = (results / "report.html").read_text()
    assert "<code>bnbench run quick.toml</code>" in html
    body = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    assert "`" not in body
    assert "command: `bnbench run quick.toml`" in (results / "report.md").read_text()


def test_numbers_have_the_precision_of_the_figure():
    # 5.70 J with a spread of 1.5e-14 J: the spread is below the mean's last digit.
    assert fmt.plus_minus(5.7, 1.5e-14) == "5.70 ± 0.00"
    assert fmt.plus_minus(754.3, 6.3) == "754 ± 6"
    # 6.61e-05 USD is 0.00661 US cents; two significant digits.
    assert fmt.cost(6.61e-05, "USD") == "0.0066 US cents"
    assert fmt.cost(6.61e-05, "JPY") == "0.000066 JPY"
    assert fmt.cost(3.6, "EUR") == "3.60 EUR"
    assert fmt.kwh(3.6e6 * 18) == "18.0" and fmt.kwh(float("nan")) == "not measured"
    assert fmt.count(540.0) == "540" and fmt.count(0.0300300) == "0.0300"
    assert fmt.co2(8550.0) == "8.55 kg" and fmt.co2(0.356) == "0.36 g"


def test_a_difference_of_percentages_is_in_percentage_points():
    accuracy = resolve("accuracy_pct", "digits")
    assert accuracy.value(3.85, signed=True) == "+3.85 percentage points"
    assert accuracy.value(88.5) == "88.50 %"
