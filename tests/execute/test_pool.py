"""The local pool: slot planning (pure) and a 4-run matrix on 2 CPU workers, end to end through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.errors import UserError
from bnbench.execute.events import EventReplay, Where
from bnbench.execute.pool import plan_slots
from tests.conftest import REPO

from .helpers import read_rows


def test_two_cpu_workers_on_two_cores_get_one_core_each() -> None:
    slots = plan_slots(["cpu"], workers=2, cores=(0, 1))
    assert [s.label for s in slots] == ["cpu[0]", "cpu[1]"]
    assert [s.cores for s in slots] == [((0,),), ((1,),)]
    assert [s.threads for s in slots] == [1, 1]
    assert all(s.env["CUDA_VISIBLE_DEVICES"] == "" for s in slots)


def test_cpu_cores_are_shared_out_evenly() -> None:
    # 8 cores, 2 workers of 2-process DDP runs: 8 / (2 x 2) = 2 cores per process.
    slots = plan_slots(["cpu"], workers=2, gpus_per_run=2, cores=tuple(range(8)))
    assert [s.label for s in slots] == ["cpu[0-3]", "cpu[4-7]"]
    assert slots[1].cores == ((4, 5), (6, 7))
    assert slots[1].threads == 2 and slots[1].ranks == 2


def test_every_gpu_gets_a_worker_pinned_to_it() -> None:
    slots = plan_slots([f"cuda:{i}" for i in range(4)])
    assert [s.label for s in slots] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "1", "2", "3"]
    # A pinned worker sees its GPU as cuda:0; its power samples are renamed to the real one.
    assert slots[3].devices == ("cuda:0",) and slots[3].where.names == {"cuda:0": "cuda:3"}


def test_ddp_slots_group_consecutive_gpus_and_follow_cuda_visible_devices() -> None:
    # This process sees GPUs 4-7 of the host as cuda:0-3: cuda:2 and cuda:3 are the host's 6 and 7.
    slots = plan_slots([f"cuda:{i}" for i in range(4)], gpus_per_run=2, visible="4,5,6,7")
    assert [s.label for s in slots] == ["cuda:0+cuda:1", "cuda:2+cuda:3"]
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["4,5", "6,7"]
    assert slots[1].devices == ("cuda:0", "cuda:1")
    assert slots[1].where.names == {"cuda:0": "cuda:2", "cuda:1": "cuda:3"}


def test_workers_cap_the_gpu_slots() -> None:
    assert len(plan_slots([f"cuda:{i}" for i in range(8)], workers=3)) == 3


@pytest.mark.parametrize(
    ("devices", "workers", "per_run", "message"),
    [
        (["cpu"], 2, 2, "need 4 CPU cores"),
        (["cuda:0", "cuda:1"], None, 3, "only 2 GPU"),
        (["cpu", "cuda:0"], None, 1, "not both"),
    ],
)
def test_impossible_plans_are_user_errors(devices: list[str], workers: int | None, per_run: int, message: str) -> None:
    with pytest.raises(UserError, match=message):
        plan_slots(devices, workers, per_run, cores=(0, 1))


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def started(self, spec: object, device: str) -> None:
        self.calls.append(("started", device))


def test_replay_names_the_real_device() -> None:
    # A worker pinned to the host's cuda:3 says it started on 'cuda:0 (nvml-counter)'.
    recorder = _Recorder()
    replay = EventReplay(store=None, progress=recorder)  # type: ignore[arg-type]
    replay.apply(("progress", "started", None, "cuda:0 (nvml-counter)"), Where("cuda:3", "cuda:0", {}))
    assert recorder.calls == [("started", "cuda:3 (nvml-counter)")]


def test_two_workers_run_a_four_run_matrix(digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output

    rows = read_rows(out)
    # Each of the 4 runs written once, completed, by one of the two workers.
    assert sorted(r["run_id"] for r in rows) == ["bn-s0", "bn-s1", "control-s0", "control-s1"]
    assert {r["status"] for r in rows} == {"completed"}
    assert {r["device"] for r in rows} <= {"cpu[0]", "cpu[1]"}
    # The first two runs go out at once, one to each idle worker, so both workers are used.
    assert {r["device"] for r in rows} == {"cpu[0]", "cpu[1]"}

    # Curves: 4 steps, eval every 2, log every 2 -> train rows at 2 and 4, eval rows at 2 and 4: 4 per run,
    # none duplicated by the replay.
    curves = pd.read_parquet(out / "curves.parquet")
    assert curves.groupby("run_id").size().to_dict() == {r: 4 for r in ["bn-s0", "bn-s1", "control-s0", "control-s1"]}
    assert not curves.duplicated(["run_id", "kind", "step"]).any()

    # The power trace of each run is attributed to its worker's device, not to the 'cpu' the worker saw.
    power = pd.read_parquet(out / "power.parquet")
    device_of = {r["run_id"]: r["device"] for r in rows}
    assert len(power) > 0
    assert (power["device"] == power["run_id"].map(device_of)).all()
    assert not list((out / "runs").glob("*/*.parquet"))  # every chunk folded in


def test_started_workers_are_quiet_until_they_are_handed_a_run() -> None:
    # What `bnbench run` relies on to measure the idle baseline while the pool waits: once wait_ready returns,
    # every worker has imported torch and sits on its inbox, using (almost) no CPU.
    import psutil

    from bnbench.execute.pool import WorkerPool

    pool = WorkerPool(plan_slots(["cpu"], workers=2, cores=(0, 1)))
    try:
        pool.wait_ready()
        workers = [psutil.Process(p.pid) for r in pool._running.values() for p in r.processes]
        assert len(workers) == 2 and all(w.is_running() for w in workers)
        assert all("torch" in " ".join(m.path for m in w.memory_maps()) for w in workers)  # torch is loaded
        before = [sum(w.cpu_times()[:2]) for w in workers]
        time.sleep(1.0)
        after = [sum(w.cpu_times()[:2]) for w in workers]
        assert all(b - a < 0.05 for a, b in zip(before, after, strict=True)), (before, after)
    finally:
        pool.close()
    assert all(not w.is_running() or w.status() == psutil.STATUS_ZOMBIE for w in workers)


def test_the_pool_starts_before_this_process_imports_torch(digits_scenario: Path, tmp_path: Path) -> None:
    # Worker start-up (spawn, import torch: seconds) overlaps the parent's own import and checks, so 2 workers
    # gain on 1 from the first second: in a fresh `bnbench run --workers 2`, the pool starts with no torch here.
    probe = (
        "import sys\n"
        "from bnbench.execute import pool\n"
        "seen = []\n"
        "start = pool.WorkerPool.__init__\n"
        "def spy(self, slots):\n"
        "    seen.append('torch' in sys.modules)\n"
        "    start(self, slots)\n"
        "pool.WorkerPool.__init__ = spy\n"
        "from bnbench.cli import app\n"
        f"app(['run', {str(digits_scenario)!r}, '--out', {str(tmp_path / 'out')!r}, '--workers', '2'],"
        " standalone_mode=False)\n"
        "print('torch loaded when the pool started:', seen)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert "torch loaded when the pool started: [False]" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(read_rows(tmp_path / "out")) == 4


def test_a_refused_scenario_ends_the_pool_it_started(digits_scenario: Path, tmp_path: Path) -> None:
    # The data folder is checked after the workers start; the refusal is one line and leaves no worker behind.
    import psutil

    text = digits_scenario.read_text().replace('name = "digits"', 'name = "super-resolution"\ndataset = "nowhere"')
    digits_scenario.write_text(text)

    def children() -> set[int]:
        """Running child processes but multiprocessing's resource tracker, which lives as long as this process."""
        running = set()
        for child in psutil.Process().children(recursive=True):
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(child.cmdline()):
                    running.add(child.pid)
            except psutil.Error:  # gone, or an earlier test's unreaped child: not running
                pass
        return running

    before = children()
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(tmp_path / "out"), "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "nowhere" in result.output and len(result.output.strip().splitlines()) == 1
    assert children() - before == set()
    assert not (tmp_path / "out").exists()


def test_the_idle_baseline_waits_for_the_started_workers(digits_scenario: Path, tmp_path: Path, monkeypatch) -> None:
    # Workers importing torch would count as idle power: `bnbench run` waits for them before measuring it.
    from bnbench.commands import energy
    from bnbench.execute.pool import WorkerPool

    calls: list[str] = []
    wait_ready, idle_baseline = WorkerPool.wait_ready, energy.idle_baseline

    def ready(self: WorkerPool) -> None:
        wait_ready(self)
        calls.append("ready")

    def idle(*args, **kwargs):
        calls.append("idle")
        return idle_baseline(*args, **kwargs)

    monkeypatch.setattr(WorkerPool, "wait_ready", ready)
    monkeypatch.setattr(energy, "idle_baseline", idle)
    digits_scenario.write_text(digits_scenario.read_text().replace("idle_s = 0", "idle_s = 0.2"))
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(tmp_path / "out"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert calls == ["ready", "idle"]


def test_a_worker_that_does_not_start_in_time_is_ended(capsys: pytest.CaptureFixture[str]) -> None:
    # A worker takes seconds to import torch: given 0.05 s, neither starts in time, so both slots are ended
    # (killed, not waited for) and wait_ready returns instead of holding the session forever.
    from bnbench.execute.pool import WorkerPool

    pool = WorkerPool(plan_slots(["cpu"], workers=2, cores=(0, 1)))
    try:
        started = time.monotonic()
        pool.wait_ready(timeout_s=0.05)
        assert time.monotonic() - started < 15
        processes = [p for r in pool._running.values() for p in r.processes]
        assert len(processes) == 2 and all(p.exitcode is not None for p in processes)
        assert all(r.dead() for r in pool._running.values())  # so pool.run hands them no runs
    finally:
        pool.close()
    err = capsys.readouterr().err
    assert "bnbench: warning: cpu[0]: its worker did not start within 0.05 s; ended it" in err
    assert "cpu[1]: its worker did not start within 0.05 s" in err


def test_runs_no_worker_was_left_to_take_fail_the_session(tiny_scenario: Path, tmp_path: Path, monkeypatch) -> None:
    # Both workers are taken for hung (none counts as started) and ended: the 4 runs are not trained, the
    # session says so and exits 1, and --resume trains them later.
    from bnbench.execute import pool

    monkeypatch.setattr(pool, "START_TIMEOUT_S", 0.06)  # not the other test's 0.05: a warning is printed once
    monkeypatch.setattr(pool.WorkerPool, "_starting", lambda self: [r for r in self._running.values() if not r.dead()])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tiny_scenario), "--workers", "2", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "cpu[1]: its worker did not start within 0.06 s; ended it" in result.output
    assert (f"4 runs not trained, no worker being left to take them (control-s0, bn-s0, bn-s1, control-s1); "
            f"resume with --resume {out}") in " ".join(result.output.split())
