"""`bnbench validate` of the bundled scenarios imports no torch (their checks are torch-free), and a user's own
model, which is torch code, is still built and checked."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from bnbench.cli import app
from tests.conftest import REPO

runner = CliRunner()


def test_validating_every_bundled_scenario_imports_no_torch():
    scenarios = sorted(str(p) for p in (REPO / "scenarios").glob("*.toml"))
    assert len(scenarios) >= 4
    code = (
        "import sys; from typer.testing import CliRunner; from bnbench.cli import app\n"
        f"for path in {scenarios!r}:\n"
        "    r = CliRunner().invoke(app, ['validate', path])\n"
        "    print(r.exit_code, 'is valid' in r.output)\n"
        "print('torch' in sys.modules, 'bnbench.execute.pool' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    # Neither torch nor the pool's modules (meters, the results store) are loaded to validate.
    assert out.stdout.split() == ["0", "True"] * len(scenarios) + ["False", "False"], out.stdout + out.stderr


def test_a_custom_model_that_cannot_take_the_input_is_refused(tiny_scenario, write_scenario):
    (tiny_scenario.parent / "wide_kernel.py").write_text(
        "from torch import nn\n\ndef make_net(norm, io):\n    return nn.Conv2d(io.in_channels, 1, 99)\n"
    )
    text = tiny_scenario.read_text().replace("[train]", '[model]\narch = "wide_kernel:make_net"\n\n[train]')
    result = runner.invoke(app, ["validate", str(write_scenario(text, "custom.toml"))])
    assert result.exit_code == 2
    assert "model 'wide_kernel:make_net' cannot take this task's" in result.output
