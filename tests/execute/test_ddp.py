"""A run trained with DDP over 2 gloo ranks on the CPU, with synchronized batch norm, end to end."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.execute.ddp import rank_spec
from bnbench.replicas import Replicas
from bnbench.scenario import expand, load

from .helpers import read_rows

DDP_SCENARIO = """
[scenario]
name = "ddp"
seeds = [0]
device = "cpu"
gpus_per_run = 2

[task]
name = "digits"
batch_size = 8

[model]
arch = "lenet"
norm = "syncbatch"

[train]
max_steps = 4
eval_every = 2
log_every = 2

[energy]
idle_s = 0
"""


def test_two_gloo_ranks_train_one_run(write_scenario, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(write_scenario(DDP_SCENARIO)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    # One run, reported once (by rank 0), on the slot of both cores.
    assert len(rows) == 1
    row = rows[0]
    assert (row["run_id"], row["status"], row["steps"], row["device"]) == ("control-s0", "completed", "4", "cpu[0-1]")
    assert 0 <= float(row["final_accuracy_pct"]) <= 100
    # Steps 2 and 4 logged and evaluated, once each: rank 1 records nothing.
    curves = pd.read_parquet(out / "curves.parquet")
    assert sorted(zip(curves["kind"], curves["step"], strict=True)) == [("eval", 2), ("eval", 4), ("train", 2),
                                                                        ("train", 4)]
    assert curves["loss"].dropna().gt(0).all()


def test_a_batch_that_does_not_split_is_refused_before_any_folder(write_scenario, tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = write_scenario(DDP_SCENARIO)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--set", "task.batch_size=7"])
    assert result.exit_code == 2
    assert "batch_size 7 does not split over gpus_per_run = 2" in result.output
    assert not out.exists()


def test_each_rank_trains_its_share_of_the_batch(write_scenario) -> None:
    # batch_size 8 over 2 ranks: 4 samples each, so a step still sees 8.
    spec = expand(load(write_scenario(DDP_SCENARIO)))[0]
    assert rank_spec(spec, 2).task.batch_size == 4
    assert rank_spec(spec, 1) is spec


def test_a_single_process_is_one_replica() -> None:
    # Outside a process group: no wrapping, seeds and losses unchanged, stops as asked.
    replicas = Replicas.current()
    assert (replicas.rank, replicas.world_size, replicas.parallel) == (0, 1, False)
    assert replicas.seed(5) == 5
    assert replicas.agree("interrupted", "interrupted") == "interrupted"
    assert replicas.agree("", "interrupted") == ""


@pytest.mark.parametrize(("rank", "seed"), [(1, 1_000_003), (2, 2_000_006)])
def test_replicas_draw_their_own_patches(rank: int, seed: int) -> None:
    assert Replicas(rank, 4).seed(0) == seed
