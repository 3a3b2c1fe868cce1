"""Scenario loading, validation, overrides and expansion."""

from __future__ import annotations

import pytest

from bnbench.errors import UserError
from bnbench.scenario import expand, load, parse_duration_s

HEAD = '[scenario]\nname = "t"\n'


def error_of(write_scenario, text: str, overrides: list[str] | None = None) -> str:
    with pytest.raises(UserError) as info:
        load(write_scenario(text), overrides or [])
    message = str(info.value)
    assert "\n" not in message  # one line
    return message


def test_tiny_scenario_expands_variant_by_seed(tiny_scenario):
    scenario = load(tiny_scenario)
    specs = expand(scenario)
    # 2 variants x 2 seeds, variants in file order, seeds in the order given.
    assert [s.run_id for s in specs] == ["control-s0", "control-s1", "bn-s0", "bn-s1"]
    assert [s.index for s in specs] == [0, 1, 2, 3]
    bn = specs[2]
    assert bn.model.norm == "batch" and bn.model.bn_decay == 0.9
    assert specs[0].model.norm == "none"
    # The variant inherits the base sections it does not override.
    assert bn.task.batch_size == 8 and bn.train.max_steps == 4


def test_run_ids_are_stable(tiny_scenario):
    assert [s.run_id for s in expand(load(tiny_scenario))] == [s.run_id for s in expand(load(tiny_scenario))]


def test_no_variant_means_one_named_after_the_baseline(write_scenario):
    scenario = load(write_scenario(HEAD))
    assert [v.name for v in scenario.variants] == ["control"]
    assert [s.run_id for s in expand(scenario)] == ["control-s0"]


def test_momentum_maps_to_decay(write_scenario):
    text = HEAD + '[[variant]]\nname = "control"\n[[variant]]\nname = "bn"\nnorm = "batch"\nmomentum = 0.001\n'
    bn = load(write_scenario(text)).variants[1]
    assert bn.model.bn_decay == pytest.approx(0.999)


def test_consistent_decay_and_momentum_are_accepted(write_scenario):
    text = HEAD + '[model]\nnorm = "batch"\ndecay = 0.9\nmomentum = 0.1\n'
    assert load(write_scenario(text)).model.bn_decay == pytest.approx(0.9)


def test_contradictory_decay_and_momentum_are_refused(write_scenario):
    message = error_of(write_scenario, HEAD + '[model]\nnorm = "batch"\ndecay = 0.9\nmomentum = 0.9\n')
    assert "[model]" in message and "momentum = 1 - decay = 0.1" in message


def test_malformed_toml_names_file_line_and_column(write_scenario):
    message = error_of(write_scenario, HEAD + "[train]\nlr = = 3\n")
    assert "scenario.toml" in message and "line 4" in message and "column" in message


def test_unknown_key_suggests_the_right_one(write_scenario):
    message = error_of(write_scenario, HEAD + "[train]\nlr_rate = 0.1\n")
    assert message.endswith("scenario.toml:4: [train]: unknown key 'lr_rate'; did you mean 'lr'?")


def test_unknown_section_suggests_the_right_one(write_scenario):
    message = error_of(write_scenario, HEAD + "[trian]\nlr = 0.1\n")
    assert "unknown section [trian]; did you mean 'train'?" in message


def test_unknown_variant_key_names_the_variant(write_scenario):
    message = error_of(write_scenario, HEAD + '[[variant]]\nname = "control"\ndecy = 0.9\n')
    assert ":5: [[variant]] 'control': unknown key 'decy'; did you mean 'decay'?" in message


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        ("train", "lr = -1", "[train] lr: Input should be greater than 0 (got -1)"),
        ("task", "batch_size = 0", "[task] batch_size: Input should be greater than or equal to 1 (got 0)"),
        ("model", "decay = 1.5", "[model] decay: Input should be less than 1 (got 1.5)"),
        ("model", "decay = 0", "[model] decay: Input should be greater than 0 (got 0)"),
        ("train", 'max_steps = "many"', "[train] max_steps: must be a whole number, written without quotes"),
        ("train", 'optimizer = "lbfgs"', "[train] optimizer: Input should be 'adam' or 'sgd'"),
    ],
)
def test_bad_values_name_their_field_and_line(write_scenario, section, line, expected):
    message = error_of(write_scenario, HEAD + f"[{section}]\n{line}\n")
    assert f"scenario.toml:4: {expected}" in message


def test_bad_value_in_a_variant_names_the_variant(write_scenario):
    text = HEAD + '[[variant]]\nname = "control"\n[[variant]]\nname = "bn"\nnorm = "batch"\ndecay = 2\n'
    assert "scenario.toml:8: [[variant]] 'bn' decay: Input should be less than 1" in error_of(write_scenario, text)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such scenario file"):
        load(tmp_path / "absent.toml")


def test_missing_scenario_section(write_scenario):
    assert "missing section [scenario]" in error_of(write_scenario, "[train]\nlr = 0.1\n")


def test_duplicate_variant_names(write_scenario):
    text = HEAD + '[[variant]]\nname = "control"\n[[variant]]\nname = "control"\n'
    assert "duplicate variant name 'control'" in error_of(write_scenario, text)


def test_baseline_must_name_a_variant(write_scenario):
    text = HEAD + '[[variant]]\nname = "a"\n[[variant]]\nname = "b"\n'
    assert "baseline: no variant named 'control'" in error_of(write_scenario, text)


def test_zero_debias_needs_batch_norm(write_scenario):
    assert "zero_debias applies to norm = 'batch'" in error_of(write_scenario, HEAD + "[model]\nzero_debias = true\n")


def test_duplicate_seeds(write_scenario):
    message = error_of(write_scenario, '[scenario]\nname = "t"\nseeds = [1, 1]\n')
    assert "seeds: must be distinct (got [1, 1])" in message


def test_set_overrides_are_typed_and_validated(tiny_scenario):
    scenario = load(tiny_scenario, ["train.max_steps=20", "scenario.seeds=[3]", "variant.bn.decay=0.99"])
    specs = expand(scenario)
    assert [s.run_id for s in specs] == ["control-s3", "bn-s3"]
    assert specs[0].train.max_steps == 20
    assert specs[1].model.bn_decay == pytest.approx(0.99)


def test_set_override_accepts_a_bare_word(tiny_scenario):
    assert load(tiny_scenario, ["train.schedule=cosine"]).train.schedule == "cosine"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.max_steps=-5", "[train] max_steps: Input should be greater than or equal to 1"),
        ("train.lr_rate=1", "unknown key 'lr_rate'; did you mean 'lr'?"),
        ("trian.lr=1", "--set 'trian.lr=1': unknown section 'trian'; did you mean 'train'?"),
        ("train.lr", "expected section.key=value"),
        ("variant.nope.decay=0.9", "no variant named 'nope'"),
    ],
)
def test_bad_overrides(tiny_scenario, override, expected):
    with pytest.raises(UserError) as info:
        load(tiny_scenario, [override])
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"), [("12h", 43200.0), ("1h30m", 5400.0), ("90s", 90.0), ("2.5m", 150.0), (7, 7.0)]
)
def test_durations(text, seconds):
    assert parse_duration_s(text) == seconds


def test_bad_duration_is_a_field_error(write_scenario):
    message = error_of(write_scenario, HEAD + '[train]\nmax_wall_s = "soon"\n')
    assert "[train] max_wall_s: 'soon' is not a duration" in message


def test_resolved_dict_round_trips(tiny_scenario):
    scenario = load(tiny_scenario)
    resolved = scenario.to_dict()
    assert resolved["train"]["max_steps"] == 4
    assert "max_wall_s" not in resolved["train"]  # None is left out: TOML has no null
    assert resolved["variant"] == [{"name": "control"}, {"name": "bn", "norm": "batch", "decay": 0.9}]
    assert load(tiny_scenario).fingerprint() == scenario.fingerprint()
    assert load(tiny_scenario, ["train.lr=0.5"]).fingerprint() != scenario.fingerprint()


def test_shipped_scenarios_are_valid():
    from conftest import REPO

    for path in sorted((REPO / "scenarios").glob("*.toml")):
        assert expand(load(path)), path
