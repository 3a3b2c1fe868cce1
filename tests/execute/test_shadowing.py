"""A file named like a package beside the scenario (`bnbench.py`) shadows nothing in the pool's workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.reliability.helpers import TINY

REPO = Path(__file__).resolve().parents[2]

# bnbench found as an editable install finds it: by a finder placed after the one that searches sys.path, so a
# bnbench.py on sys.path would be found first.
SITE = f"""
import importlib.machinery
import importlib.util
import sys


class RepoFinder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "bnbench":
            return None
        return importlib.util.spec_from_file_location(
            "bnbench", {str(REPO / "bnbench" / "__init__.py")!r},
            submodule_search_locations=[{str(REPO / "bnbench")!r}])


index = next(i for i, f in enumerate(sys.meta_path) if f is importlib.machinery.PathFinder)
sys.meta_path.insert(index + 1, RepoFinder)
"""
NET = ("from torch import nn\n\ndef make(norm, io):\n"
       "    return nn.Sequential(nn.Conv2d(io.in_channels, 4, 3, padding=1), norm(4), nn.ReLU(),\n"
       "                         nn.Conv2d(4, io.out_channels, 3, padding=1))\n")


def test_a_bnbench_py_beside_the_scenario_does_not_shadow_the_package_in_workers(tmp_path: Path):
    site, scenarios, work = tmp_path / "site", tmp_path / "scenarios", tmp_path / "work"
    for folder in (site, scenarios, work):
        folder.mkdir()
    (site / "sitecustomize.py").write_text(SITE, encoding="utf-8")
    (scenarios / "bnbench.py").write_text("raise SystemExit('the bnbench.py beside the scenario was imported')\n",
                                          encoding="utf-8")
    (scenarios / "shadow_net.py").write_text(NET, encoding="utf-8")
    scenario = scenarios / "tiny.toml"
    scenario.write_text(TINY.replace("[model]", "").replace("[train]", '[model]\narch = "shadow_net:make"\n\n[train]'),
                        encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    env.pop("BNBENCH_MODEL_FOLDERS", None)
    out = tmp_path / "out"
    # Two workers, so the runs train in spawned processes; 2 steps each.
    done = subprocess.run([sys.executable, "-m", "bnbench", "run", str(scenario), "--out", str(out),
                           "--set", "scenario.workers=2", "--set", "train.max_steps=2", "--set", "train.eval_every=2"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "was imported" not in done.stdout + done.stderr
    assert pd.read_csv(out / "runs.csv")["status"].tolist() == ["completed", "completed"]
