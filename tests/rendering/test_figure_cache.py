"""A report draws a figure again only when what it is drawn from changed; `--format html` writes the file and
prints its path, not the page."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()


def stamps(root):
    return {p.name: p.stat().st_mtime_ns for p in (root / "figures").iterdir() if p.suffix in (".png", ".svg")}


def test_figures_are_redrawn_only_when_their_data_changed(folder):
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]}, energy_j={"control": [10.0, 12.0],
                  "bn": [11.0, 13.0]}, source="rapl", power=True)
    names = ("metric_vs_step", "metric_vs_time", "metric_vs_energy", "loss", "power")
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    first = stamps(root)
    assert set(first) == {f"{n}.png" for n in names}  # PNG only: SVG is asked for
    # Nothing changed: every file is left as it was, and the report still lists all five figures.
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0 and "5 figures" in result.output, result.output
    assert stamps(root) == first
    # New power samples: the power figure alone is drawn again.
    power = pd.read_parquet(root / "power.parquet")
    power.assign(power_w=power["power_w"] + 5).to_parquet(root / "power.parquet", index=False)
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    changed = {name for name, ns in stamps(root).items() if ns != first[name]}
    assert changed == {"power.png"}
    # A deleted figure is drawn again even when its data did not change.
    (root / "figures" / "loss.png").unlink()
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    assert (root / "figures" / "loss.png").is_file()


def test_svg_figures_are_written_when_asked_for_and_never_left_stale(folder):
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]}, energy_j={"control": [10.0, 12.0],
                  "bn": [11.0, 13.0]}, source="rapl", power=True)
    names = ("metric_vs_step", "metric_vs_time", "metric_vs_energy", "loss", "power")
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    assert "SVG" not in (root / "report.md").read_text(encoding="utf-8")
    # --svg on an unchanged folder: each figure is drawn again, since its SVG is missing.
    assert runner.invoke(app, ["report", str(root), "--svg"]).exit_code == 0
    with_svg = stamps(root)
    assert set(with_svg) == {f"{n}.{e}" for n in names for e in ("png", "svg")}
    assert "([SVG](figures/loss.svg))" in (root / "report.md").read_text(encoding="utf-8")
    listed = json.loads((root / "report.json").read_text(encoding="utf-8"))["figures"]
    assert sorted(listed) == sorted(f"figures/{n}" for n in with_svg)
    # A report without --svg keeps an SVG whose figure is unchanged, and links it.
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    assert stamps(root) == with_svg
    assert "([SVG](figures/loss.svg))" in (root / "report.md").read_text(encoding="utf-8")
    # Its data changed and no SVG asked for: the figure's new PNG, and its old SVG removed, not left stale.
    power = pd.read_parquet(root / "power.parquet")
    power.assign(power_w=power["power_w"] + 5).to_parquet(root / "power.parquet", index=False)
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    now = stamps(root)
    assert "power.svg" not in now and now["power.png"] != with_svg["power.png"]
    assert {n: ns for n, ns in now.items() if n != "power.png"} == {
        n: ns for n, ns in with_svg.items() if n not in ("power.png", "power.svg")}
    assert "power.svg" not in (root / "report.md").read_text(encoding="utf-8")
    assert "figures/power.svg" not in json.loads((root / "report.json").read_text(encoding="utf-8"))["figures"]


def test_html_format_writes_the_file_and_prints_its_path(folder):
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]})
    done = subprocess.run([sys.executable, "-m", "bnbench", "report", str(root), "--format", "html"],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{root / 'report.html'}\n"
    assert (root / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_the_power_figure_is_begun_before_the_summary_from_the_summarys_own_order_and_source(folder, monkeypatch):
    from bnbench.analysis.folder import folder_energy_source, in_report_order, power_figure_inputs
    from bnbench.analysis.results import load
    from bnbench.rendering import report

    root = folder(finals={"control": [30.0, 30.2, 30.1], "bn": [29.0, 29.4, 29.2]},
                  energy_j={"control": [10.0, 12.0, 11.0], "bn": [11.0, 13.0, 12.0]}, source="rapl", power=True)
    # runs.csv in the order runs finished, seeds and variants mixed; bn-s1 failed and was metered otherwise.
    runs = pd.read_csv(root / "runs.csv").sample(frac=1.0, random_state=3)
    runs.loc[runs["run_id"] == "bn-s1", ["status", "energy_source"]] = ["failed", "estimate"]
    runs.to_csv(root / "runs.csv", index=False)
    results = load(root)
    ordered = in_report_order(results.runs, results.variants)
    # The scenario lists control first; within a variant, by seed. The failed run's source is left out.
    assert ordered["run_id"].tolist() == ["control-s0", "control-s1", "control-s2", "bn-s0", "bn-s1", "bn-s2"]
    assert folder_energy_source(ordered) == "rapl"
    assert ordered["run_id"].tolist() == results.summary.figures["run_id"].tolist()
    assert folder_energy_source(ordered) == results.summary.energy_source
    # The same, read from runs.csv and scenario.toml without pandas, as the report begins the power figure.
    assert power_figure_inputs(root) == (ordered["run_id"].tolist(), "rapl")
    # A resumed run has two rows; its last one counts, as when pandas reads the file.
    with (root / "runs.csv").open("a", encoding="utf-8") as out:
        out.write(runs[runs["run_id"] == "bn-s1"].assign(status="completed", energy_source="nvml-counter")
                  .to_csv(index=False, header=False))
    assert power_figure_inputs(root) == (ordered["run_id"].tolist(), "nvml-counter + rapl")
    assert folder_energy_source(load(root).runs) == "nvml-counter + rapl"
    (root / "runs.csv").write_text(runs.to_csv(index=False), encoding="utf-8")
    # `bnbench report` begins the power figure before anything has asked for the summary.
    begun = []
    begin = report.begin
    fresh = load(root)

    def spy(*args):
        begun.append("summary" in fresh.__dict__)  # a cached_property sits in __dict__ once computed
        return begin(*args)

    monkeypatch.setattr(report, "begin", spy)
    report.write_reports(fresh)
    assert begun == [False]
    assert (root / "figures" / "power.png").stat().st_size > 0


def test_the_longest_figures_are_handed_out_first(folder, monkeypatch):
    # The loss figure (a log axis and its many ticks), then the metric against time and energy (a line per run),
    # then against the step (a mean per variant): whoever takes the last figure holds the others up least.
    from bnbench.rendering import figure_files

    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]}, energy_j={"control": [10.0, 12.0],
                  "bn": [11.0, 13.0]}, source="rapl")
    drawn = []
    draw_and_save = figure_files.draw_and_save
    monkeypatch.setattr(figure_files, "drawing_cores", lambda: 1)
    monkeypatch.setattr(figure_files, "draw_and_save", lambda draw, folder, name, svg: (
        drawn.append(name), draw_and_save(draw, folder, name, svg))[1])
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    assert drawn == ["loss", "metric_vs_time", "metric_vs_energy", "metric_vs_step"]
    assert figure_files.draw_rank("a_new_figure") == len(figure_files.DRAW_ORDER)  # one not named: last


FORK_SPY = """
import sys
from bnbench.rendering import figure_files, forked
figure_files.drawing_cores = lambda: int(sys.argv[2])
started = []
class Spy(forked.Forked):
    def __init__(self, fn, *args):
        started.append((fn.__name__, *(m in sys.modules for m in ("matplotlib", "pandas", "scipy", "pydantic"))))
        super().__init__(fn, *args)
figure_files.Forked = Spy
from bnbench.cli import app
try:
    app(["report", sys.argv[1]])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print(started)
"""


@pytest.mark.parametrize(("cores", "children"), [(2, 1), (4, 3)])
def test_the_power_figures_children_are_forked_before_pandas_is_imported_and_a_drawing_child_for_each_other_core(
        folder, cores, children):
    # In a fresh process, as `bnbench report` runs: the child reducing the power samples starts before matplotlib,
    # pandas and scipy (the statistics) are imported, the one drawing them after matplotlib only; after the
    # summary, the four curve figures are shared out between the report's own process and a child for each other
    # core. No process has imported pydantic (typer's checks of the command line need none here: plain_values.py).
    from bnbench.commands.plain_values import AVAILABLE

    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]}, power=True)
    done = subprocess.run([sys.executable, "-c", FORK_SPY, str(root), str(cores)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    pydantic = not AVAILABLE
    started = [("reduce_power", False, False, False, pydantic), ("draw_reduced", True, False, False, pydantic),
               *[("draw_turns", True, True, True, pydantic)] * children]
    assert done.stdout.strip().splitlines()[-1] == str(started)
    # No energy was measured: whichever process took the energy figure found nothing to draw.
    assert sorted(p.name for p in (root / "figures").glob("*.png")) == [
        "loss.png", "metric_vs_step.png", "metric_vs_time.png", "power.png"]
