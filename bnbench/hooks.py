"""What a run reports while it trains, and how it ended: the types the training loop (bnbench.train), a command's
run (bnbench.execute.command) and the run driver share. No torch here: a command's run never imports it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["completed", "diverged", "failed", "interrupted"]
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class StepLog:
    """Training loss over the `log_every` steps ending at `step`; `t_s` counts from the first step."""

    step: int
    t_s: float
    loss: float
    loss_max: float


@dataclass(frozen=True)
class EvalLog:
    step: int
    t_s: float
    metrics: dict[str, float]


@dataclass
class Outcome:
    status: Status
    steps: int
    train_s: float
    evals: list[EvalLog] = field(default_factory=list)
    stop_reason: str = ""
    cpu_s: float | None = None  # CPU seconds the training used (a command: its processes'), None: not counted
    gpu_mem_peak_mib: float | None = None  # a command's processes' peak GPU memory (NVML, sampled); None: unknown
    loop: str = ""  # the training loop that ran: eager, graph or compile:<mode> ('' for a command's run)
    loop_note: str = ""  # why that loop is not the one the run asked for ('' when it is)


class Hooks(Protocol):
    def phase(self, name: str) -> contextlib.AbstractContextManager[None]:
        """A window around `name` work ('setup', 'warmup', 'train', 'eval', 'checkpoint'); the device is
        synchronized inside."""
        ...

    def on_log(self, log: StepLog) -> None: ...

    def on_eval(self, log: EvalLog) -> None: ...

    def on_checkpoint(self, step: int, state: dict[str, Any]) -> None:
        """Persist `state` (see bnbench.checkpoint), taken after `step` steps; curve rows up to `step` are final."""
        ...

    def should_stop(self) -> bool: ...


