"""The cores a process may run on are its affinity mask, not the host's count."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bnbench.cores import usable_cores


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="affinity masks are Linux's")
def test_a_process_held_to_one_core_has_that_core_alone():
    core = min(os.sched_getaffinity(0))
    code = (f"import os; os.sched_setaffinity(0, [{core}]); "
            "from bnbench.cores import usable_cores; print(usable_cores())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == f"({core},)"


def test_the_cores_are_sorted_and_at_least_one():
    cores = usable_cores()
    assert len(cores) >= 1 and list(cores) == sorted(cores)
