"""A night's power samples reduced to what the power figure draws: per device, the envelope and mean power per
time bin and the phase spans to shade.

Pure numpy, with neither matplotlib nor pandas: the report reduces the samples in a forked child that starts
before either is imported (rendering/figure_files.py), and sends the small result to the child that draws it.
A night of 10 Hz samples on 8 GPUs (3.5 million) becomes at most `bins` points per device, so it draws as fast
as a minute of samples and looks the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from bnbench.analysis.power_samples import Codes, PowerSamples


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
    def of(cls, timeline: Timeline, bins: int) -> Trace:
        """At most `bins` time bins of power, and of phase spans."""
        centre, low, high, mean = envelope(timeline.t_s, timeline.power_w, bins)
        last = float(timeline.t_s.max()) if len(timeline.t_s) else 0.0
        return cls(centre, low, high, mean, phase_spans(timeline.t_s, timeline.phase, bins), timeline.phases, last)


def device_timelines(samples: PowerSamples, run_order: list[str]) -> Iterator[tuple[str, Timeline]]:
    """Each device's name and samples on one time axis, one device at a time (devices without samples left out).

    Runs whose clocks overlap on a device (each run's t_s counting from its own start) are laid end to end in
    `run_order`; runs on one shared clock keep their times, shifted so the device's first sample is at 0.

    A night holds millions of samples, so this and the reductions after it (envelope, phase_spans) make no array
    of the whole night's length and work in place on the arrays they own: an array of tens of MB is fresh memory
    that the kernel must map page by page, which had cost more than the arithmetic. A device's arrays (an
    eighth of a night of 8 GPUs) are dropped before the next device's are made.
    """
    codes = samples.device.codes
    starts, block_codes = blocks(codes)
    for code, name in enumerate(samples.device.names):
        take = _taker(codes, starts, block_codes, code)
        if take is not None:
            yield name, _timeline(Codes(take(samples.run.codes), samples.run.names), take(samples.t_s),
                                  take(samples.power_w), Codes(take(samples.phase.codes), samples.phase.names),
                                  run_order)


MAX_SLICES = 4096  # blocks of one device taken as slices; past this, by an index of its rows


def _taker(codes: np.ndarray, starts: np.ndarray, block_codes: np.ndarray,
           code: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function that copies the rows of `code` out of an array as long as `codes`, in order; None when there
    are none. `starts` and `block_codes`: the blocks of `codes` (`blocks`).

    A run's samples are stored together, and a run on one GPU has one device, so a device of a night has a few
    long blocks of rows: they are copied slice by slice, with no index of the rows made or read, in half the
    time. A run that samples several devices at each tick stores them interleaved, in blocks of one row: those
    are taken by an index of the rows.
    """
    mine = np.flatnonzero(block_codes == code)
    if not len(mine):
        return None
    if len(mine) > MAX_SLICES:
        rows = np.flatnonzero(codes == code)
        return lambda values: values[rows]
    ends = np.r_[starts[1:], len(codes)][mine]
    pieces = [slice(int(start), int(end)) for start, end in zip(starts[mine], ends, strict=True)]
    return lambda values: np.concatenate([values[piece] for piece in pieces])


def blocks(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each block of equal consecutive codes starts, and its code."""
    starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.r_[0, starts] if len(codes) else starts
    return starts, codes[starts]


def _timeline(runs: Codes, t: np.ndarray, watts: np.ndarray, phases: Codes, run_order: list[str]) -> Timeline:
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


def envelope(t: np.ndarray, p: np.ndarray, bins: int) -> tuple[np.ndarray, ...]:
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


def phase_spans(t: np.ndarray, codes: np.ndarray, max_spans: int) -> list[tuple[int, float, float, float]]:
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


def power_traces(samples: PowerSamples, run_order: list[str], bins: int) -> dict[str, Trace] | None:
    """Each device's trace, by device name in the order of first appearance (runs laid out in `run_order`, see
    device_timelines), at most `bins` points each; None without a sample that has a power."""
    if not len(samples) or bool(np.isnan(samples.power_w).all()):
        return None
    return {device: Trace.of(timeline, bins) for device, timeline in device_timelines(samples, run_order)}
