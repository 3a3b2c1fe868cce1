"""scenarios/quick.toml, run as the README's quick start says, piped: the README and the manual's tutorial quote
what it prints.

One real session (six runs of 600 steps: about two minutes on two idle cores) serves every test. Its quality
figures are the same on every run on one machine (one thread a run, fixed seeds), but not on every CPU: torch's
kernels round differently on another instruction set, and the batch-normalized variant, unstable as the paper
found, turns that into tenths of a dB (11.94 dB quoted; 12.42 dB on an AVX-512 Xeon). So the quote must have
the session's words and verdicts, with every number in its place, and the stable control's PSNR within
CONTROL_TOLERANCE_DB; times and energy depend on the machine and are left out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
QUICK = REPO / "scenarios" / "quick.toml"

_QUALITY_ROW = re.compile(r"^\S+ +\d+ completed ")
_RATIO = re.compile(r"\d+\.\d+ x \[\d+\.\d+, \d+\.\d+\]")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
CONTROL_TOLERANCE_DB = 0.1


def words(lines: list[str]) -> list[str]:
    """The lines with each number (a p-value's bound included: p<0.001, p=0.001) replaced by N."""
    return [_NUMBER.sub("N", re.sub(r"p[<=]0\.\d+", "p N", line)) for line in lines]


def control_psnr(lines: list[str]) -> list[float]:
    """The control row's mean and 95% interval."""
    row = next(line for line in lines if line.startswith("control "))
    return [float(v) for v in _NUMBER.findall(row)[1:4]]  # after the run count: mean, low, high


def deterministic(text: str) -> list[str]:
    """The summary's lines that do not depend on the machine: the quality rows, the verdict sentences with their
    energy and wall-time ratios masked, and each variant against the reference."""
    lines = []
    for line in text.splitlines():
        line = line.rstrip()
        if _QUALITY_ROW.match(line):
            lines.append(re.sub(r" {2,}", "  ", line))
        elif re.match(r"^\S+: PSNR ", line):
            lines.append(_RATIO.sub("R x", line))
        elif re.match(r"^\S+: final PSNR .* against bicubic ", line):
            lines.append(line)
    return lines


def quote(path: Path, heading: str) -> str:
    """The first ```text block under a page's `heading`, up to its next heading of that level."""
    text = path.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    level = heading.split(" ")[0]
    section = section[:section.index(f"\n{level} ", 1)]
    return re.search(r"```text\n(.*?)```", section, re.S).group(1)


# The README's quick start and the manual's tutorial both quote the session.
QUOTES = [(REPO / "README.md", "## Quick start"),
          (REPO / "docs" / "tutorials" / "quick-scenario.md", "## Install and run")]


@pytest.fixture(scope="module")
def quick_output(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("quick") / "results"
    done = subprocess.run([sys.executable, "-m", "bnbench", "run", str(QUICK), "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize(("path", "heading"), QUOTES, ids=["README", "tutorial"])
def test_the_readme_and_the_tutorial_quote_what_quick_prints(quick_output, path, heading):
    quoted = deterministic(quote(path, heading))
    # Two quality rows, one verdict, and the two variants against bicubic.
    assert len(quoted) == 5, quoted
    printed = deterministic(quick_output)
    assert words(printed) == words(quoted)
    assert control_psnr(printed) == pytest.approx(control_psnr(quoted), abs=CONTROL_TOLERANCE_DB)


def test_the_quote_comparison_holds_words_and_the_controls_figures():
    quoted = ["control  3 completed  30.27 [30.03, 30.50]  +0.18 unclear  baseline",
              "bn  3 completed  11.94 [9.03, 14.86]  -18.14 below  worse (p=0.001)"]
    other_cpu = ["control  3 completed  30.26 [30.04, 30.48]  +0.17 unclear  baseline",
                 "bn  3 completed  12.42 [11.88, 12.96]  -17.66 below  worse (p<0.001)"]
    assert words(other_cpu) == words(quoted)
    assert control_psnr(other_cpu) == pytest.approx(control_psnr(quoted), abs=CONTROL_TOLERANCE_DB)
    assert control_psnr(quoted) == [30.27, 30.03, 30.50]
    assert words(["bn  3 completed  12.42 [11.88, 12.96]  -17.66 below  unclear"]) != words(quoted[1:])
    assert control_psnr(["control  3 completed  30.47 [30.24, 30.70]  +0.39 above"]) != pytest.approx(
        control_psnr(quoted), abs=CONTROL_TOLERANCE_DB)


def test_piped_quick_shows_each_verdict_kwh_and_cups_whole(quick_output):
    assert "\x1b[" not in quick_output
    lines = quick_output.splitlines()
    headline = re.compile(r"quick: 6 runs, [\d.]+ (s|min) elapsed, [\d.]+ (s|min) of run time, "
                          r"[\d.]+ kWh = [\d.]+ cups of tea \(estimate\)")
    assert any(headline.fullmatch(line) for line in lines), lines
    cost_row = re.compile(r"^(control|bn|total) +[\d.]+ (s|min|h) ")
    rows = {line.split()[0]: line.split() for line in lines if cost_row.match(line)}
    for variant in ("control", "bn", "total"):
        # variant, wall time and its unit, kWh, cups, CO2 and its unit, cost: every number a whole cell
        assert re.fullmatch(r"[\d.]+", rows[variant][3]) and re.fullmatch(r"[\d.]+", rows[variant][4]), rows
    verdicts = [line for line in lines if line.startswith("bn: PSNR ")]
    assert len(verdicts) == 1 and re.search(r"; (better|worse|[a-z ]+) \(p[=<][\d.]+, n=3(: [^()]+)?\)$", verdicts[0])
