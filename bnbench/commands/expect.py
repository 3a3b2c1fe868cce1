"""What a scenario will take before it runs: the device each run gets and how long the session should last,
from earlier results of the scenario (a pilot or a whole session under reports/<name>/) or its `max_wall_s`.

Torch-, pandas- and pool-free: `bnbench validate` prints these lines and must stay light.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from bnbench.cores import usable_cores
from bnbench.scenario import COMMAND, Scenario, expand


@dataclass(frozen=True)
class Slots:
    """Where the runs train: `at_once` runs side by side, each on `each` ('cpu, 2 threads', 'cuda:0')."""

    at_once: int
    each: str


def usable_core_count() -> int:
    return len(usable_cores())


def slots(scenario: Scenario, devices: list[str], cores: int | None = None) -> Slots:
    """The local pool's slots as `bnbench run` plans them for these resolved devices: on the CPU `workers` slots
    (default 1) sharing the cores, a run's threads capped to its share; on GPUs one slot per `gpus_per_run`."""
    head = scenario.scenario
    gpus = [d for d in devices if d.startswith("cuda")]
    if gpus:
        groups = max(1, len(gpus) // head.gpus_per_run)
        at_once = min(groups, head.workers or groups)
        if head.gpus_per_run > 1:
            return Slots(at_once, f"{head.gpus_per_run} GPUs (one process each) of {', '.join(gpus)}")
        return Slots(at_once, f"one GPU of {', '.join(gpus)}")
    workers = head.workers or 1
    share = cpu_share(scenario, cores)
    asked = {v.train.threads for v in scenario.variants}
    threads = sorted({min(t, share) if t else share for t in asked})
    return Slots(workers, f"cpu, {'/'.join(map(str, threads))} thread{'s' if threads != [1] else ''}")


def cpu_share(scenario: Scenario, cores: int | None = None) -> int:
    """The cores each CPU slot owns: the usable cores (or `cores`) split between `workers` slots, at least 1."""
    head = scenario.scenario
    return max(1, (cores or usable_core_count()) // ((head.workers or 1) * head.gpus_per_run))


def earlier_results(scenario: Scenario, parent: Path | None = None) -> Path | None:
    """The newest folder under reports/<name>/ (or `parent`) whose runs.csv holds a completed run."""
    parent = parent or Path("reports") / scenario.name
    found = []
    for runs in parent.glob("*/runs.csv"):
        if step_seconds(runs.parent):
            found.append((runs.stat().st_mtime, runs.parent))
    return max(found)[1] if found else None


def step_seconds(folder: Path) -> dict[str, float]:
    """Per variant, the wall seconds a step took over its completed runs (their wall time over their steps)."""
    totals: dict[str, list[float]] = {}
    try:
        with open(folder / "runs.csv", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                try:
                    wall_s, steps = float(row.get("wall_s") or "nan"), float(row.get("steps") or "nan")
                except ValueError:
                    continue
                if row.get("status") == "completed" and math.isfinite(wall_s) and steps > 0:
                    pair = totals.setdefault(str(row.get("variant")), [0.0, 0.0])
                    pair[0] += wall_s
                    pair[1] += steps
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}
    return {variant: wall_s / steps for variant, (wall_s, steps) in totals.items()}


@dataclass(frozen=True)
class Duration:
    """`run_s`: the runs' wall times added up; `elapsed_s`: spread over the slots; `bound`: only an upper
    bound (from max_wall_s); `source`: where the figures come from."""

    run_s: float
    elapsed_s: float
    bound: bool
    source: str


def expected(scenario: Scenario, at_once: int, earlier: Path | None) -> Duration | None:
    """How long the scenario's runs should take: per run, its variant's seconds a step in `earlier` results times
    its steps (capped by max_wall_s), else its max_wall_s as a bound. None when neither is known for a run."""
    per_step = step_seconds(earlier) if earlier is not None else {}
    total_s, bound = 0.0, False
    specs = expand(scenario)
    for spec in specs:
        limit = spec.train.max_wall_s
        if spec.variant in per_step:
            run_s = per_step[spec.variant] * spec.train.max_steps
            total_s += min(run_s, limit) if limit else run_s
        elif limit:
            total_s, bound = total_s + limit, True
        else:
            return None
    rounds = math.ceil(len(specs) / max(1, at_once))
    elapsed_s = total_s / len(specs) * rounds if specs else 0.0
    source = "max_wall_s" if bound and not per_step else f"the seconds a step took in {earlier}"
    if bound and per_step:
        source += " and max_wall_s"
    return Duration(total_s, elapsed_s, bound, source)


def duration_line(scenario: Scenario, devices: list[str]) -> str:
    """'expected duration: about 2.1 min elapsed (4 runs, 4.2 min of run time, 2 at a time; from ...)'."""
    from bnbench.rendering.format import plural, seconds

    at_once = slots(scenario, devices).at_once
    earlier = earlier_results(scenario)
    d = expected(scenario, at_once, earlier)
    runs = plural(len(expand(scenario)), "run")
    if d is None:
        where = Path("reports") / scenario.name
        pilot = "a pilot of 3 seeds (a command runs to its own end)" if all(
            v.task.name == COMMAND for v in scenario.variants) else "a short pilot"
        return (f"expected duration: unknown ({runs}; no earlier results of '{scenario.name}' in {where} and no "
                f"max_wall_s); `bnbench plan {scenario.source} --pilot-steps N` measures {pilot}")
    word = "at most" if d.bound else "about"
    return (f"expected duration: {word} {seconds(d.elapsed_s)} elapsed ({runs}, {word} {seconds(d.run_s)} of run "
            f"time, {at_once} at a time; from {d.source})")
