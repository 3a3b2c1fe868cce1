"""The sampler thread: power samples of a run at `sample_hz`, streamed to a sink in chunks.

Each tick reads every device meter of the run once (which also keeps RAPL's wrapping counter unwrapped) and
hands the samples to `sink`; every `flush_every_s` it calls `flush`, so a crash loses at most one chunk. Sink
and flush run in the sampler thread only; after `stop()` the caller owns them again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bnbench.energy.meter import Clock
from bnbench.energy.run_meter import PowerSample, RunMeter

MAX_HZ = 100.0
FLUSH_EVERY_S = 30.0


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
    ) -> None:
        if not 0 < hz <= MAX_HZ:
            raise ValueError(f"sample_hz must be in (0, {MAX_HZ:g}] (got {hz})")
        self.meter, self.period_s, self.sink, self.flush = meter, 1.0 / hz, sink, flush
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
