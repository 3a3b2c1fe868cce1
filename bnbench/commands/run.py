"""`bnbench run` and `bnbench validate`: from a scenario file to a results folder."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bnbench.checks import check_scenario
from bnbench.scenario import Scenario, expand, load

EXIT_OK, EXIT_RUN_FAILED = 0, 1
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


def print_matrix(scenario: Scenario, console: Console | None = None) -> None:
    """The runs a scenario expands to, one row each, and what each variant overrides."""
    check_scenario(scenario)
    console = console or Console()
    table = Table(title=f"{scenario.name}: {len(expand(scenario))} runs")
    for column in ("run", "variant", "seed", "model", "norm", "steps", "overrides"):
        table.add_column(column)
    for spec in expand(scenario):
        variant = next(v for v in scenario.variants if v.name == spec.variant)
        overrides = ", ".join(f"{k}={v}" for k, v in variant.overrides) or "-"
        table.add_row(spec.run_id, spec.variant, str(spec.seed), spec.model.arch, spec.model.norm,
                      str(spec.train.max_steps), overrides)
    console.print(table)
    console.print(f"scenario '{scenario.name}' from {scenario.source} is valid")


def default_out(scenario: Scenario) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("reports") / scenario.name / stamp


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[dict[str, int]]:
    """SIGINT/SIGTERM set `stop` (the current step finishes, state is saved); a second SIGINT exits at once."""
    received: dict[str, int] = {}

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received["signal"] = signum
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_scenario(
    path: Path, out: Path | None, devices: Sequence[str] | None, overrides: Sequence[str], argv: list[str]
) -> int:
    """Validate everything, then train the matrix. Returns the process exit code."""
    from bnbench.analysis.table import print_summary
    from bnbench.data import check_runs, task_metadata
    from bnbench.display import make_progress
    from bnbench.execute.local import resolve_devices, run_matrix
    from bnbench.results import manifest
    from bnbench.results.schema import run_columns
    from bnbench.results.store import RunStore

    scenario = load(path, overrides)
    check_scenario(scenario)
    specs = expand(scenario)
    check_runs(specs)  # data folders, model options and input sizes: a UserError before any folder is written
    metric, _, _, references = task_metadata(scenario.task)
    device_list = resolve_devices(list(devices) if devices else scenario.scenario.device)
    out = out or default_out(scenario)
    info = manifest.collect(argv, device_list, gpus=[])
    info["scenario_fingerprint"] = scenario.fingerprint()
    store = RunStore.create(out, scenario.to_dict(), info, run_columns(metric, references))

    console = Console()
    console.print(f"bnbench {info['bnbench']}: {len(specs)} runs of '{scenario.name}' on {', '.join(device_list)} "
                  f"-> {out}")
    stop = threading.Event()
    progress = make_progress(specs, metric, console)
    with stop_on_signals(stop) as received:
        try:
            rows = run_matrix(specs, device_list, store, progress, stop)
        finally:
            progress.close()
            info["ended_at"] = manifest.now_iso()
            store.write_manifest(info)
    print_summary(out, console)
    console.print(f"results: {out}")
    if "signal" in received:
        return EXIT_SIGTERM if received["signal"] == signal.SIGTERM else EXIT_SIGINT
    return EXIT_RUN_FAILED if any(r["status"] == "failed" for r in rows) else EXIT_OK
