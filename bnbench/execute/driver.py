"""The run driver: where a training run and its measurements meet, and its results reach disk."""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bnbench import checkpoint
from bnbench.data import task_metadata
from bnbench.energy.busy import BusyMean, advice, gpu_columns, under_busy
from bnbench.energy.columns import energy_columns
from bnbench.energy.devices import open_run_meter
from bnbench.energy.meter import warn_once
from bnbench.energy.meter_window import MeterWindow, window_line
from bnbench.energy.run_meter import EXCLUDED_PHASES, PowerSample, RunMeter
from bnbench.energy.sampler import Sampler
from bnbench.energy.shared_gpu import sharing_columns, sharing_state
from bnbench.errors import StorageError
from bnbench.execute.command import command_gpu_memory, is_command, run_command
from bnbench.execute.progress import Progress
from bnbench.execute.resume import RunPlan, checkpoint_dir
from bnbench.execute.runlog import ReportedFailure, RunLog, describe_error, is_out_of_memory
from bnbench.hooks import EvalLog, StepLog
from bnbench.results.load import load_manifest
from bnbench.results.manifest import now_iso
from bnbench.results.schema import POWER_COLUMNS, curve_columns
from bnbench.results.store import ChunkWriter, RunStore, run_dir
from bnbench.scenario import RunSpec

if TYPE_CHECKING:  # torch loads when a built-in run trains: a command's run needs none of it
    import torch


class StopFlag(Protocol):
    """What asks a run to stop: a threading.Event in a pool worker, the flag actor in a Ray task."""

    def is_set(self) -> bool: ...


class RunHooks:
    """The train loop's hooks for one run: phase windows, curve rows, progress, the stop flag."""

    def __init__(
        self, spec: RunSpec, device: torch.device | None, curves: ChunkWriter, progress: Progress,
        stop: StopFlag, meter: RunMeter | None = None,
    ) -> None:
        self.spec, self.device, self.curves, self.progress, self.stop = spec, device, curves, progress, stop
        self.meter = meter
        self.metric, _, _, self.references = task_metadata(spec.task)
        # Checkpointing: the results folder, the power writer, this run's log, what an earlier attempt carried
        # over (wall time, first start), when this attempt started, and the last step known to be done.
        self.root = curves.folder.parents[1]
        self.power: ChunkWriter | None = None
        self.log = RunLog(curves.folder)
        self.carried: dict[str, Any] = {}
        self.wall_start = time.perf_counter()
        self.step: int | None = None
        self.busy = BusyMean()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        # Synchronize at both edges, or a window measures kernel launches instead of the work (no device: a
        # command's run, whose GPU work is in its own processes).
        self._synchronize()
        if self.meter:
            self.meter.open(name)
        try:
            yield
        finally:
            self._synchronize()
            if self.meter:
                self.meter.close(name)

    def _synchronize(self) -> None:
        if self.device is not None:
            from bnbench.train import synchronize

            synchronize(self.device)

    def energy_j(self) -> float:
        """The run's measured energy so far, setup and warm-up excluded; NaN when unknown."""
        return self.meter.energy_j() if self.meter else math.nan

    def _row(self, kind: str, step: int, t_s: float) -> dict[str, Any]:
        return {"run_id": self.spec.run_id, "variant": self.spec.variant, "seed": self.spec.seed,
                "kind": kind, "step": step, "t_s": t_s}

    def on_log(self, log: StepLog) -> None:
        self.curves.append({**self._row("train", log.step, log.t_s), "loss": log.loss, "loss_max": log.loss_max})
        energy_j = self.energy_j()
        energy_wh = None if math.isnan(energy_j) else energy_j / 3600.0
        self.progress.logged(self.spec, log, self.meter.power_w() if self.meter else None, energy_wh)

    def on_eval(self, log: EvalLog) -> None:
        self.curves.append({**self._row("eval", log.step, log.t_s), **log.metrics, "energy_j": self.energy_j()})
        self.curves.flush()
        self.progress.evaluated(self.spec, log)

    def should_stop(self) -> bool:
        return self.stop.is_set()

    def on_checkpoint(self, step: int, state: dict[str, Any]) -> None:
        """Flush the rows up to `step`, then save the checkpoint with what the driver itself must carry over:
        the rows written per table (where a resumed run cuts them), the energy counted and the wall time."""
        folder = checkpoint_dir(self.root, self.spec.run_id)
        t0 = time.perf_counter()
        with storage_errors(f"checkpoint of {self.spec.run_id} at step {step}", folder):
            self.curves.flush()
            if self.power is not None:
                self.power.flush()
            carried = {
                **self.carried,
                "wall_s": self.carried.get("wall_s", 0.0) + time.perf_counter() - self.wall_start,
                "rows": {"curves": self.curves.written, "power": self.power.written if self.power else 0},
                "energy": self.meter.snapshot() if self.meter else None,
                "busy": self.busy.state(),
                "sharing": sharing_state(self.meter.parts, self.carried.get("sharing")) if self.meter else None,
                "power_t_s": self.carried.get("power_t_s", 0.0) + (
                    self.meter.clock() - self.meter.t0 if self.meter else 0.0),
            }
            path = checkpoint.save(folder, step, {**state, "run": carried}, keep=self.spec.train.keep_checkpoints)
        self.step = step
        self.log.event(f"checkpoint at step {step}: {path.name} ({time.perf_counter() - t0:.2f} s)")


@contextlib.contextmanager
def storage_errors(what: str, folder: Path) -> Iterator[None]:
    """An OSError writing results (disk full, permissions) becomes one StorageError line that names the last
    good checkpoint: the results folder cannot take more, so no later run could be saved either."""
    try:
        yield
    except OSError as exc:
        found, _ = checkpoint.latest_valid(folder) if folder.name == "checkpoints" else (None, [])
        kept = f"the last good checkpoint is {found.path}" if found else "no checkpoint of this run was lost"
        root = folder.parents[2] if folder.name == "checkpoints" else folder
        raise StorageError(
            f"cannot write the {what} in {folder}: {exc.strerror or exc}; {kept}. "
            f"Free space or fix permissions, then resume with --resume {root}"
        ) from exc


def execute_run(
    spec: RunSpec, device: torch.device | str, store: RunStore, progress: Progress, stop: StopFlag,
    plan: RunPlan | None = None, open_meter: Callable[..., RunMeter] = open_run_meter,
    devices: tuple[str, ...] | None = None, idle_w: dict[str, float | None] | None = None,
) -> dict[str, Any]:
    """Train one run, stream its curves, append its row to runs.csv. An exception fails this run only.

    With a `plan` from `resume.plan_runs`, a run attempted before continues from its newest intact checkpoint:
    its curve and power rows written after that checkpoint are dropped first, and its energy, wall time and
    start time carry over. StorageError when the results folder cannot be written.

    A run of `[task] name = "command"` runs its command (bnbench.execute.command) where a built-in run trains:
    the same meter, windows, rows and files. `devices` are the devices it holds (default: `device`), all of
    them visible to the command. `idle_w`: the idle watts its net energy is taken against, by device (default:
    the manifest's, this host's baseline; a run on a cluster's node passes its node's).
    """
    metric, _, higher_is_better, references = task_metadata(spec.task)
    log = RunLog(run_dir(store.root, spec.run_id))
    with storage_errors(f"results of {spec.run_id}", store.root):
        state = _resume_state(spec, store, plan, log)
        curves = store.writer("curves", spec.run_id, curve_columns(metric, references))
        power = store.writer("power", spec.run_id, POWER_COLUMNS)
    carried: dict[str, Any] = dict(state.get("run", {})) if state else {}
    # `open_meter`: a DDP run's rank 0 meters every device of the run once (bnbench.execute.ddp.group_meter).
    command = is_command(spec)
    # A command in this process: the CPU estimate counts the command's processes, not bnbench polling them.
    own = {"children_only": True} if command and open_meter is open_run_meter else {}
    if idle_w is None:
        idle_w = load_manifest(store.root).get("idle_w")
    meter = open_meter(str(device), spec.energy, idle_w=idle_w,
                       start_from=carried.get("energy"), **own)
    opened_s = time.time()  # the meter's first reading was just taken: its window's start, for run.log
    # A resumed run's power samples continue the time axis where its checkpoint left it (downtime not counted).
    power_offset_s = float(carried.get("power_t_s", 0.0))
    busy = BusyMean(carried.get("busy"))

    def sink(samples: list[PowerSample]) -> None:
        _power_rows(spec, samples, power, power_offset_s)
        busy.add(s.busy_pct for s in samples if s.phase is not None and s.phase not in EXCLUDED_PHASES)

    sampler = Sampler(meter, spec.energy.sample_hz, sink, power.flush)
    # A command's GPU work is its own processes': synchronizing here would only open a CUDA context in bnbench.
    hooks = RunHooks(spec, None if command else _torch_device(device), curves, progress, stop, meter)
    hooks.busy = busy
    carried.setdefault("started_at", now_iso())
    hooks.power, hooks.carried, hooks.log, hooks.step = power, carried, log, state["step"] if state else None
    row: dict[str, Any] = {"run_id": spec.run_id, "variant": spec.variant, "seed": spec.seed, "device": str(device),
                           "started_at": carried["started_at"], "energy_source": meter.energy_source}
    progress.started(spec, f"{device} ({meter.energy_source})")
    sampler.start()
    start = hooks.wall_start = time.perf_counter()
    out_of_memory = False
    try:
        if command:
            outcome = run_command(spec, hooks, devices or (str(device),), run_dir(store.root, spec.run_id), log.event,
                                  gpu_memory=command_gpu_memory(meter, spec.energy.sample_hz))
        else:
            cpu_start_s = time.process_time()
            from bnbench.train import train

            outcome, _ = train(spec, _torch_device(device), hooks, resume=state)
            outcome.cpu_s = time.process_time() - cpu_start_s
        row.update(status=outcome.status, steps=outcome.steps, train_s=outcome.train_s)
        if "cpu_s" in store.columns:  # a folder begun by an older bnbench has no such column
            row["cpu_s"] = outcome.cpu_s
        if outcome.loop and "loop" in store.columns:  # a folder begun before the loops were recorded has neither
            row.update(loop=outcome.loop, loop_note=outcome.loop_note)
            log.event(f"loop: {outcome.loop}" + (f" ({outcome.loop_note})" if outcome.loop_note else ""))
        if outcome.gpu_mem_peak_mib is not None and "gpu_mem_peak_mib" in store.columns:
            row["gpu_mem_peak_mib"] = outcome.gpu_mem_peak_mib
        if outcome.evals:
            values = [e.metrics[metric] for e in outcome.evals]
            row[f"final_{metric}"] = values[-1]
            row[f"best_{metric}"] = max(values) if higher_is_better else min(values)
            row.update({r: outcome.evals[-1].metrics.get(r) for r in references})
        if outcome.status == "diverged":
            row["error"] = outcome.stop_reason
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001 - one run's crash (an OOM included) must not stop the others
        row.update(status="failed", error=describe_error(exc))
        if isinstance(exc, ReportedFailure):  # a command that exited non-zero still took its time
            row.update({k: v for k, v in exc.figures.items() if k in store.columns})
        log.failure(exc, spec.run_id, str(device), hooks.step)
        out_of_memory = is_out_of_memory(exc)
    finally:
        sampler.stop()
        meter.close_parts()
        with storage_errors(f"curves and power of {spec.run_id}", store.root):
            curves.flush()
            power.flush()
    if row["status"] == "failed" and out_of_memory and str(device).startswith("cuda"):
        import torch

        gc.collect()  # the exception's frames are gone: give their tensors back so the next run has the memory
        torch.cuda.empty_cache()
    if sampler.error is not None:
        warn_once(f"{spec.run_id}: the power sampler stopped early ({sampler.error}); energy still counted")
    known = set(store.columns)  # a folder started by an older bnbench lacks the GPU, setup and measured_s columns
    energy = meter.result()
    log.event(window_line(MeterWindow(opened_s, time.time(), {p.key: p.total_j for p in meter.parts})))
    row.update({k: v for k, v in energy_columns(energy, spec.energy).items() if k in known})
    if "measured_s" in known:
        row["measured_s"] = energy.measured_s  # a resumed run's meter starts from its checkpoint's seconds
    extra = {**gpu_columns([p.gpu for p in meter.parts if p.gpu is not None]), "gpu_busy_pct": busy.mean_pct,
             **sharing_columns(sharing_state(meter.parts, carried.get("sharing")))}
    row.update({k: v for k, v in extra.items() if k in known})
    if under_busy(busy.mean_pct):
        warn_once(f"{spec.run_id} kept its GPU {busy.mean_pct:.0f}% busy (under half): {advice(busy.mean_pct)}")
    row.update(wall_s=carried.get("wall_s", 0.0) + time.perf_counter() - start, ended_at=now_iso())
    with storage_errors(f"results of {spec.run_id}", store.root):
        store.consolidate("curves", spec.run_id)
        store.consolidate("power", spec.run_id)
        store.append_run(row)
    log.event(f"{row['status']} after {row.get('steps')} steps, {row['wall_s']:.1f} s")
    progress.finished(spec, row)
    return row


def _torch_device(device: torch.device | str) -> torch.device:
    import torch

    return torch.device(device)


def _resume_state(spec: RunSpec, store: RunStore, plan: RunPlan | None, log: RunLog) -> dict[str, Any] | None:
    """The newest checkpoint's state of a run attempted before (None: start from step 0), with the run's rows
    cut back to what that checkpoint counted. A damaged newer checkpoint is passed over with a warning."""
    if plan is None or not run_dir(store.root, spec.run_id).exists():
        log.event("started")
        return None
    found, state, skipped = checkpoint.load_latest(checkpoint_dir(store.root, spec.run_id),
                                                       checkpoint.TRAINING_KEYS)
    for line in skipped:
        log.event(f"skipped a damaged checkpoint: {line}")
        warn_once(line)
    rows = state.get("run", {}).get("rows", {}) if state else {}
    for table in ("curves", "power"):
        store.rewind(table, spec.run_id, int(rows.get(table, 0)))
    log.event(f"resumed from {found.path.name} at step {found.step}" if found else "started over (no checkpoint)")
    return state


def _power_rows(spec: RunSpec, samples: list[PowerSample], power: ChunkWriter, offset_s: float = 0.0) -> None:
    for sample in samples:
        power.append({"run_id": spec.run_id, "device": sample.device, "t_s": offset_s + sample.t_s,
                      "power_w": math.nan if sample.power_w is None else sample.power_w, "phase": sample.phase,
                      "gpu_busy_pct": math.nan if sample.busy_pct is None else sample.busy_pct})
