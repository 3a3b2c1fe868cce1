"""The Slurm executor (`bnbench run SCENARIO --executor slurm`): each run a Slurm job, through submitit.

The runs still to train go to the cluster as one job array (an adaptive session: one array per round), each job
asking the `[slurm]` table's partition, GPUs, CPUs, memory and time. A job trains its run on a compute node
(bnbench.execute.slurm_job) with the results folder on shared storage; this process replays the events the jobs
spool there, so it alone writes the folder's shared files, as with the other executors.

Every job id is recorded in the folder (`slurm/jobs.json`) as soon as it is known. A session that ends without
waiting for its jobs (killed, or its login shell gone) leaves them queued or running, and `--resume` reattaches
to those still in Slurm's queue instead of submitting them again; the others resume from their checkpoints as
new jobs. A stop (Ctrl-C, SIGTERM) asks the running jobs to checkpoint and end, and cancels those still pending.

submitit is optional: `pip install 'bnbench[slurm]'`. Every node needs bnbench in the same Python environment.
"""

from __future__ import annotations

import contextlib
import getpass
import math
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnbench.errors import UserError
from bnbench.execute.events import EventReplay, Where
from bnbench.execute.progress import Progress
from bnbench.execute.resume import FINISHED, finished_rows, plan_runs
from bnbench.execute.slurm_job import JobFolder, JobSettings, SlurmRun, read_spool
from bnbench.results.atomic import atomic_write_text
from bnbench.results.manifest import now_iso
from bnbench.results.store import RunStore
from bnbench.scenario import EnergyConfig, RunSpec, Scenario, SlurmConfig, TrainConfig

if TYPE_CHECKING:
    from rich.console import Console

_POLL_S = 0.25
# squeue is asked every 10 s (a cluster's controller serves every user's), every second once a run has its row
# and its job is about to leave the queue; queued jobs' spools are looked at every 5 s, running jobs' at each poll.
_QUEUE_EVERY_S = 10.0
_ENDING_QUEUE_EVERY_S = 1.0
_PENDING_EVERY_S = 5.0
_STOP_WAIT_S = 120.0  # after a stop, how long to wait for running jobs to checkpoint; a resume reattaches the rest
COMMANDS = ("sbatch", "squeue", "scancel", "srun")
# Job states in which a job may still train: queued, running, or on its way back to the queue.
ALIVE = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD",
                   "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"})


def _import_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise UserError("--executor slurm needs submitit: pip install 'bnbench[slurm]'") from None
    return submitit


def queue_states(run: Callable[..., Any] = subprocess.run) -> dict[str, str] | None:
    """This user's jobs in Slurm's queue (recently ended ones included), {job id: state}, an array's tasks
    each by its own id ('123_4'); None when squeue did not answer (slurmctld busy: ask again later)."""
    try:
        shown = run(["squeue", "-h", "-r", "-t", "all", "-u", getpass.getuser(), "-o", "%i|%T"],
                    capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if shown.returncode != 0:
        return None
    states = {}
    for line in shown.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            states[job] = state.strip()
    return states


class SlurmExecutor:
    """What each run's job asks of the cluster, and the jobs of this session."""

    def __init__(self, submitit: Any, settings: SlurmConfig, name: str, say: Callable[[str], None]) -> None:
        self.submitit, self.settings, self.name, self.say = submitit, settings, name, say
        self.session = uuid.uuid4().hex[:12]
        self.root: Path | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return self.run_matrix(*args, **kwargs)

    @classmethod
    def connect(cls, scenario: Scenario, requested: str | Sequence[str], say: Callable[[str], None]
                ) -> SlurmExecutor:
        """Check that jobs can be submitted from here and that the scenario fits one GPU or the CPU per job.
        UserError (before any results folder exists) when submitit or Slurm's commands are missing."""
        submitit = _import_submitit()
        if scenario.scenario.gpus_per_run > 1:
            raise UserError("gpus_per_run > 1 runs with the local executor (one host); with --executor slurm each "
                            "run's job uses one GPU at most ([slurm] gpus)")
        if scenario.scenario.runs_per_gpu > 1:
            raise UserError("runs_per_gpu > 1 is for the local executor: on Slurm, each job holds its GPU whole")
        wanted = [requested] if isinstance(requested, str) else list(requested)
        gpus = scenario.slurm.gpus
        if gpus == 0 and any(r.strip().lower().startswith("cuda") for r in wanted):
            raise UserError("the runs ask for a GPU but [slurm] gpus = 0; set [slurm] gpus = 1 (or --gpus 1), or "
                            "use --device cpu")
        if gpus and all(r.strip().lower() == "cpu" for r in wanted):
            raise UserError("[slurm] gpus = 1 but the runs train on the CPU; set [slurm] gpus = 0 or --device auto")
        missing = [c for c in COMMANDS if shutil.which(c) is None]
        if missing:
            raise UserError(f"--executor slurm needs Slurm's commands ({', '.join(missing)} not found on PATH); "
                            "run bnbench where jobs are submitted (a login node)")
        return cls(submitit, scenario.slurm, scenario.name, say)

    @property
    def slots(self) -> int:
        """Runs that train at once, as far as the hand-out order is concerned: as the cluster schedules them."""
        return 1

    def threads(self, train: TrainConfig) -> int:
        """A run's torch threads: its `threads`, else its job's CPUs."""
        return train.threads or self.settings.cpus or 1

    def idle_baseline(self, config: EnergyConfig, console: Console) -> dict[str, Any]:
        """No baseline here, where nothing trains: the first job of the session on each node meters that node's
        (bnbench.execute.slurm_job.node_baseline); `manifest_entries` collects them."""
        if config.idle_s > 0:
            self.say(f"idle baseline: {config.idle_s:g} s on each node, by the first job of this session there")
        return {"idle_w": {}, "idle_sources": {}, "idle_nodes": {}, "idle_s": config.idle_s}

    def manifest_entries(self) -> dict[str, Any]:
        """What the jobs learned for the manifest: each node's idle baseline."""
        return {"idle_nodes": JobFolder(self.root).idle_nodes(self.session)} if self.root is not None else {}

    def _submit(self, specs: list[RunSpec], store: RunStore, folder: JobFolder) -> dict[str, str]:
        """Submit `specs` as one job array; {run id: job id}. UserError when sbatch refuses it."""
        from bnbench.execute.pool import with_threads

        cpus = self.settings.cpus or max(s.train.threads or 1 for s in specs)
        executor = self.submitit.SlurmExecutor(folder=folder.submitit, max_num_timeout=self.settings.requeues)
        parameters: dict[str, Any] = {"job_name": f"bnbench-{self.name}", "time": self.settings.time_min,
                                      "cpus_per_task": cpus, "signal_delay_s": self.settings.signal_s,
                                      "nodes": 1, "ntasks_per_node": 1}
        if self.settings.partition:
            parameters["partition"] = self.settings.partition
        if self.settings.gpus:
            parameters["gpus_per_node"] = self.settings.gpus
        if self.settings.mem_gb:
            parameters["mem"] = f"{math.ceil(self.settings.mem_gb * 1024)}M"
        executor.update_parameters(**parameters)
        job = SlurmRun(JobSettings(str(store.root.resolve()), store.columns, self.session, bool(self.settings.gpus)))
        try:  # each run with the threads the manifest records for it (`threads`)
            jobs = executor.map_array(job, [with_threads(s, self.threads(s.train)) for s in specs])
        except Exception as exc:  # noqa: BLE001 - submitit wraps sbatch's refusal in several types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            raise UserError(f"sbatch refused the jobs: {first}") from None
        finally:
            for path in folder.submitit.glob(".submission_file_*"):  # submitit's links: a results folder has none
                if path.is_symlink():
                    path.unlink()
        return {spec.run_id: str(j.job_id) for spec, j in zip(specs, jobs, strict=True)}

    def run_matrix(
        self, specs: list[RunSpec], devices: list[str], store: RunStore, progress: Progress, stop: threading.Event
    ) -> list[dict[str, Any]]:
        """Every run not yet finished in `store` as a Slurm job (or the job an earlier session left queued or
        running); their events applied here as they arrive, until every job has ended."""
        self.root = store.root
        folder = JobFolder(store.root)
        folder.stop_file.unlink(missing_ok=True)  # a new session: an earlier one's stop is over
        rows: dict[str, dict[str, Any]] = {}
        plans = plan_runs(store.root, specs)
        for spec, row in finished_rows(plans):
            rows[spec.run_id] = row
            progress.finished(spec, row)
        todo = {p.spec.run_id: p.spec for p in plans if p.action != "skip"}
        recorded = folder.jobs()
        # The jobs an earlier session submitted for these runs: what they spooled that it did not replay (it was
        # killed) is replayed first; those still in Slurm's queue are followed, not submitted again.
        watch = _Watch(folder, store, progress, {recorded[run]: todo[run] for run in todo if run in recorded})
        # The queue first, then the spools: a job that spools its last events and leaves the queue in between is
        # then still alive here, and what it spooled is replayed before it is forgotten (as `follow` does).
        states = queue_states()
        if states is None:
            raise UserError("squeue did not answer, so which of this folder's jobs are still queued is unknown; "
                            "try again in a minute")
        watch.drain()
        for job, spec in list(watch.jobs.items()):
            if states.get(job) not in ALIVE:
                watch.forget(job)
                if spec.run_id in watch.last and watch.last[spec.run_id]["status"] in (*FINISHED, "failed"):
                    del todo[spec.run_id]  # it ended while no session was watching
        if watch.jobs:
            self.say(f"reattached to {len(watch.jobs)} job(s) an earlier session left in Slurm's queue "
                     f"({', '.join(sorted(watch.jobs))}); they are not submitted again")
        attached = {spec.run_id for spec in watch.jobs.values()}
        fresh = [spec for run, spec in todo.items() if run not in attached]
        if fresh and not stop.is_set():
            submitted = self._submit(fresh, store, folder)
            folder.record_jobs(submitted)
            watch.jobs.update({job: todo[run] for run, job in submitted.items()})
            self.say(f"submitted {len(submitted)} job(s) to Slurm: {', '.join(submitted.values())}")
        watch.follow(stop)
        return [*rows.values(), *watch.rows()]


class _Watch:
    """The jobs of a session, followed until each has ended: their events replayed, a run whose job ended
    without its row failed with the reason."""

    def __init__(self, folder: JobFolder, store: RunStore, progress: Progress, jobs: dict[str, RunSpec]) -> None:
        self.folder, self.jobs = folder, dict(jobs)
        self.replay = EventReplay(store, progress)
        self.wheres: dict[str, Where] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.taken: set[Path] = set()  # `where` events, kept for a later session that replays the rest
        self.states: dict[str, str] = {}  # as squeue last said

    def rows(self) -> list[dict[str, Any]]:
        """The last row of each run (a requeued run's interrupted row is followed by its final one)."""
        return list(self.last.values())

    def drain(self, pending: bool = True) -> None:
        """Replay what the jobs spooled; `pending`: of the jobs last seen queued too."""
        for job, spec in self.jobs.items():
            if not pending and self.states.get(job) == "PENDING":
                continue  # spare a shared file system a listing per queued job at each poll
            # Applied, then deleted: a session killed between the two applies that event again on resume, a
            # narrower loss than the other order's.
            for path, event in read_spool(self.folder.events(job), skip=self.taken):
                if event[0] == "where":
                    self.wheres[job] = event[1]
                    self.taken.add(path)
                    continue
                self.replay.apply(event, self.wheres.get(job, Where(f"slurm job {job}", "", {})))
                if event[0] == "row":
                    self.last[spec.run_id] = self.replay.rows[-1]
                path.unlink(missing_ok=True)

    def follow(self, stop: threading.Event) -> None:
        """Replay the jobs' events until every job has left Slurm's queue (a requeued job stays in it: its run's
        interrupted row is followed by the row of its next attempt)."""
        queried, drained, stopping, deadline = -math.inf, -math.inf, False, math.inf
        while self.jobs:
            if stop.is_set() and not stopping:
                stopping, deadline = True, time.monotonic() + _STOP_WAIT_S
                self._stop()
            every_job = time.monotonic() - drained >= _PENDING_EVERY_S
            drained = time.monotonic() if every_job else drained
            self.drain(pending=every_job)
            ending = any(self._has_row(job) for job in self.jobs)
            if time.monotonic() - queried >= (_ENDING_QUEUE_EVERY_S if ending or stopping else _QUEUE_EVERY_S):
                queried = time.monotonic()
                states = queue_states()
                if states is not None:
                    self.states = states
                    gone = [j for j in self.jobs if states.get(j) not in ALIVE]
                    self.drain()  # what a job sent before it ended (a job just started included)
                    for job in gone:
                        row = self.last.get(self.jobs[job].run_id)
                        # An interrupted run whose job was not requeued (out of requeues) resumes with --resume.
                        if not stopping and (row is None or row["status"] not in (*FINISHED, "failed", "interrupted")):
                            self._fail(job, states.get(job))
                        self.forget(job)
            if stopping and time.monotonic() > deadline:
                return  # still running: a resume reattaches to them
            time.sleep(_POLL_S)

    def _has_row(self, job: str) -> bool:
        """Whether `job`'s run has its final row (its job then leaves the queue within seconds)."""
        row = self.last.get(self.jobs[job].run_id)
        return row is not None and row["status"] in (*FINISHED, "failed")

    def forget(self, job: str) -> None:
        """Stop following `job`, which has ended and whose events are all replayed: its spool goes."""
        self.jobs.pop(job, None)
        spool = self.folder.events(job)
        for path in spool.glob("*.pkl"):
            path.unlink(missing_ok=True)
            self.taken.discard(path)
        with contextlib.suppress(OSError):
            spool.rmdir()

    def _stop(self) -> None:
        """Ask the running jobs to checkpoint and end (the stop file), and cancel the pending ones."""
        atomic_write_text(self.folder.stop_file, now_iso() + "\n")
        states = queue_states() or {}
        pending = [j for j in self.jobs if states.get(j) == "PENDING"]
        if pending:
            subprocess.run(["scancel", *pending], capture_output=True, timeout=60, check=False)

    def _fail(self, job: str, state: str | None) -> None:
        spec = self.jobs[job]
        where = self.wheres.get(job, Where(f"slurm job {job}", "", {}))
        self.last[spec.run_id] = self.replay.fail(spec, _why(self.folder, job, state), None, where)


def _why(folder: JobFolder, job: str, state: str | None) -> str:
    """One line on why a job ended without its run's row: the exception its function raised, else its state."""
    import pickle

    from submitit.core.utils import JobPaths

    paths = JobPaths(folder.submitit, job_id=job, task_id=0)
    try:
        outcome, result = pickle.loads(paths.result_pickle.read_bytes())
    except (OSError, ValueError, EOFError, pickle.UnpicklingError):
        outcome, result = None, None
    if outcome == "error":
        last = (str(result).strip().splitlines() or ["an error"])[-1]
        return f"Slurm job {job} failed: {last} (log: {paths.stderr})"
    return f"Slurm job {job} ended ({state or 'gone from the queue'}) without its run's result (log: {paths.stderr})"
