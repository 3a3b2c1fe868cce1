"""Packed runs in separate worker processes, on two fake 100 W GPUs: their GPU joules add up to each board's.

Six runs on four slots (runs_per_gpu = 2), so runs start and end at moments of their own on each board while
the others train. Every run's meter window (run.log, to the millisecond) and its GPU joules over it are held
against the board's counter over the union of the windows of the runs on that board, which on these boards is
100 W x those seconds exactly: the check benchmarks/gpu_sharing.py makes on a real GPU. When each run split its
board with its own view of who held it, they summed to more than the board (+20% at 2 a GPU on an H200)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from benchmarks.gpu_sharing import merged
from bnbench.energy.meter_window import parse_window

from .fake_gpus import BOARD_W, UUIDS, on_fake_gpus

PACKED = """
[scenario]
name = "packed-conservation"
seeds = [0, 1, 2]
device = "cuda"
runs_per_gpu = 2

[task]
name = "digits"
batch_size = 8

[model]
arch = "lenet"

[train]
max_steps = 60
eval_every = 60
log_every = 10
threads = 1

[energy]
idle_s = 0

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
"""


def test_packed_runs_gpu_joules_add_up_to_each_boards_counter(tmp_path: Path) -> None:
    scenario, out = tmp_path / "packed.toml", tmp_path / "results"
    scenario.write_text(PACKED, encoding="utf-8")
    session = on_fake_gpus(["run", str(scenario), "--out", str(out)], tmp_path)
    output, _ = session.communicate(timeout=600)
    assert session.returncode == 0, output
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 6 and set(runs["status"]) == {"completed"}
    assert set(runs["gpu_attribution"]) <= {"equal", "whole"} and set(runs["gpu_shared"]) == {0.0}
    for uuid in UUIDS:
        windows = [w for run_id in runs.loc[runs["gpu_uuid"] == uuid, "run_id"]
                   for line in (out / "runs" / run_id / "run.log").read_text(encoding="utf-8").splitlines()
                   if (w := parse_window(line)) is not None]
        assert len(windows) >= 2
        spans = merged([(w.opened_s, w.closed_s) for w in windows])
        overlap_s = math.fsum(w.closed_s - w.opened_s for w in windows) - math.fsum(e - s for s, e in spans)
        assert overlap_s > 1.0, "the runs on a board hardly overlapped: nothing was shared"
        board_j = BOARD_W * math.fsum(e - s for s, e in spans)
        runs_j = math.fsum(w.gpu_j for w in windows)
        # Within 1%: the windows' times are written to the millisecond, and each meter's last reading of a
        # stretch can be a few milliseconds from its window's edge.
        assert abs(runs_j / board_j - 1) < 0.01, (uuid, runs_j, board_j, [(w.opened_s, w.closed_s, w.gpu_j)
                                                                          for w in windows])
