"""One run as a Slurm job: the part of `bnbench run --executor slurm` that runs on a compute node.

The job trains with the ordinary driver against a `ShippingStore` rooted in the results folder itself (shared
storage): its checkpoints and log go straight to its run's folder, where a requeued attempt finds them, while
its curve rows, power samples, runs.csv row and progress are events, each pickled into a file of the job's spool
(`slurm/events/JOB/`), which the submitting process replays onto the results folder. Only that process writes
the shared files, as with every other executor.

A job is idempotent: it plans its run from the folder (`resume.plan_runs`) each time it starts, so a job that
Slurm or submitit requeued (a preemption, a time-out) continues from the run's newest checkpoint, and one whose
run finished meanwhile does nothing. When Slurm signals the job before its time limit, submitit calls
`SlurmRun.checkpoint`: the run stops after its step and saves a checkpoint, then the job is requeued. On SIGTERM
(a cancel, a preemption's grace time) the run stops the same way, and Slurm requeues it or not.

Energy on the node (bnbench.execute.node): the first job of a session on a node meters that node's idle baseline
while the session's other jobs there wait, so each run's net energy is taken against its own node.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnbench.execute.events import Event, ShippingProgress, ShippingStore, Where
from bnbench.results.atomic import atomic_write, atomic_write_text
from bnbench.scenario import EnergyConfig, RunSpec

FOLDER = "slurm"  # in the results folder: what the executor and its jobs share
_STOP_EVERY_S = 1.0
_CHECKPOINT_WAIT_S = 60.0  # how long a signalled job waits for its run's checkpoint before it is requeued


@dataclass(frozen=True)
class JobFolder:
    """The `slurm/` folder of a results folder: job ids, submitit's files, the jobs' event spools, the nodes'
    idle baselines and the stop file."""

    root: Path

    @property
    def base(self) -> Path:
        return self.root / FOLDER

    @property
    def jobs_file(self) -> Path:
        return self.base / "jobs.json"

    @property
    def submitit(self) -> Path:
        return self.base / "submitit"

    def idle(self, session: str) -> Path:
        """The nodes' idle baselines of one session: a resume days later measures its nodes again."""
        return self.base / "idle" / session

    @property
    def stop_file(self) -> Path:
        return self.base / "stop"

    def events(self, job_id: str) -> Path:
        return self.base / "events" / job_id

    def jobs(self) -> dict[str, str]:
        """The job id of each run's latest submission ({} when nothing was submitted yet)."""
        try:
            found = json.loads(self.jobs_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def record_jobs(self, jobs: dict[str, str]) -> None:
        """Add run -> job id entries, written at once (before anything waits on them), so that a later --resume
        knows which of its runs are queued or running."""
        atomic_write_text(self.jobs_file, json.dumps({**self.jobs(), **jobs}, indent=1, sort_keys=True))

    def idle_nodes(self, session: str) -> dict[str, Any]:
        """{node: {idle_w, idle_sources}} of every node whose baseline a job of `session` measured."""
        found = {}
        folder = self.idle(session)
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                found[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        return found


class Spool:
    """A job's events, one file each, named so that sorting them gives the order they were sent in across the
    job's attempts (a requeued job is the same job: its attempt number grows)."""

    def __init__(self, folder: Path, attempt: int) -> None:
        self.folder = folder
        self.prefix = f"{attempt:04d}-{time.time_ns():020d}"
        self.sequence = 0
        self.lock = threading.Lock()  # the power sampler flushes from its own thread
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, event: Event) -> None:
        data = pickle.dumps(event)
        with self.lock:
            self.sequence += 1
            atomic_write(self.folder / f"{self.prefix}-{self.sequence:08d}.pkl", lambda tmp: tmp.write_bytes(data))


def read_spool(folder: Path, skip: set[Path] | frozenset[Path] = frozenset()) -> list[tuple[Path, Event]]:
    """A job's events not yet taken (nor in `skip`), in the order sent. A file being written is not among them
    (it is a temporary until it is complete)."""
    if not folder.is_dir():
        return []
    return [(path, pickle.loads(path.read_bytes())) for path in sorted(folder.glob("*.pkl")) if path not in skip]


class StopFlag:
    """A job's stop flag: set by a signal here (`local`) or by the submitting process (the stop file), the file
    looked at once a second at most."""

    def __init__(self, path: Path, local: threading.Event) -> None:
        self.path, self.local = path, local
        self.checked, self.value = 0.0, False

    def is_set(self) -> bool:
        if self.local.is_set():
            return True
        now = time.monotonic()
        if not self.value and now - self.checked >= _STOP_EVERY_S:
            self.checked = now
            self.value = self.path.exists()
        return self.value


def node_baseline(folder: Path, node: str, measure: Callable[[], dict[str, Any]], wait_s: float
                  ) -> dict[str, Any] | None:
    """The idle baseline of `node`: read when a job of the session measured it, else measured now by the first
    job to claim it (the others wait up to `wait_s` for it, training nothing meanwhile). None when the job that
    claimed it never wrote it (it died): the run's net energy is then unknown, and the first job to give up
    waiting writes an empty baseline so that no later job of the session waits for it again."""
    path = folder / f"{node}.json"
    folder.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            os.close(os.open(folder / f"{node}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            deadline = time.monotonic() + wait_s
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            if not path.exists():
                atomic_write_text(path, json.dumps({"idle_w": {}, "idle_sources": {}}))
                return None
        else:
            atomic_write_text(path, json.dumps(measure()))
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


@dataclass(frozen=True)
class JobSettings:
    """What every job of a session is given: picklable, small."""

    root: str
    columns: list[str]
    session: str
    gpu: bool


class SlurmRun:
    """The function each job calls (submitit pickles it with its run's spec): trains one run, then returns
    'done', or 'skipped' when the session was stopped before the job began."""

    def __init__(self, settings: JobSettings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._training: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"])  # type: ignore[misc]

    def checkpoint(self, spec: RunSpec) -> Any:
        """Slurm is about to end this job (its time limit, a preemption): stop the run after its step so it
        saves a checkpoint, then have submitit requeue the same run."""
        import submitit

        self._stop.set()
        if self._training is not None:
            self._training.join(_CHECKPOINT_WAIT_S)
        return submitit.helpers.DelayedSubmission(SlurmRun(self.settings), spec)

    def __call__(self, spec: RunSpec) -> str:
        import submitit
        import torch

        from bnbench.execute.driver import execute_run
        from bnbench.execute.node import claim_gpu, measure_node_idle, node_idle_w, share_node_host
        from bnbench.execute.resume import plan_runs

        settings, root = self.settings, Path(self.settings.root)
        # Slurm's SIGTERM (scancel, a preemption's grace time; submitit would ignore it): stop after the step with
        # a checkpoint rather than die at the SIGKILL that follows.
        signal.signal(signal.SIGTERM, lambda _signum, _frame: self._stop.set())
        folder = JobFolder(root)
        stop = StopFlag(folder.stop_file, self._stop)
        if stop.is_set():
            return "skipped"
        [plan] = plan_runs(root, [spec])
        if plan.action == "skip":  # a requeued job whose run finished before the signal
            return "done"
        job_id = submitit.JobEnvironment().job_id
        spool = Spool(folder.events(job_id), int(os.environ.get("SLURM_RESTART_COUNT", "0")))
        node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        seen = "cuda:0" if settings.gpu else "cpu"
        label = f"{node}/cuda:{visible}" if settings.gpu else f"{node}/cpu"
        spool.send(("where", Where(label, seen, {seen: label})))
        energy: EnergyConfig = spec.energy
        baseline = None
        # The idle baseline before this job starts CUDA: a context held on the GPU keeps it above its idle power.
        if energy.idle_s > 0:
            baseline = node_baseline(folder.idle(settings.session), node,
                                     lambda: measure_node_idle(energy, settings.gpu), wait_s=energy.idle_s + 120.0)
        uuid = claim_gpu(torch.cuda, visible) if settings.gpu else None
        idle_w = node_idle_w(baseline or {}, [uuid] if uuid else [])
        threads = spec.train.threads or 1  # the executor's rule, given in the spec at submission
        torch.set_num_threads(threads)
        store = ShippingStore(root, spool.send, settings.columns)
        failure: list[BaseException] = []

        def train() -> None:
            try:
                execute_run(spec, torch.device(seen), store, ShippingProgress(spool.send),
                            stop, plan=plan, idle_w=idle_w)
            except BaseException as exc:  # noqa: BLE001 - raised again in the job's main thread
                failure.append(exc)

        # The run trains in a thread so that this (main) thread stays free for submitit's signal handler, which
        # must wait for the run's checkpoint before the job is requeued.
        with share_node_host(settings.session):
            self._training = threading.Thread(target=train, name="bnbench-run")
            self._training.start()
            while self._training.is_alive():
                self._training.join(0.5)
        if failure:
            raise failure[0]
        return "done"
