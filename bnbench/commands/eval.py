"""`bnbench eval DIR --run RUN_ID`: reload a run's final checkpoint and score it again.

The model is rebuilt from the folder's scenario.toml, its weights and every buffer (batch norm's running
statistics, zero-debias state included) come from the checkpoint, and it is evaluated in eval mode, so batch
norm normalizes with the stored statistics. The metric must match the one recorded at that step.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console

from bnbench.errors import UserError, unknown_name

EXIT_MATCH, EXIT_MISMATCH = 0, 1
# On the device that trained the run the recomputed value is the same float; another device (or a GPU's
# non-deterministic kernels) may move the last digits, which this tolerance accepts.
REL_TOL = ABS_TOL = 1e-6


def difference_text(difference: float) -> str:
    """'0', '+0.0000012', '-0.25': two significant digits and a sign, never '+0.00e+00'."""
    from bnbench.rendering.format import significant

    if difference == 0:
        return "0"
    return f"{'+' if difference > 0 else '-'}{significant(abs(difference), 2)}"


def recorded_metric(folder: Path, run_id: str, step: int, metric: str) -> float | None:
    """The metric of `run_id`'s evaluation at `step` in curves (None when that step was not evaluated)."""
    from bnbench.results.load import load_table

    curves = load_table(folder, "curves")
    if curves.empty or metric not in curves:
        return None
    rows = curves[(curves["run_id"] == run_id) & (curves["kind"] == "eval") & (curves["step"] == step)]
    return None if rows.empty else float(rows[metric].iloc[-1])


def evaluate_run(folder: Path, run_id: str, device: str, console: Console | None = None) -> int:
    """Recompute `run_id`'s metric from its newest intact checkpoint; 0 when it equals the recorded value,
    1 when it differs. UserError for a missing folder, run or checkpoint."""
    import torch

    from bnbench import backend, checkpoint
    from bnbench.data import build_task, task_metadata
    from bnbench.execute.devices import resolve_devices
    from bnbench.execute.resume import checkpoint_dir
    from bnbench.models import build_model
    from bnbench.results.load import check_results_dir, load_scenario_dict
    from bnbench.scenario import COMMAND, expand, from_dict

    console = console or Console()
    check_results_dir(folder)
    scenario = from_dict(load_scenario_dict(folder), source=str(folder / "scenario.toml"))
    specs = {spec.run_id: spec for spec in expand(scenario)}
    if run_id not in specs:
        raise unknown_name("run", run_id, specs)
    spec = specs[run_id]
    if spec.task.name == COMMAND:
        raise UserError(f"{folder}: run '{run_id}' is a command's; bnbench keeps no model of it to evaluate")
    found, state, skipped = checkpoint.load_latest(checkpoint_dir(folder, run_id))
    for line in skipped:
        console.print(f"warning: {line}", soft_wrap=True)
    if found is None or state is None:
        raise UserError(f"{folder}: run '{run_id}' has no intact checkpoint in {checkpoint_dir(folder, run_id)}")

    target = torch.device(resolve_devices(device)[0])
    mode = backend.math_mode(spec.train)
    backend.apply(mode)  # the run's own math mode: precision, TF32, channels-last, threads
    task = build_task(spec.task, target)
    model = build_model(spec.model, task.io).to(target)
    model.load_state_dict(state["model"])
    model.eval()
    forward: torch.nn.Module = model
    if mode.channels_last:
        # Module.to takes memory_format at run time; torch's overloads for it leave the keyword out
        forward = backend.ChannelsLastInputs(model.to(memory_format=torch.channels_last))  # type: ignore[call-overload]
    with backend.autocast(mode, target)():
        metrics = task.evaluate(forward)

    metric = task_metadata(spec.task)[0]
    value = metrics[metric]
    recorded = recorded_metric(folder, run_id, found.step, metric)
    console.print(f"{run_id}: {found.path} (step {found.step}) on {target}", soft_wrap=True)
    if recorded is None:
        console.print(f"{metric} {value:.6f} recomputed; no evaluation was recorded at step {found.step}",
                      soft_wrap=True)
        return EXIT_MATCH
    same = math.isclose(value, recorded, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    console.print(f"{metric} {value:.6f} recomputed, {recorded:.6f} recorded (difference "
                  f"{difference_text(value - recorded)}): " + ("the same" if same else "DIFFERENT"), soft_wrap=True)
    return EXIT_MATCH if same else EXIT_MISMATCH
