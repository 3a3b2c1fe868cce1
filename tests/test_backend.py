"""Math mode and backend flags: set explicitly by every run, recorded in manifest.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bnbench import backend
from bnbench.cli import app
from bnbench.errors import UserError
from bnbench.scenario import expand, load
from bnbench.train import train


@pytest.fixture
def tf32_defaults():
    """PyTorch's GPU defaults plus what a previous run may have left: TF32 on, cuDNN benchmarking on."""
    saved = backend.current()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.benchmark = True
    yield
    torch.backends.cuda.matmul.allow_tf32 = saved["allow_tf32_matmul"]
    torch.backends.cudnn.allow_tf32 = saved["allow_tf32_cudnn"]
    torch.set_float32_matmul_precision(saved["float32_matmul_precision"])
    torch.backends.cudnn.benchmark = saved["cudnn_benchmark"]
    torch.set_num_threads(saved["threads"])


def test_fp32_is_full_fp32(tiny_scenario, tf32_defaults) -> None:
    train(expand(load(tiny_scenario, ["train.warmup_steps=0"]))[0], torch.device("cpu"))
    flags = backend.current()
    assert flags["allow_tf32_matmul"] is False and flags["allow_tf32_cudnn"] is False
    assert flags["float32_matmul_precision"] == "highest"
    assert flags["cudnn_benchmark"] is False and flags["cudnn_deterministic"] is False
    assert flags["threads"] == 1  # the tiny scenario's threads = 1


def test_tf32_and_cudnn_benchmark_are_asked_for(tiny_scenario, tf32_defaults) -> None:
    torch.backends.cudnn.allow_tf32 = False
    spec = expand(load(tiny_scenario, ['train.precision="tf32"', "train.cudnn_benchmark=true",
                                       "train.warmup_steps=0"]))[0]
    train(spec, torch.device("cpu"))
    flags = backend.current()
    assert flags["allow_tf32_matmul"] and flags["allow_tf32_cudnn"] and flags["cudnn_benchmark"]
    assert flags["float32_matmul_precision"] == "high"


def test_bf16_autocasts_the_forward_pass_with_tf32_off(tiny_scenario) -> None:
    mode = backend.math_mode(expand(load(tiny_scenario, ['train.precision="bf16"']))[0].train)
    assert mode.autocast_dtype == "bfloat16" and not mode.allow_tf32_cudnn
    with backend.autocast(mode, torch.device("cpu"))():
        out = torch.nn.Linear(2, 2)(torch.ones(1, 2))
    assert out.dtype == torch.bfloat16


def test_channels_last_trains_an_nhwc_model(tiny_scenario) -> None:
    spec = expand(load(tiny_scenario, ["train.channels_last=true", "train.warmup_steps=1"]))[2]  # bn, seed 0
    outcome, model = train(spec, torch.device("cpu"))
    assert outcome.status == "completed"
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    # A 9x9 conv from 1 channel to 64 is (64, 1, 9, 9); channels-last strides it (81, 1, 9, 1).
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert convs[0].weight.stride() == (81, 1, 9, 1)


def test_an_unknown_precision_is_one_line(write_scenario) -> None:
    with pytest.raises(UserError) as info:
        load(write_scenario('[scenario]\nname = "t"\n[train]\nprecision = "fp16"\n'))
    message = str(info.value)
    assert "\n" not in message and "precision" in message and "'tf32'" in message and ":4" in message


def test_the_manifest_records_each_variants_math_mode(tiny_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tiny_scenario), "--out", str(out), "--set", "scenario.seeds=[0]",
                                      "--set", 'variant.bn.precision="tf32"', "--set", "variant.bn.channels_last=true"])
    assert result.exit_code == 0, result.output
    modes = json.loads((out / "manifest.json").read_text())["math_mode"]
    assert modes["control"] == {
        "precision": "fp32", "allow_tf32_matmul": False, "allow_tf32_cudnn": False,
        "float32_matmul_precision": "highest", "autocast_dtype": None, "cudnn_benchmark": False,
        "cudnn_deterministic": False, "deterministic_algorithms": False, "channels_last": False,
        "threads": 1,  # the scenario's threads = 1, under the one CPU slot's share of the cores
        "compile": "none", "graph": None,  # unset: graphed on a CUDA GPU, eager here
    }
    assert modes["bn"]["precision"] == "tf32" and modes["bn"]["allow_tf32_cudnn"] is True
    assert modes["bn"]["float32_matmul_precision"] == "high" and modes["bn"]["channels_last"] is True
