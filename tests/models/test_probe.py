"""The shapes probe: a bundled model's small CPU batch gives the same counts as the meta device at the full batch,
and checking a bundled model never loads torch's symbolic-shape machinery (seconds of imports)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bnbench.models import MODELS, ModelIO
from bnbench.models import probe as probe_module
from bnbench.models.norms import NORMS
from bnbench.models.probe import Shapes, probe
from bnbench.scenario import ModelConfig

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
def test_cpu_probe_counts_what_the_meta_device_counts(monkeypatch, arch, norm):
    config = ModelConfig(arch=arch, norm=norm, groups=4, dropout=0.1)
    on_cpu = probe(config, IO[arch], 24)
    monkeypatch.setattr(probe_module, "CPU_PROBE_BYTES", 0)  # everything on the meta device, at the full batch
    assert on_cpu == probe(config, IO[arch], 24)


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


def test_huge_options_go_to_the_meta_device(monkeypatch):
    built_on: list[str] = []
    real = probe_module.build_model

    def spy(config, io):
        model = real(config, io)
        built_on.append(next(model.parameters()).device.type)
        return model

    monkeypatch.setattr(probe_module, "build_model", spy)
    probe(ModelConfig(arch="srcnn"), IO["srcnn"], 8)
    assert built_on == ["meta", "cpu"]
    built_on.clear()
    # 4096 channels at 33x33 over 8 leaves: 2 x 4096 x 33 x 33 x 9 x 4 bytes = 321 MB, over the 256 MiB bound.
    shapes = probe(ModelConfig(arch="srcnn", options={"n1": 4096}), IO["srcnn"], 8)
    assert built_on == ["meta"]
    assert shapes is not None and shapes.activations == 8 * (4096 * 625 + 32 * 625 + 441)


def test_checking_a_bundled_model_loads_no_dynamo():
    code = (
        "import sys; from bnbench.models import ModelIO, check_model; from bnbench.scenario import ModelConfig\n"
        "check_model(ModelConfig(arch='srcnn', norm='batch', zero_debias=True), ModelIO(1, 1, image_size=33))\n"
        "print(sorted(m for m in ('torch._dynamo', 'sympy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
