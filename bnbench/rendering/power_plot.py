"""The report's power figure: each device's power over the whole session, reduced per time bin, its phases shaded.

Drawn with matplotlib's Agg backend from the traces `analysis.power_trace` reduced the samples to (at most
figure_style.MAX_POINTS time bins per device), and free of pandas, so the report can begin it in a forked child
before pandas and the statistics are imported (figure_files.py).
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from bnbench.analysis.folder import is_estimate
from bnbench.analysis.power_trace import Trace
from bnbench.rendering.figure_style import DPI, PHASE_COLORS
from bnbench.rendering.format import time_scale


def plot_power(traces: dict[str, Trace], source: str) -> Figure:
    """Power per device (`power_trace.power_traces`): the min-max envelope and mean per time bin, phases other
    than 'train' shaded."""
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
