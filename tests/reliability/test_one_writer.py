"""One writer per results folder: a second `bnbench run` is refused naming the holder, a killed holder blocks
nothing, a resume follows no symbolic link, and temporary files of writes killed midway are removed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench import checkpoint
from bnbench.cli import app

from .helpers import QUICK, TINY, bnbench_process, finished_folder, tiny_sets, wait_for

runner = CliRunner()


def test_a_second_writer_is_refused_and_a_killed_one_blocks_nothing(tmp_path: Path):
    out = tmp_path / "results"
    sets = tiny_sets(max_steps=5000, eval_every=5000, checkpoint_every=5)
    first = bnbench_process(["run", str(QUICK), *sets, "--out", str(out)], cwd=tmp_path)
    try:
        wait_for(lambda: bool(checkpoint.list_checkpoints(out / "runs" / "control-s0" / "checkpoints")), first)
        for args in (["--out", str(out)], ["--resume", str(out)]):
            second = subprocess.run([sys.executable, "-m", "bnbench", "run", str(QUICK), *sets, *args],
                                    cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert second.returncode == 2, second.stdout + second.stderr
            message = " ".join(second.stderr.split())
            assert f"{out}: in use by another bnbench process (pid {first.pid})" in message
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    from bnbench.results.lock import hold

    # The refused runs wrote nothing: one session's files, no row twice.
    assert pd.read_csv(out / "runs.csv").empty
    with hold(out):  # the kernel dropped the killed holder's lock: its .lock file blocks nothing
        assert (out / ".lock").read_text().strip() == str(os.getpid())


@pytest.fixture
def finished(tmp_path: Path) -> tuple[Path, Path]:
    return finished_folder(tmp_path)


def test_a_symbolic_link_inside_a_results_folder_is_refused(finished, tmp_path: Path):
    scenario, out = finished
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "runs" / "bn-s0", elsewhere)  # a run folder moved to another disk and linked back
    (out / "runs" / "bn-s0").symlink_to(elsewhere)
    runs_csv = out / "runs.csv"
    runs_csv.write_text(runs_csv.read_text().splitlines(keepends=True)[0] + runs_csv.read_text().splitlines(
        keepends=True)[1])  # bn-s0 unfinished: a resume would rewrite its folder
    before = sorted(p.name for p in elsewhere.rglob("*"))
    result = runner.invoke(app, ["run", str(scenario), "--resume", str(out)])
    assert result.exit_code == 2, result.output
    assert f"{out / 'runs' / 'bn-s0'}: a symbolic link inside a results folder" in " ".join(result.output.split())
    assert sorted(p.name for p in elsewhere.rglob("*")) == before  # nothing deleted through the link


# Runs bnbench with `module.atomic_write` dying (SIGKILL) inside its write of the file named `file`, as a kill -9
# or a power cut there would: the temporary file beside the target is left behind, never renamed into place.
KILL_INSIDE = textwrap.dedent("""
    import os, signal, sys
    import {module} as target
    real = target.atomic_write

    def dies_inside(path, write):
        if path.name == "{file}":
            return real(path, lambda tmp: (write(tmp), os.kill(os.getpid(), signal.SIGKILL)))
        return real(path, write)

    target.atomic_write = dies_inside
    from bnbench.cli import main
    sys.argv = ["bnbench", *sys.argv[1:]]
    main()
""")


@pytest.mark.parametrize(
    ("module", "file", "where"),
    [
        ("bnbench.checkpoint", "step-00000004.pt", "runs/control-s0/checkpoints"),  # control-s0's last checkpoint
        ("bnbench.results.store", "curves.parquet", "."),  # control-s0's curves folded at its end
    ],
)
def test_a_kill_inside_a_write_leaves_no_tmp_file_after_resume(tmp_path: Path, module: str, file: str, where: str):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY, encoding="utf-8")
    out = tmp_path / "results"
    code = KILL_INSIDE.format(module=module, file=file)
    killed = subprocess.run([sys.executable, "-c", code, "run", str(scenario), "--out", str(out)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert list((out / where).glob(".*.tmp")), "the kill left no temporary file: it landed elsewhere"

    resumed = runner.invoke(app, ["run", str(scenario), "--resume", str(out)])
    assert resumed.exit_code == 0, resumed.output
    assert "a write cut short by an earlier kill" in " ".join(resumed.output.split())
    assert not list(out.rglob("*.tmp"))
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs["run_id"]) == ["bn-s0", "control-s0"] and set(runs["status"]) == {"completed"}
