"""`bnbench report` on folders that are odd but not wrong (runs that failed early), and on damaged ones: a
report, or one line and exit 2, never a traceback."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()


def one_line(output: str) -> str:
    return " ".join(output.split())


def test_a_folder_whose_runs_all_failed_before_any_phase_reports(folder):
    # A run that fails before its first phase window opens leaves power samples with no phase at all.
    root = folder(finals={"control": [30.0]}, power=True, statuses={"control": ["failed"]})
    power = pd.read_parquet(root / "power.parquet")
    power["phase"] = None
    power.to_parquet(root / "power.parquet", index=False)
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "figures" / "power.png").stat().st_size > 0


def test_a_full_disk_while_a_figure_is_saved_leaves_the_previous_one(folder, monkeypatch):
    import errno

    from matplotlib.figure import Figure

    root = folder(finals={"control": [29.9, 30.0], "bn": [27.9, 28.0]})
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    png = root / "figures" / "metric_vs_step.png"
    before = png.read_bytes()
    real = Figure.savefig

    def disk_fills(self, target, **kwargs):  # half the PNG reaches the disk, then no space is left
        if kwargs.get("format") == "png" or str(target).endswith(".png"):
            with open(target, "wb") as handle:
                handle.write(before[: len(before) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, target, **kwargs)

    monkeypatch.setattr(Figure, "savefig", disk_fills)
    (root / "figures" / "figures.json").unlink()  # what the figures were drawn from: forgotten, so they are drawn again
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == f"bnbench: error: {root}: cannot write the report (No space left on device)"
    assert png.read_bytes() == before  # not the half-written one
    assert not list((root / "figures").glob(".*.tmp"))


def test_a_symlinked_figures_folder_is_refused(folder, tmp_path):
    root = folder(finals={"control": [29.9, 30.0], "bn": [27.9, 28.0]})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "figures").symlink_to(elsewhere)
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 2, result.output
    assert one_line(result.output).startswith(f"bnbench: error: {root / 'figures'}: a symbolic link inside a "
                                              "results folder")
    assert not list(elsewhere.iterdir())  # nothing written outside the results folder
