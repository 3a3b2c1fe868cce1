"""Inputs with no sane value are refused by `validate` (and so by `run`, before any folder): non-finite
numbers, a batch that cannot fit in memory, a variant name too long for a file name, malformed files, and
code imported from the working directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "scenarios" / "quick.toml"


def one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize(
    "setting",
    ["train.lr=inf", "model.eps=nan", "energy.idle_s=inf", "energy.price_per_kwh=inf", "energy.pue=inf",
     "energy.estimate_w_per_core=inf", "train.max_wall_s=inf", "train.target=-inf"],
)
def test_non_finite_numbers_are_refused(setting: str):
    result = runner.invoke(app, ["validate", str(QUICK), "--set", setting])
    assert result.exit_code == 2, result.output
    assert "Input should be a finite number" in one_line(result.output) and "Traceback" not in result.output


def test_a_batch_that_cannot_fit_is_refused_before_any_folder(tmp_path: Path):
    # SRCNN 9-1-5 on a 33x33 patch keeps, per sample, conv outputs of 25x25x64 + 25x25x32 + 21x21x1 = 60441 floats
    # (the ReLUs work in place), counted twice (kept, and their gradients). With batch_size 1e9:
    # 2 x 4 B x 60441 x 1e9 = 483,528 GB of activations, + 4 B x (33x33 input + 21x21 target) x 1e9 = 6,120 GB,
    # + 4 x 4 B x 8129 parameters = 130,064 B: 489,648,000,130,064 B = 456,020.2 GiB. No host has that.
    for command in (["validate", str(QUICK)], ["run", str(QUICK), "--out", str(tmp_path / "out")]):
        result = runner.invoke(app, [*command, "--set", "task.batch_size=1000000000"])
        assert result.exit_code == 2, result.output
        message = one_line(result.output)
        assert "variant 'control' needs at least 456020.2 GiB per training step (batch_size 1000000000" in message
        assert "lower task.batch_size" in message
    assert not (tmp_path / "out").exists()


def test_a_variant_name_too_long_for_a_file_name_is_refused(tmp_path: Path):
    name = "v" * 260
    path = tmp_path / "long.toml"
    path.write_text(f'[scenario]\nname = "long"\nbaseline = "{name}"\n[[variant]]\nname = "{name}"\n', encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    # Its run id is the name plus '-s0': 263 bytes, over the 255 every common file system allows.
    assert "would be a 263-byte file name; file systems take 255" in one_line(result.output)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a TOML text file (byte 0x89 at offset 0 is not UTF-8)"),
        (b"a = " + b"[" * 5000 + b"]" * 5000, "tables or arrays nested more than 16 deep"),
        (b"[" + b".".join([b"a"] * 3000) + b"]", "tables or arrays nested more than 16 deep"),
        (None, "a folder, not a scenario file"),
    ],
)
def test_malformed_scenario_files_are_one_line(tmp_path: Path, content: bytes | None, words: str):
    path = tmp_path / "scenario.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}: {words}" in one_line(result.output) and "Traceback" not in result.output


NET = "from torch import nn\n\ndef make(norm, io):\n    return nn.Conv2d(io.in_channels, io.out_channels, 3)\n"
SCENARIO = '[scenario]\nname = "trust"\ndevice = "cpu"\n[model]\narch = "{module}:make"\n'


def test_models_import_from_the_scenario_folder_not_the_working_directory(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    work, scenarios = tmp_path / "work", tmp_path / "scenarios"
    work.mkdir()
    scenarios.mkdir()
    monkeypatch.chdir(work)
    (work / "bnbench_cwd_net.py").write_text(NET, encoding="utf-8")  # whatever lies where bnbench is started
    (scenarios / "bnbench_beside_net.py").write_text(NET, encoding="utf-8")
    results = {}
    for module in ("bnbench_cwd_net", "bnbench_beside_net"):
        path = scenarios / f"{module}.toml"
        path.write_text(SCENARIO.format(module=module), encoding="utf-8")
        results[module] = runner.invoke(app, ["validate", str(path)])
    refused, allowed = results["bnbench_cwd_net"], results["bnbench_beside_net"]
    assert refused.exit_code == 2 and "cannot import 'bnbench_cwd_net'" in one_line(refused.output), refused.output
    assert "put it beside the scenario file or on PYTHONPATH" in one_line(refused.output)
    assert allowed.exit_code == 0, allowed.output
    assert "bnbench_cwd_net" not in sys.modules  # nothing from the working directory was run, validate included


@pytest.mark.parametrize("option", ["--price", "--co2", "--pue", "--wh-per-cup"])
def test_tea_refuses_non_finite_numbers(option: str):
    result = runner.invoke(app, ["tea", "18kWh", option, "inf"])
    assert result.exit_code == 2, result.output
    assert f"{option} must be a finite number (got inf)" in result.output
