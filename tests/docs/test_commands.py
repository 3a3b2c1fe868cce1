"""Every command shown in a ```bash or ```console block of the README and the manual runs here, in the order its
block shows it, in a folder of its own that links to the repository's `scenarios/` and `examples/`.

A `bnbench` command runs through the CLI (typer's CliRunner) and must exit 0, or the code its comment states
(`# exit 1`). Where the command as shown trains for minutes, SMALL maps it to the same command with small
settings (fewer steps and seeds, evaluations on the photos' 48x48 centres, no idle baseline, one worker). What
cannot run here is in NOT_RUN with the reason; every entry of both must still match a command the pages show.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from tests.docs.blocks import REPO, Block, blocks

runner = CliRunner()

# Commands that cannot run in a test, by their first words: why.
NOT_RUN: dict[str, str] = {
    "pip install": "installs packages: the environment the tests run in is that install",
    "python -m pytest": "the test suite itself: .ci/run runs this exact command",
    "ruff check .": ".ci/run runs it after the suite",
    "mypy": ".ci/run runs it after the suite",
    "mkdocs build --strict": ".ci/run builds the manual with --strict after the suite",
    "python -m bnbench.commands.reference": "tests/test_reference_docs.py runs the generator into a temporary folder "
                                            "and compares its pages with docs/reference/",
    "docker build": "needs a Docker engine; tests/execute/test_docker.py lints the Dockerfile and checks this page's "
                    "docker run command",
    "docker run": "needs a Docker engine and an NVIDIA GPU",
    "bnbench run scenarios/overnight.toml --executor ray --address ray://head-node:10001":
        "needs a Ray cluster at that address; tests/execute run the Ray executor on a local Ray",
    "bnbench run scenarios/norms.toml --executor slurm":
        "needs a Slurm cluster with a 'gpu' partition and shared storage at /project; tests/execute/test_slurm.py "
        "runs the executor on a one-node Slurm the suite starts",
}

_QUICK = ("--set scenario.seeds=[0] --set train.max_steps=4 --set train.eval_every=2 --set task.eval_size=48 "
          "--set energy.idle_s=0 --workers 1")
_OVERNIGHT = ("--set scenario.seeds=[0] --set train.max_steps=2 --set train.eval_every=2 --set train.log_every=1 "
              "--set task.batch_size=8 --set task.eval_size=48 --set energy.idle_s=0")
_SCRIPT = '"python", "digits_bn.py", "--seed", "{seed}", "--steps", "20"'  # 20 steps instead of 150
_DIGITS_BN = (f"--set scenario.seeds=[0] --set energy.idle_s=0 --set 'variant.control.command=[{_SCRIPT}]' "
              f"--set 'variant.bn.command=[{_SCRIPT}, \"--bn\"]'")

# A command as shown (its words, quoted as shlex.join quotes them) -> the commands that stand for it here.
SMALL: dict[str, list[str]] = {
    "bnbench run scenarios/quick.toml": [f"bnbench run scenarios/quick.toml {_QUICK}"],
    "bnbench run scenarios/quick.toml --set train.max_steps=20 --set train.eval_every=10 --out reports/try":
        [f"bnbench run scenarios/quick.toml {_QUICK} --out reports/try"],
    "bnbench run examples/digits_bn.toml": [f"bnbench run examples/digits_bn.toml {_DIGITS_BN}"],
    # A folder to resume first: the same small session, whole, so the resume finds nothing left to train.
    "bnbench run scenarios/overnight.toml --resume reports/overnight/20260101-220000": [
        f"bnbench run scenarios/overnight.toml {_OVERNIGHT} --out reports/overnight/20260101-220000",
        f"bnbench run scenarios/overnight.toml {_OVERNIGHT} --resume reports/overnight/20260101-220000"],
    "bnbench measure -n 5 'python train.py' 'python train.py --bn'":
        ["bnbench measure -n 2 'python train.py' 'python train.py --bn'"],
}

# A stand-in for the `train.py` that bnbench measure is shown metering: a second of arithmetic is not needed to
# show the command works, so it does a little and reports nothing.
_TRAIN_PY = """import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--bn", action="store_true")
args = parser.parse_args()
print(sum(i * i for i in range(10_000 * args.epochs)), "bn" if args.bn else "control")
"""

# Pages whose commands need a file in their folder.
SUPPORT: dict[str, Callable[[Path], None]] = {
    "docs/how-to/measure.md": lambda folder: (folder / "train.py").write_text(_TRAIN_PY, encoding="utf-8"),
}


def shown_commands(block: Block) -> list[tuple[str, int]]:
    """The block's commands, each with the exit code its comment states (0 when none): continuation lines joined,
    `&&` chains split, `NAME=value` lines expanded where `$NAME` appears."""
    text = block.text.replace("\\\n", " ")
    lines = text.splitlines()
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    variables: dict[str, str] = {}
    found = []
    for line in lines:
        stated = re.search(r"#\s*exit (\d+)", line)
        for name, value in variables.items():
            line = line.replace(f"${name}", value)
        words = shlex.split(line, comments=True)
        if not words:
            continue
        assignment = re.fullmatch(r"([A-Za-z_]\w*)=(.*)", words[0], re.S)
        if assignment and len(words) == 1:
            variables[assignment.group(1)] = assignment.group(2)
            continue
        part: list[str] = []
        for word in [*words, "&&"]:
            if word != "&&":
                part.append(word)
            elif part:
                found.append((shlex.join(part), int(stated.group(1)) if stated else 0))
                part = []
    return found


def not_run(command: str) -> str | None:
    return next((why for start, why in NOT_RUN.items() if command == start or command.startswith(start + " ")), None)


COMMAND_BLOCKS = [b for b in blocks("bash", "console") if shown_commands(b)]

# The commands of blocks that passed, as run: a block that runs exactly the same (the README's quick start and the
# manual's home page both show `bnbench run scenarios/quick.toml`) has nothing left to show.
_PASSED: set[tuple[tuple[str, int], ...]] = set()


def runnable(block: Block) -> tuple[tuple[str, int], ...]:
    """The commands the block runs here, each with the exit code it must give."""
    return tuple((command, expected) for shown, expected in shown_commands(block) if not not_run(shown)
                 for command in SMALL.get(shown, [shown]))


def test_every_exception_names_a_command_the_pages_show():
    shown = [command for b in COMMAND_BLOCKS for command, _ in shown_commands(b)]
    assert len(shown) >= 20
    assert [s for s in SMALL if s not in shown] == []
    assert [n for n in NOT_RUN if not any(c == n or c.startswith(n + " ") for c in shown)] == []


@pytest.mark.parametrize("block", COMMAND_BLOCKS, ids=lambda b: b.id)
def test_every_shown_command_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("scenarios", "examples"):
        (tmp_path / name).symlink_to(REPO / name)
    monkeypatch.chdir(tmp_path)
    # `python` in a scenario's or measure's command is this interpreter.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("COLUMNS", "120")
    if block.page in SUPPORT:
        SUPPORT[block.page](tmp_path)
    commands = runnable(block)
    if block.page not in SUPPORT and commands in _PASSED:
        return
    for command, expected in commands:
        words = shlex.split(command)
        assert words[0] == "bnbench", f"{block.id}: {command!r} is neither a bnbench command nor in NOT_RUN"
        result = runner.invoke(app, words[1:])
        assert result.exit_code == expected, f"{block.id}: {command}\n{result.output}"
    _PASSED.add(commands)
