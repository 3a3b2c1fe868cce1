"""The plain progress lines: a value that was not recorded is said so, never printed as 0."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bnbench.rendering.display import PlainProgress, RichProgress
from bnbench.scenario import expand, load
from bnbench.train import EvalLog, StepLog


def test_finished_line_with_and_without_wall_time(tiny_scenario):
    spec = expand(load(tiny_scenario))[0]
    stream = io.StringIO()
    progress = PlainProgress("psnr_db", stream)
    progress.finished(spec, {"status": "completed", "steps": 4, "wall_s": 1.25})
    progress.finished(spec, {"status": "failed", "steps": 0, "wall_s": "", "error": "worker died"})
    assert stream.getvalue().splitlines() == [
        "[control-s0] completed after 4 steps, 1.2s",
        "[control-s0] failed after 0 steps, wall time not recorded: worker died",
    ]


@pytest.mark.parametrize("width", [80, 120])
def test_live_table_fits_and_keeps_ids_statuses_and_numbers_whole(tiny_scenario, width):
    specs = expand(load(tiny_scenario, ["scenario.seeds=[0, 1, 10]", "variant.bn.name='bn-debiased'"]))
    progress = RichProgress(specs, "psnr_db", Console(file=io.StringIO(), width=width, color_system=None))
    progress.started(specs[0], "10.0.0.7/cuda:3")
    progress.logged(specs[0], StepLog(4, 1.0, 0.0012345678, 0.002), 251.25, 0.343)
    progress.evaluated(specs[0], EvalLog(4, 1.0, {"psnr_db": 30.4321}))
    progress.finished(specs[0], {"status": "interrupted", "steps": 4, "wall_s": 123.4, "energy_j": 1234.8})
    progress.started(specs[1], "cpu (estimate)")
    progress.close()
    screen = Console(file=io.StringIO(), width=width, color_system=None)
    screen.print(progress._table())
    text = screen.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    cells = [line.split() for line in text.splitlines()]
    for spec in specs:
        assert any(row and row[0] == spec.run_id for row in cells), spec.run_id  # control-s1 and -s10 both whole
    first = next(row for row in cells if row and row[0] == "control-s0")
    # 1234.8 J / 3600 = 0.343 Wh; the metric to 3 decimals; elapsed from the row's wall time
    for cell in ("interrupted", "4/4", "30.432", "0.343", "123.4s"):
        assert cell in first, (cell, first)
    if width == 120:  # room for every column
        for cell in ("10.0.0.7/cuda:3", "0.001235", "251.2"):
            assert cell in first, (cell, first)
