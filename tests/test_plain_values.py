"""Plain command-line values are checked without pydantic (bnbench/commands/plain_values.py), and every value
comes out as typer's own checks give it: the same object, or the same error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.core import TyperCommand
from typer.testing import CliRunner

from bnbench.commands import plain_values
from bnbench.commands.plain_values import PlainValue, PlainValuesCommand

needs_typer_checks = pytest.mark.skipif(not plain_values.AVAILABLE,
                                        reason="this typer has no runtime checks of its own to replace")


def probe_app(cls: type[TyperCommand], seen: dict[str, Any]) -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command(cls=cls)
    def probe(
        folder: Annotated[Path, typer.Argument()],
        name: Annotated[str, typer.Option("--name")] = "table",
        must: Annotated[Path | None, typer.Option("--must", exists=True, dir_okay=False)] = None,
        dash: Annotated[Path | None, typer.Option("--dash", allow_dash=True)] = None,
        runs: Annotated[int, typer.Option("--runs", min=1)] = 1,
        idle_s: Annotated[float, typer.Option("--idle-s", min=0, max=5)] = 0,
        tags: Annotated[list[str] | None, typer.Option("--tag")] = None,
        note: Annotated[str | None, typer.Option("--note")] = None,
        flag: Annotated[bool, typer.Option("--flag")] = False,
    ) -> None:
        seen.update(folder=folder, name=name, must=must, dash=dash, runs=runs, idle_s=idle_s, tags=tags,
                    note=note, flag=flag)

    @app.command()
    def other() -> None:  # two commands: `probe` is named on the line, as bnbench's commands are
        pass

    return app


def parsed(cls: type[TyperCommand], args: list[str]) -> tuple[int, str, dict[str, Any]]:
    seen: dict[str, Any] = {}
    result = CliRunner().invoke(probe_app(cls, seen), ["probe", *args])
    return result.exit_code, result.output, {k: (v, type(v)) for k, v in seen.items()}


@needs_typer_checks
@pytest.mark.parametrize("args", [
    ["some/folder"],
    ["some/folder", "--name", "md", "--runs", "3", "--idle-s", "2.5", "--tag", "a", "--tag", "b", "--flag"],
    ["some/folder", "--note", "", "--dash", "-"],
    ["some/folder", "--must", "missing.txt"],  # does not exist
    ["some/folder", "--must", "."],  # a folder where a file is asked for
    ["some/folder", "--must", "there.txt"],
    ["some/folder", "--runs", "0"],  # below its range
    ["some/folder", "--runs", "x"],
    ["some/folder", "--idle-s", "9"],  # above its range
    [],  # the argument is missing
])
def test_each_value_is_what_typers_own_check_gives(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "there.txt").write_text("x")
    assert parsed(PlainValuesCommand, args) == parsed(TyperCommand, args)


@needs_typer_checks
def test_defaults_and_plain_values_come_out_as_typer_gives_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, output, seen = parsed(PlainValuesCommand, ["f", "--name", "md"])
    assert (code, output) == (0, "")
    assert seen == {"folder": (Path("f"), type(Path("f"))), "name": ("md", str), "must": (None, type(None)),
                    "dash": (None, type(None)), "runs": (1, int), "idle_s": (0.0, float), "tags": (None, type(None)),
                    "note": (None, type(None)), "flag": (False, bool)}


@needs_typer_checks
def test_plain_values_build_no_typer_check_and_others_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "there.txt").write_text("x")
    command = typer.main.get_command(probe_app(PlainValuesCommand, {}))
    probe = command.commands["probe"]  # type: ignore[attr-defined]
    command.main(["probe", "f", "--name", "md", "--tag", "a", "--tag", "b", "--must", "there.txt"],
                 standalone_mode=False)
    checks = {param.name: param._runtime_param for param in probe.params}
    assert all(isinstance(check, PlainValue) for check in checks.values())
    assert [name for name, check in checks.items() if check._typers is not None] == []
    command.main(["probe", "f", "--runs", "3"], standalone_mode=False)  # a number written on the line: typer's
    assert [name for name, check in checks.items() if check._typers is not None] == ["runs"]


@needs_typer_checks
def test_a_parameter_unlike_typers_own_keeps_typers_check(tmp_path, monkeypatch):
    # A typer whose descriptors lack what PlainValue reads: the parameter keeps the check typer builds.
    from types import SimpleNamespace

    odd = SimpleNamespace(_runtime_param=None, type_descriptor=SimpleNamespace(annotation=str))
    plain_values.plain_values([odd])
    assert odd._runtime_param is None


@needs_typer_checks
def test_bnbench_parses_a_report_or_tea_command_without_importing_pydantic(tmp_path):
    # typer's checks imported pydantic and built its adapters: 0.1 to 0.17 CPU-s before any command began.
    probe = f"""
import sys
from bnbench.cli import app
for args in (["report", {str(tmp_path / "none")!r}], ["tea", "5J"], ["report", "--format", "md", "."]):
    try:
        app(args, standalone_mode=False)
    except Exception:
        pass
print("pydantic" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout
