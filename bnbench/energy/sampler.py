"""The sampler thread: power samples of a run at `sample_hz`, streamed to a sink in chunks.

Each tick reads every device meter of the run once (which also keeps RAPL's wrapping counter unwrapped) and
hands the samples to `sink`; every `flush_every_s` it calls `flush`, so a crash loses at most one chunk. Sink
and flush run in the sampler thread only; after `stop()` the caller owns them again.

A tick must fit its period: a GPU read costs what its meter measured when it opened (about 3 ms on an H200),
and a tick makes `READS_PER_TICK` of them per GPU, so a run that reads 8 GPUs at 100 Hz would overrun every
tick. The rate is capped so that the reads take at most `TICK_SHARE` of each period (`capped_hz`), with one
warning; the manifest records the rate each GPU gets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from bnbench.energy.meter import Clock, warn_once
from bnbench.energy.run_meter import PowerSample, RunMeter

MAX_HZ = 100.0
FLUSH_EVERY_S = 30.0
READS_PER_TICK = 3  # per GPU: its counter, its power, its busy %
TICK_SHARE = 0.5  # the reads may take at most this share of a tick's period


def tick_cost_s(read_s: Sequence[float | None]) -> float:
    """Seconds one tick spends reading devices whose single read costs `read_s` (None: not timed, not counted)."""
    return READS_PER_TICK * sum(r for r in read_s if r is not None)


def capped_hz(hz: float, tick_s: float) -> float:
    """`hz`, or less when ticks of `tick_s` seconds would take more than TICK_SHARE of each period."""
    return hz if tick_s <= 0 else min(hz, TICK_SHARE / tick_s)


def gpu_sample_hz(gpus: list[dict[str, Any]], hz: float, gpus_per_run: int) -> list[dict[str, Any]]:
    """The manifest's GPU entries with `sample_hz`: the rate a run's sampler gets when each tick reads
    `gpus_per_run` GPUs like this one (its `read_ms` timed when probed; untimed: `hz` as asked)."""
    out = []
    for gpu in gpus:
        read_ms = gpu.get("read_ms")
        read_s = None if read_ms is None else read_ms / 1000
        out.append({**gpu, "sample_hz": capped_hz(hz, tick_cost_s([read_s] * gpus_per_run))})
    return out


class Sampler:
    """Samples `meter` every 1/hz seconds (monotonic deadlines, no drift) in a daemon thread."""

    def __init__(
        self,
        meter: RunMeter,
        hz: float,
        sink: Callable[[list[PowerSample]], None],
        flush: Callable[[], None] = lambda: None,
        flush_every_s: float = FLUSH_EVERY_S,
        clock: Clock = time.perf_counter,
        warn: Callable[[str], None] = warn_once,
    ) -> None:
        if not 0 < hz <= MAX_HZ:
            raise ValueError(f"sample_hz must be in (0, {MAX_HZ:g}] (got {hz})")
        timed = [p.read_s for p in meter.parts if p.read_s is not None]
        self.hz = capped_hz(hz, tick_cost_s(timed))  # the rate this run's ticks can keep
        if self.hz < hz:
            warn(f"sampling at {self.hz:.1f} Hz instead of {hz:g}: one tick reads {len(timed)} GPU(s) "
                 f"{READS_PER_TICK} times at {max(timed) * 1000:.1f} ms a read")
        self.meter, self.period_s, self.sink, self.flush = meter, 1.0 / self.hz, sink, flush
        self.flush_every_s, self.clock = flush_every_s, clock
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bnbench-sampler", daemon=True)
        self._last_flush = clock()
        self.error: BaseException | None = None

    def tick(self) -> list[PowerSample]:
        """Take one round of samples, hand them to the sink, flush when a chunk is due."""
        samples = self.meter.sample()
        self.sink(samples)
        self.samples += 1
        now = self.clock()
        if now - self._last_flush >= self.flush_every_s:
            self.flush()
            self._last_flush = now
        return samples

    def _run(self) -> None:
        deadline = self.clock()
        try:
            while not self._stop.is_set():
                self.tick()
                deadline += self.period_s
                now = self.clock()
                if deadline < now:  # fell behind (a long read): skip the missed ticks instead of bursting
                    deadline = now + self.period_s
                self._stop.wait(deadline - now)
        except Exception as exc:  # noqa: BLE001 - the run goes on without its trace; stop() reports it
            self.error = exc

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and join the thread; take one last sample so the trace reaches the run's end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.error is None:
            self.tick()
