"""A night's power samples reduced to the power figure's traces: envelopes per time bin, phase shading, one
time axis per device."""

from __future__ import annotations

import numpy as np
import pytest

from bnbench.analysis.power_samples import PowerSamples
from bnbench.analysis.power_trace import device_timelines, envelope, phase_spans, power_traces


def test_phase_spans_exact_when_few():
    # Phases train, train, eval, eval, train at t = 0..4: three contiguous spans, each fully shaded.
    spans = phase_spans(np.arange(5.0), np.array([0, 0, 1, 1, 0]), max_spans=10)
    assert spans == [(0, 0.0, 2.0, 1.0), (1, 2.0, 4.0, 1.0), (0, 4.0, 4.0, 1.0)]


def test_phase_spans_share_per_bin_when_many():
    # t = 0..9 alternating phases 0,1,0,1,... into 2 bins of 4.5 s: bin 0 holds t=0..4 (phase 0 three times of
    # five: share 0.6; phase 1: 0.4), bin 1 holds t=5..9 (phase 0: 0.4, phase 1: 0.6).
    spans = phase_spans(np.arange(10.0), np.arange(10) % 2, max_spans=2)
    assert spans == [(0, 0.0, 4.5, 0.6), (0, 4.5, 9.0, 0.4), (1, 0.0, 4.5, 0.4), (1, 4.5, 9.0, 0.6)]


def test_envelope_min_max_mean_per_bin():
    # 6 samples at t = 0..5 into 2 bins of 2.5 s: t=0,1,2 (watts 1,5,3) and t=3,4,5 (watts 2,2,8).
    centre, low, high, mean = envelope(np.arange(6.0), np.array([1.0, 5, 3, 2, 2, 8]), bins=2)
    assert low.tolist() == [1.0, 2.0] and high.tolist() == [5.0, 8.0]
    assert mean.tolist() == pytest.approx([3.0, 4.0])
    assert centre.tolist() == pytest.approx([1.25, 3.75])


def test_runs_with_their_own_clocks_are_laid_end_to_end():
    # Two runs on one device, each timed from its own start (0, 1, 2 s): the second follows the first (2 s long).
    power = PowerSamples.of(["a"] * 3 + ["b"] * 3, ["cuda:0"] * 6, [0.0, 1, 2] * 2, [10.0, 11, 12, 20, 21, 22],
                            ["train"] * 6)
    timeline = dict(device_timelines(power, ["a", "b"]))["cuda:0"]
    assert timeline.t_s.tolist() == [0.0, 1, 2, 2, 3, 4]
    assert timeline.power_w.tolist() == [10.0, 11, 12, 20, 21, 22]


def test_samples_outside_every_phase_shade_nothing():
    # Codes -1 (no phase), -1, 0, 0, 1 at t = 0..4: the first two are not shaded; train from 2 to 4, eval at 4.
    assert phase_spans(np.arange(5.0), np.array([-1, -1, 0, 0, 1]), max_spans=10) == [(0, 2.0, 4.0, 1.0),
                                                                                      (1, 4.0, 4.0, 1.0)]
    # Binned (5 changes, more than 2 spans): t = 0..9 into 2 bins of 4.5 s; bin 0 (t=0..4) holds no phase 3
    # times of 5 and phase 0 twice (share 0.4); bin 1 (t=5..9) phase 0 five times (share 1.0).
    codes = np.array([-1, 0, -1, 0, -1, 0, 0, 0, 0, 0])
    assert phase_spans(np.arange(10.0), codes, max_spans=2) == [(0, 0.0, 4.5, 0.4), (0, 4.5, 9.0, 1.0)]


def test_traces_per_device_at_most_bins_points_and_none_without_a_power():
    # cuda:0: 4 samples at t = 0..3 (watts 10, 20, 30, 40) into 2 bins: means 15 and 35, eval shaded from 2 to 3.
    # cuda:1: one sample with no power, so no envelope, only its phase.
    power = PowerSamples.of(["a"] * 5, ["cuda:0"] * 4 + ["cuda:1"], [0.0, 1, 2, 3, 0], [10.0, 20, 30, 40, np.nan],
                            ["train", "train", "eval", "eval", "train"])
    traces = power_traces(power, ["a"], bins=2)
    assert list(traces) == ["cuda:0", "cuda:1"]
    zero = traces["cuda:0"]
    assert zero.mean.tolist() == [15.0, 35.0] and zero.low.tolist() == [10.0, 30.0] and zero.last_s == 3.0
    assert [(zero.phases[code], start, end) for code, start, end, _ in zero.spans] == [("train", 0.0, 2.0),
                                                                                       ("eval", 2.0, 3.0)]
    assert len(traces["cuda:1"].mean) == 0
    assert power_traces(PowerSamples.of(["a"], ["cuda:0"], [0.0], [np.nan], ["train"]), ["a"], bins=2) is None
    assert power_traces(PowerSamples.of([], [], [], [], []), [], bins=2) is None


@pytest.mark.parametrize("max_slices", [4096, 1])
def test_a_devices_rows_are_taken_alike_from_blocks_and_from_interleaved_samples(monkeypatch, max_slices):
    # Run a on cuda:0 then run b on cuda:1 (blocks of rows), then run c sampling both at each tick (interleaved):
    # each device gets its own rows in file order, whether taken slice by slice or, past max_slices blocks, by an
    # index of its rows.
    import bnbench.analysis.power_trace as power_trace

    monkeypatch.setattr(power_trace, "MAX_SLICES", max_slices)
    devices = ["cuda:0"] * 3 + ["cuda:1"] * 2 + ["cuda:0", "cuda:1"] * 2
    power = PowerSamples.of(["a"] * 3 + ["b"] * 2 + ["c"] * 4, devices, [0.0, 1, 2, 0, 1, 0, 0, 1, 1],
                            [1.0, 2, 3, 4, 5, 6, 7, 8, 9], ["train"] * 9)
    timelines = dict(device_timelines(power, ["a", "b", "c"]))
    assert list(timelines) == ["cuda:0", "cuda:1"]
    # cuda:0: run a at 0, 1, 2 s, then run c (from its own start) laid after it: 2 + 0 and 2 + 1.
    assert timelines["cuda:0"].power_w.tolist() == [1.0, 2, 3, 6, 8]
    assert timelines["cuda:0"].t_s.tolist() == [0.0, 1, 2, 2, 3]
    # cuda:1: run b at 0 and 1 s, run c after it at 1 + 0 and 1 + 1.
    assert timelines["cuda:1"].power_w.tolist() == [4.0, 5, 7, 9]
    assert timelines["cuda:1"].t_s.tolist() == [0.0, 1, 1, 2]
