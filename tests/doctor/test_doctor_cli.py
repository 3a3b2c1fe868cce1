"""`bnbench doctor` on this machine (host checks for real, --quick) and the log's handling of a broken check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.commands.doctor import GPU_CHECKS
from bnbench.doctor.outcome import FAIL, PASS, DoctorLog, Outcome

torch = pytest.importorskip("torch")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the host path is for a machine without a GPU")
def test_quick_doctor_without_a_gpu_runs_the_host_checks_and_skips_the_rest(tmp_path: Path) -> None:
    report = tmp_path / "checks" / "machine.json"
    report.parent.mkdir()  # --json names a file in a folder that exists
    result = CliRunner().invoke(app, ["doctor", "--quick", "--out", str(tmp_path), "--json", str(report)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in ("versions", "cpu", "torch"):
        assert any(line.startswith(f"PASS {name}: ") for line in lines), result.output
    assert any(line.startswith(("PASS rapl: ", "WARN rapl: ")) for line in lines)
    # One line says what the GPU checks need and why it is missing; the JSON still lists each check.
    skipped = [line for line in lines if line.startswith("SKIP ")]
    assert len(skipped) == 2 and skipped[1] == "SKIP end-to-end run: skipped by --quick", result.output
    assert skipped[0].startswith(("SKIP GPU checks need NVML: skipped (", "SKIP GPU checks need a CUDA device: "))
    # The summary counts checks (10 skipped) while two SKIP lines were printed: it says where the other eight are.
    passed, warned = (sum(line.startswith(f"{s} ") for line in lines) for s in ("PASS", "WARN"))  # rapl: either
    assert passed + warned == 4
    assert lines[-1] == (f"doctor: {passed} PASS, {warned} WARN, 0 FAIL, 10 SKIP (the 9 GPU checks on one line); "
                         f"details in {report}"), result.output
    saved = json.loads(report.read_text())
    assert saved["summary"]["FAIL"] == 0 and saved["summary"]["SKIP"] == len(GPU_CHECKS) + 1
    assert [c["name"] for c in saved["checks"] if c["status"] == "SKIP"] == [*GPU_CHECKS, "end-to-end run"]
    versions = next(c for c in saved["checks"] if c["name"] == "versions")
    assert versions["data"]["torch"] == torch.__version__
    assert not (tmp_path / "doctor.json").exists()  # --json chose the path


def test_a_broken_check_is_one_fail_line_and_the_others_still_run(tmp_path: Path) -> None:
    lines: list[str] = []
    log = DoctorLog(tmp_path / "doctor.json", lines.append, {"command": "test"})

    def broken() -> Outcome:
        raise ZeroDivisionError("division by zero\nsecond line")

    log.run("first", lambda: Outcome(PASS, "first", "fine"))
    log.run("broken", broken)
    # The JSON already holds both lines before the third check runs.
    assert [c["status"] for c in json.loads((tmp_path / "doctor.json").read_text())["checks"]] == [PASS, FAIL]
    log.run("third", lambda: [Outcome(PASS, "third a", "fine"), Outcome(PASS, "third b", "fine")])
    assert lines == ["PASS first: fine", "FAIL broken: ZeroDivisionError: division by zero", "PASS third a: fine",
                     "PASS third b: fine"]
    assert log.exit_code == 1
    saved = json.loads((tmp_path / "doctor.json").read_text())
    assert saved["summary"] == {"PASS": 3, "WARN": 0, "FAIL": 1, "SKIP": 0} and saved["command"] == "test"


def test_end_to_end_judgement_from_runs_csv_rows() -> None:
    from bnbench.doctor.endtoend import judge_runs

    def row(run_id: str, status: str = "completed", energy: str = "100", disc: str = "0.01", busy: str = "80"):
        return {"run_id": run_id, "status": status, "wall_s": "20", "energy_j": energy, "energy_source":
                "nvml-counter+rapl", "energy_discrepancy": disc, "gpu_busy_pct": busy, "energy_setup_j": "3",
                "energy_warmup_j": "5", "energy_train_j": "90", "energy_eval_j": "9", "energy_checkpoint_j": "1"}

    good = judge_runs([row("control-s0"), row("bn-s0")], "out")
    assert good.status == PASS
    assert good.message.startswith("control-s0 20 s, setup 3.0 J, warmup 5.0 J, train 90.0 J, eval 9.0 J, "
                                   "checkpoint 1.0 J (nvml-counter+rapl, sampled vs counter +1.00%, 80% busy)")
    # 6% between sampled power and the counter, and a GPU 30% busy: warnings, not failures.
    warned = judge_runs([row("control-s0", disc="0.06", busy="30")], "out")
    assert warned.status == "WARN" and "sampled power vs counter +6.0%" in warned.message
    assert "30% busy" in warned.message
    # The CPU-time estimate is no counter: no 'sampled vs counter' figure, however far apart (here 9%).
    estimated = judge_runs([{**row("control-s0", disc="0.09", busy=""), "energy_source": "estimate"}], "out")
    assert estimated.status == PASS and "counter" not in estimated.message, estimated.message
    failed = judge_runs([row("control-s0", status="failed"), row("bn-s0", energy="")], "out")
    assert failed.status == FAIL and "control-s0 failed; bn-s0 has no energy figure" in failed.message


def test_gpus_visible_but_nvml_broken_is_a_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bnbench.energy import nvml
    from bnbench.energy.source import SourceError

    def no_nvml() -> None:
        raise SourceError("NVML: NVML Shared Library Not Found")

    # Two faked CUDA devices, and NVML failing to load: before, every GPU check was a SKIP and the exit 0.
    monkeypatch.setattr(nvml, "load_nvml", no_nvml)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    result = CliRunner().invoke(app, ["doctor", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert ("FAIL nvml: torch sees 2 CUDA device(s) but NVML: NVML Shared Library Not Found; every run here would "
            "record GPU energy as none: fix the NVIDIA driver until nvidia-smi works") in result.output.splitlines()
    assert "SKIP GPU checks need NVML: skipped (see the nvml line)" in result.output.splitlines()


def test_the_driver_node_without_nvml_is_a_fail_that_says_what_to_install() -> None:
    from bnbench.doctor.gpus import nvml_broken

    outcome = nvml_broken("NVML: the nvidia-ml-py package is not installed", 0, True)
    assert outcome.status == FAIL
    assert outcome.message == ("/dev/nvidiactl exists but NVML: the nvidia-ml-py package is not installed; every run "
                               "here would record GPU energy as none: install it: pip install nvidia-ml-py")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the host path is for a machine without a GPU")
def test_the_doctor_s_scratch_run_leaves_nothing_in_the_working_folder(tmp_path: Path, monkeypatch) -> None:
    from bnbench.doctor import endtoend

    folders: list[Path] = []

    def scratch_run(folder: Path, device: str) -> Outcome:
        folder.mkdir(parents=True)
        (folder / "doctor.toml").write_text("")
        folders.append(folder)
        return Outcome(PASS, "end-to-end run", "fine")

    monkeypatch.setattr(endtoend, "run_end_to_end", scratch_run)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["doctor"])
    assert "PASS end-to-end run: fine" in result.output, result.output
    # Only the report stays here; the run's folder was a temporary one, removed after.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doctor.json"]
    assert len(folders) == 1 and not folders[0].exists() and tmp_path not in folders[0].parents


def test_the_end_to_end_session_is_told_the_doctor_trains_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The doctor's own process may hold a CUDA context from its bench: its session must not count it as a tenant.
    import os
    import subprocess

    from bnbench.doctor import endtoend

    seen: dict[str, str] = {}

    def fake_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.update(kwargs["env"])  # type: ignore[arg-type]
        return subprocess.CompletedProcess(args, 1, "", "bnbench: error: stopped here\n")

    monkeypatch.setattr(endtoend.subprocess, "run", fake_run)
    outcome = endtoend.run_end_to_end(tmp_path, "cpu")
    assert seen["BNBENCH_QUIET_PIDS"] == str(os.getpid())
    assert outcome.message == "`bnbench run` exited 1: bnbench: error: stopped here"
