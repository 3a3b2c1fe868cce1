"""The reading commands load numpy with one BLAS thread, and leave the environment as they found it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bnbench.blas import VARIABLE, one_blas_thread

THREADS_AFTER_NUMPY = (
    "import os\n"
    "from bnbench.blas import one_blas_thread\n"
    "with one_blas_thread():\n"
    "    import numpy\n"
    "print(len(os.listdir('/proc/self/task')), os.environ.get('OPENBLAS_NUM_THREADS'))\n"
)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_numpy_loaded_inside_has_no_blas_threads_and_the_variable_is_gone_after():
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    done = subprocess.run([sys.executable, "-c", THREADS_AFTER_NUMPY], capture_output=True, text=True, env=env,
                          check=True, timeout=60)
    assert done.stdout.split() == ["1", "None"]  # the main thread alone: OpenBLAS started none of its own


def test_a_users_own_setting_stands(monkeypatch):
    monkeypatch.setenv(VARIABLE, "4")
    with one_blas_thread():
        assert os.environ[VARIABLE] == "4"
    assert os.environ[VARIABLE] == "4"


def test_the_report_command_leaves_no_setting_behind(folder, monkeypatch):
    from typer.testing import CliRunner

    from bnbench.cli import app

    monkeypatch.delenv(VARIABLE, raising=False)
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]})
    assert CliRunner().invoke(app, ["report", str(root)]).exit_code == 0
    assert VARIABLE not in os.environ
