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
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnbench.errors import UserError

if TYPE_CHECKING:
    from bnbench.analysis.decide import Verdict

MEASURED = ("train_s", "cpu_s", "energy_j")  # train_s: the command's own wall time, start to end
NO_METRIC = "metric"  # the metric column's name when the commands report none (its cells stay empty)
EXIT_NOT_STARTED = 127  # a shell's code for a command that could not be run
MAX_RUNS = 10_000
"""Runs of one session at most (runs x commands): each is a row, a folder and a power table, built before the
first starts (a million took minutes and 660 MB before printing anything)."""


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
    warmup: int = 0  # unmeasured runs of each command first (their output discarded)


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


def exit_code_of(row: dict[str, Any]) -> int | None:
    """The command's exit code as a shell gives it (128 + N when killed by signal N; 127: could not start);
    None for a run bnbench stopped (interrupted), whose code is bnbench's doing, not the command's."""
    error = str(row.get("error") or "")
    if row.get("status") == "interrupted":
        return None
    if row.get("status") != "failed":
        return 0
    if match := re.search(r"\bexit code (-?\d+)", error):  # first, or after why the run failed though it exited
        return int(match.group(1))
    if match := re.search(r"\bkilled by (SIG\w+)", error):
        return 128 + int(getattr(signal, match.group(1)))
    return EXIT_NOT_STARTED if error.startswith("cannot start") else 1


def describe(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, sample sd (None below 2), min and max of the finite `values` (None: no value)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    sd = statistics.stdev(finite) if len(finite) > 1 else None
    return {"n": len(finite), "mean": statistics.fmean(finite), "sd": sd, "min": min(finite), "max": max(finite)}


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def command_figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sd, min and max of wall, CPU and energy over a command's runs (a non-zero exit included, as `time`
    includes it; a run stopped by a signal to bnbench up to its stop), its exit codes (None: stopped) and why
    runs failed though the command exited 0 (a metric it did not report)."""
    done = [r for r in rows if r.get("status") in ("completed", "failed", "interrupted")]
    figures: dict[str, Any] = {column: describe([_number(r.get(column)) for r in done]) for column in MEASURED}
    host = describe([_number(r.get("energy_host_j")) for r in done])
    figures["energy_host_j"] = {"n": host["n"], "mean": host["mean"]}
    sources = sorted({str(r.get("energy_source")) for r in done if r.get("energy_source")})
    figures["energy_source"] = "+".join(sources) if sources else "none"
    peaks = [v for v in (_number(r.get("gpu_mem_peak_mib")) for r in done) if not math.isnan(v)]
    figures["gpu_mem_peak_mib"] = max(peaks) if peaks else None
    figures["exit_codes"] = [exit_code_of(r) for r in rows]
    figures["failures"] = sorted({str(r.get("error")) for r in rows
                                  if r.get("status") == "failed" and r.get("error") and exit_code_of(r) == 0})
    figures["statuses"] = {s: sum(r.get("status") == s for r in rows) for s in {str(r.get("status")) for r in rows}}
    return figures


def _seconds(d: dict[str, Any]) -> str:
    """'1.23 s', or over several runs '1.23 s ± 0.05 (min 1.18, max 1.30)'; 'n/a' without a value."""
    from bnbench.rendering.format import plus_minus, significant

    if not d["n"]:
        return "n/a"
    if d["sd"] is None:
        return f"{significant(d['mean'])} s"
    # The extremes to their own significant digits: a run of no CPU time is 'min 0', not 'min 0.00000'.
    return f"{plus_minus(d['mean'], d['sd'])} s (min {significant(d['min'])}, max {significant(d['max'])})"


def _joules(mean_j: float, sd_j: float | None) -> str:
    """Energy in the unit `run` uses for its size (J, kJ, Wh, kWh), to 3 significant digits, ± the spread."""
    from bnbench.rendering.format import energy_scale, plus_minus, significant

    divisor, unit = energy_scale(abs(mean_j))
    if sd_j is None:
        return f"{significant(mean_j / divisor)} {unit}"
    return f"{plus_minus(mean_j / divisor, sd_j / divisor)} {unit}"


def gpu_memory_text(peak_mib: float | None, device: str) -> str:
    """The peak GPU memory line's text: MiB (the largest over the runs), or why there is none."""
    if not device.startswith("cuda"):
        return "n/a (no GPU)"
    if peak_mib is None:
        return "unknown (NVML listed none of the command's processes on its GPU)"
    return f"{peak_mib:,.0f} MiB  (NVML, every process of the command, sampled; the largest run's)"


def command_lines(name: str, argv: Sequence[str], figures: dict[str, Any], device: str, config: Any) -> list[str]:
    """What `bnbench measure` prints for one command: numbers as `bnbench run` writes them."""
    from bnbench import units
    from bnbench.rendering import format as fmt

    runs = len(figures["exit_codes"])
    lines = [f"{name}: {shlex.join(argv)}  ({runs} run{'s' if runs != 1 else ''}"
             + "".join(f", {n} {s}" for s, n in sorted(figures["statuses"].items()) if s != "completed") + ")"]
    lines.append(f"  wall time     {_seconds(figures['train_s'])}")
    lines.append(f"  CPU time      {_seconds(figures['cpu_s'])}  (user + system, every process of the command)")
    energy = figures["energy_j"]
    source = figures["energy_source"]
    if not energy["n"]:
        lines.append(f"  energy        unknown (source: {source})")
    else:
        mean_j = energy["mean"]
        if source == "estimate":  # 'estimated: estimate' said nothing: say what the estimate is, as `run` does
            how = "an estimate from CPU time, not a measurement"
        else:
            how = f"{'estimated' if 'estimate' in source else 'measured'}: {source}"
        lines.append(f"  energy        {_joules(mean_j, energy['sd'])}  ({how})")
        host_j = figures["energy_host_j"]["mean"]
        if device.startswith("cuda") and host_j is not None:
            lines.append(f"    {device:<11} {_joules(mean_j - host_j, None)}")
            lines.append(f"    {'host':<11} {_joules(host_j, None)}  (CPU share)")
        cups = fmt.count(units.tea_cups(mean_j, config.wh_per_cup))
        co2 = fmt.co2(units.co2_g(mean_j, config.co2_g_per_kwh, config.pue))
        cost = fmt.cost(units.cost(mean_j, config.price_per_kwh, config.pue), config.currency)
        lines.append(f"                = {fmt.kwh(mean_j)} kWh = {cups} cups of tea = {co2} CO2 = {cost}")
    lines.append(f"  peak GPU mem  {gpu_memory_text(figures['gpu_mem_peak_mib'], device)}")
    codes = sorted({c for c in figures["exit_codes"] if c is not None})
    stopped = "interrupted (bnbench was stopped: SIGINT or SIGTERM)"
    said = [str(c) for c in codes] + ([stopped] if None in figures["exit_codes"] else [])
    lines.append(f"  exit code     {', '.join(said)}")
    lines += [f"  failed        {failure}" for failure in figures["failures"]]
    return lines


def comparison_lines(root: Path, metric: bool) -> tuple[list[str], list[dict[str, Any]]]:
    """Each command against the first: ratio intervals and verdict words for wall time and energy (and the
    metric when there is one), as `bnbench run` gives them, each word with the interval its decision used (two
    runs a command bound no ratio, yet a difference far beyond their spread is decided: the words then rest on
    that interval, printed beside them); and the same as JSON-ready dicts."""
    from bnbench.analysis.results import load
    from bnbench.rendering.document import FIGURE_LABELS, ratio_cell

    summary = load(root).summary
    figures = (("final",) if metric else ()) + ("measured_s", "energy_j")
    lines: list[str] = []
    found: list[dict[str, Any]] = []
    for c in summary.comparisons.values():
        entry: dict[str, Any] = {"command": c.variant, "against": c.baseline, "figures": {}}
        for figure in figures:
            r, decision = c.ratios[figure], c.verdicts[figure]
            label = FIGURE_LABELS[figure].format(metric=summary.metric.label)
            lines.append(f"{c.variant} against {c.baseline}: {label} x {ratio_cell(r)} -> {decision_words(decision)}")
            used = ({"low": decision.ci_low, "high": decision.ci_high, "label": decision.interval_label}
                    if decision.interval_label else None)
            entry["figures"][figure] = {"ratio": r.ratio, "ci_low": r.ci_low, "ci_high": r.ci_high,
                                        "difference": c.differences[figure].diff, "p": c.differences[figure].p,
                                        "verdict": c.words[figure], "verdict_interval": used}
        found.append(entry)
    return lines, found


def decision_words(decision: Verdict) -> str:
    """'worse (difference [+0.3011, +0.3065], 95% interval)': the word and the interval of the difference (B - A, in
    the figure's unit) its decision used, to the decimals that show its width in two digits; the word alone
    without one."""
    from bnbench.rendering.format import decimals_of

    if not decision.interval_label:
        return decision.word
    low, high = decision.ci_low, decision.ci_high
    d = decimals_of(high - low, 2)
    return f"{decision.word} (difference [{low:+.{d}f}, {high:+.{d}f}], {decision.interval_label})"


def check_size(options: MeasureOptions) -> None:
    """UserError when the session would hold more than MAX_RUNS runs (said before anything is built)."""
    total = options.runs * len(options.commands)
    if total > MAX_RUNS:
        raise UserError(f"-n {options.runs} x {len(options.commands)} command(s) is {total:,} runs; at most "
                        f"{MAX_RUNS:,} in one session (each is a row and a folder of its own)")


def warm_up(options: MeasureOptions, names: Sequence[str], say: Any) -> int:
    """Run each command `options.warmup` times, alternated, unmeasured and with its output discarded (as
    hyperfine's --warmup). Returns 0, or the first non-zero exit code (nothing is measured then)."""
    import os

    from bnbench.rendering.format import plural

    if not options.warmup:
        return 0
    say(f"warm-up: {plural(options.warmup, 'unmeasured run')} of each command")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for _ in range(options.warmup):
        for name, argv in zip(names, options.commands, strict=True):
            try:
                code = subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=env, check=False).returncode
            except OSError as exc:
                say(f"warm-up run of {name}: cannot start '{argv[0]}': {exc.strerror or exc}; nothing measured")
                return EXIT_NOT_STARTED
            if code:
                shell_code = 128 - code if code < 0 else code
                say(f"warm-up run of {name} exited with code {shell_code}; nothing measured")
                return shell_code
    return 0


def measure(options: MeasureOptions, argv: list[str]) -> int:
    """Run the commands, print what they cost, and return the exit code: the first non-zero exit code of a
    command, else 1 when a run failed though its command exited 0 (a metric not reported), else 0 (130/143
    when interrupted)."""
    from bnbench.commands.run import execute_scenario
    from bnbench.execute.devices import resolve_devices
    from bnbench.execute.progress import SilentProgress
    from bnbench.rendering.terminal import console as terminal_console
    from bnbench.rendering.terminal import say
    from bnbench.scenario import expand, from_dict

    check_size(options)
    names = variant_names(options.commands, options.names)
    devices = resolve_devices(list(options.device))
    gpus = sum(d.startswith("cuda") for d in devices)
    scenario = from_dict(measure_scenario(options, names, gpus, Path.cwd()), source="bnbench measure")
    alternated = sorted(expand(scenario), key=lambda spec: (spec.seed, spec.index))
    console = terminal_console(stderr=True, highlight=False)
    code = warm_up(options, names, lambda text: say(console, text))
    if code:
        return code
    temporary = options.out is None
    out = options.out if options.out is not None else Path(tempfile.mkdtemp(prefix="bnbench-measure-")) / "results"
    try:
        session = execute_scenario(scenario, out=out, devices=list(options.device), argv=argv, console=console,
                                   progress=SilentProgress(), report=False, specs=alternated,
                                   resumable=False,  # measure has no --resume: an interruption names no folder
                                   scratch=temporary)
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
            from bnbench.rendering.format import to_jsonable
            from bnbench.rendering.terminal import write_line

            write_line(json.dumps(to_jsonable(result), indent=2, allow_nan=False))
        else:
            for line in lines:
                say(console, line)
    finally:
        if temporary:
            shutil.rmtree(out.parent, ignore_errors=True)
    if session.code >= 128:
        return session.code
    codes = [c for n in names for c in figures[n]["exit_codes"] if c]
    if codes:
        return codes[0]
    return 1 if any(figures[n]["failures"] for n in names) else 0


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("run_id", "seed", "status", "train_s", "wall_s", "cpu_s", "energy_j", "energy_source", "energy_host_j",
            "kwh", "tea_cups", "co2_g", "cost", "device", "gpu_mem_peak_mib", "error")
    return {k: row.get(k) for k in keep} | {"exit_code": exit_code_of(row)}
