"""The run driver: where a training run and its measurements meet, and its results reach disk."""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import torch

from bnbench.data import task_metadata
from bnbench.display import Progress
from bnbench.results.manifest import now_iso
from bnbench.results.schema import curve_columns
from bnbench.results.store import ChunkWriter, RunStore, run_dir
from bnbench.scenario import RunSpec
from bnbench.train import EvalLog, StepLog, synchronize, train


class RunHooks:
    """The train loop's hooks for one run: phase windows, curve rows, progress, the stop flag."""

    def __init__(
        self, spec: RunSpec, device: torch.device, curves: ChunkWriter, progress: Progress, stop: threading.Event
    ) -> None:
        self.spec, self.device, self.curves, self.progress, self.stop = spec, device, curves, progress, stop
        self.metric, _, _, self.references = task_metadata(spec.task)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        # Synchronize at both edges, or a window measures kernel launches instead of the work.
        synchronize(self.device)
        try:
            yield
        finally:
            synchronize(self.device)

    def _row(self, kind: str, step: int, t_s: float) -> dict[str, Any]:
        return {"run_id": self.spec.run_id, "variant": self.spec.variant, "seed": self.spec.seed,
                "kind": kind, "step": step, "t_s": t_s}

    def on_log(self, log: StepLog) -> None:
        self.curves.append({**self._row("train", log.step, log.t_s), "loss": log.loss, "loss_max": log.loss_max})
        self.progress.logged(self.spec, log, None, None)

    def on_eval(self, log: EvalLog) -> None:
        self.curves.append({**self._row("eval", log.step, log.t_s), **log.metrics})
        self.curves.flush()
        self.progress.evaluated(self.spec, log)

    def should_stop(self) -> bool:
        return self.stop.is_set()


def execute_run(
    spec: RunSpec, device: torch.device, store: RunStore, progress: Progress, stop: threading.Event
) -> dict[str, Any]:
    """Train one run, stream its curves, append its row to runs.csv. An exception fails this run only."""
    metric, _, higher_is_better, references = task_metadata(spec.task)
    curves = store.writer("curves", spec.run_id, curve_columns(metric, references))
    hooks = RunHooks(spec, device, curves, progress, stop)
    row: dict[str, Any] = {"run_id": spec.run_id, "variant": spec.variant, "seed": spec.seed,
                           "device": str(device), "started_at": now_iso(), "energy_source": "none"}
    progress.started(spec, str(device))
    start = time.perf_counter()
    try:
        outcome, _ = train(spec, device, hooks)
        row.update(status=outcome.status, steps=outcome.steps, train_s=outcome.train_s)
        if outcome.evals:
            values = [e.metrics[metric] for e in outcome.evals]
            row[f"final_{metric}"] = values[-1]
            row[f"best_{metric}"] = max(values) if higher_is_better else min(values)
            row.update({r: outcome.evals[-1].metrics.get(r) for r in references})
        if outcome.status == "diverged":
            row["error"] = outcome.stop_reason
    except Exception as exc:  # noqa: BLE001 - one run's crash must not stop the others
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        (run_dir(store.root, spec.run_id) / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
    finally:
        curves.flush()
    row.update(wall_s=time.perf_counter() - start, ended_at=now_iso())
    store.consolidate("curves", spec.run_id)
    store.append_run(row)
    progress.finished(spec, row)
    return row
