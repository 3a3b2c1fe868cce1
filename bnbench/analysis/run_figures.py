"""Figures of one run, computed from runs.csv and curves.parquet: quality, to-target, stability.

To-target follows MLPerf Training's rule: a run reaches the target at its first evaluation whose metric is at or
past the target, and its time-to-target is the wall time at the end of that evaluation (evaluation time counts).
The clock starts at the first training step (after data preparation and model building, the 'setup' phase, and
the 'warmup' phase).
Energy-to-target is the run's cumulative measured energy recorded with that evaluation.

A loss spike is a logged window whose largest step loss (`loss_max`) exceeds SPIKE_FACTOR times the median of
the largest step losses of the SPIKE_HISTORY windows before it (at least SPIKE_MIN_HISTORY of them finite).
Maxima are compared with maxima so that ordinary batch-to-batch noise, which the maximum of a window always
shows, is not counted. A non-finite loss is not a spike: it is a divergence, and the run's status says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bnbench.analysis.metric_info import MetricInfo
from bnbench.analysis.power_trace import blocks

SPIKE_FACTOR = 3.0
SPIKE_HISTORY = 10
SPIKE_MIN_HISTORY = 3

FIGURE_COLUMNS = [
    "run_id", "variant", "seed", "status", "steps", "wall_s", "measured_s", "final", "best", "gap", "reached",
    "steps_to_target", "time_to_target_s", "energy_to_target_j", "energy_j", "energy_source", "kwh", "tea_cups",
    "loss_spikes", "final_loss", "gpu_busy_pct",
]


def spike_flags(runs: np.ndarray, loss: np.ndarray, loss_max: np.ndarray) -> np.ndarray:
    """Per logged window, in step order within each run, the runs one after another (`runs`: a run's label or
    code per window): True where the window holds a spike (see module doc). `loss_max` falls back to `loss`
    where it is missing.

    All runs at once, on numpy arrays: each window's history is the row of its SPIKE_HISTORY predecessors in its
    own run (a run's first windows see NaN before it), and the median of the finite ones is read from the sorted
    row, as pandas' rolling median works it out (the mean of the two middle values for an even count). A pandas
    rolling median per run had been a tenth of a CPU-second of a night's report, twice.
    """
    loss, loss_max = np.asarray(loss, dtype=float), np.asarray(loss_max, dtype=float)
    peak = np.where(np.isnan(loss_max), loss, loss_max)
    finite = np.where(np.isfinite(peak), peak, np.nan)
    n = len(finite)
    if n == 0:
        return np.zeros(0, dtype=bool)
    starts, _ = blocks(np.asarray(runs))  # the first window of each run
    # Each run preceded by SPIKE_HISTORY NaN, so that no history reaches into the run before it.
    first = np.zeros(n, dtype=bool)
    first[starts] = True
    at = np.arange(n) + SPIKE_HISTORY * np.cumsum(first)
    padded = np.full(n + SPIKE_HISTORY * len(starts), np.nan)
    padded[at] = finite
    history = np.lib.stride_tricks.sliding_window_view(padded, SPIKE_HISTORY)[at - SPIKE_HISTORY]
    ordered = np.sort(history, axis=1)  # NaN last
    count = np.count_nonzero(~np.isnan(history), axis=1)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[:, None] // 2, axis=1)[:, 0]
    high = np.take_along_axis(ordered, (count // 2).clip(max=SPIKE_HISTORY - 1)[:, None], axis=1)[:, 0]
    median = np.where(count >= SPIKE_MIN_HISTORY, (low + high) / 2, np.nan)
    with np.errstate(invalid="ignore"):
        return finite > SPIKE_FACTOR * median  # a NaN on either side: False


def count_spikes(train: pd.DataFrame) -> pd.Series:
    """Loss spikes per run_id from the 'train' rows of curves.parquet."""
    if train.empty:
        return pd.Series(dtype="int64")
    ordered = train.sort_values(["run_id", "step"])
    runs, names = pd.factorize(ordered["run_id"], sort=True)
    flags = spike_flags(runs, ordered["loss"].to_numpy(dtype=float), ordered["loss_max"].to_numpy(dtype=float))
    return pd.Series(np.bincount(runs, weights=flags, minlength=len(names)).astype("int64"),
                     index=pd.Index(names, name="run_id"))


def first_reaching(evals: pd.DataFrame, metric: MetricInfo, target: float | None) -> pd.DataFrame:
    """Per run_id: step, t_s and energy_j of the first evaluation at or past `target` (runs that never did: absent)."""
    columns = ["step", "t_s", "energy_j"]
    if target is None or evals.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="run_id"), dtype="float64")
    values = evals[metric.name]
    reached = values >= target if metric.higher_is_better else values <= target
    hits = evals[reached].sort_values(["run_id", "step"])
    if "energy_j" not in hits.columns:
        hits = hits.assign(energy_j=np.nan)
    return hits.groupby("run_id", sort=False)[columns].first().astype("float64")


def gap(final: pd.Series, best: pd.Series, metric: MetricInfo) -> pd.Series:
    """How much worse the final evaluation is than the best one (>= 0; 0 when the run ended at its best)."""
    return best - final if metric.higher_is_better else final - best


def run_figures(
    runs: pd.DataFrame, curves: pd.DataFrame, metric: MetricInfo, target: float | None
) -> pd.DataFrame:
    """One row per run with FIGURE_COLUMNS. Unmeasured or unreached figures are NaN, never 0."""
    out = pd.DataFrame({c: runs[c] for c in ("run_id", "variant", "seed", "status", "steps", "wall_s")})
    # The time compared: seconds in the measured phases, the same for every run whatever its process paid to
    # start (a folder written before runs.csv had the column: its wall time).
    out["measured_s"] = pd.to_numeric(runs["measured_s"] if "measured_s" in runs else runs["wall_s"], errors="coerce")
    out["final"] = runs.get(f"final_{metric.name}", np.nan)
    out["best"] = runs.get(f"best_{metric.name}", np.nan)
    out["gap"] = gap(out["final"], out["best"], metric)
    for column in ("energy_j", "kwh", "tea_cups", "gpu_busy_pct"):
        out[column] = pd.to_numeric(runs[column], errors="coerce") if column in runs else np.nan
    source = runs["energy_source"] if "energy_source" in runs else pd.Series("none", index=runs.index)
    out["energy_source"] = source.fillna("none").astype(str)
    kind = curves["kind"] if "kind" in curves else pd.Series(dtype=str)
    evals = curves[kind == "eval"] if len(curves) else curves
    train = curves[kind == "train"] if len(curves) else curves
    hits = first_reaching(evals, metric, target).reindex(out["run_id"])
    out["reached"] = hits["step"].notna().to_numpy() if target is not None else False
    out["steps_to_target"] = hits["step"].to_numpy()
    out["time_to_target_s"] = hits["t_s"].to_numpy()
    out["energy_to_target_j"] = hits["energy_j"].to_numpy()
    spikes = count_spikes(train).reindex(out["run_id"])
    # A run with no logged window has no spike count (NaN), not zero spikes.
    out["loss_spikes"] = spikes.to_numpy(dtype="float64")
    if len(train):
        last = train.sort_values(["run_id", "step"]).groupby("run_id")["loss"].last()
        out["final_loss"] = last.reindex(out["run_id"]).to_numpy()
    else:
        out["final_loss"] = np.nan
    return out[FIGURE_COLUMNS].reset_index(drop=True)
