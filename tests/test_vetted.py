"""`bnbench validate` remembers the checks a scenario passed, so it imports torch only when something is new."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from bnbench import vetted
from bnbench.cli import app
from bnbench.scenario import load
from tests.conftest import REPO

runner = CliRunner()


def count_checks(monkeypatch) -> list[str]:
    """Record each real call of the two checks `vet` may skip."""
    import bnbench.checks

    calls: list[str] = []
    real_scenario, real_runs = bnbench.checks.check_scenario, bnbench.checks.check_runs
    monkeypatch.setattr(bnbench.checks, "check_scenario", lambda s: (calls.append("scenario"), real_scenario(s)))
    monkeypatch.setattr(bnbench.checks, "check_runs", lambda s: (calls.append("runs"), real_runs(s)))
    return calls


def test_a_passed_scenario_is_not_checked_again(tiny_scenario, monkeypatch):
    calls = count_checks(monkeypatch)
    for _ in range(2):
        result = runner.invoke(app, ["validate", str(tiny_scenario)])
        assert result.exit_code == 0, result.output
        assert "bn-s1" in result.output
    # The first validate runs both checks; the second finds both variants (bundled data, srcnn) remembered.
    assert calls == ["scenario", "runs"]


def test_a_new_variant_or_a_failure_is_checked_every_time(tiny_scenario, write_scenario, monkeypatch):
    calls = count_checks(monkeypatch)
    assert runner.invoke(app, ["validate", str(tiny_scenario)]).exit_code == 0
    # One more variant (a norm not seen before) makes the whole scenario checked again: 2 more calls.
    text = tiny_scenario.read_text() + '\n[[variant]]\nname = "gn"\nnorm = "group"\ngroups = 4\n'
    assert runner.invoke(app, ["validate", str(write_scenario(text, "more.toml"))]).exit_code == 0
    assert calls == ["scenario", "runs"] * 2
    # An unknown norm fails, and fails again: a failure is never remembered (2 check_scenario calls, no runs).
    bad = write_scenario(tiny_scenario.read_text().replace('norm = "batch"', 'norm = "batchy"'), "bad.toml")
    for _ in range(2):
        result = runner.invoke(app, ["validate", str(bad)])
        assert result.exit_code == 2 and "batchy" in result.output
    assert calls == ["scenario", "runs"] * 2 + ["scenario"] * 2


def test_a_data_folder_or_a_custom_model_is_never_remembered(tiny_scenario, write_scenario, tmp_path):
    folder = write_scenario(tiny_scenario.read_text().replace("[task]", '[task]\ndataset = "photos"'), "f.toml")
    custom = write_scenario(tiny_scenario.read_text().replace("[train]", '[model]\narch = "mine:net"\n\n[train]'),
                            "c.toml")
    for path in (folder, custom):
        assert not all(vetted.rememberable(v) for v in load(path, []).variants)
    assert all(vetted.rememberable(v) for v in load(tiny_scenario, []).variants)


def test_an_edited_source_file_or_torch_forgets_what_was_checked(tiny_scenario, monkeypatch):
    variant = load(tiny_scenario, []).variants[0]
    before = vetted.variant_key(variant, vetted.code_fingerprint())
    monkeypatch.setattr(vetted.metadata, "version", lambda name: "0.0-other")
    assert vetted.variant_key(variant, vetted.code_fingerprint()) != before


def test_a_remembered_validate_does_not_import_torch(tiny_scenario):
    assert runner.invoke(app, ["validate", str(tiny_scenario)]).exit_code == 0  # remembers (this process has torch)
    probe = ("import sys; from typer.testing import CliRunner; from bnbench.cli import app; "
             f"r = CliRunner().invoke(app, ['validate', {str(tiny_scenario)!r}]); "
             "print(r.exit_code, 'torch' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.split() == ["0", "False"], out.stdout + out.stderr
