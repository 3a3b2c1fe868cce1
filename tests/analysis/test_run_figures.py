"""Per-run figures: MLPerf's to-target rule, loss spikes, the final-vs-best gap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bnbench.analysis.metric_info import MetricInfo, resolve
from bnbench.analysis.run_figures import count_spikes, run_figures, spike_flags

PSNR = MetricInfo("psnr_db", "PSNR", "dB", True)


def frames(values, energies, higher=True):
    runs = pd.DataFrame([{"run_id": "r", "variant": "v", "seed": 0, "status": "completed", "steps": 40,
                          "wall_s": 50.0, "final_m": values[-1], "best_m": max(values) if higher else min(values),
                          "energy_j": 400.0, "energy_source": "estimate"}])
    evals = pd.DataFrame({"run_id": "r", "variant": "v", "seed": 0, "kind": "eval", "step": [10, 20, 30, 40],
                          "t_s": [12.0, 24.0, 36.0, 48.0], "m": values, "energy_j": energies})
    return runs, evals


def test_time_and_energy_to_target_take_the_first_evaluation_at_or_past_it():
    # Evaluations 28, 30, 31, 29.5 against target 30: the first at or past it is step 20 (30 == target counts),
    # at t = 24 s (evaluation time included) with 200 J recorded then. Final 29.5, best 31 -> gap 1.5.
    runs, evals = frames([28.0, 30.0, 31.0, 29.5], [100.0, 200.0, 300.0, 400.0])
    f = run_figures(runs, evals, MetricInfo("m", "m", "", True), 30.0).iloc[0]
    assert bool(f.reached) and f.steps_to_target == 20 and f.time_to_target_s == 24.0
    assert f.energy_to_target_j == 200.0 and f.gap == 1.5


def test_lower_is_better_and_unmeasured_energy_stays_nan():
    # A loss target of 0.5 is reached at the first evaluation at or below it (step 30); energy was not measured.
    runs, evals = frames([0.9, 0.6, 0.5, 0.4], [np.nan] * 4, higher=False)
    f = run_figures(runs, evals, MetricInfo("m", "m", "", False), 0.5).iloc[0]
    assert f.steps_to_target == 30 and math.isnan(f.energy_to_target_j)
    assert f.gap == 0.0


def test_not_reached_is_nan_not_zero():
    runs, evals = frames([28.0, 29.0, 29.5, 29.9], [1.0, 2.0, 3.0, 4.0])
    f = run_figures(runs, evals, MetricInfo("m", "m", "", True), 30.0).iloc[0]
    assert not f.reached and math.isnan(f.time_to_target_s) and math.isnan(f.steps_to_target)


def test_spike_is_a_window_max_three_times_the_recent_median():
    # Window maxima 1,1,1 (history median 1), then 2.9 (not > 3), then 3.5 (> 3 x median(1,1,1,2.9) = 3):
    # one spike. The first three windows have too little history to judge; a non-finite window is a divergence.
    loss_max = pd.Series([1.0, 1.0, 1.0, 2.9, 3.5, np.inf])
    mask = spike_flags(np.zeros(6, dtype=int), (loss_max / 2).to_numpy(), loss_max.to_numpy())
    assert mask.tolist() == [False, False, False, False, True, False]


def test_a_runs_history_does_not_reach_into_the_run_before_it():
    # Run a's windows peak at 10; run b's at 1, 1, 1, then 3.5: over its own history (median 1) that is a spike.
    # Had b's history reached back into a's (10, 10, 10, 1, 1, 1: median 5.5), it would not be, and b's first
    # window would have had three windows of history.
    runs = np.array(["a", "a", "a", "b", "b", "b", "b"])
    peaks = np.array([10.0, 10, 10, 1, 1, 1, 3.5])
    assert spike_flags(runs, peaks / 2, peaks).tolist() == [False] * 6 + [True]


def test_an_even_history_has_the_mean_of_its_two_middle_peaks_as_median():
    # History 1, 1, 2, 2: median 1.5, so a spike is a peak above 4.5. A missing loss_max falls back to the loss.
    runs = np.zeros(5, dtype=int)
    assert spike_flags(runs, np.ones(5), np.array([1.0, 1, 2, 2, 4.6])).tolist() == [False] * 4 + [True]
    assert spike_flags(runs, np.ones(5), np.array([1.0, 1, 2, 2, 4.4])).tolist() == [False] * 5
    assert spike_flags(runs, np.array([1.0, 1, 2, 2, 4.6]), np.full(5, np.nan)).tolist() == [False] * 4 + [True]


def pandas_spikes(loss, loss_max):
    """The rule as a pandas rolling median of each run (how bnbench counted spikes before spike_flags)."""
    peak = loss_max.where(loss_max.notna(), loss)
    finite = peak.where(np.isfinite(peak))
    return (finite > 3.0 * finite.shift(1).rolling(10, min_periods=3).median()).fillna(False).astype(bool)


def test_spikes_of_many_runs_at_once_are_those_of_a_rolling_median_per_run():
    rng = np.random.default_rng(7)
    frames_ = []
    for run, length in enumerate(rng.integers(1, 40, 60)):
        peaks = rng.lognormal(0, rng.uniform(0.1, 1.5), length)
        peaks[rng.random(length) < 0.1] = np.nan
        peaks[rng.random(length) < 0.03] = np.inf
        frames_.append(pd.DataFrame({"run_id": f"r{run:02d}", "step": np.arange(length), "loss": peaks / 2,
                                     "loss_max": peaks}))
    train = pd.concat(frames_, ignore_index=True)
    expected = {run: pandas_spikes(g["loss"], g["loss_max"]) for run, g in train.groupby("run_id", sort=False)}
    flags = spike_flags(train["run_id"].to_numpy(), train["loss"].to_numpy(), train["loss_max"].to_numpy())
    assert flags.tolist() == pd.concat(expected.values()).tolist()
    assert flags.sum() > 20  # the draw holds spikes to find
    counts = count_spikes(train.sample(frac=1, random_state=1))  # counted whatever the rows' order
    assert counts.index.name == "run_id"
    assert counts.to_dict() == {run: int(mask.sum()) for run, mask in expected.items()}


def test_metric_direction_from_its_name():
    assert resolve("psnr_db", None).higher_is_better and resolve("psnr_db", None).unit == "dB"
    assert resolve("accuracy", None).higher_is_better and resolve("accuracy", None).label == "accuracy"
    assert not resolve("val_loss", None).higher_is_better
    assert not resolve("accuracy", None, higher_is_better=False).higher_is_better


def test_classification_accuracy_in_percent():
    # The digits task's metric column is accuracy_pct: higher is better, unit '%'.
    info = resolve("accuracy_pct", "digits")
    assert info.higher_is_better and info.label == "accuracy" and info.unit == "%"
    assert info.value(96.9) == "96.90 %"
