"""The Ray executor (`bnbench run SCENARIO --executor ray [--address ADDR]`): each run is a Ray task.

A task asks for the GPUs its run needs (or `train.threads` CPUs), opens its meters on the node that runs it,
and runs the ordinary driver against a `ShippingStore` (bnbench.execute.events): its curve rows, power samples,
row and progress travel back through a Ray queue, and at the end the run's own files (its log, error log and
checkpoints) follow. Only the driver process writes the results folder, so resuming works exactly as with the
local executor: the same plan (`resume.plan_runs`) from the same folder, a resumed run's checkpoints shipped to
whichever node takes it.

Energy on a node: before the first run, one task per node meters that node's idle baseline (its host and
every GPU), so each run's net energy is taken against its own node. The tasks running at once on a node share
its host package as the local pool's workers do: each registers its pid in a node-local folder for the session,
and its RAPL reading is its CPU-time share among the registered tasks (`bnbench.energy.shared_host`).

Ray is optional: `pip install 'bnbench[ray]'`. Every node needs bnbench installed (or a Ray runtime_env).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnbench.errors import UserError
from bnbench.execute.events import EventReplay, ShippingProgress, ShippingStore, Where
from bnbench.execute.node import claim_gpu, measure_node_idle, node_idle_w, share_node_host
from bnbench.execute.progress import Progress
from bnbench.execute.resume import RunPlan, finished_rows, plan_runs
from bnbench.results.store import RunStore, run_dir
from bnbench.scenario import EnergyConfig, RunSpec

if TYPE_CHECKING:
    from rich.console import Console

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


def remote_task(ray: Any, gpu: bool) -> Any:
    """`_task` as a Ray remote function. A GPU task gets a fresh worker process each time (max_calls=1): Ray
    honours max_calls only in the decorator, never through .options()."""
    if gpu:
        return ray.remote(num_gpus=1, num_cpus=1, max_calls=1)(_task)
    return ray.remote(_task)


def _task(spec: RunSpec, plan: RunPlan, files: dict[str, bytes], manifest: str, columns: list[str], gpu: bool,
          threads: int, events: Any, flag: Any, session: str = "") -> str:
    """One run on a Ray worker: a node-local results folder seeded with the run's files, the driver, then the
    run's files shipped back. Returns 'done', or 'skipped' when the driver stopped before this task began."""
    import ray
    import torch

    from bnbench.execute.driver import execute_run
    from bnbench.execute.pool import with_threads

    stop = _RemoteFlag(ray, flag)
    if stop.is_set():
        return "skipped"
    uuid = claim_gpu(torch.cuda, os.environ.get("CUDA_VISIBLE_DEVICES")) if gpu else None
    node = ray.util.get_node_ip_address()
    ids = [str(i) for i in ray.get_gpu_ids()] if gpu else []
    seen = "cuda:0" if gpu else "cpu"
    label = f"{node}/cuda:{','.join(ids)}" if gpu else f"{node}/cpu"
    where = Where(label, seen, {seen: f"{node}/cuda:{ids[0]}" if gpu else label})

    def send(event: tuple[Any, ...]) -> None:
        events.put((spec.run_id, *event))

    send(("where", where))
    torch.set_num_threads(threads)
    info = json.loads(manifest)
    info["idle_w"] = node_idle_w(info.get("idle_nodes", {}).get(node, {}), [uuid] if uuid else [])
    with tempfile.TemporaryDirectory(prefix="bnbench-") as folder, share_node_host(session):
        root = Path(folder)
        (root / "manifest.json").write_text(json.dumps(info), encoding="utf-8")
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
        self.session = uuid.uuid4().hex[:12]

    def __call__(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return self.run_matrix(*args, **kwargs)

    def idle_baseline(self, config: EnergyConfig, console: Console) -> dict[str, Any]:
        """Meter every live node at idle for `config.idle_s` seconds (0: skip), all at once, before any run.

        Returns manifest entries: `idle_nodes` {node address: {idle_w, idle_sources}}, `idle_s`, and an empty
        `idle_w` (the driver's host trains nothing). A node that joins later has no baseline.
        """
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if config.idle_s <= 0:
            return {"idle_w": {}, "idle_sources": {}, "idle_nodes": {}, "idle_s": 0.0}
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        console.print(f"idle baseline: {config.idle_s:g} s with nothing running, on {len(nodes)} Ray node(s) ...")
        measure = self.ray.remote(measure_node_idle)
        refs = {n["NodeManagerAddress"]: measure.options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(config, self.gpu) for n in nodes}
        found = {node: self.ray.get(ref) for node, ref in refs.items()}
        for node, baseline in found.items():
            shown = ", ".join(f"{k} {'unknown' if w is None else f'{w:.1f} W'} ({baseline['idle_sources'][k]})"
                              for k, w in baseline["idle_w"].items())
            console.print(f"idle baseline on {node}: {shown or 'no device can be metered'}")
        return {"idle_w": {}, "idle_sources": {}, "idle_nodes": found, "idle_s": config.idle_s}

    @property
    def slots(self) -> int:
        """Runs that train at once, as far as the hand-out order is concerned: the cluster's GPUs, or 1."""
        return max(1, int(self.ray.cluster_resources().get("GPU", 0))) if self.gpu else 1

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
        manifest = (store.root / "manifest.json").read_text(encoding="utf-8")  # with each node's idle baseline
        remote = remote_task(ray, self.gpu)
        replay = EventReplay(store, progress)
        wheres: dict[str, Where] = {}
        pending: dict[Any, RunPlan] = {}
        for plan in plans:
            if plan.action == "skip":
                continue
            threads = plan.spec.train.threads or 1
            options = {} if self.gpu else {"num_cpus": threads}
            ref = remote.options(**options, max_retries=0).remote(
                plan.spec, plan, run_files(store.root, plan.spec.run_id), manifest,
                store.columns, self.gpu, threads, events, flag, self.session)
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
    replay.fail(spec, f"Ray task failed: {type(exc).__name__}: {first}", None, where)
