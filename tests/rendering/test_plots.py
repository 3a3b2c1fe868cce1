"""The reductions behind the figures: power envelopes, phase shading, one time axis per device."""

from __future__ import annotations

import numpy as np
import pytest

from bnbench.analysis.power_samples import PowerSamples
from bnbench.rendering.plots import bin_mean
from bnbench.rendering.power_plot import device_timelines, envelope, phase_spans


def test_phase_spans_exact_when_few():
    # Phases train, train, eval, eval, train at t = 0..4: three contiguous spans, each fully shaded.
    spans = phase_spans(np.arange(5.0), np.array([0, 0, 1, 1, 0]))
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


def test_bin_mean_averages_consecutive_points():
    x, y = bin_mean(np.arange(4.0), np.array([1.0, 3, 5, 7]), bins=2)
    assert x.tolist() == [0.5, 2.5] and y.tolist() == [2.0, 6.0]


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
