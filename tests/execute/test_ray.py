"""The Ray executor against a local Ray instance started here: a small matrix, then a resume through it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app

from .helpers import read_rows

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _final_accuracy(rows: list[dict[str, str]], run_id: str) -> float:
    return float(next(r for r in rows if r["run_id"] == run_id)["final_accuracy_pct"])


def test_ray_runs_a_matrix_and_resumes_it(local_ray: None, digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(digits_scenario), "--out", str(out), "--executor", "ray"])
    assert result.exit_code == 0, result.output
    first = read_rows(out)
    assert sorted(r["run_id"] for r in first) == ["bn-s0", "bn-s1", "control-s0", "control-s1"]
    assert {r["status"] for r in first} == {"completed"}
    assert all(r["device"].endswith("/cpu") for r in first)  # '<node ip>/cpu': where the task ran
    # The run's own files came back from the node: its log and its checkpoints (at steps 2 and 4).
    checkpoints = sorted(p.name for p in (out / "runs" / "bn-s1" / "checkpoints").iterdir())
    assert checkpoints == ["step-00000002.pt", "step-00000004.pt"]
    assert (out / "runs" / "bn-s1" / "run.log").is_file()

    # Make bn-s1 look killed after its step-2 checkpoint: no row, no final checkpoint.
    text = (out / "runs.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "runs.csv").write_text("".join(line for line in text if not line.startswith("bn-s1,")), encoding="utf-8")
    (out / "runs" / "bn-s1" / "checkpoints" / "step-00000004.pt").unlink()

    result = runner.invoke(app, ["run", str(digits_scenario), "--resume", str(out), "--executor", "ray"])
    assert result.exit_code == 0, result.output
    assert "3 finished, 1 continue from a checkpoint, 0 start from step 0" in result.output
    second = read_rows(out)
    # Only bn-s1 ran again: one new row, and it ends exactly where the uninterrupted run ended (on the CPU a
    # resumed run reaches the same weights bit for bit, so the same accuracy).
    assert [r["run_id"] for r in second] == [r["run_id"] for r in first if r["run_id"] != "bn-s1"] + ["bn-s1"]
    assert _final_accuracy(second, "bn-s1") == _final_accuracy(first, "bn-s1")
    assert second[-1]["steps"] == "4"
    assert "resumed from step-00000002.pt" in (out / "runs" / "bn-s1" / "run.log").read_text(encoding="utf-8")
    # Its curve rows after the checkpoint were dropped before the rerun wrote them again: each once.
    curves = pd.read_parquet(out / "curves.parquet")
    mine = curves[curves["run_id"] == "bn-s1"]
    assert sorted(zip(mine["kind"], mine["step"], strict=True)) == [("eval", 2), ("eval", 4), ("train", 2),
                                                                    ("train", 4)]


def test_ray_refuses_ddp_runs(local_ray: None, digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(out), "--executor", "ray",
                                      "--set", "scenario.gpus_per_run=2"])
    assert result.exit_code == 2
    assert "gpus_per_run > 1" in result.output
    assert not out.exists()


def test_each_ray_node_takes_its_own_idle_baseline(local_ray: None, digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(out), "--executor", "ray",
                                      "--set", "energy.idle_s=0.3", "--set", "scenario.seeds=[0]"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    # One node here (the local Ray): its CPU metered at idle on the node itself, before any run.
    [(node, baseline)] = manifest["idle_nodes"].items()
    assert list(baseline["idle_w"]) == ["cpu"] and baseline["idle_w"]["cpu"] is not None
    assert f"idle baseline on {node}:" in result.output
    rows = read_rows(out)
    assert [r["device"] for r in rows] == [f"{node}/cpu"] * 2
    # Each run's net energy is taken against its node's baseline: present, and at most the gross.
    assert all(r["net_kwh"] != "" and float(r["net_kwh"]) <= float(r["kwh"]) for r in rows)
    # Each run is charged its share of that baseline: the whole of it while it ran alone, a part while the other
    # run shared the node's cores (the two may overlap or not, as Ray schedules them).
    assert all(0 <= float(r["idle_w"]) <= baseline["idle_w"]["cpu"] * (1 + 1e-9) for r in rows)
