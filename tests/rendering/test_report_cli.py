"""`bnbench report`, `bnbench compare` and `bnbench.load` on small results folders written directly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()


def test_report_writes_every_file_and_names_a_clear_loss(folder):
    # control finals 30.0 ± 0.1, bn 28.0 ± 0.1 (3 seeds): bn is worse by 2.00 dB, se 0.0816 on 2 df (Hsu's
    # min(3, 3) - 1): -2.00 ± 4.303 x 0.0816 = [-2.35, -1.65], p = 0.002.
    # Energy: control 100 J per run, bn 120 J: ratio 1.20 (zero spread -> zero-width interval).
    root = folder(finals={"control": [29.9, 30.0, 30.1], "bn": [27.9, 28.0, 28.1]},
                  energy_j={"control": [100.0] * 3, "bn": [120.0] * 3}, source="rapl", power=True)
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    assert "bn: PSNR -2.00 dB [-2.35, -1.65] vs control, 1.20 x [1.20, 1.20] the energy" in result.output
    assert "; worse (p=0.002, n=3: the interval is below zero)" in result.output
    for name in ("report.md", "report.html", "report.json"):
        assert (root / name).stat().st_size > 0
    for plot in ("metric_vs_step", "metric_vs_time", "metric_vs_energy", "loss", "power"):
        assert (root / "figures" / f"{plot}.png").stat().st_size > 0
    md = (root / "report.md").read_text()
    for section in ("## Abstract", "## Experimental Procedure", "## Results", "## Energy", "## Conclusion"):
        assert section in md
    assert "bn beat control on 0 of 3 seeds" in md
    data = json.loads((root / "report.json").read_text())
    assert data["comparisons"]["bn"]["verdict"] == "worse"
    assert data["variants"]["control"]["figures"]["final"]["mean"] == 30.0
    # Target 30.0 dB; evaluations are final-2, final-1, final: control's 29.9 never reaches it, 30.0 and 30.1 do
    # at step 30; bn never does.
    assert data["variants"]["control"]["reached"] == 2 and data["variants"]["bn"]["reached"] == 0
    html = (root / "report.html").read_text()
    assert html.count('<img alt="') == 5 and html.count("data:image/png;base64,") == 5  # self-contained


def test_unmeasured_energy_is_never_zero(folder):
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]})
    result = runner.invoke(app, ["report", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["energy_source"] == "none"
    assert data["variants"]["bn"]["figures"]["energy_j"]["n"] == 0
    assert data["variants"]["bn"]["figures"]["energy_j"]["mean"] is None
    assert data["comparisons"]["bn"]["words"]["energy_j"] == "not measured"
    assert "energy not measured" in data["verdicts"][0]
    assert not (root / "figures" / "metric_vs_energy.png").exists()  # nothing to draw, nothing drawn
    assert "Energy was not measured" in (root / "report.md").read_text()


def test_estimated_energy_is_labelled_everywhere(folder):
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]},
                  energy_j={"control": [100.0, 110.0], "bn": [100.0, 130.0]}, source="estimate")
    assert runner.invoke(app, ["report", str(root), "--format", "md", "--svg"]).exit_code == 0
    md = (root / "report.md").read_text()
    assert "the energy (estimate)" in md and "ESTIMATE" in md
    assert json.loads((root / "report.json").read_text())["energy_is_estimate"] is True
    assert "ESTIMATE" in (root / "figures" / "metric_vs_energy.svg").read_text()


def test_interrupted_folder_reports_what_it_has(folder):
    # bn-s1 was killed before its runs.csv row: its curves are a chunk under runs/bn-s1/, not in curves.parquet.
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]})
    runs = pd.read_csv(root / "runs.csv")
    runs[runs["run_id"] != "bn-s1"].to_csv(root / "runs.csv", index=False)
    curves = pd.read_parquet(root / "curves.parquet")
    (root / "runs" / "bn-s1").mkdir(parents=True)
    curves[curves["run_id"] == "bn-s1"].to_parquet(root / "runs" / "bn-s1" / "curves-000000.parquet")
    curves[curves["run_id"] != "bn-s1"].to_parquet(root / "curves.parquet")
    result = runner.invoke(app, ["report", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["variants"]["bn"]["statuses"] == {"completed": 1, "interrupted": 1}
    # One completed bn run: no test, so no winner.
    assert data["comparisons"]["bn"]["verdict"] == "undecided"


def test_compare_two_folders(folder):
    # The same control in both; bn in B is 1.0 dB better than in A on every seed (sd 0.2 each side, n=3):
    # se = sqrt(0.04/3 * 2) = 0.1633, df = 2, half-width 4.3027 * 0.1633 = 0.70 -> [+0.30, +1.70].
    a = folder("a", finals={"control": [30.0, 30.2, 30.4], "bn": [28.0, 28.2, 28.4]})
    b = folder("b", finals={"control": [30.0, 30.2, 30.4], "bn": [29.0, 29.2, 29.4]})
    result = runner.invoke(app, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert "bn in b: PSNR +1.00 dB [+0.30, +1.70] vs a" in result.output.replace("\n", " ")
    data = json.loads(runner.invoke(app, ["compare", str(a), str(b), "--format", "json"]).output)
    final = data["variants"]["bn"]["decisions"]["final"]
    assert (final["word"], round(final["ci_low"], 2), round(final["ci_high"], 2)) == ("better", 0.30, 1.70)
    assert "control in b: PSNR +0.00 dB" in result.output.replace("\n", " ")


def test_compare_draws_its_table_as_run_and_validate_do(folder):
    # A rule under the header and no box: the table reads like the glance's, piped or not.
    a = folder("a", finals={"control": [30.0, 30.2, 30.4], "bn": [28.0, 28.2, 28.4]})
    b = folder("b", finals={"control": [30.0, 30.2, 30.4], "bn": [29.0, 29.2, 29.4]})
    lines = runner.invoke(app, ["compare", str(a), str(b)]).output.splitlines()
    assert lines[0] == "b against a (B minus A; 95% Welch intervals)"
    assert lines[1].split() == ["variant", "figure", "difference", "[95%", "CI]", "ratio", "[95%", "CI]", "Welch",
                                "p", "n", "verdict:", "the", "interval", "it", "used"]
    assert set(lines[2].strip()) == {"─"}
    assert not any(c in "".join(lines) for c in "┏┃│┡└"), "\n".join(lines)


def test_bad_input_is_one_line_exit_2(tmp_path, folder):
    result = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such results folder" in result.output
    root = folder(finals={"control": [30.0]})
    result = runner.invoke(app, ["report", str(root), "--format", "pdf"])
    assert result.exit_code == 2 and "--format must be one of" in result.output


def test_load_api_is_lazy_and_gives_frames(folder):
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]}, power=True)
    code = (
        "import sys, bnbench; assert 'pandas' not in sys.modules; "
        f"r = bnbench.load({str(root)!r}); "
        "print(type(r.runs).__name__, len(r.runs), len(r.curves), len(r.power), r.summary.comparisons['bn'].verdict)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # 4 runs; 4 x (3 evals + 30 train rows) = 132 curve rows; 4 x 300 power samples.
    assert out.split() == ["DataFrame", "4", "132", "1200", "undecided"]


def test_report_is_rebuilt_after_files_are_removed(folder):
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]})
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    shutil.rmtree(root / "figures")
    (root / "report.html").unlink()
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    assert (root / "report.html").exists() and (root / "figures" / "loss.png").exists()


def pixels(path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image)


def test_figures_drawn_in_forked_children_are_the_figures_drawn_in_process(folder, monkeypatch):
    # The same folder reported twice: every figure drawn in this process (one core), then in forked children (four
    # cores: the power figure's two, and three taking the curve figures by turns with this process). Every PNG is
    # the same to the pixel, and both SVG sets are written.
    import shutil

    from bnbench.rendering import figure_files

    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]},
                  energy_j={"control": [10.0, 12.0], "bn": [11.0, 13.0]}, source="rapl", power=True)
    found = {}
    for children in (False, True):
        monkeypatch.setattr(figure_files, "drawing_cores", lambda children=children: 4 if children else 1)
        shutil.rmtree(root / "figures", ignore_errors=True)
        result = runner.invoke(app, ["report", str(root), "--format", "json", "--svg"])
        assert result.exit_code == 0, result.output
        assert set(json.loads(result.output)["figures"]) == {
            f"figures/{name}.{ext}" for name in ("metric_vs_step", "metric_vs_time", "metric_vs_energy", "loss",
                                                 "power") for ext in ("png", "svg")}
        found[children] = {p.name: pixels(p) for p in sorted((root / "figures").glob("*.png"))}
    assert list(found[True]) == list(found[False]) and len(found[True]) == 5
    for name, image in found[False].items():
        assert found[True][name].shape == image.shape and (found[True][name] == image).all(), name


def test_report_gives_gpu_busy_per_run_and_variant_and_flags_an_idle_gpu(folder):
    # control's GPU was 90% and 80% busy (mean 85), bn's 40% and 30% (mean 35): bn's runs are under half busy.
    root = folder(finals={"control": [30.0, 30.1], "bn": [29.0, 29.1]},
                  energy_j={"control": [100.0] * 2, "bn": [120.0] * 2}, source="nvml-counter",
                  busy_pct={"control": [90.0, 80.0], "bn": [40.0, 30.0]})
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    md = (root / "report.md").read_text()
    assert "| control | GPU busy % | 2 | 85.0 |" in md
    assert "| bn | GPU busy % | 2 | 35.0 |" in md
    assert "| 40 (under half busy) |" in md and "| 90 |" in md
    assert "2 of 4 GPU runs kept their GPU under half busy (bn-s0 40%, bn-s1 30%)" in md
    assert "raise the batch size" in md


def test_cpu_runs_have_no_gpu_busy_figure(folder):
    root = folder(finals={"control": [30.0], "bn": [29.0]})
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    md = (root / "report.md").read_text()
    assert "GPU busy % |" in md  # the per-run column header, with '-' cells: no GPU, no figure (never 0)
    assert "| control | GPU busy %" not in md and "under half busy" not in md
