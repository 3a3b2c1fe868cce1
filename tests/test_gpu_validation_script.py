"""benchmarks/gpu_validation.sh keeps to its budget: each part gets what is left of BUDGET_S, most wanted first, and a
part with under 20 s left is skipped with a line saying so (a lent GPU host runs it as one call of limited time)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PARTS = ["sharing", "doctor", "same-numbers", "quick-eager", "quick-graph", "quick-compile", "measure"]


def test_a_spent_budget_skips_every_part_in_order_and_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path / "out"), "BUDGET_S": "0",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_validation.sh")], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    skipped = re.findall(r"^(\S+): skipped, (-?\d+) s of the 0 s budget left$", result.stderr, re.MULTILINE)
    assert [name for name, _ in skipped] == PARTS, result.stderr
    assert "gpu_validation: " in result.stdout and "s of the 0 s budget" in result.stdout
    assert not list((tmp_path / "out").iterdir())  # nothing ran, so nothing was written


def _script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "OUT": str(tmp_path / "out"), **env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_validation.sh")], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=120)


def test_parts_not_asked_for_are_skipped_and_an_unknown_part_is_refused(tmp_path: Path) -> None:
    # Asked for one part with no budget: every other part is skipped as not asked for, that one for the budget.
    result = _script(tmp_path, PARTS="same-numbers", BUDGET_S="0")
    lines = [re.sub(r"-?\d+ s of", "N s of", line) for line in result.stderr.splitlines() if ": skipped, " in line]
    assert lines == [f"{p}: skipped, not in PARTS" if p != "same-numbers" else f"{p}: skipped, N s of the 0 s "
                     "budget left" for p in PARTS], result.stderr
    refused = _script(tmp_path, PARTS="sharing doctr")
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("unknown part 'doctr' in PARTS (known: sharing doctor same-numbers "
                                           "quick-eager quick-graph quick-compile measure)")
