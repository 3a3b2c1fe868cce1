"""The report's figures, drawn with matplotlib's Agg backend (no display, no pyplot state).

Each `plot_*` function takes frames and returns a matplotlib Figure, or None when the folder holds nothing to
draw (no energy measured, no power samples); `figure_files.py` saves them and says what each one shows.
Long series are reduced per pixel column before drawing (mean for lines; min, max and mean for the power trace),
so a night of 10 Hz samples draws as fast as a minute of them and looks the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from bnbench.analysis.folder import is_estimate
from bnbench.rendering.format import energy_scale, time_scale

if TYPE_CHECKING:  # the statistics (and scipy) are not needed to draw: the power figure is begun before them
    from bnbench.analysis.summary import Summary

MAX_POINTS = 800  # per line: about one per pixel column of an 8-inch figure at 110 dpi
PHASE_COLORS = {"setup": "#e59866", "warmup": "#f2c14e", "eval": "#7fb3d5", "checkpoint": "#c39bd3", "idle": "#d5d8dc"}
DPI = 110


def colors(variants: list[str]) -> dict[str, str]:
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    return {v: palette[i % len(palette)] for i, v in enumerate(variants)}


def bin_mean(x: np.ndarray, y: np.ndarray, bins: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) reduced to at most `bins` points by averaging consecutive groups; unchanged when short enough."""
    if len(x) <= bins:
        return x, y
    edges = np.linspace(0, len(x), bins + 1).astype(int)
    starts = edges[:-1][np.diff(edges) > 0]
    counts = np.diff(np.append(starts, len(x)))
    return np.add.reduceat(x, starts) / counts, np.add.reduceat(y, starts) / counts


def in_run_order(summary: Summary, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by the summary's run order (variant order, then seed), then step."""
    order = {r: i for i, r in enumerate(summary.figures["run_id"])}
    key = rows["run_id"].map(order).fillna(len(order))
    return rows.assign(_order=key).sort_values(["_order", "step"], kind="stable").drop(columns="_order")


def evals(summary: Summary, curves: pd.DataFrame) -> pd.DataFrame:
    if curves.empty or "kind" not in curves:
        return pd.DataFrame(columns=["run_id", "variant", "seed", "step", "t_s", summary.metric.name, "energy_j"])
    return in_run_order(summary, curves[curves["kind"] == "eval"])


def reference_lines(ax: Any, summary: Summary, curves: pd.DataFrame) -> None:
    """The target (dashed) and each non-learned reference such as bicubic (dotted), as horizontal lines."""
    if summary.target is not None:
        ax.axhline(summary.target, color="black", linestyle="--", linewidth=1,
                   label=f"target {summary.metric.value(summary.target)}")
    suffix = f"_{summary.metric.name}"
    for column in [c for c in curves.columns if c.endswith(suffix) and c != summary.metric.name]:
        value = curves[column].dropna()
        if len(value):
            ax.axhline(float(value.mean()), color="grey", linestyle=":", linewidth=1.2,
                       label=f"{column.removesuffix(suffix)} {summary.metric.value(float(value.mean()))}")


def zoom_window(centres: list[float], finals: dict[str, float]) -> tuple[float, float, list[str]] | None:
    """The metric range where the story is: around the references and the target (`centres`) and the variants
    that end near them (within 10% of one); with the variants it leaves out. None without a centre."""
    if not centres:
        return None
    near = [f for f in finals.values() if any(abs(f - c) <= 0.1 * abs(c) for c in centres)]
    low, high = min(centres + near), max(centres + near)
    margin = max(0.25 * (high - low), 0.02 * abs(float(np.median(centres))), 1e-9)
    low, high = low - margin, high + margin
    return low, high, [v for v, f in finals.items() if not low <= f <= high]


def seed_tables(data: pd.DataFrame, summary: Summary, order: list[str]) -> dict[str, pd.DataFrame]:
    """Per variant (in `order`, those with evaluations), its metric by step (rows) and seed (columns)."""
    tables = {}
    for variant in order:
        table = data[data["variant"] == variant].pivot_table(index="step", columns="seed",
                                                             values=summary.metric.name)
        if not table.empty:
            tables[variant] = table
    return tables


def metric_panel(ax: Any, tables: dict[str, pd.DataFrame], data: pd.DataFrame, summary: Summary,
                 order: list[str]) -> None:
    """Each variant's mean over seeds and its min-max band against the step."""
    palette = colors(order)
    for variant, table in tables.items():
        steps = table.index.to_numpy(dtype=float)
        ax.fill_between(steps, table.min(axis=1), table.max(axis=1), color=palette[variant], alpha=0.2, linewidth=0)
        ax.plot(steps, table.mean(axis=1), color=palette[variant], linewidth=1.8,
                marker="o" if len(steps) <= 30 else None, markersize=4,
                label=f"{variant} (mean of {table.shape[1]} seeds)")
    reference_lines(ax, summary, data)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def plot_metric_vs_step(summary: Summary, curves: pd.DataFrame, order: list[str]) -> Figure | None:
    """The metric against the step; where the curves span far more than the references and the target, a second
    panel zooms on them, so a variant a little above or below the reference is seen to be."""
    data = evals(summary, curves)
    if data.empty:
        return None
    metric = summary.metric
    suffix = f"_{metric.name}"
    centres = [float(data[c].mean()) for c in data.columns if c.endswith(suffix) and data[c].notna().any()]
    centres += [float(summary.target)] if summary.target is not None else []
    values = data[metric.name].to_numpy(dtype=float)
    span = float(np.nanmax(values) - np.nanmin(values)) if np.isfinite(values).any() else 0.0
    # Each table is worked out once, whether one panel is drawn or two (a pivot per variant and panel was a
    # quarter of a CPU-second of a night's report).
    tables = seed_tables(data, summary, order)
    finals = {variant: float(table.mean(axis=1).iloc[-1]) for variant, table in tables.items()}
    window = zoom_window(centres, finals)
    if window is not None and span > 3 * (window[1] - window[0]):
        fig = Figure(figsize=(11, 4.5), dpi=DPI, layout="constrained")
        ax, zoom = fig.subplots(1, 2)
        metric_panel(ax, tables, data, summary, order)
        metric_panel(zoom, tables, data, summary, order)
        zoom.set_ylim(window[0], window[1])
        off = window[2]
        zoom.set_title("zoomed on the reference and target" + (f" ({', '.join(off)} off the axis)" if off else ""),
                       fontsize=9)
    else:
        fig = Figure(figsize=(8, 4.5), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        metric_panel(ax, tables, data, summary, order)
    ax.set_ylabel(metric.axis_label)
    ax.set_title(f"{metric.label} vs step: line = mean over seeds, band = min to max", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_metric_vs(summary: Summary, curves: pd.DataFrame, order: list[str], column: str) -> Figure | None:
    """Metric against wall time (`column` 't_s') or cumulative energy ('energy_j'), one line per run."""
    data = evals(summary, curves)
    if data.empty or column not in data or data[column].notna().sum() == 0:
        return None
    metric = summary.metric
    values = data[column].to_numpy(dtype=float)
    if column == "t_s":
        divisor, unit = time_scale(np.nanmax(values))
        xlabel, what = f"wall time ({unit})", "wall time"
    else:
        divisor, unit = energy_scale(np.nanmax(values))
        estimate = " (ESTIMATE, not measured)" if is_estimate(summary.energy_source) else ""
        xlabel, what = f"energy ({unit}){estimate}", "energy"
    fig = Figure(figsize=(8, 4.5), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    palette = colors(order)
    labelled: set[str] = set()
    for _, run in data.groupby("run_id", sort=False):
        variant = str(run["variant"].iloc[0])
        x = run[column].to_numpy(dtype=float) / divisor
        ax.plot(x, run[metric.name], color=palette.get(variant, "black"), linewidth=1.2, alpha=0.85,
                marker="." if len(run) <= 30 else None, label=None if variant in labelled else variant)
        labelled.add(variant)
    reference_lines(ax, summary, data)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric.axis_label)
    ax.set_title(f"{metric.label} vs {what}, one line per run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_loss(summary: Summary, curves: pd.DataFrame, order: list[str]) -> Figure | None:
    """Training loss per run on a log scale; an x marks where a run diverged, a dot each loss spike."""
    from bnbench.analysis.run_figures import spike_mask

    if curves.empty or "kind" not in curves:
        return None
    train = in_run_order(summary, curves[curves["kind"] == "train"])
    if train.empty:
        return None
    statuses = summary.figures.set_index("run_id")["status"]
    fig = Figure(figsize=(8, 4.5), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    palette = colors(order)
    labelled: set[str] = set()
    marked_divergence = marked_spike = False
    for run_id, run in train.groupby("run_id", sort=False):
        variant = str(run["variant"].iloc[0])
        color = palette.get(variant, "black")
        ok = np.isfinite(run["loss"].to_numpy(dtype=float)) & (run["loss"].to_numpy(dtype=float) > 0)
        steps, loss = bin_mean(run["step"].to_numpy(dtype=float)[ok], run["loss"].to_numpy(dtype=float)[ok])
        ax.plot(steps, loss, color=color, linewidth=1, alpha=0.8, label=None if variant in labelled else variant)
        labelled.add(variant)
        spikes = run[spike_mask(run["loss"], run["loss_max"]).to_numpy()]
        if len(spikes):
            ax.scatter(spikes["step"], spikes["loss_max"], s=12, color=color, edgecolor="black", linewidth=0.4,
                       zorder=3, label=None if marked_spike else "loss spike (window max)")
            marked_spike = True
        if statuses.get(run_id) == "diverged" and len(steps):
            ax.scatter([run["step"].iloc[-1]], [loss[-1]], marker="x", s=80, color="black", zorder=4,
                       label=None if marked_divergence else "diverged")
            marked_divergence = True
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (mean per log window, log scale)")
    ax.set_title("Training loss per run")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


@dataclass(frozen=True)
class Timeline:
    """One device's samples on one time axis, sorted: seconds, watts, and phase codes into `phases`."""

    t_s: np.ndarray
    power_w: np.ndarray
    phase: np.ndarray
    phases: list[str]


@dataclass(frozen=True)
class Trace:
    """One device's power trace as drawn: the envelope per time bin, the phase spans to shade, the last time."""

    centre: np.ndarray
    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    spans: list[tuple[int, float, float, float]]
    phases: list[str]
    last_s: float

    @classmethod
    def of(cls, timeline: Timeline) -> Trace:
        centre, low, high, mean = envelope(timeline.t_s, timeline.power_w)
        last = float(timeline.t_s.max()) if len(timeline.t_s) else 0.0
        return cls(centre, low, high, mean, phase_spans(timeline.t_s, timeline.phase), timeline.phases, last)


def categorical(series: pd.Series) -> pd.Series:
    return series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")


def device_timelines(power: pd.DataFrame, run_order: list[str]) -> Iterator[tuple[str, Timeline]]:
    """Each device's name and samples on one time axis, one device at a time (devices without samples left out).

    Runs whose clocks overlap on a device (each run's t_s counting from its own start) are laid end to end in
    `run_order`; runs on one shared clock keep their times, shifted so the device's first sample is at 0.

    A night holds millions of samples, so this and the reductions after it (envelope, phase_spans) make no array
    of the whole night's length and work in place on the arrays they own: an array of tens of MB is fresh memory
    that the kernel must map page by page, which had cost more than the arithmetic. A device's arrays (an
    eighth of a night of 8 GPUs) are dropped before the next device's are made.
    """
    device = categorical(power["device"])
    codes = device.cat.codes.to_numpy()
    run, phase = categorical(power["run_id"]), categorical(power["phase"])
    run_codes, run_names = run.cat.codes.to_numpy(), [str(c) for c in run.cat.categories]
    phase_codes, phase_names = phase.cat.codes.to_numpy(), [str(c) for c in phase.cat.categories]
    t = power["t_s"].to_numpy(dtype=float)
    watts = power["power_w"].to_numpy(dtype=float)
    for code, name in enumerate(device.cat.categories):
        rows = np.flatnonzero(codes == code)
        if len(rows):
            yield str(name), _timeline(Column(run_codes[rows], run_names), t[rows], watts[rows],
                                       Column(phase_codes[rows], phase_names), run_order)


def blocks(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each block of equal consecutive codes starts, and its code."""
    starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.r_[0, starts] if len(codes) else starts
    return starts, codes[starts]


@dataclass(frozen=True)
class Column:
    """A categorical column as numpy codes into `names`."""

    codes: np.ndarray
    names: list[str]

    def part(self, lo: int, hi: int) -> Column:
        return Column(self.codes[lo:hi], self.names)


def _timeline(runs: Column, t: np.ndarray, watts: np.ndarray, phases: Column, run_order: list[str]) -> Timeline:
    """One device's samples (in the frame's order) on one time axis: see device_timelines. `t` is shifted in
    place: it is the caller's own copy."""
    codes = runs.codes
    lo = np.full(len(runs.names), np.inf)
    hi = np.full(len(runs.names), -np.inf)
    present = _group_extremes(codes, t, lo, hi)
    rank = {r: i for i, r in enumerate(run_order)}
    ordered = sorted(present, key=lambda c: (rank.get(runs.names[c], len(rank)), lo[c]))
    starts, ends = lo[ordered], hi[ordered]
    offsets = np.zeros(len(runs.names))
    if bool((starts[1:] < ends[:-1]).any()):
        durations = ends - starts
        offsets[ordered] = np.concatenate([[0.0], np.cumsum(durations)[:-1]]) - starts
    else:
        offsets[ordered] = -float(starts.min())
    t += offsets[codes]
    phase_codes = phases.codes
    if not bool((t[1:] >= t[:-1]).all()):
        order = np.argsort(t, kind="stable")
        t, watts, phase_codes = t[order], watts[order], phase_codes[order]
    return Timeline(t, watts, phase_codes, phases.names)


def _group_extremes(codes: np.ndarray, t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per code: min into `lo`, max into `hi`; returns the codes present, ascending. Reduced per block of equal
    consecutive codes first (a run's samples are stored together: a device has a handful of blocks), then per
    code over the blocks."""
    starts, block_codes = blocks(codes)
    np.minimum.at(lo, block_codes, np.minimum.reduceat(t, starts))
    np.maximum.at(hi, block_codes, np.maximum.reduceat(t, starts))
    return np.unique(block_codes)


def bin_index(t: np.ndarray, bins: int) -> tuple[np.ndarray, float]:
    """Each sample's time bin of `bins` equal bins from t[0] to t[-1] (t sorted), and the span they cover."""
    span = max(float(t[-1] - t[0]), 1e-9)
    scaled = t - t[0]
    scaled /= span
    scaled *= bins
    index = scaled.astype(np.int64)
    np.minimum(index, bins - 1, out=index)
    return index, span


def envelope(t: np.ndarray, p: np.ndarray, bins: int = MAX_POINTS) -> tuple[np.ndarray, ...]:
    """Per time bin: centre, min, max and mean power (NaN samples ignored; empty bins dropped)."""
    ok = np.isfinite(p)
    if not ok.all():
        t, p = t[ok], p[ok]
    if not len(t):
        return (np.array([]),) * 4
    index, span = bin_index(t, bins)
    starts = np.r_[0, np.flatnonzero(index[1:] != index[:-1]) + 1]
    counts = np.diff(np.r_[starts, len(t)])
    centre = t[0] + (index[starts] + 0.5) * span / bins
    return (centre, np.minimum.reduceat(p, starts), np.maximum.reduceat(p, starts),
            np.add.reduceat(p, starts) / counts)


def phase_spans(
    t: np.ndarray, codes: np.ndarray, max_spans: int = MAX_POINTS
) -> list[tuple[int, float, float, float]]:
    """(phase code, start, end, share) to shade. Contiguous runs of samples (share 1) when there are at most
    `max_spans`; otherwise one entry per time bin and phase present in it, `share` being the fraction of the bin's
    samples in that phase, so a one-second evaluation every few seconds shows as a light tint across the night
    rather than vanishing or painting everything. A sample outside every phase (code -1: taken before a run's
    first window opened, or after a run failed) shades nothing."""
    if not len(t):
        return []
    change = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    if len(change) <= max_spans:
        starts = np.r_[0, change]
        ends = np.r_[change, len(t) - 1]
        return [(int(codes[s]), float(t[s]), float(t[e]), 1.0) for s, e in zip(starts, ends, strict=True)
                if codes[s] >= 0]
    index, span = bin_index(t, max_spans)
    kinds = int(codes.max()) + 2  # no phase (-1) counted as a kind of its own, 0, which is never shaded
    index *= kinds
    index += codes
    index += 1
    counts = np.bincount(index, minlength=max_spans * kinds).reshape(max_spans, kinds)
    totals = counts.sum(axis=1)
    edges = t[0] + np.arange(max_spans + 1) * span / max_spans
    # Shares rounded to 5% so that neighbouring bins with the same tint merge into one rectangle.
    shares = np.round(counts / np.maximum(totals, 1)[:, None] * 20) / 20
    out = []
    for code in range(1, kinds):
        present = np.flatnonzero(counts[:, code])
        if not len(present):
            continue
        level = shares[present, code]
        breaks = np.flatnonzero(np.r_[True, (np.diff(present) != 1) | (np.diff(level) != 0)])
        ends = np.r_[breaks[1:], len(present)] - 1
        out += [(code - 1, float(edges[present[b]]), float(edges[present[e] + 1]), float(max(level[b], 0.05)))
                for b, e in zip(breaks, ends, strict=True)]
    return out


def plot_power(power: pd.DataFrame, run_order: list[str], source: str) -> Figure | None:
    """Power per device: the min-max envelope and mean per time bin, phases other than 'train' shaded."""
    if power.empty or power["power_w"].notna().sum() == 0:
        return None
    traces = {device: Trace.of(timeline) for device, timeline in device_timelines(power, run_order)}
    devices = list(traces)
    fig = Figure(figsize=(9, 1.0 + 1.8 * len(devices)), dpi=DPI, layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(devices), 1, sharex=True, squeeze=False)[:, 0])
    divisor, unit = time_scale(max((trace.last_s for trace in traces.values()), default=0.0))
    shown: set[str] = set()
    for ax, device in zip(axes, devices, strict=True):
        trace = traces[device]
        centre, low, high, mean = trace.centre, trace.low, trace.high, trace.mean
        top = float(np.nanmax(high)) * 1.08 if len(high) else 1.0
        for name in sorted(PHASE_COLORS):
            mine = [(s, e, share) for p, s, e, share in trace.spans if trace.phases[p] == name]
            if mine:
                ax.broken_barh([(s / divisor, (e - s) / divisor) for s, e, _ in mine], (0, top), linewidth=0,
                               facecolors=[to_rgba(PHASE_COLORS[name], 0.1 + 0.5 * share) for _, _, share in mine],
                               label=None if name in shown else f"{name} phase")
                shown.add(name)
        # A band only where samples within a bin differ; the legend names it only when one is drawn.
        if len(high) and float(np.nanmax(high - low)) > 0:
            ax.fill_between(centre / divisor, low, high, color="#555555", alpha=0.35, linewidth=0,
                            label=None if "band" in shown else "min to max per time bin")
            shown.add("band")
        # An estimate is drawn as one: dashed, in its own colour, and named so in the legend and on the axis.
        estimated = is_estimate(source)
        ax.plot(centre / divisor, mean, color="#b35900" if estimated else "black", linewidth=1.0 if estimated else 0.8,
                linestyle="--" if estimated else "-",
                label=None if "mean" in shown else f"{'estimated' if estimated else 'mean'} power per time bin")
        shown.add("mean")
        ax.set_ylim(0, top)
        ax.set_ylabel(f"{device}\n{'estimated ' if estimated else ''}power (W)")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(f"time ({unit})")
    axes[0].set_title("Power per device: an ESTIMATE from CPU time, no sensor was read" if is_estimate(source)
                      else "Power per device")
    fig.legend(fontsize=7, loc="outside lower center", ncols=4, frameon=False)  # below the axes: it hides no trace
    return fig
