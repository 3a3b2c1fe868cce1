"""A bundled model's shapes walked from its plan, without torch, agree with the meta device's for every
architecture and norm; a user's model is run on the meta device; bad sizes and inputs are refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bnbench.errors import UserError
from bnbench.models import MODELS, ModelIO, check_model
from bnbench.models.norms import NORMS
from bnbench.models.probe import probe, probe_on_meta
from bnbench.models.shapes import Shapes
from bnbench.scenario import ModelConfig

HERE = Path(__file__).resolve().parent
IO = {  # an input each bundled architecture takes
    "srcnn": ModelIO(1, 1, image_size=33),
    "srcnn-955": ModelIO(1, 1, image_size=33),
    "fsrcnn": ModelIO(1, 1, scale=3, image_size=11),
    "lenet": ModelIO(1, 10, image_size=8),
}


def test_every_bundled_architecture_has_an_input_here():
    assert set(MODELS) == set(IO)


@pytest.mark.parametrize("arch", sorted(IO))
@pytest.mark.parametrize("norm", list(NORMS))
@pytest.mark.parametrize(("placement", "dropout"), [("before_activation", 0.1), ("after_activation", 0.0)])
def test_the_walk_counts_what_the_meta_device_counts(arch, norm, placement, dropout):
    config = ModelConfig(arch=arch, norm=norm, groups=4, placement=placement, dropout=dropout)
    assert probe(config, IO[arch], 24) == probe_on_meta(config, IO[arch], 24)


def test_srcnn_shapes_by_hand():
    # conv 9x9 1->64 on 33x33: 64x25x25 = 40000; conv 1x1 64->32: 32x25x25 = 20000; conv 5x5 32->1: 21x21 = 441.
    # No norm: Identity and the in-place ReLU hand their input on and keep nothing new.
    assert probe(ModelConfig(arch="srcnn"), IO["srcnn"], 32) == Shapes(
        activations=32 * (40000 + 20000 + 441),
        output=32 * 441,
        parameters=(81 * 64 + 64) + (64 * 32 + 32) + (32 * 25 + 1),
    )
    # Batch norm adds its outputs (40000 + 20000 a sample) and a scale and shift per channel (2 x (64 + 32)).
    assert probe(ModelConfig(arch="srcnn", norm="batch"), IO["srcnn"], 32) == Shapes(
        activations=32 * (2 * 40000 + 2 * 20000 + 441), output=32 * 441, parameters=8129 + 192
    )


def test_fsrcnn_shapes_by_hand():
    # FSRCNN(d=4, s=2, m=1), x2, on 5x5: padded convs keep 5x5 (25 pixels); every PReLU keeps its own output.
    #   conv 5x5 1->4: 100 kept, 1*4*25 + 4 = 104 parameters; PReLU(4): 100, 4
    #   conv 1x1 4->2: 50, 4*2 + 2 = 10; PReLU(2): 50, 2
    #   conv 3x3 2->2: 50, 2*2*9 + 2 = 38; PReLU(2): 50, 2
    #   conv 1x1 2->4: 100, 2*4 + 4 = 12; PReLU(4): 100, 4
    #   deconv 9x9 4->1, stride 2: (5 - 1) * 2 - 8 + 9 + 1 = 10 -> 10x10 = 100 kept, 4*81 + 1 = 325 parameters
    config = ModelConfig(arch="fsrcnn", options={"d": 4, "s": 2, "m": 1})
    assert probe(config, ModelIO(1, 1, scale=2, image_size=5), 3) == Shapes(
        activations=3 * 700, output=3 * 100, parameters=501
    )


def test_a_users_model_is_run_on_the_meta_device(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    # bnbench_test_nets.make_net(width=4) on 6x6: conv 3x3 1->4 (144 kept, 40 parameters), group norm (144, 8),
    # a ReLU not in place (144), conv 3x3 4->1 (36, 37).
    config = ModelConfig(arch="bnbench_test_nets:make_net", norm="group", groups=2, options={"width": 4})
    assert probe(config, ModelIO(1, 1, image_size=6), 5) == Shapes(
        activations=5 * (144 * 3 + 36), output=5 * 36, parameters=40 + 8 + 37
    )


@pytest.mark.parametrize(
    ("config", "io", "message"),
    [
        (ModelConfig(arch="srcnn"), ModelIO(1, 10, image_size=8), r"8x8 inputs \(layer 0 \(Conv\) would turn 8x8 maps"),
        (ModelConfig(arch="srcnn", options={"n1": 0}), IO["srcnn"],
         r"options \{'n1': 0\} do not make a network \(Conv channels_out must be a positive whole number, not 0\)"),
        (ModelConfig(arch="lenet", options={"hidden": 1.5}), IO["lenet"], "Linear features_out must be a posi"),
        (ModelConfig(arch="lenet", options={"widths": 5}), IO["lenet"], "cannot unpack non-iterable int"),
        (ModelConfig(arch="srcnn", options={"n2": 30}, norm="group", groups=4), IO["srcnn"], "groups = 4 does not"),
    ],
)
def test_what_a_plan_cannot_take_is_one_line(config, io, message):
    with pytest.raises(UserError, match=message):
        check_model(config, io)


def test_checking_a_bundled_model_imports_no_torch():
    code = (
        "import sys; from bnbench.models import ModelIO, check_model; from bnbench.scenario import ModelConfig\n"
        "check_model(ModelConfig(arch='fsrcnn', norm='syncbatch'), ModelIO(1, 1, scale=3, image_size=11))\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
