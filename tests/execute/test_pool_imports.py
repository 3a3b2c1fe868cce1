"""A pool worker starts with what training needs: no pandas or pyarrow (the parent writes the tables)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def test_a_worker_imports_no_table_libraries():
    # What `_worker` imports before its first run: the pool module (the spawn target), the run driver and DDP.
    probe = ("import sys; import bnbench.execute.pool, bnbench.execute.driver, bnbench.execute.ddp; "
             "print(sorted(m for m in ('pandas', 'pyarrow', 'matplotlib', 'scipy') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
