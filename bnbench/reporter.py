"""Report a training script's progress to bnbench: losses, evaluations and phases. Standard library only.

    from bnbench.reporter import Reporter

    report = Reporter()
    report.log(step, loss=loss.item())            # a training loss: a curve row
    with report.phase("eval"):                    # the energy of this block is the 'eval' phase's
        accuracy = evaluate(model)
    report.evaluate(step, val_accuracy_pct=accuracy)

Under `bnbench run` or `bnbench measure`, each call writes one JSON line to the file named by the environment
variable BNBENCH_REPORT (a pipe bnbench reads as the command runs). Anywhere else the calls do nothing, so the
script runs unchanged without bnbench. Only the process of rank 0 (the RANK variable of torchrun, unset for a
plain script) reports. This file has no dependency but Python itself: copy it next to a script whose
environment lacks bnbench.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import IO, Any

ENV = "BNBENCH_REPORT"
PHASES = ("eval", "checkpoint")


class Reporter:
    """Writes a run's events for bnbench; a no-op when BNBENCH_REPORT is unset or this is not rank 0."""

    def __init__(self, path: str | None = None) -> None:
        path = path if path is not None else os.environ.get(ENV)
        self._out: IO[str] | None = None
        if path and os.environ.get("RANK", "0") == "0":
            try:  # not blocking: if nobody reads the pipe any more, report nothing rather than hang
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
                os.set_blocking(fd, True)
                self._out = os.fdopen(fd, "w", buffering=1, encoding="utf-8")
            except OSError:
                self._out = None

    @property
    def active(self) -> bool:
        """True when the events reach bnbench."""
        return self._out is not None

    def _write(self, event: dict[str, Any]) -> None:
        if self._out is None:
            return
        try:
            self._out.write(json.dumps(event) + "\n")
        except OSError:  # bnbench went away (a broken pipe): the script goes on
            self._out = None

    def log(self, step: int, **metrics: float) -> None:
        """Training figures after `step` steps, e.g. `log(100, loss=0.42)`; `loss` is the one curves hold."""
        self._write({"event": "log", "step": int(step), "metrics": _numbers(metrics)})

    def evaluate(self, step: int, **metrics: float) -> None:
        """An evaluation after `step` steps, e.g. `evaluate(100, val_accuracy_pct=93.1, val_loss=0.21)`."""
        self._write({"event": "eval", "step": int(step), "metrics": _numbers(metrics)})

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A block of 'eval' or 'checkpoint' work: its energy is charged to that phase, not to training.
        Synchronize the GPU at the block's edges (torch.cuda.synchronize()) so the window holds the work."""
        if name not in PHASES:
            raise ValueError(f"unknown phase '{name}' (phases: {', '.join(PHASES)})")
        self._write({"event": "phase", "phase": name, "edge": "open"})
        try:
            yield
        finally:
            self._write({"event": "phase", "phase": name, "edge": "close"})

    def close(self) -> None:
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """Plain floats (a 0-d tensor or a NumPy number works too); NaN and infinities are written as JSON's NaN."""
    return {key: float(value) for key, value in metrics.items()}
