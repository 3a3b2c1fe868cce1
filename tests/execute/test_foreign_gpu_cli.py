"""`bnbench run` on a fake GPU that a process outside the session also holds: one warning naming it, and
runs.csv records how often it was there (`gpu_shared`) and how the board was split (`gpu_attribution`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd

from .fake_gpus import UUIDS, on_fake_gpus

ONE_SLOT = """
[scenario]
name = "foreign-digits"
seeds = [0]
device = "cuda:0"

[task]
name = "digits"
batch_size = 8

[model]
arch = "lenet"

[train]
max_steps = 20
eval_every = 10
log_every = 10
threads = 1

[energy]
idle_s = 0

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
"""


def test_a_foreign_process_on_the_gpu_is_warned_of_once_and_recorded(tmp_path: Path) -> None:
    scenario, out = tmp_path / "one-slot.toml", tmp_path / "results"
    scenario.write_text(ONE_SLOT, encoding="utf-8")
    with subprocess.Popen(["sleep", "300"]) as foreign:  # another user's process, holding the GPU throughout
        try:
            run = on_fake_gpus(["run", str(scenario), "--out", str(out)], tmp_path,
                               {"FAKE_GPUS_FOREIGN": str(foreign.pid)})
            output, _ = run.communicate(timeout=600)
        finally:
            foreign.kill()
    assert run.returncode == 0, output
    # Two runs, one after the other, in this process on cuda:0: the foreign process is named once.
    assert output.count(f"process {foreign.pid}") == 1, output
    assert f"cuda:0 ({UUIDS[0]})" in output
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 2 and set(runs["status"]) == {"completed"}
    # It held the board at every reading; NVML gave no per-process samples, so the board was split equally
    # between this session's process and it.
    assert set(runs["gpu_shared"]) == {1.0}
    assert set(runs["gpu_attribution"]) == {"equal"}
    assert set(runs["gpu_uuid"]) == {UUIDS[0]}
