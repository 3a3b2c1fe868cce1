"""The interleaved order keeps every variant equally packed: with runs_per_gpu = k, each variant has as many runs
handed out beside k - 1 others on their GPU as the next, wherever the number of runs allows it.

Packing is read in the lockstep model the order is planned on (runs taking about the same time): the run at
position p goes to slot p mod S in round p // S, and the runs of one round on one GPU train together."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bnbench.execute.order import interleave, lockstep_packing
from bnbench.execute.pool import plan_slots
from bnbench.rendering.sharing import sharing_lines
from bnbench.scenario import expand, load

from .conftest import DIGITS_SCENARIO
from .fake_gpus import on_fake_gpus


def matrix(variants: int, seeds: int, write_scenario) -> list:
    tables = "".join(f'[[variant]]\nname = "v{i}"\nlr = {0.001 * (i + 1)}\n' for i in range(variants))
    text = f'[scenario]\nname = "t"\nseeds = {list(range(seeds))}\nbaseline = "v0"\n{tables}'
    return expand(load(write_scenario(text, f"m{variants}x{seeds}.toml")))


def packings(order: list, devices: list[str]) -> dict[str, Counter[int]]:
    """Each variant's runs by how many runs shared their GPU: {variant: Counter({packing: runs})}."""
    by_position = lockstep_packing(len(order), devices)
    packs: dict[str, Counter[int]] = {}
    for run, packing in zip(order, by_position, strict=True):
        packs.setdefault(run.variant, Counter())[packing] += 1
    return packs


def labels(gpus: int, runs_per_gpu: int, workers: int | None = None) -> list[str]:
    """The slots' GPUs as the pool plans them (round by round over the GPUs)."""
    devices = [f"cuda:{g}" for g in range(gpus)]
    return [s.label for s in plan_slots(devices, workers=workers, runs_per_gpu=runs_per_gpu)]


def test_lockstep_packing_counts_the_runs_of_a_round_on_each_gpu() -> None:
    # One GPU, 4 slots, 6 runs: rounds of 4 and 2.
    assert lockstep_packing(6, ["cuda:0"] * 4) == [4, 4, 4, 4, 2, 2]
    # Two GPUs, 2 slots each (slots cuda:0, cuda:1, cuda:0, cuda:1): the last round's 2 runs on different GPUs.
    assert lockstep_packing(6, labels(2, 2)) == [2, 2, 2, 2, 1, 1]
    # Three workers on two GPUs packed 2: cuda:0 holds slots 0 and 2, cuda:1 slot 1 alone.
    assert labels(2, 2, workers=3) == ["cuda:0", "cuda:1", "cuda:0"]
    assert lockstep_packing(4, labels(2, 2, workers=3)) == [2, 1, 2, 1]
    assert lockstep_packing(3, ["cpu[0]", "cpu[1]"]) == [1, 1, 1]  # slots of their own: nothing packed


def test_the_quick_matrix_packed_1_2_and_4_on_one_gpu(write_scenario) -> None:
    runs = matrix(2, 3, write_scenario)  # the quick scenario's shape: 2 variants x 3 seeds
    expected = {1: {1: 3}, 2: {2: 3}, 4: {4: 2, 2: 1}}  # at 4 a GPU, seeds 0-1 fill round 0, seed 2 is round 1
    for k, packs in expected.items():
        devices = ["cuda:0"] * k
        assert packings(interleave(runs, k, devices), devices) == {"v0": Counter(packs), "v1": Counter(packs)}


def test_three_workers_on_two_gpus_pack_each_variant_alike(write_scenario) -> None:
    runs = matrix(2, 2, write_scenario)
    devices = labels(2, 2, workers=3)  # positions packed 2, 1, 2, 1
    order = interleave(runs, 3, devices)
    # By slots alone, seed 1 would go v0 v1 (each variant on a slot it has not met), so v0 took both packed
    # positions (0 and 2) and v1 both lone ones. Packing comes first: seed 1 goes v1 v0, one of each for each.
    assert [r.run_id for r in interleave(runs, 3)] == ["v0-s0", "v1-s0", "v0-s1", "v1-s1"]
    assert [r.run_id for r in order] == ["v0-s0", "v1-s0", "v1-s1", "v0-s1"]
    assert packings(order, devices) == {"v0": Counter({2: 1, 1: 1}), "v1": Counter({1: 1, 2: 1})}
    with pytest.raises(ValueError, match=r"devices name 2 slot\(s\), not 3"):
        interleave(runs, 3, ["cuda:0", "cuda:1"])


@pytest.mark.parametrize(("gpus", "cases"), [(1, 69), (2, 68), (3, 67)])
def test_every_variant_is_packed_alike_wherever_the_run_count_allows(write_scenario, gpus: int, cases: int) -> None:
    # Every matrix of 1-4 variants x 1-5 seeds, 1-4 runs a GPU, all slots: wherever each packing falls to a
    # multiple of the variants' count of positions (so that sharing them out alike is possible at all), every
    # variant ends with the same packings. By slots alone, 7 of these cases were not (3 variants x 5 seeds at 4 a
    # GPU on 2 GPUs; 2 variants x 2, 4 or 5 seeds on 3 GPUs).
    checked = 0
    for variants in range(1, 5):
        for seeds in range(1, 6):
            runs = matrix(variants, seeds, write_scenario)
            for k in range(1, 5):
                devices = labels(gpus, k)
                if any(n % variants for n in Counter(lockstep_packing(len(runs), devices)).values()):
                    continue
                checked += 1
                packs = packings(interleave(runs, len(devices), devices), devices)
                assert len(set(map(frozenset, (p.items() for p in packs.values())))) == 1, (variants, seeds, k, packs)
    assert checked == cases


def test_where_the_count_does_not_allow_it_one_run_is_left_alone(write_scenario) -> None:
    # 3 variants x 3 seeds, 2 a GPU: 9 runs, the last alone on the GPU whatever the order.
    runs = matrix(3, 3, write_scenario)
    packs = packings(interleave(runs, 2, ["cuda:0"] * 2), ["cuda:0"] * 2)
    assert sorted(sorted(p.items()) for p in packs.values()) == [[(1, 1), (2, 2)], [(2, 3)], [(2, 3)]]


def test_a_packed_run_on_fake_gpus_hands_out_each_variant_alike(tmp_path: Path) -> None:
    scenario, out = tmp_path / "packed.toml", tmp_path / "results"
    scenario.write_text(PACKED, encoding="utf-8")
    run = on_fake_gpus(["run", str(scenario), "--out", str(out), "--runs-per-gpu", "2", "--workers", "3"], tmp_path)
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    order = json.loads((out / "manifest.json").read_text())["run_order"]
    # The three slots are cuda:0, cuda:1, cuda:0 (packed 2, 1, 2, then the 4th run alone): each variant gets one
    # packed run and one lone one.
    assert order["slots"] == 3 and order["runs_per_gpu"] == 2
    assert order["runs"] == ["control-s0", "bn-s0", "bn-s1", "control-s1"]
    assert order["packing"] == {"control-s0": 2, "bn-s0": 1, "bn-s1": 2, "control-s1": 1}
    assert "not of a run alone (the hand-out order packed every variant alike)." in (out / "report.md").read_text()


def test_the_report_says_when_the_run_count_left_the_variants_packed_unalike() -> None:
    import pandas as pd

    runs = pd.DataFrame({"run_id": ["a-s0"], "gpu_shared": [0.0], "host_others_pct": [0.0]})
    # 3 variants x 3 seeds at 2 a GPU: the ninth run (c-s2) alone.
    planned = {f"{v}-s{s}": 2 for s in range(3) for v in "abc"} | {"c-s2": 1}
    [line] = sharing_lines(runs, {"run_order": {"runs_per_gpu": 2, "packing": planned}})
    assert line.endswith("not of a run alone (the number of runs did not let every variant be packed alike; runs on "
                         "their GPU at once: a 2, 2, 2; b 2, 2, 2; c 2, 2, 1).")
    [line] = sharing_lines(runs, {"run_order": {"runs_per_gpu": 2, "packing": planned | {"c-s2": 2}}})
    assert line.endswith("not of a run alone (the hand-out order packed every variant alike).")
    # A folder from before the plan was recorded: nothing said either way.
    [line] = sharing_lines(runs, {"run_order": {"runs_per_gpu": 2}})
    assert line.endswith("not of a run alone.")


# The execute tests' tiny digits matrix (2 variants x 2 seeds, 4 steps), asked of the GPUs.
PACKED = DIGITS_SCENARIO.replace('name = "tiny-digits"', 'name = "packed-order"').replace('device = "cpu"',
                                                                                          'device = "cuda"')
