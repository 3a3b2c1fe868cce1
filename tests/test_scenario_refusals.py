"""Settings that `validate` passed and every run then failed on: refused at validation, one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from tests.reliability.helpers import TINY

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "scenarios" / "quick.toml"


def one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize("seeds", ["[4294967296]", "[0, 18446744073709551616]", "{ min = 2, max = 4294967297 }"])
def test_seeds_past_32_bits_are_refused(seeds: str):
    # NumPy seeds with 0 .. 2^32-1 = 4294967295; adaptive seeds run 0 .. max-1, so max may be 2^32 at most.
    result = runner.invoke(app, ["validate", str(QUICK), "--set", f"scenario.seeds={seeds}"])
    assert result.exit_code == 2, result.output
    assert "[scenario] seeds:" in one_line(result.output) and "Traceback" not in result.output
    assert "4294967296" in one_line(result.output)


def test_the_largest_seed_trains(tmp_path: Path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY.replace("seeds = [0]", "seeds = [4294967295]"), encoding="utf-8")
    result = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "out"), "--set", "train.max_steps=2",
                                 "--set", "train.eval_every=2"])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert runs["status"].tolist() == ["completed", "completed"] and runs["seed"].tolist() == [4294967295] * 2


@pytest.mark.parametrize(
    ("arch", "raised"),
    [("os.path:join", "TypeError: expected str, bytes or os.PathLike object, not function"),
     ("torch.nn:Linear", "TypeError: empty(): argument 'size'"),
     ("refusals_net:make", "KeyError: 'width'")],
)
def test_a_factory_that_raises_is_one_line(tmp_path: Path, arch: str, raised: str):
    # refusals_net sits beside the scenario (a folder custom models are imported from) and reads an option
    # the scenario does not give.
    (tmp_path / "refusals_net.py").write_text("def make(norm, io, **options):\n    return options['width']\n",
                                              encoding="utf-8")
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(scenario), "--set", f'model.arch="{arch}"'])
    assert result.exit_code == 2, result.output
    message = one_line(result.output)
    assert message.startswith(f"bnbench: error: model '{arch}': building it and running one batch raised {raised}")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("device", "message"), [
    ("[]", 'needs at least one device, e.g. device = "auto" or ["cuda:0", "cuda:1"] (got [])'),
    ('"gpu"', "unknown device 'gpu'; use auto, cpu, cuda or cuda:N (got 'gpu')"),
    ('["cpu", "cuda:x"]', "unknown device 'cuda:x'; use auto, cpu, cuda or cuda:N (got ['cpu', 'cuda:x'])"),
])
def test_a_device_no_host_has_is_refused_by_validate_and_run(tmp_path: Path, device: str, message: str):
    for command in (["validate", str(QUICK)], ["run", str(QUICK), "--out", str(tmp_path / "out")]):
        result = runner.invoke(app, [*command, "--set", f"scenario.device={device}"])
        assert result.exit_code == 2, result.output
        given = message.removesuffix(")") + ", given by --set)"  # the value is the command line's
        assert one_line(result.output).endswith(f"[scenario] device: {given}"), result.output
    assert not (tmp_path / "out").exists()


def test_a_one_variant_scenario_refuses_a_baseline_it_does_not_have(tmp_path: Path):
    scenario = tmp_path / "one.toml"
    scenario.write_text('[scenario]\nname = "one"\nbaseline = "nope"\n\n[[variant]]\nname = "control"\n',
                        encoding="utf-8")
    result = runner.invoke(app, ["validate", str(scenario)])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == (f"bnbench: error: {scenario}: [scenario] baseline: no variant named 'nope' "
                                       "(variants: control); remove baseline or name a variant")


@pytest.mark.parametrize(("table", "line"), [("[task.parse]\nevl = 'x'\n", 10), ("parse = { evl = 'x' }\n", 9)])
def test_a_typo_inside_a_table_names_the_table_and_the_key(tmp_path: Path, table: str, line: int):
    scenario = tmp_path / "cmd.toml"
    scenario.write_text('[scenario]\nname = "c"\ndevice = "cpu"\n[task]\nname = "command"\nmetric = "acc"\n'
                        f'higher_is_better = true\ncommand = ["true"]\n{table}', encoding="utf-8")
    result = runner.invoke(app, ["validate", str(scenario)])
    assert result.exit_code == 2, result.output
    # It said "[task]: unknown key 'parse'; did you mean 'parse'?".
    assert one_line(result.output) == (f"bnbench: error: {scenario}:{line}: [task.parse]: unknown key 'evl'; "
                                       "did you mean 'eval'?")


@pytest.mark.parametrize(("text", "message"), [
    # 100,000 dotted parts in one key (200 KB): tomllib's time grows with their square (over a minute).
    ("k" + ".k" * 100_000 + " = 1\n", "tables or arrays nested more than 16 deep"),
    # 2,000 comment lines of 204 bytes: 408,000 bytes, over the 262,144 (256 KiB) cap.
    ("".join(f"# {i:0200d}\n" for i in range(2000)), "over 256 KiB; a scenario is a few KiB"),
])
def test_oversized_scenarios_are_refused_before_parsing(tmp_path: Path, text: str, message: str):
    import time

    scenario = tmp_path / "big.toml"
    scenario.write_text('[scenario]\nname = "big"\n' + text, encoding="utf-8")
    started = time.monotonic()
    result = runner.invoke(app, ["validate", str(scenario)])
    assert result.exit_code == 2, result.output
    assert message in one_line(result.output)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("setting", "message"), [
    ("train.lr=abc", "quick.toml: [train] lr: must be a number, written without quotes (e.g. 0.001) (got 'abc', "
                     "given by --set)"),
    ("train.nonexist=1", "quick.toml: [train]: unknown key 'nonexist' (given by --set)"),
    ("variant.bn.decay=abc", "quick.toml: [[variant]] 'bn' decay: must be a number, written without quotes (e.g. "
                             "0.001) (got 'abc', given by --set)"),
])
def test_a_bad_set_value_is_blamed_on_the_command_line_not_on_a_line_of_the_file(setting: str, message: str):
    # quick.toml's lr = 1e-3 is on its line 20 and bn's decay on its own line: the value refused is the --set's,
    # so 'quick.toml:20:' sent the user to a line that is fine.
    result = runner.invoke(app, ["validate", str(QUICK), "--set", setting])
    assert result.exit_code == 2, result.output
    assert one_line(result.output) == f"bnbench: error: {QUICK.parent}/{message}", result.output
