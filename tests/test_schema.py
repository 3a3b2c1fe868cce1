"""`bnbench schema`: the JSON Schema of scenario files accepts every bundled scenario, refuses a typo'd key where
validate does, and is printed without importing torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from bnbench.cli import app
from tests.conftest import REPO

BUNDLED = sorted((REPO / "scenarios").glob("*.toml")) + sorted((REPO / "examples").glob("*.toml"))


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    Draft202012Validator.check_schema(schema)  # a well-formed draft 2020-12 schema
    return Draft202012Validator(schema)


def test_there_are_bundled_scenarios():
    assert len(BUNDLED) >= 5


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_every_bundled_scenario_validates(validator, path):
    errors = [e.message for e in validator.iter_errors(tomllib.loads(path.read_text()))]
    assert errors == []


def _errors(validator: Draft202012Validator, text: str) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(tomllib.loads(text))]


def test_a_typo_is_refused_in_a_section_and_in_a_variant(validator):
    quick = (REPO / "scenarios" / "quick.toml").read_text()
    typo = quick.replace("[train]\n", "[train]\nlr_rate = 0.01\n", 1)
    assert any("'lr_rate' was unexpected" in e for e in _errors(validator, typo))
    variant = quick + '\n[[variant]]\nname = "typo"\nnrom = "batch"\n'
    assert any("'nrom' was unexpected" in e for e in _errors(validator, variant))
    assert any("'trian'" in e for e in _errors(validator, quick + "\n[trian]\nlr = 1\n"))


def test_types_bounds_and_choices_are_checked(validator):
    base = '[scenario]\nname = "s"\n'
    assert _errors(validator, base + '[train]\nmax_steps = "800"\n')  # a number in quotes
    assert _errors(validator, base + "[train]\nmax_steps = 0\n")  # ge=1
    assert _errors(validator, base + '[train]\noptimizer = "adamw"\n')  # not a choice
    assert _errors(validator, '[train]\nlr = 0.1\n')  # [scenario] is required
    # durations take text as the scenario loader does; a variant takes a section's key with its bounds
    assert _errors(validator, base + '[train]\nmax_wall_s = "4h"\n') == []
    assert _errors(validator, base + '[[variant]]\nname = "v"\ndecay = 1.5\n')


def test_schema_is_printed_without_torch():
    code = ("import sys; from typer.testing import CliRunner; from bnbench.cli import app\n"
            "r = CliRunner().invoke(app, ['schema']); print(r.exit_code, 'torch' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["0", "False"], out.stdout + out.stderr


def test_graph_takes_true_false_or_auto(validator):
    # unset (or "auto") lets the device decide; any other text is refused as the loader refuses it
    base = '[scenario]\nname = "s"\n[train]\n'
    assert [_errors(validator, base + f"graph = {v}\n") for v in ("true", "false", '"auto"')] == [[], [], []]
    assert _errors(validator, base + 'graph = "yes"\n')
