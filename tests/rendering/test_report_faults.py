"""`bnbench report` on folders that are odd but not wrong (runs that failed early), and on damaged ones: a
report, or one line and exit 2, never a traceback."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.rendering.plots import phase_spans

runner = CliRunner()


def one_line(output: str) -> str:
    return " ".join(output.split())


def test_samples_outside_every_phase_shade_nothing():
    # Codes -1 (no phase), -1, 0, 0, 1 at t = 0..4: the first two are not shaded; train from 2 to 4, eval at 4.
    assert phase_spans(np.arange(5.0), np.array([-1, -1, 0, 0, 1])) == [(0, 2.0, 4.0, 1.0), (1, 4.0, 4.0, 1.0)]
    # Binned (5 changes, more than 2 spans): t = 0..9 into 2 bins of 4.5 s; bin 0 (t=0..4) holds no phase 3
    # times of 5 and phase 0 twice (share 0.4); bin 1 (t=5..9) phase 0 five times (share 1.0).
    codes = np.array([-1, 0, -1, 0, -1, 0, 0, 0, 0, 0])
    assert phase_spans(np.arange(10.0), codes, max_spans=2) == [(0, 0.0, 4.5, 0.4), (0, 4.5, 9.0, 1.0)]


def test_a_folder_whose_runs_all_failed_before_any_phase_reports(folder):
    # A run that fails before its first phase window opens leaves power samples with no phase at all.
    root = folder(finals={"control": [30.0]}, power=True, statuses={"control": ["failed"]})
    power = pd.read_parquet(root / "power.parquet")
    power["phase"] = None
    power.to_parquet(root / "power.parquet", index=False)
    result = runner.invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "figures" / "power.svg").stat().st_size > 0
