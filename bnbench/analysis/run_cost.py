"""What a full run costs, from a pilot's runs: a step of training, an evaluation and a checkpoint each priced on
their own, then counted as the training loop schedules them in the full run.

Scaling a pilot's whole cost per step over-prices a full run from a short pilot: a pilot of 20 steps still
evaluates once at its end and checkpoints once, so its cost per step carries a whole evaluation every 20 steps
where a full run evaluates every `eval_every`.

Seconds: the loop's `train_s` holds the steps, the evaluations and the checkpoints between blocks, not the final
checkpoint; `measured_s - train_s` is that final checkpoint. An evaluation's seconds are its curves row's `t_s`
less the row before it (the loss logged at the same step, just before the evaluation starts). Joules: the phase
columns (`energy_train_j` holds no evaluation or checkpoint: nested windows are charged to themselves); a folder
without them spreads `energy_j` over the phases by their seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Schedule:
    """What a run of `steps` steps does: its evaluations and checkpoints as the training loop schedules them."""

    steps: int
    evals: int
    checkpoints: int


def schedule(max_steps: int, eval_every: int, checkpoint_every: int | None) -> Schedule:
    """The loop evaluates at every multiple of `eval_every` and at `max_steps` (never at step 0); it checkpoints
    at every multiple of `checkpoint_every` (unset: `eval_every`) short of `max_steps`, and once at the end.
    Checkpoints forced by `checkpoint_every_s` depend on the clock and are not counted."""
    every = checkpoint_every or eval_every
    return Schedule(max_steps, math.ceil(max_steps / eval_every), (max_steps - 1) // every + 1)


@dataclass(frozen=True)
class UnitCost:
    """A variant's pilot runs, per unit of work (means over its completed runs). Joules NaN when unmeasured."""

    step_s: float
    eval_s: float
    checkpoint_s: float
    step_j: float
    eval_j: float
    checkpoint_j: float

    def run_s(self, s: Schedule) -> float:
        return s.steps * self.step_s + s.evals * self.eval_s + s.checkpoints * self.checkpoint_s

    def run_j(self, s: Schedule) -> float:
        return s.steps * self.step_j + s.evals * self.eval_j + s.checkpoints * self.checkpoint_j


def eval_seconds(curves: pd.DataFrame) -> pd.Series:
    """Per run: the seconds its evaluations took, added up (each eval row's t_s less the row logged before it)."""
    rows = curves[["run_id", "kind", "t_s"]].copy()
    rows["t_s"] = pd.to_numeric(rows["t_s"], errors="coerce")
    rows["order"] = (rows["kind"] == "eval").astype(int)  # at equal t_s the step's loss row comes first
    rows = rows.sort_values(["run_id", "t_s", "order"], kind="stable")
    took = rows["t_s"] - rows.groupby("run_id")["t_s"].shift()
    evals = rows["kind"] == "eval"
    return took[evals].clip(lower=0).groupby(rows.loc[evals, "run_id"]).sum()


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(runs[name], errors="coerce") if name in runs else pd.Series(math.nan, index=runs.index)


def unit_cost(runs: pd.DataFrame, curves: pd.DataFrame, variant: str, eval_every: int,
              checkpoint_every: int | None) -> UnitCost:
    """What a step, an evaluation and a checkpoint of `variant` cost in its completed pilot runs. A run whose
    loop time or evaluations are not recorded is priced per step, all of its measured seconds in its steps."""
    done = runs[(runs["variant"] == variant) & (runs["status"] == "completed")]
    done = done[_column(done, "steps") > 0]
    kinds = curves[curves["run_id"].isin(done["run_id"])] if len(curves) else curves
    evals = (kinds[kinds["kind"] == "eval"].groupby("run_id").size() if len(kinds) else pd.Series(dtype=int))
    eval_s = eval_seconds(kinds) if len(kinds) else pd.Series(dtype=float)
    # A folder begun before runs.csv had measured_s: its wall time, as the summary takes it (run_figures).
    measured = _column(done, "measured_s" if "measured_s" in done else "wall_s")
    parts: list[tuple[float, float, float, float, float, float]] = []
    for (_, run), measured_s in zip(done.iterrows(), measured, strict=True):
        steps, train_s = int(run["steps"]), _float(run, "train_s")
        n_evals = int(evals.get(run["run_id"], 0))
        ckpts = schedule(steps, eval_every, checkpoint_every).checkpoints
        if math.isfinite(train_s) and n_evals:
            one_eval_s = float(eval_s.get(run["run_id"], 0.0)) / n_evals
            one_ckpt_s = max(measured_s - train_s, 0.0)  # the final checkpoint, outside the loop's seconds
            # the loop's seconds hold the evaluations and the checkpoints before the last
            step_s = (train_s - n_evals * one_eval_s - (ckpts - 1) * one_ckpt_s) / steps
        else:
            n_evals, one_eval_s, one_ckpt_s, step_s = 0, 0.0, 0.0, measured_s / steps
        energy_j = _float(run, "energy_j")
        phase = [_float(run, f"energy_{p}_j") for p in ("train", "eval", "checkpoint")]
        if n_evals and all(math.isfinite(j) for j in phase):
            joules = (phase[0] / steps, phase[1] / n_evals, phase[2] / ckpts)
        else:  # no phase joules: the run's mean power over each phase's seconds
            watts = energy_j / measured_s if measured_s > 0 else math.nan
            joules = (step_s * watts, one_eval_s * watts, one_ckpt_s * watts)
        parts.append((step_s, one_eval_s, one_ckpt_s, *joules))
    return UnitCost(*(_mean([p[i] for p in parts]) for i in range(6)))


def _float(run: pd.Series, name: str) -> float:
    return float(pd.to_numeric(run.get(name, math.nan), errors="coerce"))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else math.nan
