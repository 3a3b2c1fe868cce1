"""What an executor tells about its runs as they go: the `Progress` protocol, and `SilentProgress`, which shows
nothing (benchmarks, library use, `bnbench measure`).

The executors and the run driver call it; what the terminal shows (a live table, plain lines) implements it in
bnbench/rendering/display.py. Workers in other processes send the same calls as events (execute/events.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from bnbench.scenario import RunSpec

if TYPE_CHECKING:  # annotations only: the pool's modules must not import torch (bnbench.execute.local)
    from bnbench.hooks import EvalLog, StepLog


class Progress(Protocol):
    def started(self, spec: RunSpec, device: str) -> None: ...

    def logged(self, spec: RunSpec, log: StepLog, power_w: float | None, energy_wh: float | None) -> None: ...

    def evaluated(self, spec: RunSpec, log: EvalLog) -> None: ...

    def finished(self, spec: RunSpec, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class SilentProgress:
    """Shows nothing: for benchmarks and library use."""

    def started(self, spec: RunSpec, device: str) -> None:
        pass

    def logged(self, spec: RunSpec, log: StepLog, power_w: float | None, energy_wh: float | None) -> None:
        pass

    def evaluated(self, spec: RunSpec, log: EvalLog) -> None:
        pass

    def finished(self, spec: RunSpec, row: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass
