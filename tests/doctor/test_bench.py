"""The doctor's SRCNN bench: eager against graphed, and the line it prints."""

from __future__ import annotations

import math

import pytest
import torch

from bnbench.doctor import bench
from bnbench.doctor.outcome import PASS, WARN
from bnbench.energy.devices import open_device_meter
from bnbench.graphed import CallCapture


def _row(steps_per_s: float, j_per_step: float, busy_pct: float) -> dict[str, float]:
    return {"steps_per_s": steps_per_s, "j_per_step": j_per_step, "busy_pct": busy_pct}


def test_the_line_sets_graphed_against_eager() -> None:
    figures = {"eager": {"control": _row(600, 0.002, 25), "bn": _row(400, 0.003, 22)},
               "graph": {"control": _row(1800, 0.0008, 80), "bn": _row(1500, 0.001, 78)}}
    outcome = bench._line(128, "fp32", figures, skipped=False)
    # bn/control: 400/600 = 0.67 eager, 1500/1800 = 0.83 graphed; graphed/eager: 1800/600 = 3.00, 1500/400 = 3.75.
    # The faster loop for BN is the graph, busy over half: PASS.
    assert outcome.status == PASS and outcome.name == "srcnn b128 fp32"
    assert outcome.message == (
        "eager: control 600 steps/s, 2.00 mJ/step, 25% busy; bn 400 steps/s, 3.00 mJ/step, 22% busy; "
        "bn/control speed 0.67x | graph: control 1800 steps/s, 0.80 mJ/step, 80% busy; bn 1500 steps/s, "
        "1.00 mJ/step, 78% busy; bn/control speed 0.83x | graphed/eager speed: control 3.00x, bn 3.75x")


def test_a_launch_bound_graph_still_warns() -> None:
    figures = {"eager": {"control": _row(600, 0.002, 25), "bn": _row(400, 0.003, 22)},
               "graph": {"control": _row(900, 0.001, 40), "bn": _row(700, 0.002, 35)}}
    outcome = bench._line(64, "bf16", figures, skipped=False)
    assert outcome.status == WARN
    assert outcome.message.endswith("; control, bn under half busy (graph): launch overhead dominates at this "
                                    "batch size")


def test_on_the_cpu_the_bench_runs_eager_and_says_the_graph_needs_a_gpu() -> None:
    outcomes = bench.srcnn_bench(torch.device("cpu"), (4,), ("fp32",), 0.1, open_device_meter)
    assert list(outcomes[0].data) == ["eager"]
    assert outcomes[0].message.split(" | ")[-1] == "graphed: needs a CUDA GPU"


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_the_graphed_bench_step_trains_through_the_capture_seam(norm) -> None:
    # The graph loop on the CPU with CallCapture: the code the GPU runs, its CUDA calls aside.
    row = bench.measure(torch.device("cpu"), norm, 4, "fp32", 0.1, open_device_meter, warmup_steps=2, loop="graph",
                        capture=CallCapture())
    assert row["loop"] == "graph" and row["steps"] >= 10 and row["steps"] % 10 == 0
    assert row["steps_per_s"] > 0 and row["j_per_step"] > 0 and math.isnan(row["busy_pct"])


def test_the_graphed_loop_alone_off_a_gpu_is_one_skip() -> None:
    # Only the graphed loop asked for, on the CPU: nothing to measure, said once (it raised on an empty max()).
    outcomes = bench.srcnn_bench(torch.device("cpu"), (4,), ("fp32",), 0.1, open_device_meter, loops=("graph",))
    assert [(o.status, o.name, o.message) for o in outcomes] == [("SKIP", "srcnn bench", bench.NEEDS_GPU)]
