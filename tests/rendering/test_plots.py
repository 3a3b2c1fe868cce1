"""The curve figures' reductions, their layout, and their axis labels."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from bnbench.rendering.plots import bin_mean, in_run_order, run_blocks


def test_bin_mean_averages_consecutive_points():
    x, y = bin_mean(np.arange(4.0), np.array([1.0, 3, 5, 7]), bins=2)
    assert x.tolist() == [0.5, 2.5] and y.tolist() == [2.0, 6.0]


def test_rows_come_in_the_summarys_run_order_then_by_step_unknown_runs_last():
    summary = SimpleNamespace(figures=pd.DataFrame({"run_id": ["bn-s0", "control-s0"]}))
    rows = pd.DataFrame({"run_id": pd.array(["x", "control-s0", "bn-s0", "control-s0", "bn-s0", "x"], dtype="str"),
                         "step": [1, 20, 20, 10, 10, 1], "tag": ["x1", "c20", "b20", "c10", "b10", "x2"]})
    # bn first (the summary's order), each run by step; a run the summary does not know comes last, its rows
    # (tied on step) in the order they were.
    assert in_run_order(summary, rows)["tag"].tolist() == ["b10", "b20", "c10", "c20", "x1", "x2"]
    assert in_run_order(SimpleNamespace(figures=pd.DataFrame({"run_id": []})), rows)["tag"].tolist() == [
        "x1", "x2", "c10", "b10", "c20", "b20"]
    assert run_blocks(np.array(["b", "b", "c", "x", "x"])) == [(0, 2), (2, 3), (3, 5)]
    assert run_blocks(np.array([])) == []


def legend_figure():
    from matplotlib.figure import Figure

    # Lines over the upper half and the lower left: "best" puts the legend in the one empty corner.
    fig = Figure(figsize=(4, 3), dpi=110, layout="constrained")
    ax = fig.subplots()
    x = np.linspace(0, 1, 400)
    ax.plot(x, 0.8 + 0.1 * np.sin(40 * x), label="a")
    ax.plot(x[:200], 0.1 + 0.1 * np.cos(40 * x[:200]), label="b")
    ax.legend()
    return fig


def png_pixels(fig) -> np.ndarray:
    import io

    from PIL import Image

    from bnbench.rendering.figure_files import PNG_COMPRESS_LEVEL

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())))


def test_a_figure_laid_out_once_draws_the_pixels_it_would_have(tmp_path):
    from PIL import Image

    from bnbench.rendering.figure_files import lay_out, save

    laid_out = legend_figure()
    lay_out(laid_out)
    # Laid out and placed once, it draws the same image as a figure that lays itself out and places its legend
    # at each save; and save() writes the PNG as a plain save draws it, and the SVG only when asked.
    assert laid_out.get_layout_engine() is None
    assert np.array_equal(png_pixels(laid_out), png_pixels(legend_figure()))
    save(legend_figure(), tmp_path, "f")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "f.png")), png_pixels(legend_figure()))
    save(legend_figure(), tmp_path, "f", svg=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "f.svg"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "f.png")), png_pixels(legend_figure()))


def test_saving_both_files_draws_the_figure_twice_and_searches_the_legend_spot_before(monkeypatch, tmp_path):
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend

    from bnbench.rendering.figure_files import save

    fig = Figure(figsize=(4, 3), dpi=110, layout="constrained")
    ax = fig.subplots()
    ax.plot(np.arange(1000.0), np.arange(1000.0) % 7, label="run")
    ax.legend()
    draws, searches = [], []
    draw, find = Figure.draw, Legend._find_best_position
    monkeypatch.setattr(Figure, "draw", lambda self, *a, **k: draws.append(1) or draw(self, *a, **k))
    monkeypatch.setattr(Legend, "_find_best_position",
                        lambda *a, **k: searches.append(len(draws)) or find(*a, **k))
    save(fig, tmp_path, "f", svg=True)
    # One draw a file (a layout draw first, and one inside each save, made five); the 1,000 points are searched
    # for the legend's spot while the figure is laid out, before either file is drawn.
    assert len(draws) == 2
    assert searches and set(searches) == {0}


def test_log_axis_labels_in_plain_text_with_superscripts():
    from bnbench.rendering.plots import plain_power_of_ten

    assert plain_power_of_ten(r"$\mathdefault{10^{-4}}$") == "10⁻⁴"
    assert plain_power_of_ten(r"$\mathdefault{2\times10^{-3}}$") == "2×10⁻³"
    assert plain_power_of_ten(r"$\mathdefault{10^{12}}$") == "10¹²"
    assert plain_power_of_ten("") == ""  # a minor tick matplotlib leaves unlabelled
    assert plain_power_of_ten(r"$\mathdefault{e^{2}}$") == r"$\mathdefault{e^{2}}$"  # not ours to rewrite


def test_the_loss_axis_labels_need_no_mathtext():
    from matplotlib.figure import Figure

    from bnbench.rendering.plots import PlainLogFormatter

    fig = Figure(figsize=(4, 3), dpi=110)
    ax = fig.subplots()
    ax.plot([0, 1, 2], [2e-4, 1e-3, 3e-3])
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PlainLogFormatter(10))
    ax.yaxis.set_minor_formatter(PlainLogFormatter(10, labelOnlyBase=False))
    png_pixels(fig)  # drawn: the ticks are placed and labelled
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels(which="both") if t.get_text()]
    assert "10⁻³" in labels and not any("$" in label for label in labels)
