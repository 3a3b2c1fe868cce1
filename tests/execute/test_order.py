"""The hand-out order: seed by seed with the variants rotated, so that no variant owns a slot or a time."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.execute.order import arrange, interleave
from bnbench.scenario import expand, load

from .helpers import read_rows


def ids(runs) -> list[str]:
    return [r.run_id for r in runs]


def matrix(variants: list[str], seeds: int, write_scenario) -> list:
    tables = "".join(f'[[variant]]\nname = "{v}"\nlr = {0.001 * (i + 1)}\n' for i, v in enumerate(variants))
    text = f'[scenario]\nname = "t"\nseeds = {list(range(seeds))}\nbaseline = "{variants[0]}"\n{tables}'
    return expand(load(write_scenario(text)))


def test_one_slot_takes_the_variants_in_turns(write_scenario) -> None:
    runs = matrix(["control", "bn"], 3, write_scenario)
    assert ids(runs) == ["control-s0", "control-s1", "control-s2", "bn-s0", "bn-s1", "bn-s2"]  # matrix order
    # One slot: every rotation meets the same slot, so the tie goes to rotating by the seed's round:
    # seed 0 unrotated (A B), seed 1 rotated by one (B A), seed 2 by two = none (A B).
    assert ids(interleave(runs, 1)) == ["control-s0", "bn-s0", "bn-s1", "control-s1", "control-s2", "bn-s2"]


def test_each_variant_meets_each_slot(write_scenario) -> None:
    # 3 variants on 3 slots, lockstep: positions 0-2, 3-5, 6-8 go to slots 0, 1, 2. Seed 1 rotated by one
    # (B C A) puts every variant on a slot it has not met (cost 0), seed 2 by two (C A B) likewise: a Latin square.
    runs = matrix(["a", "b", "c"], 3, write_scenario)
    order = interleave(runs, 3)
    assert ids(order) == ["a-s0", "b-s0", "c-s0", "b-s1", "c-s1", "a-s1", "c-s2", "a-s2", "b-s2"]
    slots = {(r.variant, i % 3) for i, r in enumerate(order)}
    assert slots == {(v, s) for v in "abc" for s in range(3)}


def test_two_variants_on_eight_gpus_meet_every_gpu_once_in_eight_seeds(write_scenario) -> None:
    runs = matrix(["control", "bn"], 8, write_scenario)
    order = interleave(runs, 8)
    met = Counter((r.variant, i % 8) for i, r in enumerate(order))
    assert met == Counter({(v, s): 1 for v in ("control", "bn") for s in range(8)})
    # Seed-major: both runs of seed k are handed out before any run of seed k + 1.
    assert [r.seed for r in order] == [s for s in range(8) for _ in range(2)]


def test_two_variants_on_two_slots_alternate(write_scenario) -> None:
    # Seed 0: A->0, B->1. Seed 1 rotated (B A): B->0, A->1 (cost 0). Seed 2: both rotations cost 2 (each
    # variant met each slot once), so the round's own rotation (none) wins. Seed 3: B A costs 2, A B costs 4.
    order = interleave(matrix(["A", "B"], 4, write_scenario), 2)
    assert ids(order) == ["A-s0", "B-s0", "B-s1", "A-s1", "A-s2", "B-s2", "B-s3", "A-s3"]


def test_a_subset_keeps_its_runs_and_ids(write_scenario) -> None:
    runs = matrix(["control", "bn", "gn"], 3, write_scenario)
    left = [r for r in runs if r.run_id not in ("bn-s0", "control-s2")]  # what a resumed session still has to do
    order = interleave(left, 2)
    assert sorted(ids(order)) == sorted(ids(left))
    assert [r.seed for r in order] == [0, 0, 1, 1, 1, 2, 2]
    assert arrange(left, "variant-major", 2) == left


def test_bad_input_is_refused(write_scenario) -> None:
    runs = matrix(["control", "bn"], 1, write_scenario)
    with pytest.raises(ValueError, match="slots"):
        interleave(runs, 0)
    with pytest.raises(ValueError, match="distinct"):
        interleave(runs + runs, 1)


def test_run_hands_out_interleaved_and_records_the_order(digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    # One slot on the CPU: seed 0 control then bn, seed 1 rotated (bn then control); rows append as runs end.
    expected = ["control-s0", "bn-s0", "bn-s1", "control-s1"]
    assert [r["run_id"] for r in read_rows(out)] == expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_order"] == {"order": "interleaved", "slots": 1, "runs": expected, "runs_per_gpu": 1}


def test_a_scenario_may_ask_for_variant_major(digits_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--out", str(out),
                                      "--set", 'scenario.order="variant-major"'])
    assert result.exit_code == 0, result.output
    expected = ["control-s0", "control-s1", "bn-s0", "bn-s1"]
    assert [r["run_id"] for r in read_rows(out)] == expected
    assert json.loads((out / "manifest.json").read_text())["run_order"]["order"] == "variant-major"
    # The order changes when, not what, a run computes: a resume may change it, and its entry records it.
    # The last row is dropped so the resume has a run to finish (a folder with nothing left is left as it is).
    rows = (out / "runs.csv").read_text().splitlines(keepends=True)
    (out / "runs.csv").write_text("".join(rows[:-1]))
    result = CliRunner().invoke(app, ["run", str(digits_scenario), "--resume", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_order"]["order"] == "variant-major"
    assert manifest["resumes"][-1]["run_order"] == {"order": "interleaved", "slots": 1, "runs": [
        "control-s0", "bn-s0", "bn-s1", "control-s1"], "runs_per_gpu": 1}


def test_an_unknown_order_is_one_line(digits_scenario: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(digits_scenario), "--set", 'scenario.order="random"'])
    assert result.exit_code == 2
    assert "order" in result.output and "interleaved" in result.output and "Traceback" not in result.output
