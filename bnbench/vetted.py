"""The scenario checks `bnbench validate` runs, remembered: a variant's task and model that passed them once pass
again as long as bnbench's source and torch are the same, so a second `validate` need not import torch (seconds)
to repeat a check (microseconds) whose answer cannot have changed.

Only what is a pure function of the code is remembered: bundled data and registered architectures. A variant
with a data folder (files may change) or a model given as 'module.path:factory' (user code may change) is
checked every time, and so is everything in a scenario that holds one. A failed check is never remembered.
The record lives in `$BNBENCH_CACHE_DIR` (default `$XDG_CACHE_HOME/bnbench`, else `~/.cache/bnbench`);
a record that cannot be read or written is ignored: it only saves time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from bnbench.scenario import Scenario, Variant, expand

RECORD = "checked.json"
_PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    if os.environ.get("BNBENCH_CACHE_DIR"):
        return Path(os.environ["BNBENCH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bnbench"


def code_fingerprint() -> str:
    """A hash of every bnbench source file and of the Python and torch versions the check would run on."""
    digest = hashlib.sha256()
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    digest.update(f"{sys.version}\0{torch_version}\0".encode())
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def rememberable(variant: Variant) -> bool:
    """Whether the checks' verdict on this variant depends on the code alone."""
    return (variant.task.dataset == "bundled" and variant.task.validation is None
            and ":" not in variant.model.arch)


def variant_key(variant: Variant, fingerprint: str) -> str:
    what = [fingerprint, variant.task.model_dump(), variant.model.model_dump()]
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def _read(path: Path) -> set[str]:
    try:
        keys = json.loads(path.read_text())
    except (OSError, ValueError):
        return set()
    return {k for k in keys if isinstance(k, str)} if isinstance(keys, list) else set()


def _write(path: Path, keys: set[str]) -> None:
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(sorted(keys)))
        partial.replace(path)


def vet(scenario: Scenario) -> bool:
    """Run `check_scenario`, `check_runs` and the memory floor on `scenario` unless every variant passed them
    before with this code; UserError from the first check that fails. Returns whether the checks ran (False: all
    remembered)."""
    # the devices decide the memory floor's capacity, so they are part of what was checked
    fingerprint = code_fingerprint() + json.dumps(scenario.scenario.device, default=str)
    path = cache_dir() / RECORD
    known = _read(path)
    keys = [variant_key(v, fingerprint) if rememberable(v) else None for v in scenario.variants]
    if all(k is not None and k in known for k in keys):
        return False
    from bnbench.checks import check_runs, check_scenario
    from bnbench.errors import UserError
    from bnbench.execute.local import resolve_devices
    from bnbench.models.memory import check_memory
    from bnbench.scenario import trust_scenario_folder

    trust_scenario_folder(scenario)  # a 'module:factory' model imports from the scenario's folder
    check_scenario(scenario)
    check_runs(expand(scenario))
    try:
        devices = resolve_devices(scenario.scenario.device)
    except UserError:  # the GPUs it names are not on this machine: check against this host's memory
        devices = ["cpu"]
    check_memory(expand(scenario), devices, scenario.source)
    _write(path, known | {k for k in keys if k is not None})
    return True
