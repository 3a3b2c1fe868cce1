"""Every ```toml block of the README and the manual validates with `bnbench validate`, through the CLI.

The convention, stated in docs/development.md: a block whose `[scenario]` has a `name` is a whole scenario and is
validated as written. Any other block is a fragment (a `[train]` table alone, a `[[variant]]`) and is merged onto
BASE, the least a scenario needs: a fragment's tables add to or replace BASE's keys, and when the fragment's
variants leave out the baseline, a baseline variant is added, so the fragment's variants have one to be compared
with. A fragment of a command task (`[task] name = "command"`) gets a command for each variant that lacks one.
Files a block names (a model's module, an image folder) are written next to it first, from the page where it can
be (the python block above the model's TOML). A block that is no scenario at all is listed in NOT_SCENARIOS with
the reason.
"""

from __future__ import annotations

import copy
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from PIL import Image
from typer.testing import CliRunner

from bnbench.cli import app
from tests.docs.blocks import REPO, Block, block_before, blocks

runner = CliRunner()

BASE = {"scenario": {"name": "docs", "seeds": [0], "device": "cpu"}}
STAND_IN_COMMAND = [sys.executable, "-c", "pass"]

# (page, the block's first line): why it is not validated.
NOT_SCENARIOS = {
    ("docs/reference/scenario.md", "[[rule]]"): "taplo's own configuration (.taplo.toml), which points the editor at "
                                                "the schema; not a scenario",
}


def _merge(base: dict, fragment: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def scenario_text(block: Block) -> str:
    """The scenario file that validates `block`: itself when whole, else the fragment merged onto BASE."""
    data = tomllib.loads(block.text)
    if "name" in data.get("scenario", {}):
        return block.text
    merged = _merge(BASE, data)
    baseline = merged["scenario"].get("baseline", "control")
    variants = merged.setdefault("variant", [])
    if variants and baseline not in {v.get("name") for v in variants}:
        variants.insert(0, {"name": baseline})
    if merged.get("task", {}).get("name") == "command":
        if not variants:
            variants.append({"name": baseline})
        for variant in variants:
            variant.setdefault("command", STAND_IN_COMMAND)
    if not variants:
        del merged["variant"]
    return tomli_w.dumps(merged)


def _own_model(block: Block, folder: Path) -> None:
    # `arch = "mypkg.nets:make_net"`: the factory the page shows just above, as mypkg/nets.py.
    (folder / "mypkg").mkdir()
    (folder / "mypkg" / "nets.py").write_text(block_before(block, "python").text, encoding="utf-8")


def _image_folders(block: Block, folder: Path) -> None:
    # `dataset = "data/T91"`, `validation = "data/Set5"`: two small greyscale photos each, larger than a patch.
    rng = np.random.default_rng(0)
    for name in ("T91", "Set5"):
        (folder / "data" / name).mkdir(parents=True)
        for i in range(2):
            pixels = rng.integers(0, 256, (48, 48), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / "data" / name / f"{i}.png")


# (page, the block's first line): what the block needs beside it.
SUPPORT: dict[tuple[str, str], Callable[[Block, Path], None]] = {
    ("docs/reference/norms-models-tasks.md", "[model]"): _own_model,
    ("docs/reference/norms-models-tasks.md", "[task]"): _image_folders,
}

TOML = blocks("toml")


def test_the_blocks_are_found_and_every_exception_still_names_one():
    assert len(TOML) >= 10
    keys = {(b.page, b.first_line) for b in TOML}
    assert set(NOT_SCENARIOS) <= keys and set(SUPPORT) <= keys


@pytest.mark.parametrize("block", [b for b in TOML if (b.page, b.first_line) not in NOT_SCENARIOS], ids=lambda b: b.id)
def test_every_toml_block_validates(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(tmp_path))  # the scenario's folder is searched for a model's module anyway
    support = SUPPORT.get((block.page, block.first_line))
    if support:
        support(block, tmp_path)
    path = tmp_path / "scenario.toml"
    path.write_text(scenario_text(block), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, f"{block.id}:\n{path.read_text()}\n{result.output}"
    assert "is valid" in result.output


def test_the_own_script_tutorial_quotes_the_example_files():
    # The tutorial shows examples/digits_bn.toml and examples/digits_bn.py whole: they must be the files.
    page = [b for b in blocks("toml", "python") if b.page == "docs/tutorials/own-script.md"]
    texts = {b.text for b in page}
    for name in ("digits_bn.toml", "digits_bn.py"):
        assert (REPO / "examples" / name).read_text(encoding="utf-8") in texts, name
