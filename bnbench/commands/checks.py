"""Checks a scenario needs the registries for: names of tasks, models and norms, then each distinct task, model
and command of its run matrix, and the memory each variant needs, before anything is written.

None of them imports torch for the bundled tasks and architectures (their data checks read file headers, their
models are plans walked for shapes), so `bnbench validate` of a scenario made of them answers in well under a
second; a user's `module.path:factory` model is torch code and is run on the meta device.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from bnbench.errors import UserError
from bnbench.scenario import COMMAND, RunSpec, Scenario, expand

# The longest file name (bytes) ext4, XFS, Btrfs, tmpfs, NTFS and APFS take: each run's folder is named by its id.
NAME_MAX_BYTES = 255


def check_scenario(scenario: Scenario) -> None:
    """UserError naming the file, variant and field of the first unknown task, model or norm name, or of a
    variant whose name cannot be a folder name."""
    from bnbench.data import TASKS
    from bnbench.models import MODELS
    from bnbench.models.norms import NORMS

    for variant in scenario.variants:
        if variant.task.name == COMMAND:  # a command brings its own model and data
            continue
        where = "" if len(scenario.variants) == 1 else f" (variant '{variant.name}')"
        for section, field, value, registry in (
            ("task", "name", variant.task.name, TASKS),
            ("model", "arch", variant.model.arch, MODELS),
            ("model", "norm", variant.model.norm, NORMS),
        ):
            try:
                registry.get(value)
            except UserError as exc:
                raise UserError(f"{scenario.source}: [{section}] {field}{where}: {exc}") from None
    for spec in expand(scenario):
        size = len(spec.run_id.encode("utf-8"))
        if size > NAME_MAX_BYTES:
            raise UserError(
                f"{scenario.source}: variant name '{spec.variant[:40]}...' is too long: its runs' folder "
                f"'{spec.run_id[:20]}...' would be a {size}-byte file name; file systems take {NAME_MAX_BYTES}"
            )


def check_runs(specs: Iterable[RunSpec]) -> None:
    """Vet every distinct task and model of a matrix before any results folder exists: the data (missing,
    empty or unreadable folders), and each model's shapes for one batch (bnbench.models.probe). Raises UserError."""
    from bnbench.data import check_task, task_io
    from bnbench.models import check_model

    seen: set[str] = set()
    for spec in specs:
        if spec.task.name == COMMAND:  # no data, no model: the command's program must exist
            from bnbench.execute.command import check_command

            check_command(spec.task, f"[[variant]] '{spec.variant}'")
            continue
        key = json.dumps([spec.task.model_dump(), spec.model.model_dump()], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        check_task(spec.task)
        check_model(spec.model, task_io(spec.task))


def check_before_running(scenario: Scenario, specs: list[RunSpec], devices: list[str]) -> None:
    """Everything `validate` and `run` refuse before a results folder exists: unknown names, data, models and
    their inputs, then each variant's memory floor against the smallest of `devices`. Raises UserError."""
    from bnbench.commands.export import check_export
    from bnbench.data import task_io
    from bnbench.models.memory import check_memory

    check_scenario(scenario)
    check_export(scenario)
    check_runs(specs)
    check_memory(specs, devices, task_io, scenario.source)
