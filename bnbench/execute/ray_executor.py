"""The Ray executor (`bnbench run SCENARIO --executor ray [--address ADDR]`): each run is a Ray task.

A task asks for the GPUs its run needs (or `train.threads` CPUs), opens its meters on the node that runs it,
and runs the ordinary driver against a `ShippingStore` (bnbench.execute.events): its curve rows, power samples,
row and progress travel back through a Ray queue, and at the end the run's own files (its log, error log and
checkpoints) follow. Only the driver process writes the results folder, so resuming works exactly as with the
local executor: the same plan (`resume.plan_runs`) from the same folder, a resumed run's checkpoints shipped to
whichever node takes it.

Ray is optional: `pip install 'bnbench[ray]'`. Every node needs bnbench installed (or a Ray runtime_env).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bnbench.display import Progress
from bnbench.errors import UserError
from bnbench.execute.events import EventReplay, ShippingProgress, ShippingStore, Where, failed_row
from bnbench.execute.resume import RunPlan, finished_rows, plan_runs
from bnbench.results.manifest import now_iso
from bnbench.results.store import TABLES, RunStore, run_dir
from bnbench.scenario import RunSpec

_POLL_S = 0.2
_FLAG_EVERY_S = 1.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'bnbench[ray]'") from None
    return ray


def run_files(root: Path, run_id: str) -> dict[str, bytes]:
    """A run's own files (log, error log, checkpoints) by path relative to `root`; its Parquet chunks are not
    among them (they travel as rows)."""
    folder = run_dir(root, run_id)
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix != ".parquet"}


class _RemoteFlag:
    """The driver's stop flag as a task sees it: the flag actor, asked at most once per second."""

    def __init__(self, ray: Any, flag: Any) -> None:
        self.ray, self.flag = ray, flag
        self.checked, self.value = 0.0, False

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self.value and now - self.checked >= _FLAG_EVERY_S:
            self.checked = now
            self.value = bool(self.ray.get(self.flag.is_set.remote()))
        return self.value


def _task(spec: RunSpec, plan: RunPlan, files: dict[str, bytes], manifest: str, columns: list[str], gpu: bool,
          threads: int, events: Any, flag: Any) -> str:
    """One run on a Ray worker: a node-local results folder seeded with the run's files, the driver, then the
    run's files shipped back. Returns 'done', or 'skipped' when the driver stopped before this task began."""
    import ray
    import torch

    from bnbench.execute.driver import execute_run
    from bnbench.execute.pool import with_threads

    stop = _RemoteFlag(ray, flag)
    if stop.is_set():
        return "skipped"
    node = ray.util.get_node_ip_address()
    ids = [str(i) for i in ray.get_gpu_ids()] if gpu else []
    seen = "cuda:0" if gpu else "cpu"
    label = f"{node}/cuda:{','.join(ids)}" if gpu else f"{node}/cpu"
    where = Where(label, seen, {seen: f"{node}/cuda:{ids[0]}" if gpu else label})

    def send(event: tuple[Any, ...]) -> None:
        events.put((spec.run_id, *event))

    send(("where", where))
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="bnbench-") as folder:
        root = Path(folder)
        (root / "manifest.json").write_text(manifest, encoding="utf-8")
        for relative, data in files.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(data)
        store = ShippingStore(root, send, columns)
        try:
            execute_run(with_threads(spec, threads), torch.device(seen), store, ShippingProgress(send), stop,
                        plan=plan)
        finally:
            for relative, data in run_files(root, spec.run_id).items():
                send(("file", relative, data))
    return "done"


class RayExecutor:
    """A connection to a Ray cluster and what each run asks of it."""

    def __init__(self, ray: Any, gpu: bool) -> None:
        self.ray, self.gpu = ray, gpu

    @classmethod
    def connect(cls, address: str | None, request: str | Sequence[str], gpus_per_run: int) -> RayExecutor:
        """Connect to the cluster at `address` (None: RAY_ADDRESS, else a new local instance), or use the Ray
        this process already runs. GPU tasks when `request` allows GPUs ('auto', 'cuda...') and the cluster
        has any. UserError when Ray is missing or unreachable."""
        ray = _import_ray()
        if gpus_per_run > 1:
            raise UserError("gpus_per_run > 1 runs with the local executor (one host); with --executor ray each "
                            "run uses one GPU")
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise UserError(f"cannot reach Ray at {address or 'RAY_ADDRESS/local'}: {first}") from None
        wanted = [request] if isinstance(request, str) else list(request)
        may_gpu = any(r.strip().lower().startswith(("auto", "cuda")) for r in wanted)
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        if not has_gpu and any(r.strip().lower().startswith("cuda") for r in wanted):
            raise UserError("the Ray cluster has no GPU; use --device cpu or auto")
        return cls(ray, may_gpu and has_gpu)

    def run_matrix(
        self, specs: list[RunSpec], devices: list[str], store: RunStore, progress: Progress, stop: threading.Event
    ) -> list[dict[str, Any]]:
        """Every run not yet finished in `store` as a Ray task; events applied here as they arrive."""
        from ray.util.queue import Queue

        ray = self.ray
        rows: list[dict[str, Any]] = []
        plans = plan_runs(store.root, specs)
        for spec, row in finished_rows(plans):
            rows.append(row)
            progress.finished(spec, row)
        events = Queue(actor_options={"num_cpus": 0})
        flag = ray.remote(num_cpus=0)(_Flag).remote()
        manifest = (store.root / "manifest.json").read_text(encoding="utf-8")
        remote = ray.remote(_task)
        replay = EventReplay(store, progress)
        wheres: dict[str, Where] = {}
        pending: dict[Any, RunPlan] = {}
        for plan in plans:
            if plan.action == "skip":
                continue
            threads = plan.spec.train.threads or 1
            options = {"num_gpus": 1, "num_cpus": 1} if self.gpu else {"num_cpus": threads}
            ref = remote.options(**options, max_retries=0).remote(
                plan.spec, plan, run_files(store.root, plan.spec.run_id), _node_manifest(manifest),
                store.columns, self.gpu, threads, events, flag)
            pending[ref] = plan
        stop_sent = False
        try:
            while pending:
                if stop.is_set() and not stop_sent:
                    flag.set.remote()
                    stop_sent = True
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
                _drain(events, replay, wheres)
                for ref in done:
                    plan = pending.pop(ref)
                    try:
                        ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - the task or its worker died: fail this run
                        _drain(events, replay, wheres)
                        _fail(plan.spec, exc, replay, wheres)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            ray.kill(flag)
            events.shutdown()
        return rows + replay.rows


class _Flag:
    """A stop flag every task can read (a Ray actor)."""

    def __init__(self) -> None:
        self.value = False

    def set(self) -> None:
        self.value = True

    def is_set(self) -> bool:
        return self.value


def _node_manifest(manifest: str) -> str:
    """The manifest a node sees: the idle baseline was measured on the driver's host, not on the node, so a
    run there has none (its net energy is unknown rather than wrong)."""
    import json

    info = json.loads(manifest)
    info.pop("idle_w", None)
    return json.dumps(info)


def _drain(events: Any, replay: EventReplay, wheres: dict[str, Where]) -> None:
    while (size := events.qsize()) > 0:
        for run_id, kind, *payload in events.get_nowait_batch(size):
            if kind == "where":
                wheres[run_id] = payload[0]
            else:
                replay.apply((kind, *payload), wheres[run_id])


def _fail(spec: RunSpec, exc: Exception, replay: EventReplay, wheres: dict[str, Where]) -> None:
    where = wheres.get(spec.run_id, Where("ray", "", {}))
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    row = failed_row(spec, f"Ray task failed: {type(exc).__name__}: {first}"[:500], None, now_iso())
    for table in TABLES:
        replay.apply(("consolidate", table, spec.run_id), where)
    replay.apply(("row", row), where)
    replay.apply(("progress", "finished", spec, {**row, "steps": 0, "wall_s": None}), where)
