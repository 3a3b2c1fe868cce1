"""`bnbench measure`: meter a command as `time` does, or compare several, hyperfine-style, with energy.

It is a session of command runs like any other (bnbench.commands.run.execute_scenario): one variant per
command, one "seed" per repetition, the commands alternated (a, b, a, b, ...) so a drift of the machine is
shared, a results folder that `bnbench report` reads. What it prints is worked out from the runs' rows.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bnbench.errors import UserError

MEASURED = ("train_s", "cpu_s", "energy_j")  # train_s: the command's own wall time, start to end
NO_METRIC = "metric"  # the metric column's name when the commands report none (its cells stay empty)
EXIT_NOT_STARTED = 127  # a shell's code for a command that could not be run


@dataclass(frozen=True)
class MeasureOptions:
    """`bnbench measure`'s options, validated once."""

    commands: tuple[tuple[str, ...], ...]
    names: tuple[str, ...]
    runs: int
    metric: str | None
    higher_is_better: bool
    device: tuple[str, ...]
    idle_s: float
    sample_hz: float
    quiet: bool
    as_json: bool
    out: Path | None


def split_commands(arguments: Sequence[str]) -> list[list[str]]:
    """The commands of `bnbench measure ARGS`: when the first argument holds a space, each argument is one
    quoted command ('python a.py' 'python b.py'); otherwise the arguments are one command's (-- python a.py)."""
    if not arguments:
        raise UserError("give a command to measure, e.g. bnbench measure -- python train.py")
    if not any(c.isspace() for c in arguments[0]):
        return [list(arguments)]
    commands = []
    for text in arguments:
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise UserError(f"command {text!r}: {exc}") from None
        if not argv:
            raise UserError("an empty command was given")
        commands.append(argv)
    return commands


def variant_names(commands: Sequence[Sequence[str]], names: Sequence[str]) -> list[str]:
    """`names` when given (one per command), else a slug of each command, made unique."""
    if names:
        if len(names) != len(commands):
            raise UserError(f"--name was given {len(names)} time(s) for {len(commands)} command(s)")
        for name in names:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
                raise UserError(f"--name '{name}': use letters, digits, '-', '_' and '.'")
        if len(set(names)) != len(names):
            raise UserError("--name: two commands have the same name")
        return list(names)
    out: list[str] = []
    for argv in commands:
        slug = re.sub(r"[^A-Za-z0-9_.]+", "-", " ".join([Path(argv[0]).name, *argv[1:]]))
        slug = slug.strip("-.")[:40].strip("-.") or "command"
        name, n = slug, 2
        while name in out:
            name, n = f"{slug}-{n}", n + 1
        out.append(name)
    return out


def measure_scenario(options: MeasureOptions, names: list[str], gpus: int, workdir: Path) -> dict[str, Any]:
    """The scenario (as a raw mapping) of a measure session: one variant per command, `runs` seeds."""
    return {
        "scenario": {"name": "measure", "seeds": list(range(options.runs)), "device": list(options.device),
                     "baseline": names[0], "workers": 1, "gpus_per_run": max(gpus, 1)},
        "task": {"name": "command", "metric": options.metric or NO_METRIC,
                 "higher_is_better": options.higher_is_better, "metric_required": options.metric is not None,
                 "workdir": str(workdir), "echo": not (options.quiet or options.as_json)},
        "energy": {"idle_s": options.idle_s, "sample_hz": options.sample_hz},
        "variant": [{"name": n, "command": list(c)} for n, c in zip(names, options.commands, strict=True)],
    }


def exit_code_of(row: dict[str, Any]) -> int:
    """The command's exit code as a shell gives it (128 + N when killed by signal N; 127: could not start)."""
    error = str(row.get("error") or "")
    if row.get("status") != "failed":
        return 0
    if match := re.match(r"exit code (-?\d+)", error):
        return int(match.group(1))
    if match := re.match(r"killed by (SIG\w+)", error):
        return 128 + int(getattr(signal, match.group(1)))
    return EXIT_NOT_STARTED if error.startswith("cannot start") else 1


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def command_figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sd, min and max of wall, CPU and energy over a command's runs that ran to their end (a non-zero
    exit included, as `time` includes it), and its exit codes."""
    from bnbench.analysis import stats

    done = [r for r in rows if r.get("status") in ("completed", "failed")]
    figures: dict[str, Any] = {}
    for column in MEASURED:
        d = stats.describe([_number(r.get(column)) for r in done])
        figures[column] = {"n": d.n, "mean": d.mean, "sd": d.sd, "min": d.min, "max": d.max}
    host = stats.describe([_number(r.get("energy_host_j")) for r in done])
    figures["energy_host_j"] = {"n": host.n, "mean": host.mean}
    sources = sorted({str(r.get("energy_source")) for r in done if r.get("energy_source")})
    figures["energy_source"] = "+".join(sources) if sources else "none"
    peaks = [v for v in (_number(r.get("gpu_mem_peak_mib")) for r in done) if not math.isnan(v)]
    figures["gpu_mem_peak_mib"] = max(peaks) if peaks else None
    figures["exit_codes"] = [exit_code_of(r) for r in rows]
    figures["statuses"] = {s: sum(r.get("status") == s for r in rows) for s in {str(r.get("status")) for r in rows}}
    return figures


def _seconds(d: dict[str, Any]) -> str:
    if not d["n"]:
        return "n/a"
    spread = f" ± {d['sd']:.3f}" if d["n"] > 1 else ""
    return f"{d['mean']:.3f} s{spread}" + (f" (min {d['min']:.3f}, max {d['max']:.3f})" if d["n"] > 1 else "")


def gpu_memory_text(peak_mib: float | None, device: str) -> str:
    """The peak GPU memory line's text: MiB (the largest over the runs), or why there is none."""
    if not device.startswith("cuda"):
        return "n/a (no GPU)"
    if peak_mib is None:
        return "unknown (NVML listed none of the command's processes on its GPU)"
    return f"{peak_mib:,.0f} MiB  (NVML, every process of the command, sampled; the largest run's)"


def command_lines(name: str, argv: Sequence[str], figures: dict[str, Any], device: str, config: Any) -> list[str]:
    """What `bnbench measure` prints for one command."""
    from bnbench import units

    runs = len(figures["exit_codes"])
    lines = [f"{name}: {shlex.join(argv)}  ({runs} run{'s' if runs != 1 else ''}"
             + "".join(f", {n} {s}" for s, n in sorted(figures["statuses"].items()) if s != "completed") + ")"]
    lines.append(f"  wall time     {_seconds(figures['train_s'])}")
    lines.append(f"  CPU time      {_seconds(figures['cpu_s'])}  (user + system, every process of the command)")
    energy = figures["energy_j"]
    source = figures["energy_source"]
    if not energy["n"] or math.isnan(energy["mean"]):
        lines.append(f"  energy        unknown (source: {source})")
    else:
        mean_j = energy["mean"]
        spread = f" ± {energy['sd']:.4g}" if energy["n"] > 1 else ""
        word = "estimated" if "estimate" in source else "measured"
        lines.append(f"  energy        {mean_j:.4g} J{spread}  ({word}: {source})")
        host_j = figures["energy_host_j"]["mean"]
        if device.startswith("cuda") and not math.isnan(host_j):
            lines.append(f"    {device:<11} {mean_j - host_j:.4g} J")
            lines.append(f"    {'host':<11} {host_j:.4g} J  (CPU share)")
        cups = units.format_count(units.tea_cups(mean_j, config.wh_per_cup))
        co2_g = units.co2_g(mean_j, config.co2_g_per_kwh, config.pue)
        lines.append(f"                = {units.j_to_kwh(mean_j):.4g} kWh = {cups} cups of tea = {co2_g:.4g} g CO2 = "
                     f"{units.cost(mean_j, config.price_per_kwh, config.pue):.4g} {config.currency}")
    lines.append(f"  peak GPU mem  {gpu_memory_text(figures['gpu_mem_peak_mib'], device)}")
    codes = sorted(set(figures["exit_codes"]))
    lines.append(f"  exit code     {', '.join(str(c) for c in codes)}")
    return lines


def comparison_lines(root: Path, metric: bool) -> tuple[list[str], list[dict[str, Any]]]:
    """Each command against the first: ratio intervals and verdict words for wall time and energy (and the
    metric when there is one), as `bnbench run` gives them; and the same as JSON-ready dicts."""
    from bnbench.analysis.results import load
    from bnbench.rendering.document import FIGURE_LABELS, ratio_cell

    summary = load(root).summary
    figures = (("final",) if metric else ()) + ("wall_s", "energy_j")
    lines: list[str] = []
    found: list[dict[str, Any]] = []
    for c in summary.comparisons.values():
        entry: dict[str, Any] = {"command": c.variant, "against": c.baseline, "figures": {}}
        for figure in figures:
            r = c.ratios[figure]
            label = FIGURE_LABELS[figure].format(metric=summary.metric.label)
            lines.append(f"{c.variant} against {c.baseline}: {label} x {ratio_cell(r)} -> {c.words[figure]}")
            entry["figures"][figure] = {"ratio": r.ratio, "ci_low": r.ci_low, "ci_high": r.ci_high,
                                        "difference": c.differences[figure].diff, "p": c.differences[figure].p,
                                         "verdict": c.words[figure]}
        found.append(entry)
    return lines, found


def measure(options: MeasureOptions, argv: list[str]) -> int:
    """Run the commands, print what they cost, and return the exit code: the first non-zero exit code of a
    command, else 0 (130/143 when interrupted)."""
    from bnbench.commands.run import execute_scenario
    from bnbench.execute.devices import resolve_devices
    from bnbench.execute.progress import SilentProgress
    from bnbench.scenario import expand, from_dict

    names = variant_names(options.commands, options.names)
    devices = resolve_devices(list(options.device))
    gpus = sum(d.startswith("cuda") for d in devices)
    scenario = from_dict(measure_scenario(options, names, gpus, Path.cwd()), source="bnbench measure")
    alternated = sorted(expand(scenario), key=lambda spec: (spec.seed, spec.index))
    console = Console(stderr=True, highlight=False)
    temporary = options.out is None
    out = options.out if options.out is not None else Path(tempfile.mkdtemp(prefix="bnbench-measure-")) / "results"
    try:
        session = execute_scenario(scenario, out=out, devices=list(options.device), argv=argv, console=console,
                                   progress=SilentProgress(), report=False, specs=alternated)
        rows = {name: [r for r in session.rows if r.get("variant") == name] for name in names}
        device = devices[0] if gpus <= 1 else "+".join(devices)
        figures = {name: command_figures(rows[name]) for name in names}
        result: dict[str, Any] = {
            "commands": [{"name": n, "command": list(c), **figures[n],
                          "runs": [_plain(r) for r in rows[n]]} for n, c in zip(names, options.commands, strict=True)],
            "results": None if temporary else str(out),
        }
        lines = [line for n, c in zip(names, options.commands, strict=True)
                 for line in command_lines(n, c, figures[n], device, scenario.energy)]
        if len(names) > 1 and any(r.get("status") == "completed" for r in session.rows):
            compared, result["comparisons"] = comparison_lines(session.out, options.metric is not None)
            lines += compared
        if not temporary:
            lines.append(f"results: {out} (bnbench report {out})")
        if options.as_json:
            from bnbench.rendering.document import to_jsonable

            print(json.dumps(to_jsonable(result), indent=2, allow_nan=False))
        else:
            for line in lines:
                console.print(line, markup=False)
    finally:
        if temporary:
            shutil.rmtree(out.parent, ignore_errors=True)
    if session.code >= 128:
        return session.code
    codes = [c for n in names for c in figures[n]["exit_codes"] if c]
    return codes[0] if codes else 0


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("run_id", "seed", "status", "train_s", "wall_s", "cpu_s", "energy_j", "energy_source", "energy_host_j",
            "kwh", "tea_cups", "co2_g", "cost", "device", "gpu_mem_peak_mib", "error")
    return {k: row.get(k) for k in keep} | {"exit_code": exit_code_of(row)}
