"""End to end through the CLI: a custom model by import path, the digits task, and checks before any folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from bnbench.cli import app

HERE = Path(__file__).resolve().parent

TINY = """
[scenario]
name = "tiny-{name}"
seeds = [0]
device = "cpu"

[task]
{task}
batch_size = 8

[model]
{model}

[train]
max_steps = 4
eval_every = 2
log_every = 2
threads = 1

[energy]
idle_s = 0
"""


def write(tmp_path: Path, name: str, task: str, model: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(name=name, task=task, model=model), encoding="utf-8")
    return path


def test_custom_model_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    scenario = write(tmp_path, "custom", 'name = "super-resolution"',
                     'arch = "bnbench_test_nets:make_net"\nnorm = "group"\ngroups = 2\noptions = { width = 4 }')
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert runs["status"].tolist() == ["completed"] and runs["steps"].tolist() == [4]
    assert runs["final_psnr_db"].notna().all()


def test_digits_lenet_end_to_end(tmp_path):
    scenario = write(tmp_path, "digits", 'name = "digits"', 'arch = "lenet"\nnorm = "batchrenorm"\ndropout = 0.1')
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    assert runs["status"].tolist() == ["completed"]
    assert 0 <= runs["final_accuracy_pct"].iloc[0] <= 100
    assert runs["majority_accuracy_pct"].iloc[0] == 100 * 36 / 355  # see tests/data/test_digits.py


def test_bad_model_or_data_stops_before_any_results_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [
        (write(tmp_path, "empty", 'dataset = "empty"', 'arch = "srcnn"'), "holds no PNG or JPEG images"),
        (write(tmp_path, "size", 'name = "digits"', 'arch = "srcnn"'), "cannot take this task's 8x8 inputs"),
        (write(tmp_path, "groups", 'name = "digits"', 'arch = "lenet"\nnorm = "group"\ngroups = 5'),
         "groups = 5 does not divide"),
        (write(tmp_path, "import", "", 'arch = "bnbench_nowhere:net"'), "cannot import 'bnbench_nowhere'"),
    ]
    for scenario, message in cases:
        for command in (["run", str(scenario), "--out", str(tmp_path / "out")], ["validate", str(scenario)]):
            result = CliRunner().invoke(app, command)
            assert result.exit_code == 2, result.output
            assert message in result.output and "Traceback" not in result.output
            assert not (tmp_path / "out").exists()
