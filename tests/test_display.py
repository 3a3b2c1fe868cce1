"""The plain progress lines: a value that was not recorded is said so, never printed as 0."""

from __future__ import annotations

import io

from bnbench.display import PlainProgress
from bnbench.scenario import expand, load


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
