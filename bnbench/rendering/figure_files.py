"""The report's figure files: which figures, what each one means, and saving them as PNG, and as SVG when asked
(plots.py draws the curve figures, power_plot.py the power figure).

On a machine with more than one core the figures to draw are shared out between the report's process and a
forked child (forked.py) for each other core, each taking the next figure when it is done with one. The power
trace, which reads and reduces millions of samples, is begun first: `bnbench report` starts it as soon as
runs.csv is read, before matplotlib, pandas and the statistics are imported, one child reducing the samples and
a second drawing the result (`begin`). The main process never holds the samples.

A figure is drawn again only when what it is drawn from changed: `figures/figures.json` keeps, per figure, a
key of its input files (size and modification time: every write replaces a file whole), the options that shape
it and the plotting code, so a second `bnbench report` of an unchanged folder rewrites the documents and leaves
the figures as they are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from bnbench.analysis.folder import is_estimate, power_figure_inputs
from bnbench.cores import usable_cores
from bnbench.errors import UserError
from bnbench.rendering.figure_style import MAX_POINTS
from bnbench.rendering.forked import Forked, Turns
from bnbench.results.atomic import atomic_write

if TYPE_CHECKING:  # matplotlib loads only when a figure is drawn: an unchanged folder's report needs none
    import pandas as pd
    from matplotlib.figure import Figure

    from bnbench.analysis.power_trace import Trace
    from bnbench.analysis.summary import Summary

FIGURES_DIR = "figures"  # in a results folder
KEYS_FILE = "figures.json"  # in the figures folder: what each figure was last drawn from
CURVE_FILES, POWER_FILES = ("runs.csv", "scenario.toml", "curves.parquet"), ("runs.csv", "power.parquet")
# A change to these redraws: the plotting code, and the power figure's reduction of its samples.
CODE_FILES = ("plots.py", "power_plot.py", "figure_style.py", "figure_files.py", "../analysis/power_trace.py")


@dataclass(frozen=True)
class Plot:
    name: str  # files figures/<name>.png and, when asked for, figures/<name>.svg
    title: str
    caption: str  # what the figure shows and how to read it
    extensions: tuple[str, ...] = ("png",)  # the files it has: "png", and "svg" when one is there


# The curve figures in the order they are handed out, the longest to draw first, so that the last one taken,
# which the other processes may wait for, is a short one: on the paper's night the loss figure (a log axis and
# its minor ticks) takes longest, the metric against the step (a mean per variant, not a line per run) least
# (`python benchmarks/report_scale.py --per-figure` prints each figure's CPU time).
DRAW_ORDER = ("loss", "metric_vs_time", "metric_vs_energy", "metric_vs_step")


def draw_rank(name: str) -> int:
    """Where figure `name` comes in DRAW_ORDER (a figure it does not name: last)."""
    return DRAW_ORDER.index(name) if name in DRAW_ORDER else len(DRAW_ORDER)


PNG_COMPRESS_LEVEL = 3  # zlib's default (6) took twice the time for files within 15% of the size


def lay_out(fig: Figure) -> None:
    """Lay `fig` out once, pin each axes' legend where it was placed, and drop the layout engine, so that each
    file is one plain draw of what was found here.

    A legend placed "best" is placed by testing its candidate spots against every point drawn (24 runs of 1,000
    evaluations on a night), at every layout pass of every save; pinned to the spot found, it is drawn where it
    was, pixel for pixel. With any layout engine left (even matplotlib's "none" placeholder) each save draws the
    figure twice, once to lay it out. The layout is in inches, so it holds for the SVG as for the PNG.
    """
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # one renderer for the layout and the PNG: the text measured once serves both
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None and hasattr(legend, "set_loc"):  # matplotlib 3.8 and later
            box = legend.get_window_extent().transformed(ax.transAxes.inverted())
            legend.set_loc((box.x0, box.y0))
    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)  # None under these settings: no engine at all


def extensions(svg: bool) -> tuple[str, ...]:
    """The files a figure is saved as: PNG always (the HTML report embeds it), SVG only when asked for, since
    drawing every figure a second time as SVG was half a CPU-second of the paper's night's 3.6."""
    return ("png", "svg") if svg else ("png",)


def save(fig: Figure, folder: Path, name: str, svg: bool = False) -> None:
    """`folder/name.png` (and `.svg` when `svg`), each written to a temporary file and renamed: a full disk or a
    Ctrl-C leaves the previous figure or none, never half of one. One layout and one draw a file (`lay_out`): a
    draw to lay out, then a layout draw again inside each save, had made five draws of each figure. Without
    `svg`, an SVG left by an earlier report is removed: it shows the data before this drawing."""
    lay_out(fig)

    def png(tmp: Path) -> None:
        fig.savefig(tmp, format="png", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})

    atomic_write(folder / f"{name}.png", png)
    if svg:
        atomic_write(folder / f"{name}.svg", lambda tmp: fig.savefig(tmp, format="svg"))
    else:
        (folder / f"{name}.svg").unlink(missing_ok=True)


def reduce_power(root: Path, run_order: list[str]) -> dict[str, Trace] | None:
    """The power samples of `root` reduced to each device's trace (analysis.power_trace), runs laid out in
    `run_order`; None when no sample has a power. Needs numpy and pyarrow only: neither matplotlib nor pandas."""
    from bnbench.analysis.power_samples import read_power_samples
    from bnbench.analysis.power_trace import power_traces

    return power_traces(read_power_samples(root), run_order, MAX_POINTS)


def draw_power(traces: dict[str, Trace] | None, folder: Path, source: str, svg: bool = False) -> bool:
    """Save the power figure of `traces` into `folder` (as SVG too when `svg`); False when there are none."""
    if traces is None:
        return False
    from bnbench.rendering.power_plot import plot_power

    save(plot_power(traces, source), folder, "power", svg)
    return True


def drawing_cores() -> int:
    """How many cores the report's figures may be drawn on: the cores this process may use."""
    return len(usable_cores())


def in_children() -> bool:
    """Whether figures are drawn in forked children: where this process may use more than one core."""
    return drawing_cores() > 1


def _plots() -> ModuleType:
    from bnbench.rendering import plots

    return plots


def inputs_key(root: Path, names: tuple[str, ...], chunks: str, options: object) -> str:
    """A digest of what a figure is drawn from: the files `names` of `root` and the run chunks of table `chunks`
    (size and modification time), `options` (by their repr), and the plotting code."""
    from bnbench.results.store import chunk_paths
    from bnbench.version import __version__

    stamps = []
    for path in [root / name for name in names] + chunk_paths(root, chunks):
        with contextlib.suppress(OSError):  # an absent file is part of the key by its absence
            stat = path.stat()
            stamps.append([path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns])
    code = hashlib.sha256()
    for module in [Path(__file__).parent / name for name in CODE_FILES]:
        code.update(module.read_bytes())
    text = json.dumps([__version__, code.hexdigest(), stamps, repr(options)])
    return hashlib.sha256(text.encode()).hexdigest()


def read_keys(folder: Path) -> dict[str, object]:
    """figures.json: {figure name: {"key": digest, "drawn": whether the data allowed one}}; {} when unreadable."""
    try:
        keys = json.loads((folder / KEYS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return keys if isinstance(keys, dict) else {}


def unchanged(keys: dict[str, object], folder: Path, name: str, key: str, svg: bool = False) -> bool | None:
    """Whether figure `name`, last drawn from inputs with this `key`, exists (True: its files are still there,
    the SVG too when `svg` asks for one) or had no data (False); None when it must be drawn."""
    entry = keys.get(name)
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    if entry.get("drawn") is not True:
        return False
    return True if all((folder / f"{name}.{ext}").is_file() for ext in extensions(svg)) else None


def write_keys(folder: Path, keys: dict[str, str], drawn: set[str], kept: dict[str, object] | None = None) -> None:
    """figures.json: each figure's key and whether it was drawn, with `kept`'s entries (as read) as they were."""
    from bnbench.results.atomic import atomic_write_text

    entries = {**(kept or {}), **{name: {"key": key, "drawn": name in drawn} for name, key in keys.items()}}
    atomic_write_text(folder / KEYS_FILE, json.dumps(entries, indent=1) + "\n")


@dataclass(frozen=True)
class PowerFigure:
    """The power figure as a report found or drew it: the run order and energy source it was drawn from, its
    inputs' key, and whether the folder has one (False: no power samples)."""

    run_order: list[str]
    source: str
    key: str
    present: bool


def power_figure(root: Path, folder: Path, run_order: list[str], source: str, svg: bool = False) -> PowerFigure:
    """The power figure of `root` in `folder`: kept when its inputs are unchanged and its files there, else
    drawn."""
    key = inputs_key(root, POWER_FILES, "power", (run_order, source))
    kept = unchanged(read_keys(folder), folder, "power", key, svg)
    present = kept if kept is not None else draw_power(reduce_power(root, run_order), folder, source, svg)
    return PowerFigure(run_order, source, key, present)


def draw_reduced(reducing: Forked[dict[str, Trace] | None], folder: Path, run_order: list[str], source: str,
                 key: str, svg: bool) -> PowerFigure:
    """In the drawing child: the power figure of the traces its sibling `reducing` reduces, saved into
    `folder`."""
    return PowerFigure(run_order, source, key, draw_power(reducing.received(), folder, source, svg))


@dataclass
class PowerDrawing:
    """The power figure under way: found unchanged, being reduced and drawn in two forked children, or to be
    drawn (`begin`)."""

    folder: Path
    svg: bool = False
    found: PowerFigure | None = None
    pending: Forked[PowerFigure] | None = field(default=None, repr=False)
    reducing: Forked[dict[str, Trace] | None] | None = field(default=None, repr=False)

    def finish(self, root: Path, run_order: list[str], source: str) -> PowerFigure:
        """The power figure for the summary's run order and energy source: as found or drawn by the children
        from the same, read from runs.csv; drawn here when no child drew it, or (never, by construction) when it
        was begun from other inputs."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.found = pending.result()
            self.close()  # the reducing child: its traces went to the drawing one
        if self.found is not None and (self.found.run_order, self.found.source) == (run_order, source):
            return self.found
        return power_figure(root, self.folder, run_order, source, self.svg)

    def close(self) -> None:
        """End the children still running (the report is leaving early: an error, a Ctrl-C)."""
        for child in (self.pending, self.reducing):
            if child is not None:
                child.close()
        self.pending = self.reducing = None


def figures_folder(root: Path) -> Path:
    """`root/figures`. Raises UserError when it is a symbolic link: its files would be written wherever it
    points, outside the results folder."""
    folder = root / FIGURES_DIR
    if folder.is_symlink():
        raise UserError(f"{folder}: a symbolic link inside a results folder; bnbench only writes real files there. "
                        "Remove it (the report draws the figures again)")
    return folder


def unwritable(root: Path, exc: OSError) -> UserError:
    return UserError(f"{root}: cannot write the report ({exc.strerror or exc})")


def begin(root: Path, svg: bool = False) -> PowerDrawing:
    """The power figure of the results folder `root` begun, with the run order and energy source its summary
    will have (`folder.power_figure_inputs`, from runs.csv and scenario.toml without pandas): found unchanged, or
    on more than one core reduced and drawn in two children forked now. `bnbench report` calls this before it
    reads the folder with pandas and works out the statistics, so that the reading of millions of samples
    overlaps all of that as well as the other figures. The first child, forked before matplotlib is imported,
    reads and reduces the samples while this process imports matplotlib; the second, forked after, draws what the
    first sends it: matplotlib is imported once, and no core waits on the import. A folder whose runs.csv cannot
    be read begins nothing here: reading it again says what is wrong.

    Raises UserError when the figures folder is a symbolic link or cannot be written.
    """
    try:
        run_order, source = power_figure_inputs(root)
    except UserError:
        return PowerDrawing(root / FIGURES_DIR, svg)
    folder = figures_folder(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        key = inputs_key(root, POWER_FILES, "power", (run_order, source))
        kept = unchanged(read_keys(folder), folder, "power", key, svg)
    except OSError as exc:
        raise unwritable(root, exc) from None
    if kept is not None:
        return PowerDrawing(folder, svg, PowerFigure(run_order, source, key, kept))
    if not in_children():
        return PowerDrawing(folder, svg)
    reducing = Forked(reduce_power, root, run_order)
    try:
        import bnbench.rendering.power_plot  # noqa: F401 - matplotlib, while the child reads: its sibling draws at once
        drawing = Forked(draw_reduced, reducing, folder, run_order, source, key, svg)
    except BaseException:
        reducing.close()
        raise
    return PowerDrawing(folder, svg, pending=drawing, reducing=reducing)


def draw_and_save(draw: Callable[[], Figure | None], folder: Path, name: str, svg: bool) -> bool:
    """Draw a figure and save it as `name` into `folder`; False when the data allow none."""
    fig = draw()
    if fig is None:
        return False
    save(fig, folder, name, svg)
    return True


def draw_turns(draws: list[tuple[str, Callable[[], Figure | None]]], turns: Turns, folder: Path,
               svg: bool) -> dict[str, bool]:
    """Draw and save the (name, draw) of `draws` at each number `turns` hands this process, until none is left
    (`draw_and_save`); by name, whether each had data."""
    drawn = {}
    while (turn := turns.next()) is not None:
        name, draw = draws[turn]
        drawn[name] = draw_and_save(draw, folder, name, svg)
    return drawn


def write_figures(summary: Summary, curves: pd.DataFrame, root: Path, folder: Path, order: list[str],
                  power: PowerDrawing | None = None, svg: bool = False) -> list[Plot]:
    """Draw every figure the data allows into `folder` (PNG, and SVG when `svg`), each only when its inputs
    changed since it was last drawn or its asked-for files are missing; returns the figures there are, in report
    order. `power`: the power figure as `begin` began it (else it is drawn here); this closes it."""
    folder.mkdir(parents=True, exist_ok=True)
    metric = summary.metric
    estimate = " The energy is an ESTIMATE from a power model, not a measurement." if is_estimate(
        summary.energy_source) else ""
    run_order = summary.figures["run_id"].tolist()
    power_plot = Plot("power", "Power trace per device",
                      "Power drawn by each device over the whole session, reduced per time bin (black: mean; grey: "
                      "lowest to highest sample). Shading marks setup, warm-up, evaluation and checkpoint phases "
                      "(unshaded is training); where phases alternate faster than a bin, the tint's strength is "
                      "the phase's share of the bin. Runs that share a device are drawn one after another."
                      + estimate)
    if power is None or power.svg != svg:
        if power is not None:
            power.close()
        power = PowerDrawing(folder, svg)
    try:
        keys: dict[str, str] = {}
        curve_key = inputs_key(root, CURVE_FILES, "curves", (metric, order, summary.energy_source))
        old_keys = read_keys(folder)
        kept: dict[str, bool | None] = {}
        plans: list[tuple[Plot, Callable[[], Figure | None]]] = [
            (Plot("metric_vs_step", f"{metric.label} vs training step",
                  "Convergence per variant: the line is the mean over seeds at each evaluation, the band spans the "
                  "lowest to the highest seed. Where bands overlap, seed luck can explain the difference."),
             lambda: _plots().plot_metric_vs_step(summary, curves, order)),
            (Plot("metric_vs_time", f"{metric.label} vs wall time",
                  "Each run's evaluations against the wall-clock time since its first step (evaluation time counts). "
                  "A line further left reached the same quality sooner."),
             lambda: _plots().plot_metric_vs(summary, curves, order, "t_s")),
            (Plot("metric_vs_energy", f"{metric.label} vs energy",
                  "Each run's evaluations against the energy it had used by then: energy-to-quality. A line further "
                  "left reached the same quality for fewer joules." + estimate),
             lambda: _plots().plot_metric_vs(summary, curves, order, "energy_j")),
            (Plot("loss", "Training loss",
                  "Mean training loss per log window on a log scale. Dots mark loss spikes (a window whose largest "
                  "step loss is over 3 times the median of the previous 10 windows' largest); an x marks a "
                  "divergence."),
             lambda: _plots().plot_loss(summary, curves, order)),
        ]
        for plot, _ in plans:
            keys[plot.name] = curve_key
            kept[plot.name] = unchanged(old_keys, folder, plot.name, curve_key, svg)
        # Until every figure is saved only the unchanged ones keep their keys, and the power figure its old one
        # (its inputs' key tells whether what is there is still its figure): an interrupted report draws the rest
        # again next time.
        write_keys(folder, {k: v for k, v in keys.items() if kept[k] is not None}, {k for k, v in kept.items() if v},
                   {k: v for k, v in old_keys.items() if k == "power"})
        to_draw = sorted([(plot.name, draw) for plot, draw in plans if kept[plot.name] is None],
                         key=lambda item: draw_rank(item[0]))
        there = dict(kept)
        # Drawn by this process and, on more than one core, a forked child for each other core, each taking the
        # next figure not yet taken until none is left (Turns). On two cores, with the power figure's children
        # running, one child and this process drew the night's figures faster (and with less CPU time) than a
        # child for each of three figures, or two children given two figures and one.
        turns = Turns(len(to_draw))
        pending: list[Forked[dict[str, bool]]] = []
        try:
            children = min(len(to_draw), drawing_cores()) - 1  # none on one core, or for one figure
            if children > 0:
                _plots()  # matplotlib imported once, before the forks: the children start drawing, not importing
                for _ in range(children):  # appended one by one: a fork that fails leaves the others to close
                    pending.append(Forked(draw_turns, to_draw, turns, folder, svg))
            there.update(draw_turns(to_draw, turns, folder, svg))
            for child in pending:
                there.update(child.result())
            figure = power.finish(root, run_order, summary.energy_source)
        finally:
            turns.close()
            for child in pending:
                child.close()
        drawn = [plot for plot, _ in plans if there[plot.name]]
    finally:
        power.close()
    keys["power"] = figure.key
    if figure.present:
        drawn.append(power_plot)
    write_keys(folder, keys, {p.name for p in drawn})
    # An SVG is there when asked for, or kept from an earlier report that asked, its figure unchanged since.
    return [dataclasses.replace(p, extensions=extensions((folder / f"{p.name}.svg").is_file())) for p in drawn]
