"""Shared fixtures: tiny scenarios that train in a second or two on the CPU, and small results folders written
directly in the on-disk format, so analysis and report tests need no training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from bnbench.results.schema import POWER_COLUMNS, curve_columns, run_columns

REPO = Path(__file__).resolve().parent.parent

TINY_SCENARIO = """
[scenario]
name = "tiny"
seeds = [0, 1]
device = "cpu"

[task]
batch_size = 8
eval_size = 48

[train]
max_steps = 4
eval_every = 2
log_every = 2
threads = 1

[energy]
idle_s = 0

[[variant]]
name = "control"

[[variant]]
name = "bn"
norm = "batch"
decay = 0.9
"""


@pytest.fixture
def tiny_scenario(tmp_path: Path) -> Path:
    """A 2-variant x 2-seed scenario of 4 steps each, scored on 48x48 centres of the validation photos."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SCENARIO, encoding="utf-8")
    return path


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write TOML text to a scenario file and return its path."""

    def write(text: str, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


METRIC, REFS = "psnr_db", ("bicubic_psnr_db",)


def write_folder(
    root: Path,
    finals: dict[str, list[float]],
    energy_j: dict[str, list[float]] | None = None,
    source: str = "none",
    target: float | None = 30.0,
    power: bool = False,
    statuses: dict[str, list[str]] | None = None,
    busy_pct: dict[str, list[float]] | None = None,
    wall_s: dict[str, list[float]] | None = None,
) -> Path:
    """A results folder: per variant, one completed run per final PSNR (seeds 0, 1, ...), evaluations at steps
    10, 20, 30 rising linearly to the final value from final - 2 dB, 10 s and (if given) energy_j / 3 per eval.
    Each run's wall time is 30 s unless `wall_s` says otherwise."""
    root.mkdir(parents=True, exist_ok=True)
    scenario = {"scenario": {"name": "synthetic", "seeds": list(range(max(map(len, finals.values())))),
                             "baseline": "control"},
                "task": {"name": "super-resolution"}, "train": {"max_steps": 30, "eval_every": 10},
                "variant": [{"name": v} for v in finals]}
    if target is not None:
        scenario["train"]["target"] = target
    (root / "scenario.toml").write_text(tomli_w.dumps(scenario), encoding="utf-8")
    (root / "manifest.json").write_text('{"bnbench": "0.1.0", "devices": ["cpu"]}', encoding="utf-8")
    rows, curves, samples = [], [], []
    for variant, values in finals.items():
        for seed, final in enumerate(values):
            run_id = f"{variant}-s{seed}"
            e = (energy_j or {}).get(variant, [np.nan] * len(values))[seed]
            status = (statuses or {}).get(variant, ["completed"] * len(values))[seed]
            rows.append({"run_id": run_id, "variant": variant, "seed": seed, "device": "cpu", "status": status,
                         "steps": 30, "wall_s": (wall_s or {}).get(variant, [30.0] * len(values))[seed],
                         "train_s": 30.0, "measured_s": (wall_s or {}).get(variant, [30.0] * len(values))[seed],
                         f"final_{METRIC}": final,
                         f"best_{METRIC}": final, "bicubic_psnr_db": 27.0, "energy_j": e,
                         "energy_source": source if np.isfinite(e) else "none", "kwh": e / 3.6e6,
                         "gpu_busy_pct": (busy_pct or {}).get(variant, [np.nan] * len(values))[seed],
                         # 33.3 Wh a cup; as if co2_g_per_kwh = 400 and price_per_kwh = 0.2
                         "tea_cups": e / 3600 / 33.3, "co2_g": e / 3.6e6 * 400, "cost": e / 3.6e6 * 0.2})
            for i, step in enumerate((10, 20, 30)):
                curves.append({"run_id": run_id, "variant": variant, "seed": seed, "kind": "eval", "step": step,
                               "t_s": 10.0 * (i + 1), METRIC: final - 2 + i, "bicubic_psnr_db": 27.0,
                               "energy_j": e * (i + 1) / 3})
            for step in range(1, 31):
                curves.append({"run_id": run_id, "variant": variant, "seed": seed, "kind": "train", "step": step,
                               "t_s": float(step), "loss": 1.0 / step, "loss_max": 1.2 / step})
            if power:
                t = np.arange(0, 30, 0.1)
                samples.append(pd.DataFrame({"run_id": run_id, "device": "cpu", "t_s": t, "power_w": 20.0 + t,
                                             "phase": np.where(t % 10 > 9, "eval", "train"),
                                             "gpu_busy_pct": np.nan}))
    runs = pd.DataFrame(rows, columns=run_columns(METRIC, REFS))
    runs.to_csv(root / "runs.csv", index=False)
    pd.DataFrame(curves, columns=curve_columns(METRIC, REFS)).to_parquet(root / "curves.parquet", index=False)
    if power:
        pd.concat(samples)[POWER_COLUMNS].to_parquet(root / "power.parquet", index=False)
    return root


@pytest.fixture
def folder(tmp_path: Path):
    def make(name: str = "results", **kwargs) -> Path:
        return write_folder(tmp_path / name, **kwargs)

    return make


# The longest modules (a minute or two each) start first, so that with one test process per core (pytest-xdist,
# a module at a time) the short ones fill in around them instead of leaving one process running them at the end.
SLOW_FIRST = ("tests/test_quick_scenario.py", "tests/reliability/test_resume_notes.py", "tests/execute/test_ray.py",
              "tests/reliability/test_one_writer.py", "tests/reliability/test_kill_resume.py",
              "tests/execute/test_packed_resume.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(SLOW_FIRST)))


@pytest.fixture(autouse=True)
def untimed_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake NVML's counters move per read, not in time: a source opening on one is not timed (the tests
    of the timing pass their own limit and clock)."""
    from bnbench.energy import nvml

    monkeypatch.setattr(nvml, "TIMING_LIMIT_S", 0.0)
