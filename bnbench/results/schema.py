"""Column names of the results files, and what each one means. One place, so writers, readers and the reference
(docs/reference/results.md) agree."""

from __future__ import annotations

ENERGY_PHASES = ("setup", "warmup", "train", "eval", "checkpoint")

ENERGY_COLUMNS = [
    "energy_j",
    "energy_source",
    "kwh",
    "net_kwh",
    "tea_cups",
    "co2_g",
    "cost",
    *(f"energy_{phase}_j" for phase in ENERGY_PHASES),
    "energy_host_j",
    "idle_w",
    "energy_integral_j",
    "energy_discrepancy",
]


def run_columns(metric: str, references: tuple[str, ...]) -> list[str]:
    """runs.csv's header: identity, outcome, the task's metric columns, energy, timing, error."""
    return [
        "run_id",
        "variant",
        "seed",
        "device",
        "gpu_name",
        "gpu_uuid",
        "status",
        "steps",
        "wall_s",
        "train_s",
        "measured_s",
        "cpu_s",
        "loop",
        "loop_note",
        f"final_{metric}",
        f"best_{metric}",
        *references,
        *ENERGY_COLUMNS,
        "gpu_busy_pct",
        "gpu_mem_peak_mib",
        "gpu_shared",
        "gpu_attribution",
        "host_others_pct",
        "started_at",
        "ended_at",
        "error",
    ]


def curve_columns(metric: str, references: tuple[str, ...]) -> list[str]:
    """curves.parquet: one row per logged step (kind 'train') and per evaluation (kind 'eval')."""
    return ["run_id", "variant", "seed", "kind", "step", "t_s", "loss", "loss_max", metric, *references,
            "val_loss", "energy_j"]


POWER_COLUMNS = ["run_id", "device", "t_s", "power_w", "phase", "gpu_busy_pct"]

METRIC = "<metric>"  # a task's metric in the column names of the reference: final_<metric>, best_<metric>
REFERENCE = "<reference>"  # a task's reference metric, e.g. bicubic_psnr_db, majority_accuracy_pct

# What a column of runs.csv holds, with its unit. `<metric>` stands for the task's metric.
RUN_COLUMN_HELP: dict[str, str] = {
    "run_id": "The run's id, VARIANT-sSEED; stable across resumes.",
    "variant": "The variant's name.",
    "seed": "The seed the run trained with.",
    "device": "Where it trained: cpu, cuda:N, or the devices of a DDP run.",
    "gpu_name": "The GPU as NVML names it; empty for a CPU run.",
    "gpu_uuid": "The GPU(s) the run trained on and was metered on, matched by UUID.",
    "status": "completed, diverged, failed or interrupted.",
    "steps": "Training steps taken.",
    "wall_s": "Wall time of the run, in seconds.",
    "train_s": "Seconds of the training loop as the loop timed it (no setup or warm-up).",
    "measured_s": "Seconds in the measured phases (train, eval, checkpoint): the time verdicts, plans and the gate "
                  "compare, never start-up.",
    "cpu_s": "CPU seconds (user + system) of the training, a command's whole process tree included.",
    "loop": "The training loop that ran: eager, graph (the step captured in a CUDA graph) or compile: and "
            "torch.compile's mode (compile:reduce-overhead); empty for a command's run.",
    "loop_note": "Why the loop that ran is not the one [train] asked for (graph = true, or graph unset on a CUDA "
                 "GPU, where the step could not be captured); empty when it is.",
    f"final_{METRIC}": "The metric at the last evaluation.",
    f"best_{METRIC}": "The best metric of any evaluation.",
    REFERENCE: "A non-learned reference's metric on the same validation data (bicubic PSNR, majority class).",
    "energy_j": "Energy of the run's devices, in joules (the run's share where a device was shared).",
    "energy_source": "How the joules were obtained: nvml-counter, nvml-power, rapl, estimate or none.",
    "kwh": "energy_j in kWh.",
    "net_kwh": "kWh less the idle draw over the run's measured seconds (idle_w).",
    "tea_cups": "kwh in cups of tea ([energy] wh_per_cup).",
    "co2_g": "Grams of CO2 of the energy, PUE included.",
    "cost": "Price of the energy, PUE included, in [energy] currency.",
    **{f"energy_{phase}_j": f"Joules of the {phase} phase." for phase in ENERGY_PHASES},
    "energy_host_j": "The host CPU's part of energy_j (a CPU run: all of it).",
    "idle_w": "The run's share of its devices' idle watts: what net_kwh subtracts, over its measured seconds.",
    "energy_integral_j": "Sampled power integrated, over the spans the counters also covered.",
    "energy_discrepancy": "(integral - counter) / counter: the sampler's error against the counter.",
    "gpu_busy_pct": "Mean NVML utilization over the measured phases, in %; empty for a CPU run.",
    "gpu_mem_peak_mib": "A command run's peak GPU memory, all its processes (NVML, sampled), in MiB; else empty.",
    "gpu_shared": "Share of readings in which a process outside the session held the run's GPU.",
    "gpu_attribution": "How the GPU's energy was charged: whole, sm-share, equal, or unlisted (NVML never listed "
                       "the run's process beside others, so its share, and its energy, are unknown); empty for a "
                       "CPU run.",
    "host_others_pct": "% of the host's busy CPU time used by processes outside the session's runs.",
    "started_at": "When the run started: ISO 8601 in UTC, to the second.",
    "ended_at": "When the run ended: ISO 8601 in UTC, to the second.",
    "error": "Why a failed run failed; empty otherwise.",
}

CURVE_COLUMN_HELP: dict[str, str] = {
    "run_id": "The run's id.",
    "variant": "The variant's name.",
    "seed": "The run's seed.",
    "kind": "train (a logged step) or eval (an evaluation).",
    "step": "The training step.",
    "t_s": "Seconds since the run's first step.",
    "loss": "train: mean training loss over the log_every steps ending at step.",
    "loss_max": "train: the largest training loss of those steps (spikes).",
    METRIC: "eval: the task's metric on the validation set.",
    REFERENCE: "eval: the reference's metric on the same data.",
    "val_loss": "eval: the loss on the validation set.",
    "energy_j": "eval: the run's joules so far.",
}

POWER_COLUMN_HELP: dict[str, str] = {
    "run_id": "The run's id.",
    "device": "The metered device: a GPU, a RAPL zone, or the estimate.",
    "t_s": "Seconds since the run's meter started.",
    "power_w": "Power, in watts (the run's share where the device was shared).",
    "phase": "setup, warmup, train, eval or checkpoint (empty: outside every window).",
    "gpu_busy_pct": "NVML utilization at the sample, in %; empty for a CPU device.",
}

# The results folder: each file or folder, and what it holds.
FOLDER_FILES: dict[str, str] = {
    "scenario.toml": "The scenario as resolved: defaults filled in, --set overrides applied.",
    "manifest.json": "Machine, software and timing stamps: bnbench version, host, CPU, GPUs, driver, torch, CUDA, "
                     "start and end time, command line, idle baseline; each variant's math mode and the loop it "
                     "asked for (math_mode).",
    "runs.csv": "One row per finished run, appended as each finishes (a resumed run's last row wins).",
    "curves.parquet": "Logged steps and evaluations of every finished run.",
    "power.parquet": "Power samples of every finished run.",
    "runs/RUN_ID/": "A run in progress: chunks of its curves and power, its log and checkpoints; a command run's "
                    "stdout.log and stderr.log.",
    "report.md, report.html, report.json": "The report, written by bnbench run and rebuilt by bnbench report.",
    "figures/": "The report's figures, as PNG (and SVG after `bnbench report DIR --svg`).",
    "slurm/": "With --executor slurm: jobs.json (each run's latest job id), submitit/ (each job's script, stdout "
              "and stderr), idle/ (each session's node idle baselines), events/ (what running jobs reported, not yet "
              "replayed).",
}
