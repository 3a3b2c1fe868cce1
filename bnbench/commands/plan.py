"""`bnbench plan SCENARIO`: before spending the night, say what the night buys."""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from bnbench.errors import UserError
from bnbench.scenario import COMMAND, Scenario, Variant, load

if TYPE_CHECKING:
    from bnbench.analysis.plan import Cost, Plan, Question
    from bnbench.analysis.results import Results

PILOT_SEEDS = 3


def question(scenario: Scenario, pilot: Results) -> Question:
    from bnbench.analysis.plan import Question
    from bnbench.data import task_metadata

    head, stats, energy = scenario.scenario, scenario.stats, scenario.energy
    metric = task_metadata(scenario.task)[0]
    if pilot.metric.name != metric:  # as `compare` refuses folders of different metrics
        raise UserError(f"{pilot.root}: the pilot measures {pilot.metric.name}, scenario '{scenario.name}' measures "
                        f"{metric}; give a pilot of this scenario (--pilot DIR of its results, or --pilot-steps N)")
    names = [v.name for v in scenario.variants]
    missing = [v for v in names if v not in pilot.variants]
    if missing:
        raise UserError(f"{pilot.root}: the pilot has no runs of {', '.join(missing)}; run a pilot of this scenario "
                        "(--pilot-steps N) or give its results folder")
    on_gpu = any(str(d).startswith("cuda") for d in pilot.manifest.get("devices", []))
    workers = head.workers or (len([d for d in pilot.manifest.get("devices", []) if str(d).startswith("cuda")])
                               // head.gpus_per_run * head.runs_per_gpu if on_gpu else 1) or 1
    return Question(
        baseline=scenario.baseline, variants=tuple(v for v in names if v != scenario.baseline),
        steps={v.name: full_run_steps(v, pilot) for v in scenario.variants},
        eval_every={v.name: v.train.eval_every for v in scenario.variants},
        checkpoint_every={v.name: v.train.checkpoint_every for v in scenario.variants},
        whole_runs=frozenset(v.name for v in scenario.variants if v.task.name == COMMAND),
        alpha=stats.alpha, power=stats.power,
        min_effect=stats.min_effect, seeds_now=len(head.seed_list), workers=workers,
        gpus_per_run=head.gpus_per_run, on_gpu=on_gpu, wh_per_cup=energy.wh_per_cup,
        co2_g_per_kwh=energy.co2_g_per_kwh, pue=energy.pue,
    )


def full_run_steps(variant: Variant, pilot: Results) -> int:
    """The steps of a full run of `variant`: its max_steps; for a command, which runs to its own end whatever
    max_steps says, the steps its completed pilot runs took (their mean), as the plan shows them."""
    if variant.task.name != COMMAND:
        return variant.train.max_steps
    import pandas as pd

    runs = pilot.runs
    done = runs[(runs["variant"] == variant.name) & (runs["status"] == "completed")]
    steps = pd.to_numeric(done["steps"], errors="coerce").dropna()
    return round(float(steps.mean())) if len(steps) and steps.mean() > 0 else variant.train.max_steps


def run_pilot(path: Path, overrides: list[str], steps: int, argv: list[str]) -> Path:
    """A short pilot of the scenario itself: `steps` steps, seeds 0-2, in reports/<name>/pilot-<time>/."""
    from bnbench.commands.run import EXIT_OK, run_scenario

    name = load(path, overrides).name
    out = Path("reports") / name / f"pilot-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    pilot_overrides = [*overrides, f"train.max_steps={steps}", f"scenario.seeds={list(range(PILOT_SEEDS))}"]
    code = run_scenario(path, out=out, devices=None, overrides=pilot_overrides, argv=argv)
    if code != EXIT_OK:
        raise UserError(f"the pilot did not finish (exit {code}); see {out}")
    return out


def cost_text(c: Cost, workers: int) -> str:
    """'1.20 kWh (36.0 cups of tea, 570 g CO2), 3.1 GPU-hours, about 2.5 h with 4 workers': `run`'s units."""
    from bnbench.rendering import format as fmt

    energy = (f"{fmt.kwh(c.energy_j)} kWh ({fmt.count(c.tea_cups)} cups of tea, {fmt.co2(c.co2_g)} CO2)"
              if math.isfinite(c.energy_j) else "energy not measured by the pilot")
    gpu = "no GPU-hours (CPU)" if c.gpu_hours is None else f"{fmt.significant(c.gpu_hours)} GPU-hours"
    return (f"{c.runs} runs, {energy}, {gpu}, about {fmt.seconds(c.wall_s)} with {workers} "
            f"worker{'s' if workers != 1 else ''}")


def kwh_text(energy_j: float) -> str:
    from bnbench.rendering import format as fmt

    return f"{fmt.kwh(energy_j)} kWh" if math.isfinite(energy_j) else fmt.NOT_MEASURED


def pilot_steps_for(scenario: Scenario) -> int:
    """A pilot's steps: two evaluations' worth (its final metric is what the seeds spread), at most a full run."""
    two_evaluations = 2 * max(v.train.eval_every for v in scenario.variants)
    return min(two_evaluations, min(v.train.max_steps for v in scenario.variants))


def pilot_text(scenario: Scenario, steps: int) -> str:
    """What a pilot of `steps` steps costs, before it runs: its runs and, from earlier results of the scenario,
    its time ('6 runs of 100 steps (3 seeds of 2 variants) on cpu, about 40.0 s')."""
    from bnbench.commands.expect import earlier_results, slots, step_seconds
    from bnbench.execute.devices import resolve_devices
    from bnbench.rendering.format import seconds

    devices = resolve_devices(scenario.scenario.device)
    runs = PILOT_SEEDS * len(scenario.variants)
    if all(v.task.name == COMMAND for v in scenario.variants):  # max_steps does not stop a command
        return (f"{runs} full runs ({PILOT_SEEDS} seeds of {len(scenario.variants)} variants) on {', '.join(devices)}:"
                f" a command runs to its own end, however many steps --pilot-steps asks for")
    text = (f"{runs} runs of {steps} steps ({PILOT_SEEDS} seeds of {len(scenario.variants)} variants) on "
            f"{', '.join(devices)}")
    earlier = earlier_results(scenario)
    per_step = step_seconds(earlier) if earlier is not None else {}
    if all(v.name in per_step for v in scenario.variants):
        run_s = PILOT_SEEDS * steps * sum(per_step[v.name] for v in scenario.variants)
        at_once = slots(scenario, devices).at_once
        return f"{text}, about {seconds(run_s / min(at_once, runs))} (the seconds a step took in {earlier})"
    return f"{text}; its time is not known before it runs (no earlier results of '{scenario.name}')"


def plan_lines(plan: Plan, metric_value: Callable[[float], str], pilot: Path) -> list[str]:
    """The plan, one fact a line: per comparison the spreads, the seeds it needs, their cost, and what the
    scenario's seeds can detect; then the whole question."""
    from bnbench.rendering import format as fmt

    q = plan.question
    effect = "not set" if q.min_effect is None else metric_value(q.min_effect)
    family = f" (alpha {q.alpha:g} / {len(q.variants)} comparisons: Holm's first step)" if len(q.variants) > 1 else ""
    lines = [f"plan from {plan.pilot_runs} completed pilot runs in {pilot}: min_effect {effect}, {q.power:.0%} "
             f"power, Welch's test at {plan.level:.3g}{family}",
             "per full run (" + ", ".join(f"{v}: {s} steps, {kwh_text(plan.per_run_energy_j[v])}, "
                                          f"{fmt.seconds(plan.per_run_s[v])}" for v, s in q.steps.items()) + ")"]
    for row in plan.rows:
        lines.append(f"{row.variant} vs {q.baseline}: seed-to-seed sd {metric_value(row.sd_variant)} for "
                     f"{row.variant}, {metric_value(row.sd_baseline)} for {q.baseline}")
        if row.seeds is not None and row.cost is not None:
            lines.append(f"  {row.seeds} seeds per variant tell {effect} apart: {cost_text(row.cost, q.workers)}")
        lines.append(f"  with the scenario's {q.seeds_now} seeds, the smallest difference found with "
                     f"{q.power:.0%} power is {metric_value(row.detectable)}")
    if q.min_effect is None:
        lines.append("set [stats] min_effect (the smallest difference that matters, in the metric's units) to see "
                     "the seeds it needs")
    elif plan.total is not None:
        seeds = max(r.seeds for r in plan.rows if r.seeds is not None)
        lines.append(f"the whole question: {seeds} seeds per variant, {cost_text(plan.total, q.workers)}")
    return lines


def packing_line(busy_pct: float, runs_per_gpu: int) -> str | None:
    """What the pilot's GPU busy % says about packing runs, or None (a CPU pilot, a GPU kept busy enough)."""
    from bnbench.energy.busy import suggest_runs_per_gpu

    if math.isnan(busy_pct):
        return None
    k = suggest_runs_per_gpu(busy_pct)
    if k <= runs_per_gpu:
        return None
    return (f"the pilot kept its GPU {busy_pct:.0f}% busy: --runs-per-gpu {k} (scenario.runs_per_gpu) trains {k} "
            "runs on each GPU at once, each charged its share of the board; costs above assume "
            f"{runs_per_gpu} per GPU")


def plan_scenario(path: Path, overrides: list[str], pilot: Path | None, pilot_steps: int | None,
                  argv: list[str], console: Console | None = None) -> None:
    import pandas as pd

    from bnbench.analysis.plan import make_plan
    from bnbench.analysis.results import load as load_results
    from bnbench.commands.checks import check_scenario
    from bnbench.rendering.table import say

    console = console or Console()
    scenario = load(path, overrides)
    check_scenario(scenario)
    if pilot is not None and pilot_steps is not None:
        raise UserError("give --pilot DIR or --pilot-steps N, not both")
    if pilot is None and pilot_steps is None:
        steps = pilot_steps_for(scenario)
        short = "" if all(v.task.name == COMMAND for v in scenario.variants) else "short "
        offer = f"a {short}pilot now: {pilot_text(scenario, steps)}"
        if not (sys.stdin.isatty() and console.is_terminal):
            from bnbench.commands.expect import earlier_results

            earlier = earlier_results(scenario)
            folder = f"--pilot {earlier} (the newest results of this scenario)" if earlier else (
                "--pilot DIR (a results folder of this scenario)")
            raise UserError(f"plan needs a pilot: {folder}, or --pilot-steps {steps} for {offer}")
        import typer

        if not typer.confirm(f"plan needs a pilot; run {offer}?", default=False):
            raise UserError(f"no pilot run; give --pilot DIR or --pilot-steps N (e.g. {steps})")
        pilot_steps = steps
    if pilot is None:
        assert pilot_steps is not None  # one of the two, checked above
        say(console, f"pilot: {pilot_text(scenario, pilot_steps)}")
        pilot = run_pilot(path, overrides, pilot_steps, argv)
    results = load_results(pilot)
    plan = make_plan(results.summary, question(scenario, results), results.runs, results.curves)
    lines = plan_lines(plan, results.metric.value, pilot)
    busy = results.runs.get("gpu_busy_pct")
    packing = None if busy is None else packing_line(float(pd.to_numeric(busy, errors="coerce").median()),
                                                      scenario.scenario.runs_per_gpu)
    for line in [*lines, *([packing] if packing else [])]:
        console.print(line, markup=False, highlight=False, soft_wrap=not console.is_terminal)  # piped: one line
