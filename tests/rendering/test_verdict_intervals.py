"""Every verdict a report states, read back from report.json, report.md and the terminal: its words agree with
the interval it shows, and that interval is the one its decision used (Holm-adjusted, or at an adaptive look's
level), not the unadjusted 95% one."""

from __future__ import annotations

import json
import math
import re

import tomli_w
from typer.testing import CliRunner

from bnbench.analysis.results import load
from bnbench.cli import app
from tests.conftest import write_folder

runner = CliRunner()


def agrees(decision: dict, margin: float | None) -> bool:
    """The word matches the interval: better/worse off zero, undecided holding zero, equivalent inside +-margin."""
    low, high, word = decision["ci_low"], decision["ci_high"], decision["word"]
    if word in ("better", "worse"):
        return low > 0 or high < 0
    if word == "equivalent":
        return margin is not None and -margin < low and high < margin
    if word == "undecided" and "interval holds zero" in decision["reason"]:
        return low <= 0 <= high
    return True


def check_every_verdict(root, output: str, margin: float | None) -> list[dict]:
    data = json.loads((root / "report.json").read_text())
    md = (root / "report.md").read_text()
    text = " ".join(output.split())
    finals = []
    for name, c in data["comparisons"].items():
        for figure, decision in c["decisions"].items():
            if decision["ci_low"] is None or math.isnan(decision["ci_low"]):
                continue  # no interval: too few seeds, not measured, or no target
            assert agrees(decision, margin if figure in ("final", "best") else None), (name, figure, decision)
            decimals = 2 if figure in ("final", "best") else 1
            cell = (f"{decision['word']}: [{decision['ci_low']:+.{decimals}f}, {decision['ci_high']:+.{decimals}f}]"
                    f", {decision['interval']}")
            assert cell in md, cell  # the comparison table's verdict cell
        final = c["decisions"]["final"]
        shown = f"[{final['ci_low']:+.2f}, {final['ci_high']:+.2f}]"
        label = "" if final["interval"] == "95% interval" else f" ({final['interval']})"
        assert f"{name}: PSNR {final['diff']:+.2f} dB {shown}{label} vs control" in c["sentence"]
        assert c["sentence"] in text  # the terminal prints the same sentence
        assert f"{final['word']} ({final['reason']})" in c["sentence"]
        finals.append(final)
    return finals


def test_three_variants_show_the_holm_adjusted_intervals_their_words_rest_on(tmp_path):
    # control 30, 31, 32; far +8, near +4, same +0 (sd 1 a side, 3 seeds): t = shift / sqrt(2/3), df = 2.
    # far p = 0.0103 <= 0.05 / 3: better, its 98.3% interval 8 +- t(0.99167, 2) 0.8165 = 8 +- 7.649 * 0.8165
    # = [+1.75, +14.25]. near p = 0.0392 > 0.05 / 2: undecided, and the 97.5% interval it was tested with,
    # 4 +- 6.205 * 0.8165 = [-1.07, +9.07], holds zero (its plain 95% interval, [+0.49, +7.51], would not).
    root = write_folder(tmp_path / "three", finals={"control": [30.0, 31.0, 32.0], "far": [38.0, 39.0, 40.0],
                                                    "near": [34.0, 35.0, 36.0], "same": [30.0, 31.0, 32.0]})
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    finals = check_every_verdict(root, result.output, None)
    assert len(finals) == 3
    text = " ".join(result.output.split())
    assert "far: PSNR +8.00 dB [+1.75, +14.25] (98.3% interval, Holm-adjusted) vs control" in text
    assert ("near: PSNR +4.00 dB [-1.07, +9.07] (97.5% interval, Holm-adjusted) vs control, energy not measured, "
            "1.00 x [1.00, 1.00] the measured time; undecided (p=0.039, n=3: the interval holds zero") in text
    md = (root / "report.md").read_text()
    # The conclusion's 'cannot be told' width is that interval's half: (9.07 - -1.07) / 2 = 5.07 dB.
    assert ("a difference smaller than about 5.07 dB cannot be told from seed luck at this level (97.5% interval, "
            "Holm-adjusted)") in md


def test_an_adaptive_folder_shows_the_interval_at_its_last_look_level(tmp_path):
    # Six rounds of a 3-to-20 design: bn is 1 dB above control with sd about 0.5 a side. Look 4 of 18 (n = 6)
    # tests at O'Brien-Fleming's level for 6/20 of the information, far below 0.05, with df = 6 - 2 = 4.
    control = [30.0, 30.5, 29.5, 30.2, 29.8, 30.0]
    bn = [31.0, 31.6, 30.4, 31.1, 30.9, 31.0]
    root = write_folder(tmp_path / "adaptive", finals={"control": control, "bn": bn})
    scenario = load(root).scenario
    scenario["scenario"]["seeds"] = {"min": 3, "max": 20}
    (root / "scenario.toml").write_text(tomli_w.dumps(scenario), encoding="utf-8")
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    (final,) = check_every_verdict(root, result.output, None)
    assert final["basis"] == "at look 4 of 18" and final["n"] == 6
    assert final["level"] < 0.01
    assert re.search(r"bn: PSNR \+1\.00 dB \[[-+0-9.]+, [-+0-9.]+\] \(99\.[0-9]+% interval, at look 4 of 18\)",
                     result.output)


def test_a_plain_single_comparison_keeps_the_95_percent_interval_unlabelled(tmp_path):
    # One variant, one look: the decision's interval is the 95% one, printed without a label.
    root = write_folder(tmp_path / "one", finals={"control": [29.9, 30.0, 30.1], "bn": [27.9, 28.0, 28.1]})
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    (final,) = check_every_verdict(root, result.output, None)
    assert final["interval"] == "95% interval" and final["basis"] == ""
    assert "bn: PSNR -2.00 dB [-2.35, -1.65] vs control" in result.output
