"""The report's figure files: which figures, what each one means, and saving them as PNG and SVG (plots.py
draws them).

The power trace reads and reduces millions of samples while the other figures need none of them, so on a
machine with more than one core and a large power.parquet it is drawn in a forked worker process at the same
time as the others; the main process then never holds the power samples at all.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from bnbench.analysis.summary import Summary, is_estimate
from bnbench.rendering import plots
from bnbench.results.atomic import atomic_write

PARALLEL_POWER_BYTES = 8 * 2**20  # a power.parquet above this is drawn in a worker process (about 1 M samples)


@dataclass(frozen=True)
class Plot:
    name: str  # files figures/<name>.png and figures/<name>.svg
    title: str
    caption: str  # what the figure shows and how to read it


def save(fig: Figure, folder: Path, name: str) -> None:
    """`folder/name.png` and `.svg`, each written to a temporary file and renamed: a full disk or a Ctrl-C
    leaves the previous figure or none, never half of one."""
    for ext in ("png", "svg"):
        atomic_write(folder / f"{name}.{ext}", lambda tmp, ext=ext: fig.savefig(tmp, format=ext))


def draw_power(root: Path, folder: Path, run_order: list[str], source: str) -> bool:
    """Read the power samples of `root` and save the power figure into `folder`; False when there are none."""
    from bnbench.analysis.folder import load_power

    fig = plots.plot_power(load_power(root), run_order, source)
    if fig is None:
        return False
    save(fig, folder, "power")
    return True


def power_in_parallel(root: Path) -> bool:
    target = root / "power.parquet"
    return (os.cpu_count() or 1) > 1 and target.exists() and target.stat().st_size > PARALLEL_POWER_BYTES


def write_figures(summary: Summary, curves: pd.DataFrame, root: Path, folder: Path, order: list[str]) -> list[Plot]:
    """Draw every figure the data allows into `folder` (PNG and SVG); returns what was drawn, in report order."""
    folder.mkdir(parents=True, exist_ok=True)
    metric = summary.metric
    estimate = " The energy is an ESTIMATE from a power model, not a measurement." if is_estimate(
        summary.energy_source) else ""
    run_order = summary.figures["run_id"].tolist()
    power = Plot("power", "Power trace per device",
                 "Power drawn by each device over the whole session, reduced per time bin (black: mean; grey: "
                 "lowest to highest sample). Shading marks setup, warm-up, evaluation and checkpoint phases "
                 "(unshaded is training); where phases alternate faster than a bin, the tint's strength is the "
                 "phase's share of the bin. Runs that share a device are drawn one after another." + estimate)
    worker = None
    if power_in_parallel(root):
        worker = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
        pending = worker.submit(draw_power, root, folder, run_order, summary.energy_source)
    plans: list[tuple[Plot, Callable[[], Figure | None]]] = [
        (Plot("metric_vs_step", f"{metric.label} vs training step",
              "Convergence per variant: the line is the mean over seeds at each evaluation, the band spans the "
              "lowest to the highest seed. Where bands overlap, seed luck can explain the difference."),
         lambda: plots.plot_metric_vs_step(summary, curves, order)),
        (Plot("metric_vs_time", f"{metric.label} vs wall time",
              "Each run's evaluations against the wall-clock time since its first step (evaluation time counts). "
              "A line further left reached the same quality sooner."),
         lambda: plots.plot_metric_vs(summary, curves, order, "t_s")),
        (Plot("metric_vs_energy", f"{metric.label} vs energy",
              "Each run's evaluations against the energy it had used by then: energy-to-quality. A line further "
              "left reached the same quality for fewer joules." + estimate),
         lambda: plots.plot_metric_vs(summary, curves, order, "energy_j")),
        (Plot("loss", "Training loss",
              "Mean training loss per log window on a log scale. Dots mark loss spikes (a window whose largest step "
              "loss is over 3 times the median of the previous 10 windows' largest); an x marks a divergence."),
         lambda: plots.plot_loss(summary, curves, order)),
    ]
    drawn = []
    try:
        for plot, draw in plans:
            fig = draw()
            if fig is not None:
                save(fig, folder, plot.name)
                drawn.append(plot)
        has_power = pending.result() if worker else draw_power(root, folder, run_order, summary.energy_source)
    finally:
        if worker:
            worker.shutdown()
    if has_power:
        drawn.append(power)
    return drawn
