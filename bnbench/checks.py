"""Checks a scenario needs the registries for: names of tasks, models and norms, before anything is written."""

from __future__ import annotations

from bnbench.errors import UserError
from bnbench.scenario import COMMAND, Scenario


def check_scenario(scenario: Scenario) -> None:
    """UserError naming the file, variant and field of the first unknown task, model or norm name."""
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
