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

SPIKE_FACTOR = 3.0
SPIKE_HISTORY = 10
SPIKE_MIN_HISTORY = 3

FIGURE_COLUMNS = [
    "run_id", "variant", "seed", "status", "steps", "wall_s", "measured_s", "final", "best", "gap", "reached",
    "steps_to_target", "time_to_target_s", "energy_to_target_j", "energy_j", "energy_source", "kwh", "tea_cups",
    "loss_spikes", "final_loss", "gpu_busy_pct",
]


def spike_mask(loss: pd.Series, loss_max: pd.Series) -> pd.Series:
    """Per logged window of ONE run (in step order): True where the window holds a spike (see module doc).

    `loss_max` falls back to `loss` where it is missing.
    """
    peak = loss_max.where(loss_max.notna(), loss)
    finite_peak = peak.where(np.isfinite(peak))
    history = finite_peak.shift(1).rolling(SPIKE_HISTORY, min_periods=SPIKE_MIN_HISTORY).median()
    return (finite_peak > SPIKE_FACTOR * history).fillna(False).astype(bool)


def count_spikes(train: pd.DataFrame) -> pd.Series:
    """Loss spikes per run_id from the 'train' rows of curves.parquet."""
    if train.empty:
        return pd.Series(dtype="int64")
    ordered = train.sort_values(["run_id", "step"])
    parts = [spike_mask(group["loss"], group["loss_max"]) for _, group in ordered.groupby("run_id", sort=False)]
    mask = pd.concat(parts)
    return mask.groupby(ordered.loc[mask.index, "run_id"]).sum().astype("int64")


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
