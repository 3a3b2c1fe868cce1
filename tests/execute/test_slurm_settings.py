"""`--executor slurm` before any job: the [slurm] table and its flags, and the one-line refusals (exit 2, no
results folder) where submitit or Slurm's commands are missing. No cluster needed."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.execute.resume import scenario_changes
from bnbench.scenario import load

from .conftest import DIGITS_SCENARIO

SLURM_TABLE = """
[slurm]
partition = "gpu"
gpus = 1
cpus = 8
mem_gb = 32
time_min = 240
"""


def _refused(args: list[str], out: Path) -> str:
    result = CliRunner().invoke(app, ["run", *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert not out.exists()  # refused before the results folder
    [line] = result.output.strip().splitlines()
    return line


def test_missing_submitit_is_one_line_before_any_folder(digits_scenario: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "submitit", None)  # what `import submitit` meets where it is not installed
    line = _refused([str(digits_scenario), "--executor", "slurm"], tmp_path / "out")
    assert line == "bnbench: error: --executor slurm needs submitit: pip install 'bnbench[slurm]'"


def test_missing_sbatch_is_one_line_before_any_folder(digits_scenario: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no Slurm command on it
    line = _refused([str(digits_scenario), "--executor", "slurm"], tmp_path / "out")
    assert line == ("bnbench: error: --executor slurm needs Slurm's commands (sbatch, squeue, scancel, srun not "
                    "found on PATH); run bnbench where jobs are submitted (a login node)")


def test_a_gpu_request_needs_a_gpu_per_job(digits_scenario: Path, tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    line = _refused([str(digits_scenario), "--executor", "slurm", "--gpus", "1"], tmp_path / "out")
    assert "[slurm] gpus = 1 but the runs train on the CPU" in line  # the scenario says device = "cpu"


def test_slurm_flags_are_for_the_slurm_executor(digits_scenario: Path, tmp_path: Path) -> None:
    line = _refused([str(digits_scenario), "--partition", "gpu"], tmp_path / "out")
    assert line == "bnbench: error: --partition is for --executor slurm"


def test_the_slurm_table_is_bounded(digits_scenario: Path, tmp_path: Path) -> None:
    line = _refused([str(digits_scenario), "--executor", "slurm", "--gpus", "2"], tmp_path / "out")
    assert "slurm" in line and "gpus" in line and "1" in line


def test_flags_set_the_slurm_table_and_it_changes_no_fingerprint(digits_scenario: Path, tmp_path: Path) -> None:
    plain = load(digits_scenario)
    with_table = tmp_path / "with_slurm.toml"
    with_table.write_text(digits_scenario.read_text(encoding="utf-8") + SLURM_TABLE, encoding="utf-8")
    sized = load(with_table)
    assert (sized.slurm.partition, sized.slurm.gpus, sized.slurm.cpus, sized.slurm.mem_gb, sized.slurm.time_min) \
        == ("gpu", 1, 8, 32.0, 240)
    # Where runs train is not what they measure: the same experiment, and a resume may change the table.
    assert sized.fingerprint() == plain.fingerprint()
    real, harmless = scenario_changes(plain.to_dict(), sized.to_dict())
    assert real == [] and "slurm.partition (default) -> 'gpu'" in harmless
    # An unset table is left out of scenario.toml, so folders written before it existed resume unchanged.
    assert "slurm" not in plain.to_dict()
    assert load(digits_scenario, ["slurm.partition=\"gpu\"", "slurm.time_min=240"]).slurm.time_min == 240


class _FakeSubmitit:
    """submitit as _submit uses it: an executor that records the job array's specs and gives job ids."""

    def __init__(self) -> None:
        self.specs: list = []
        outer = self

        class SlurmExecutor:
            def __init__(self, folder, max_num_timeout) -> None:
                pass

            def update_parameters(self, **parameters) -> None:
                outer.parameters = parameters

            def map_array(self, job, specs):
                outer.specs = list(specs)
                return [type("Job", (), {"job_id": f"7_{i}"})() for i in range(len(specs))]

        self.SlurmExecutor = SlurmExecutor


def test_each_job_gets_the_threads_the_manifest_records(tmp_path: Path) -> None:
    # No [slurm] cpus: bn asks 3 threads, control none. The array asks 3 CPUs a job; each run trains with the
    # threads the executor's rule gives it (and the manifest records): control 1, bn 3.
    from bnbench.execute.slurm_executor import SlurmExecutor
    from bnbench.execute.slurm_job import JobFolder
    from bnbench.scenario import expand

    path = tmp_path / "no-threads.toml"
    path.write_text(DIGITS_SCENARIO.replace("threads = 1\n", ""), encoding="utf-8")
    scenario = load(path, ["variant.bn.threads=3", "scenario.seeds=[0]"])
    specs = expand(scenario)
    fake = _FakeSubmitit()
    executor = SlurmExecutor(fake, scenario.slurm, "tiny", lambda _: None)
    store = SimpleNamespace(root=tmp_path, columns=[])  # what _submit reads of the results folder
    executor._submit(specs, store, JobFolder(tmp_path))  # type: ignore[arg-type]
    assert fake.parameters["cpus_per_task"] == 3
    assert {s.run_id: s.train.threads for s in fake.specs} == {"control-s0": 1, "bn-s0": 3}
    assert {s.run_id: executor.threads(s.train) for s in specs} == {"control-s0": 1, "bn-s0": 3}


def test_a_claim_never_written_stops_making_later_jobs_wait(tmp_path: Path) -> None:
    # A job claimed the node's baseline and died before writing it: the first job to give up waiting leaves an
    # empty baseline (net energy unknown), so the next one neither waits nor measures.
    from bnbench.execute.node import node_idle_w
    from bnbench.execute.slurm_job import node_baseline

    (tmp_path / "node0.lock").touch()
    measured: list[int] = []
    assert node_baseline(tmp_path, "node0", lambda: measured.append(1) or {}, wait_s=0.3) is None
    again = node_baseline(tmp_path, "node0", lambda: measured.append(1) or {}, wait_s=60.0)
    assert again == {"idle_w": {}, "idle_sources": {}} and measured == []
    assert node_idle_w(again, ["GPU-1"]) == {"cuda:0": None}  # unknown, never 0
