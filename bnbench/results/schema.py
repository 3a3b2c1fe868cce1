"""Column names of the results files. One place, so writers and readers agree."""

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
    "energy_host_j",  # the host CPU's part (a CPU run: all of it)
    "idle_w",  # the run's share of its devices' idle watts: what net_kwh subtracts, over its measured seconds
    "energy_integral_j",  # sampled power integrated, over the spans the counters also covered
    "energy_discrepancy",  # (integral - counter) / counter: the sampler's error against the counter
]


def run_columns(metric: str, references: tuple[str, ...]) -> list[str]:
    """runs.csv's header: identity, outcome, the task's metric columns, energy, timing, error."""
    return [
        "run_id",
        "variant",
        "seed",
        "device",
        "gpu_name",  # as NVML names it; empty for a CPU run
        "gpu_uuid",  # the GPU(s) the run trained on and was metered on, matched by UUID
        "status",
        "steps",
        "wall_s",
        "train_s",
        "measured_s",  # seconds in the measured phases (train, eval, checkpoint): what verdicts compare
        "cpu_s",  # CPU seconds (user + system) of the training, a command's whole process tree included
        f"final_{metric}",
        f"best_{metric}",
        *references,
        *ENERGY_COLUMNS,
        "gpu_busy_pct",  # mean NVML utilization over the measured phases; empty for a CPU run
        "gpu_mem_peak_mib",  # a command run's peak GPU memory, all its processes (NVML, sampled); else empty
        "gpu_shared",  # share of readings in which a process outside the session held the run's GPU
        "gpu_attribution",  # how the GPU's energy was charged: whole, sm-share or equal; empty for a CPU run
        "host_others_pct",  # % of the host's busy CPU time used by processes outside the session's runs
        "started_at",
        "ended_at",
        "error",
    ]


def curve_columns(metric: str, references: tuple[str, ...]) -> list[str]:
    """curves.parquet: one row per logged step (kind 'train') and per evaluation (kind 'eval')."""
    return ["run_id", "variant", "seed", "kind", "step", "t_s", "loss", "loss_max", metric, *references,
            "val_loss", "energy_j"]


POWER_COLUMNS = ["run_id", "device", "t_s", "power_w", "phase", "gpu_busy_pct"]
