"""GPU busy %: how much of a run's time its GPU spent running kernels, from NVML utilization samples.

NVML's `gpu` utilization is the percent of its last sample period (1/6 s to 1 s, by GPU) in which at least one
kernel ran. A run whose GPU is under half busy is dominated by kernel launches, the Python loop and idle power:
its joules say more about the harness than about the trick being compared.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

UNDER_BUSY_PCT = 50.0
TARGET_BUSY_PCT = 80.0  # what packing aims for: busy enough to pay its static power, short of contention
MAX_RUNS_PER_GPU = 8
ADVICE = ("launch overhead and idle power dominate its time and energy; raise the batch size, capture the step "
          "in a CUDA graph (train.graph = true) or pack several runs on the GPU (--runs-per-gpu K)")


def suggest_runs_per_gpu(busy_pct: float | None) -> int:
    """The runs to pack on a GPU that one run keeps `busy_pct` busy: as many as fit under TARGET_BUSY_PCT if busy %
    added up (80 / 25 -> 3), at least 1 and at most MAX_RUNS_PER_GPU; 1 when unknown."""
    if busy_pct is None or math.isnan(busy_pct) or busy_pct <= 0:
        return 1 if busy_pct is None or math.isnan(busy_pct) else MAX_RUNS_PER_GPU
    return max(1, min(MAX_RUNS_PER_GPU, int(TARGET_BUSY_PCT // busy_pct)))


def advice(busy_pct: float | None) -> str:
    """ADVICE with the K that `busy_pct` suggests."""
    k = suggest_runs_per_gpu(busy_pct)
    return ADVICE.replace("--runs-per-gpu K", f"--runs-per-gpu {k}") if k > 1 else ADVICE


class BusyMean:
    """The mean busy % of a run's GPUs over its measured phases; thread-safe (the sampler thread adds)."""

    def __init__(self, carried: Mapping[str, Any] | None = None) -> None:
        self.lock = threading.Lock()
        self.sum_pct = float((carried or {}).get("sum_pct", 0.0))
        self.n = int((carried or {}).get("n", 0))

    def add(self, values: Iterable[float | None]) -> None:
        with self.lock:
            for v in values:
                if v is not None and not math.isnan(v):
                    self.sum_pct += v
                    self.n += 1

    @property
    def mean_pct(self) -> float:
        """NaN when no GPU sample said (a CPU run, a GPU without utilization): never 0."""
        with self.lock:
            return self.sum_pct / self.n if self.n else math.nan

    def state(self) -> dict[str, Any]:
        """What a checkpoint carries, so a resumed run's mean covers its earlier attempts."""
        with self.lock:
            return {"sum_pct": self.sum_pct, "n": self.n}


def under_busy(pct: float | None) -> bool:
    return pct is not None and not math.isnan(pct) and pct < UNDER_BUSY_PCT


def gpu_columns(gpus: Sequence[Any]) -> dict[str, str]:
    """runs.csv's `gpu_name` and `gpu_uuid` of a run's GPUs (identities; several joined by '+'); empty for none."""
    names = list(dict.fromkeys(g.name or "?" for g in gpus))
    return {"gpu_name": "+".join(names), "gpu_uuid": "+".join(g.uuid for g in gpus)} if gpus else {}
