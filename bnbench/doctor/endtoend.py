"""A short real `bnbench run` (control vs BN, one seed each) in a child process: its phase energies and the
sampled-power-vs-counter discrepancy, read back from the results folder it wrote."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bnbench.doctor.outcome import FAIL, PASS, WARN, Outcome
from bnbench.energy.run_meter import PHASES
from bnbench.energy.shared_host import QUIET_PIDS_ENV

MAX_DISCREPANCY = 0.05

GPU_SCENARIO = """
[scenario]
name = "doctor"
seeds = [0]
device = "{device}"

[task]
name = "super-resolution"
scale = 3
batch_size = 128

[model]
arch = "srcnn"

[train]
max_steps = 100000
max_wall_s = {wall_s}
eval_every = 500
log_every = 50

[energy]
sample_hz = 10
idle_s = 3

[[variant]]
name = "control"
norm = "none"

[[variant]]
name = "bn"
norm = "batch"
decay = 0.9
"""

CPU_SCENARIO = """
[scenario]
name = "doctor"
seeds = [0]
device = "cpu"

[task]
name = "digits"
batch_size = 32

[model]
arch = "lenet"

[train]
max_steps = 40
eval_every = 20
log_every = 10

[energy]
idle_s = 1

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
"""


def scenario_text(device: str, wall_s: float = 20.0) -> str:
    """A scenario of about `wall_s` per run on a GPU (SRCNN x3 on the bundled photos), or seconds on the CPU."""
    if device.startswith("cuda"):
        return GPU_SCENARIO.format(device=device, wall_s=wall_s)
    return CPU_SCENARIO


def run_end_to_end(folder: Path, device: str, wall_s: float = 20.0, timeout_s: float = 240.0) -> Outcome:
    """`bnbench run` on a small scenario into `folder`, then what it measured."""
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "doctor.toml"
    scenario.write_text(scenario_text(device, wall_s), encoding="utf-8")
    out = folder / "results"
    # The doctor may hold a CUDA context from its bench: it trains nothing during this session, so it holds no
    # share of the GPU (else each run would be charged only part of the board's idle power).
    env = {**os.environ, QUIET_PIDS_ENV: str(os.getpid())}
    done = subprocess.run([sys.executable, "-m", "bnbench", "run", str(scenario), "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout_s, check=False, env=env)
    if done.returncode != 0 or not (out / "runs.csv").exists():
        tail = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        return Outcome(FAIL, "end-to-end run", f"`bnbench run` exited {done.returncode}: {tail}",
                       {"folder": str(out)})
    with open(out / "runs.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return judge_runs(rows, str(out))


def _num(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else math.nan
    except ValueError:
        return math.nan


def judge_runs(rows: list[dict[str, str]], folder: str) -> Outcome:
    """PASS when every run completed with measured energy and (where a counter was sampled) a discrepancy
    within 5%; WARN for a larger discrepancy or a GPU under half busy; FAIL for a failed or unmeasured run."""
    runs: list[dict[str, Any]] = []
    problems, warnings = [], []
    for r in rows:
        run: dict[str, Any] = {
               "run_id": r["run_id"], "status": r["status"], "steps": r.get("steps"), "wall_s": _num(r.get("wall_s")),
               "energy_j": _num(r.get("energy_j")), "energy_source": r.get("energy_source"),
               # an estimate is no counter: its sampled-vs-'counter' figure compares the model with itself
               "discrepancy": math.nan if set((r.get("energy_source") or "").split("+")) == {"estimate"} else
               _num(r.get("energy_discrepancy")), "gpu_busy_pct": _num(r.get("gpu_busy_pct")),
               "gpu_name": r.get("gpu_name"), "gpu_uuid": r.get("gpu_uuid"),
               **{f"{p}_j": _num(r.get(f"energy_{p}_j")) for p in PHASES}}
        runs.append(run)
        if run["status"] != "completed":
            problems.append(f"{run['run_id']} {run['status']}")
        elif math.isnan(run["energy_j"]):
            problems.append(f"{run['run_id']} has no energy figure")
        if abs(run["discrepancy"]) > MAX_DISCREPANCY:
            warnings.append(f"{run['run_id']} sampled power vs counter {run['discrepancy'] * 100:+.1f}%")
        if run["gpu_busy_pct"] < 50:
            warnings.append(f"{run['run_id']} GPU {run['gpu_busy_pct']:.0f}% busy")
    shown = "; ".join(
        f"{r['run_id']} {r['wall_s']:.0f} s, " + ", ".join(f"{p} {r[f'{p}_j']:.1f} J" for p in PHASES)
        + f" ({r['energy_source']}" + ("" if math.isnan(r["discrepancy"]) else
                                       f", sampled vs counter {r['discrepancy'] * 100:+.2f}%")
        + ("" if math.isnan(r["gpu_busy_pct"]) else f", {r['gpu_busy_pct']:.0f}% busy") + ")"
        for r in runs)
    data = {"folder": folder, "runs": runs}
    if not runs:
        return Outcome(FAIL, "end-to-end run", "runs.csv holds no run", data)
    if problems:
        return Outcome(FAIL, "end-to-end run", f"{shown}: {'; '.join(problems)}", data)
    if warnings:
        return Outcome(WARN, "end-to-end run", f"{shown}: {'; '.join(warnings)}", data)
    return Outcome(PASS, "end-to-end run", shown, data)
