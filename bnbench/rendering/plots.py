"""The report's curve figures (the metric against step, time and energy; the training loss), drawn with
matplotlib's Agg backend (no display, no pyplot state). The power figure is power_plot.py's.

Each `plot_*` function takes frames and returns a matplotlib Figure, or None when the folder holds nothing to
draw (no energy measured); `figure_files.py` saves them and says what each one shows. Long series are reduced
per pixel column before drawing (the mean of consecutive points), so a long run draws as fast as a short one
and looks the same.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation

from bnbench.analysis.folder import is_estimate
from bnbench.analysis.power_trace import blocks
from bnbench.rendering.figure_style import DPI, MAX_POINTS
from bnbench.rendering.format import energy_scale, time_scale

if TYPE_CHECKING:
    from bnbench.analysis.summary import Summary


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


def run_blocks(runs: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run's rows, where `runs` (a run_id per row) holds each run's rows together."""
    starts = blocks(runs)[0].tolist()
    return list(zip(starts, [*starts[1:], len(runs)], strict=False))  # no rows: no start, so no block


def in_run_order(summary: Summary, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by the summary's run order (variant order, then seed), then step."""
    order = {r: i for i, r in enumerate(summary.figures["run_id"])}
    # Looked up by a hash index and sorted with numpy (a stable sort, as before): mapping pandas' Arrow-backed
    # strings through a dict and sorting on a new column took three times as long. A run the summary does not
    # know is found at -1, which reads the last rank: after every known run.
    found = pd.Index(list(order)).get_indexer(rows["run_id"])
    key = np.asarray([*order.values(), len(order)])[found]
    return rows.take(np.lexsort((rows["step"].to_numpy(), key)))


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


SUPERSCRIPT = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")
POWER_OF_TEN = re.compile(r"\$\\mathdefault\{(?:(\d+)\\times)?(\d+)\^\{([-+]?\d+)\}\}\$")


def plain_power_of_ten(label: str) -> str:
    """A log axis' tick label as matplotlib writes it for mathtext (`$\\mathdefault{2\\times10^{-3}}$`) in plain
    text with superscript digits (2×10⁻³): the same label without mathtext, whose parser took a tenth of a second
    to build in each process that drew a log axis. Any other label is left as it is."""
    found = POWER_OF_TEN.fullmatch(label)
    if found is None:
        return label
    coefficient, base, exponent = found.groups()
    return f"{coefficient + '×' if coefficient else ''}{base}{exponent.translate(SUPERSCRIPT)}"


class PlainLogFormatter(LogFormatterSciNotation):
    """matplotlib's log axis labels (which ticks get one, and how), written by `plain_power_of_ten`."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return plain_power_of_ten(super().__call__(x, pos))


def plot_loss(summary: Summary, curves: pd.DataFrame, order: list[str]) -> Figure | None:
    """Training loss per run on a log scale; an x marks where a run diverged, a dot each loss spike."""
    from bnbench.analysis.run_figures import spike_flags

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
    runs, variants = train["run_id"].to_numpy(dtype=object), train["variant"].to_numpy(dtype=object)
    steps_all, losses = train["step"].to_numpy(), train["loss"].to_numpy(dtype=float)
    loss_maxima = train["loss_max"].to_numpy(dtype=float)
    spiked = spike_flags(runs, losses, loss_maxima)  # every run at once: the rows are in run order
    for start, end in run_blocks(runs):
        run_id, variant = runs[start], str(variants[start])
        color = palette.get(variant, "black")
        run_steps, run_loss = steps_all[start:end], losses[start:end]
        ok = np.isfinite(run_loss) & (run_loss > 0)
        steps, loss = bin_mean(run_steps.astype(float)[ok], run_loss[ok])
        ax.plot(steps, loss, color=color, linewidth=1, alpha=0.8, label=None if variant in labelled else variant)
        labelled.add(variant)
        spikes = spiked[start:end]
        if spikes.any():
            ax.scatter(run_steps[spikes], loss_maxima[start:end][spikes], s=12, color=color, edgecolor="black",
                       linewidth=0.4, zorder=3, label=None if marked_spike else "loss spike (window max)")
            marked_spike = True
        if statuses.get(run_id) == "diverged" and len(steps):
            ax.scatter([run_steps[-1]], [loss[-1]], marker="x", s=80, color="black", zorder=4,
                       label=None if marked_divergence else "diverged")
            marked_divergence = True
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PlainLogFormatter(10))  # as the log scale sets them, in plain text
    ax.yaxis.set_minor_formatter(PlainLogFormatter(10, labelOnlyBase=False))
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (mean per log window, log scale)")
    ax.set_title("Training loss per run")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig
