"""How long `bnbench report` takes on a results folder the size of the paper's night, and its peak memory.

The folder: 8 GPUs x 12 h of power samples at 10 Hz (3,456,000 samples), 24 runs (3 variants x 8 seeds, three
4-hour runs after one another on each GPU), 100,000 steps per run with an evaluation every 100 steps (1,000
evaluations per run) and a logged loss every 50 steps. The numbers are synthetic but shaped like a real night.

Usage: python benchmarks/report_scale.py [--repeat 3] [--keep DIR] [--hours 12] [--against CHECKOUT] [--svg]
                                        [--per-figure]
Prints the wall time of `bnbench report` (a fresh process each time, imports included) twice over: drawing
every figure (a folder's first report, or one after its data changed) and finding them unchanged (a report
again: the figures are kept); with each its CPU time (which a busy shared machine inflates less than the wall
time), the peak resident memory of its largest process (the report or a figure's child), and the load average.
Targets: under 2 s and under 1 GiB. `--hours` shortens the night (the folder scales with it). `--against` names
another checkout of bnbench (a `git worktree` of an older commit, say): the drawn report of this checkout and of
that one are then alternated, `--repeat` times each in the order A B B A ..., so a machine that drifts slows
both alike, and the two medians and their ratio are printed. `--svg` times this checkout's `bnbench report --svg`
(each figure saved as SVG too, which an older checkout did by default). `--per-figure` then prints the CPU time
each figure takes to draw and save, one after another in one process, the night read and its power samples
reduced first (the order in which `bnbench report` hands the figures out, longest first, comes from these).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

GPUS, RUNS_PER_GPU, HZ = 8, 3, 10
REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("control", "bn", "bn-debiased")
STEPS, EVAL_EVERY, LOG_EVERY = 100_000, 100, 50
METRIC = "psnr_db"
# Python's bytecode cache on, as an installed package has its modules compiled: a shell with
# PYTHONDONTWRITEBYTECODE set would otherwise time bnbench's compiling its own modules at every start.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def write_folder(root: Path, hours: float = 12.0) -> int:
    """Write the synthetic folder of a night of `hours`; returns the number of power samples."""
    run_s = max(int(hours * 3600 / RUNS_PER_GPU), 1)
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    seeds = list(range(GPUS * RUNS_PER_GPU // len(VARIANTS)))
    scenario = {"scenario": {"name": "overnight-synthetic", "seeds": seeds, "baseline": "control"},
                "task": {"name": "super-resolution"},
                "train": {"max_steps": STEPS, "eval_every": EVAL_EVERY, "log_every": LOG_EVERY, "target": 32.0},
                "energy": {"sample_hz": HZ}, "variant": [{"name": v} for v in VARIANTS]}
    (root / "scenario.toml").write_text(tomli_w.dumps(scenario), encoding="utf-8")
    (root / "manifest.json").write_text('{"bnbench": "0.1.0", "devices": ["cuda:0"]}', encoding="utf-8")
    runs, curves, power = [], [], []
    n = run_s * HZ
    t = np.arange(n) / HZ
    steps_per_s = STEPS / run_s
    eval_steps = np.arange(EVAL_EVERY, STEPS + 1, EVAL_EVERY)
    log_steps = np.arange(LOG_EVERY, STEPS + 1, LOG_EVERY)
    for index, (variant, seed) in enumerate((v, s) for s in seeds for v in VARIANTS):
        run_id, device = f"{variant}-s{seed}", f"cuda:{index % GPUS}"
        ceiling = 32.5 - 0.6 * VARIANTS.index(variant) + rng.normal(0, 0.1)
        psnr = ceiling - 3.0 * np.exp(-eval_steps / 15_000) + rng.normal(0, 0.02, len(eval_steps))
        watts = 180 + 20 * np.sin(t / 600) + rng.normal(0, 5, n)
        energy_cum = np.cumsum(watts) / HZ
        eval_t = eval_steps / steps_per_s
        eval_energy = energy_cum[np.minimum((eval_t * HZ).astype(int), n - 1)]
        curves.append(pd.DataFrame({"run_id": run_id, "variant": variant, "seed": seed, "kind": "eval",
                                    "step": eval_steps, "t_s": eval_t, METRIC: psnr, "bicubic_psnr_db": 30.39,
                                    "val_loss": 10 ** (-psnr / 10), "energy_j": eval_energy}))
        loss = 0.002 * (1 + np.exp(-log_steps / 10_000)) * rng.lognormal(0, 0.2, len(log_steps))
        curves.append(pd.DataFrame({"run_id": run_id, "variant": variant, "seed": seed, "kind": "train",
                                    "step": log_steps, "t_s": log_steps / steps_per_s, "loss": loss,
                                    "loss_max": loss * 1.8}))
        # Each evaluation takes about 1 s of the 14.4 s between them.
        phase = np.where((t * steps_per_s) % EVAL_EVERY < steps_per_s, "eval", "train").astype("<U16")
        phase[: min(30, run_s // 10) * HZ] = "warmup"
        power.append(pd.DataFrame({"run_id": run_id, "device": device, "t_s": t, "power_w": watts,
                                   "phase": phase}))
        runs.append({"run_id": run_id, "variant": variant, "seed": seed, "device": device, "status": "completed",
                     "steps": STEPS, "wall_s": run_s, "train_s": run_s, f"final_{METRIC}": psnr[-1],
                     f"best_{METRIC}": psnr.max(), "bicubic_psnr_db": 30.39, "energy_j": energy_cum[-1],
                     "energy_source": "nvml-counter", "kwh": energy_cum[-1] / 3.6e6,
                     "tea_cups": energy_cum[-1] / 3.6e6 * 1000 / 33.3})
    pd.DataFrame(runs).to_csv(root / "runs.csv", index=False)
    pd.concat(curves, ignore_index=True).to_parquet(root / "curves.parquet", index=False)
    samples = pd.concat(power, ignore_index=True)
    samples.to_parquet(root / "power.parquet", index=False)
    return len(samples)


def measure(command: list[str], root: Path, repeat: int, fresh: bool,
            env: dict[str, str]) -> tuple[list[float], float, float]:
    """`repeat` reports in fresh processes: each drawing every figure (`fresh`: the figures' keys removed first)
    or finding them unchanged (after one report that drew them, untimed). Returns the wall times, the CPU seconds
    a report and the peak resident MiB of the largest process (the report or a figure's child), from one more
    report, untimed."""
    keys = root / "figures" / "figures.json"
    if not fresh:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    times = []
    for _ in range(repeat):
        if fresh:
            keys.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / repeat
    if fresh:
        keys.unlink(missing_ok=True)
    return times, cpu_s, peak_rss_mib(command, env)


# Runs a command and prints the peak resident memory of the largest process under it (Linux: in kilobytes).
PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss_mib(command: list[str], env: dict[str, str]) -> float:
    """The peak resident MiB of the largest process of one more `command` (the report or a figure's child),
    measured under a small Python process of its own: this one holds the night's arrays it wrote, and a child it
    starts counts them as its own peak until it has replaced itself with the command."""
    done = subprocess.run([sys.executable, "-c", PEAK, *command], check=True, capture_output=True, text=True,
                          env=env)
    return int(done.stdout.split()[-1]) / 1024


# In a process of its own, this checkout's bnbench: each figure of the folder argv[1] drawn and saved argv[2]
# times after one untimed figure (fonts and caches built), and the median CPU time of each printed.
PER_FIGURE = """
import statistics, sys, tempfile, time
from pathlib import Path
from bnbench.analysis.folder import power_figure_inputs
from bnbench.analysis.results import load
from bnbench.rendering import figure_files, plots
from bnbench.rendering.power_plot import plot_power
root, repeat = Path(sys.argv[1]), int(sys.argv[2])
results = load(root)
summary, curves, order = results.summary, results.curves, results.variants
run_order, source = power_figure_inputs(root)
traces = figure_files.reduce_power(root, run_order)
draws = {"loss": lambda: plots.plot_loss(summary, curves, order),
         "metric_vs_time": lambda: plots.plot_metric_vs(summary, curves, order, "t_s"),
         "metric_vs_energy": lambda: plots.plot_metric_vs(summary, curves, order, "energy_j"),
         "metric_vs_step": lambda: plots.plot_metric_vs_step(summary, curves, order),
         "power": lambda: plot_power(traces, source)}
with tempfile.TemporaryDirectory() as out:
    figure_files.save(draws["metric_vs_step"](), Path(out), "warm-up")
    for name, draw in draws.items():
        spent = []
        for _ in range(repeat):
            start = time.process_time()
            figure_files.save(draw(), Path(out), name)
            spent.append(time.process_time() - start)
        print(f"figure {name}: {statistics.median(spent):.2f} CPU-s to draw and save (median of {repeat})")
"""


def per_figure(root: Path, repeat: int) -> list[str]:
    """The lines PER_FIGURE prints for the folder `root`: a figure's CPU time to draw and save, each."""
    done = subprocess.run([sys.executable, "-P", "-c", PER_FIGURE, str(root), str(repeat)], check=True,
                          capture_output=True, text=True, env=report_env(REPO))
    return done.stdout.splitlines()


def report_env(checkout: Path) -> dict[str, str]:
    """The environment in which `python -P -m bnbench` is `checkout`'s bnbench (-P: without it, `-m` puts the
    working folder first on the import path, and a checkout run from there would time its own code twice)."""
    return {**ENV, "PYTHONPATH": os.pathsep.join([str(checkout), *filter(None, [ENV.get("PYTHONPATH")])])}


def alternated(root: Path, checkouts: dict[str, Path], repeat: int,
               extra: dict[str, list[str]]) -> dict[str, tuple[list[float], list[float]]]:
    """Drawn reports of each checkout, `repeat` each, in the order A B B A A B ...: wall and CPU seconds. `extra`:
    options added to a checkout's command, by name."""
    keys = root / "figures" / "figures.json"
    names = list(checkouts)
    found: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    for round_ in range(repeat):
        for name in (names if round_ % 2 == 0 else names[::-1]):
            keys.unlink(missing_ok=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-P", "-m", "bnbench", "report", str(root), *extra.get(name, [])],
                           check=True,
                           stdout=subprocess.DEVNULL, env=report_env(checkouts[name]))
            found[name][0].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            found[name][1].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the folder here and keep it")
    parser.add_argument("--hours", type=float, default=12.0, help="the night's length (default 12)")
    parser.add_argument("--against", type=Path, help="another checkout of bnbench, its drawn report alternated")
    parser.add_argument("--svg", action="store_true", help="this checkout's report saves SVG figures too")
    parser.add_argument("--per-figure", action="store_true",
                        help="also each figure's CPU time to draw and save, in one process")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1 (got {args.repeat})")
    if not args.hours > 0:
        parser.error(f"--hours must be above 0 (got {args.hours})")
    if args.against is not None and not (args.against / "bnbench" / "__init__.py").is_file():
        parser.error(f"--against {args.against}: not a checkout of bnbench (no bnbench/__init__.py)")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bnbench-report-scale-")) / "night"
    try:
        start = time.perf_counter()
        samples = write_folder(root, args.hours)
        print(f"wrote {root}: {samples:,} power samples, {GPUS * RUNS_PER_GPU} runs "
              f"({time.perf_counter() - start:.1f} s)")
        options = ["--svg"] if args.svg else []
        command = [sys.executable, "-P", "-m", "bnbench", "report", str(root), *options]
        for label, fresh in (("figures drawn", True), ("figures unchanged", False)):
            times, cpu_s, peak_mib = measure(command, root, args.repeat, fresh, report_env(REPO))
            print(f"bnbench report, {label}: median {statistics.median(times):.2f} s over {args.repeat} runs "
                  f"(min {min(times):.2f}, max {max(times):.2f}); CPU time (user + system, all its processes) "
                  f"{cpu_s:.2f} s a report; peak RSS {peak_mib:.0f} MiB")
        if args.against is not None:
            found = alternated(root, {"this checkout": REPO, str(args.against): args.against}, args.repeat,
                               {"this checkout": options})
            medians = {name: statistics.median(wall) for name, (wall, _) in found.items()}
            this, other = medians["this checkout"], medians[str(args.against)]
            print(f"figures drawn, alternated {args.repeat} times each: " + "; ".join(
                f"{name} median {medians[name]:.2f} s, {statistics.median(cpu):.2f} CPU-s"
                for name, (_, cpu) in found.items()) + f"; ratio {this / other:.2f}")
        if args.per_figure:
            print("\n".join(per_figure(root, args.repeat)))
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; targets: "
              "under 2 s, under 1024 MiB")
    finally:
        if args.keep is None:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
