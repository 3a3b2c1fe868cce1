"""`bnbench run`, `validate` and `--version` through the CLI, end to end on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench import __version__
from bnbench.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"bnbench {__version__}"


def test_validate_prints_the_matrix(tiny_scenario):
    result = runner.invoke(app, ["validate", str(tiny_scenario)])
    assert result.exit_code == 0, result.output
    for run_id in ("control-s0", "control-s1", "bn-s0", "bn-s1"):
        assert run_id in result.output
    assert 'norm="batch", decay=0.9' in result.output  # overrides as the scenario file spells them


def test_run_writes_the_results_contract(tiny_scenario, tmp_path):
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for name in ("scenario.toml", "manifest.json", "runs.csv", "curves.parquet"):
        assert (out / name).is_file(), name

    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["run_id"]) == ["control-s0", "bn-s0", "bn-s1", "control-s1"]  # handed out seed by seed
    assert set(runs["status"]) == {"completed"} and set(runs["steps"]) == {4}
    for column in ("run_id", "variant", "seed", "status", "steps", "wall_s", "energy_j", "energy_source", "kwh",
                   "tea_cups", "final_psnr_db", "best_psnr_db", "bicubic_psnr_db"):
        assert column in runs.columns, column
    assert runs["final_psnr_db"].notna().all() and (runs["wall_s"] > 0).all()
    # The reference does not depend on the run: the same bicubic PSNR on every row.
    assert runs["bicubic_psnr_db"].nunique() == 1

    curves = pd.read_parquet(out / "curves.parquet")
    evals = curves[curves["kind"] == "eval"]
    assert sorted(evals.groupby("run_id")["step"].apply(list).tolist()) == [[2, 4]] * 4
    trains = curves[curves["kind"] == "train"]
    assert trains.groupby("run_id")["step"].apply(list).tolist() == [[2, 4]] * 4
    # Every chunk was folded into curves.parquet.
    assert not list((out / "runs").glob("*/curves-*.parquet"))

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["bnbench"] == __version__ and manifest["torch"] and manifest["ended_at"]
    assert manifest["devices"] == ["cpu"]
    assert "max_steps = 4" in (out / "scenario.toml").read_text()


def test_diverged_run_is_a_result_not_an_error(tiny_scenario, tmp_path):
    out = tmp_path / "r"
    args = ["run", str(tiny_scenario), "--out", str(out), "--set", "scenario.seeds=[0]",
            "--set", 'variant.bn.optimizer="sgd"', "--set", "variant.bn.lr=1e12", "--set", "train.max_steps=30"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv").set_index("run_id")
    assert runs.loc["bn-s0", "status"] == "diverged" and "non-finite loss" in runs.loc["bn-s0", "error"]
    assert runs.loc["control-s0", "status"] == "completed"


BAD_INPUTS = [
    ('[scenario]\nname = "t"\n[train]\nlr = = 1\n', "invalid TOML"),
    ('[scenario]\nname = "t"\n[bogus]\n', "unknown section [bogus]"),
    ('[scenario]\nname = "t"\n[train]\nlr = "fast"\n', "[train] lr: must be a number, written without quotes"),
    ('[scenario]\nname = "t"\n[train]\nlr = -0.1\n', "[train] lr: Input should be greater than 0"),
    ('[scenario]\nname = "t"\n[task]\nbatch_size = 0\n', "[task] batch_size"),
    ('[scenario]\nname = "t"\n[model]\nnorm = "batch"\ndecay = 1.0\n', "[model] decay"),
    ('[scenario]\nname = "t"\n[model]\narch = "resnet9000"\n', "unknown model 'resnet9000'"),
    ('[scenario]\nname = "t"\n[task]\nname = "translation"\n', "unknown task 'translation'"),
    ('[scenario]\nname = "t"\n[model]\nnorm = "bogus"\n', "unknown norm 'bogus'"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(write_scenario, tmp_path, text, expected):
    path = write_scenario(text)
    out = tmp_path / "never"
    done = subprocess.run([sys.executable, "-m", "bnbench", "run", str(path), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnbench: error: "), done.stderr
    assert expected in lines[0]
    assert "Traceback" not in done.stderr and not out.exists()


def test_missing_file_exits_2(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "no such scenario file" in result.output


def test_unknown_device_exits_2(tiny_scenario, tmp_path):
    result = runner.invoke(app, ["run", str(tiny_scenario), "--device", "tpu", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown device 'tpu'" in result.output
    assert not (tmp_path / "x").exists()


def test_existing_results_folder_is_not_overwritten(tiny_scenario, tmp_path):
    out = tmp_path / "r"
    args = ["run", str(tiny_scenario), "--out", str(out), "--set", "scenario.seeds=[0]", "--set", "train.max_steps=2"]
    assert runner.invoke(app, args).exit_code == 0
    before = (out / "runs.csv").read_text()
    result = runner.invoke(app, args)  # the same --out again resumes the folder: both runs are finished
    assert result.exit_code == 0 and "nothing left to resume: all 2 runs" in " ".join(result.output.split())
    assert (out / "runs.csv").read_text() == before


def test_eval_writes_the_difference_in_plain_digits(tiny_scenario, tmp_path):
    # The same float recomputed on the same CPU: the difference is 0, which read '+0.00e+00'.
    out = tmp_path / "results"
    result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(out), "--set", "scenario.seeds=[0]"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["eval", str(out), "--run", "bn-s0"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].endswith(" recorded (difference 0): the same"), result.output


def test_a_difference_reads_in_two_significant_digits():
    from bnbench.commands.eval import difference_text

    assert [difference_text(d) for d in (0.0, 1.2345e-6, -0.25, 3e-12)] == ["0", "+0.0000012", "-0.25",
                                                                          "+0.0000000000030"]
