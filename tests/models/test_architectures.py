"""Built-in architectures (layer order, output sizes, parameter counts), placement, dropout and custom models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from bnbench.errors import UserError
from bnbench.models import MODELS, ModelIO, build_model, check_model
from bnbench.scenario import ModelConfig

HERE = Path(__file__).resolve().parent


def kinds(model: nn.Sequential) -> list[str]:
    return [type(m).__name__ for m in model]


def test_placement_after_activation_and_dropout():
    model = build_model(ModelConfig(norm="batch", placement="after_activation", dropout=0.1), ModelIO(1, 1))
    assert kinds(model) == [
        "Conv2d", "ReLU", "BatchNorm2d", "Dropout", "Conv2d", "ReLU", "BatchNorm2d", "Dropout", "Conv2d"
    ]
    before = build_model(ModelConfig(norm="group", groups=8), ModelIO(1, 1))
    assert kinds(before) == ["Conv2d", "GroupNorm", "ReLU", "Conv2d", "GroupNorm", "ReLU", "Conv2d"]


def test_dropout_is_off_in_eval():
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="lenet", norm="batch", dropout=0.5), ModelIO(1, 10, image_size=8))
    x = torch.rand(16, 1, 8, 8)
    model.train()
    model(x)  # one training step's statistics, so eval uses non-initial moving averages
    model.eval()
    without_dropout = x
    for layer in model:
        if not isinstance(layer, nn.Dropout):
            without_dropout = layer(without_dropout)
    assert torch.equal(model(x), without_dropout)
    model.train()
    # In training, rate 0.5 zeroes about half of the hidden layer and doubles the rest: outputs change.
    assert not torch.allclose(model(x), without_dropout)


def test_srcnn_955_output_size():
    # No padding: 33 - 8 (9x9) - 4 (5x5) - 4 (5x5) = 17.
    model = build_model(ModelConfig(arch="srcnn-955"), ModelIO(1, 1))
    assert model(torch.zeros(1, 1, 33, 33)).shape == (1, 1, 17, 17)
    assert [m.kernel_size for m in model if isinstance(m, nn.Conv2d)] == [(9, 9), (5, 5), (5, 5)]


def test_fsrcnn_upsamples_the_low_resolution_input():
    model = build_model(ModelConfig(arch="fsrcnn", norm="batch"), ModelIO(1, 1, scale=3))
    # 11x11 low-resolution patch -> 33x33: (11 - 1) * 3 - 8 + 9 + 2 = 33.
    assert model(torch.zeros(2, 1, 11, 11)).shape == (2, 1, 33, 33)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    # d=56, s=12, m=4: 5x5 56, 1x1 12, four 3x3 12, 1x1 56; a norm after each of these 7, none after the deconv.
    assert [(c.kernel_size[0], c.out_channels) for c in convs] == [(5, 56), (1, 12), *[(3, 12)] * 4, (1, 56)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model) == 7
    assert isinstance(model[-1], nn.ConvTranspose2d) and model[-1].stride == (3, 3)


def test_fsrcnn_options_and_its_input():
    small = build_model(ModelConfig(arch="fsrcnn", options={"d": 32, "s": 5, "m": 1}), ModelIO(1, 1, scale=2))
    assert small(torch.zeros(1, 1, 7, 7)).shape == (1, 1, 14, 14)
    with pytest.raises(UserError, match='input = "low_res"'):
        build_model(ModelConfig(arch="fsrcnn"), ModelIO(1, 1, scale=1))
    with pytest.raises(UserError, match="accepts: d, s, m"):
        build_model(ModelConfig(arch="fsrcnn", options={"depth": 3}), ModelIO(1, 1, scale=3))


def test_lenet_size_and_parameter_count():
    model = build_model(ModelConfig(arch="lenet"), ModelIO(1, 10, image_size=8))
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    # conv 1->32 3x3: 288 + 32; conv 32->64 3x3: 18432 + 64; fc 64*2*2 -> 128: 32768 + 128; fc 128 -> 10: 1290.
    assert sum(p.numel() for p in model.parameters()) == 320 + 18496 + 32896 + 1290


def test_unknown_arch_lists_the_known_ones():
    with pytest.raises(UserError, match=r"unknown model 'lenett'; did you mean 'lenet'\?.*fsrcnn.*module.path:factory"):
        MODELS.get("lenett")


def test_check_model_refuses_inputs_the_model_cannot_take():
    # SRCNN's unpadded 9x9 conv cannot read an 8x8 digit.
    with pytest.raises(UserError, match="cannot take this task's 8x8 inputs"):
        check_model(ModelConfig(arch="srcnn"), ModelIO(1, 10, image_size=8))
    check_model(ModelConfig(arch="lenet", norm="batchrenorm"), ModelIO(1, 10, image_size=8))


def test_custom_model_by_import_path(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    config = ModelConfig(arch="bnbench_test_nets:make_net", norm="group", groups=2, dropout=0.2, options={"width": 4})
    model = build_model(config, ModelIO(1, 1))
    # The norm it was handed is the variant's, followed by the variant's dropout.
    assert isinstance(model[1][0], nn.GroupNorm) and model[1][0].num_groups == 2
    assert isinstance(model[1][1], nn.Dropout) and model[1][1].p == 0.2
    assert model(torch.zeros(3, 1, 6, 6)).shape == (3, 1, 6, 6)


@pytest.mark.parametrize(
    ("arch", "options", "message"),
    [
        ("bnbench_no_such_module:make_net", {}, "cannot import 'bnbench_no_such_module'"),
        ("bnbench_test_nets:missing", {}, "has no 'missing'"),
        ("bnbench_test_nets:not_a_model", {}, "returned str, not a torch nn.Module"),
        ("bnbench_test_nets:make_net", {"depth": 2}, "accepts: width"),
        ("bnbench_test_nets:", {}, "module.path:factory"),
    ],
)
def test_custom_model_errors_are_one_line(monkeypatch, arch, options, message):
    monkeypatch.syspath_prepend(str(HERE))
    with pytest.raises(UserError, match=message):
        build_model(ModelConfig(arch=arch, options=options), ModelIO(1, 1))
