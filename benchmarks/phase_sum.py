"""Whether every joule of each run of a results folder is in a named phase: the five phase columns of runs.csv
(setup, warmup, train, eval, checkpoint) against the run's power trace in power.parquet, integrated per device.

    python benchmarks/phase_sum.py RESULTS_DIR

Each sample's power stands for the seconds since the sample before it (a right Riemann sum; a counter's power is
its difference over that interval, so the sum is the counter from the first sample to the last). Prints per run
the phases' sum, the trace's integral and their ratio (1.000: nothing outside the phases), and beside them the
run's wall_s against the measured phases' seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

PHASES = ("setup", "warmup", "train", "eval", "checkpoint")


def main(root: Path) -> None:
    runs = pd.read_csv(root / "runs.csv")
    power = pd.read_parquet(root / "power.parquet")
    for _, run in runs.iterrows():
        trace_j = 0.0
        for _, samples in power[power["run_id"] == run["run_id"]].groupby("device"):
            samples = samples.sort_values("t_s")
            trace_j += float((samples["power_w"] * samples["t_s"].diff()).sum())
        phases_j = sum(float(run[f"energy_{p}_j"]) for p in PHASES)
        print(f"{run['run_id']}: phases {phases_j:.2f} J, trace {trace_j:.2f} J, ratio {phases_j / trace_j:.3f}; "
              f"setup {run['energy_setup_j']:.2f} J, warmup {run['energy_warmup_j']:.2f} J; "
              f"wall_s {run['wall_s']:.2f}, measured_s {run['measured_s']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "runs.csv").is_file():
        sys.exit("usage: python benchmarks/phase_sum.py RESULTS_DIR (a folder holding runs.csv and power.parquet)")
    main(Path(sys.argv[1]))
