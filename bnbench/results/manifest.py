"""Stamps on a results folder: the machine, the software and the code that produced it."""

from __future__ import annotations

import datetime as dt
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from bnbench.version import __version__


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_version() -> dict[str, Any]:
    """bnbench's git commit and dirty flag when it runs from a checkout; None for an installed wheel."""
    here = Path(__file__).resolve().parents[2]  # bnbench/results/manifest.py -> the checkout

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def collect(command: list[str], devices: list[str], gpus: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest written when a run starts; `ended_at` is filled in when it ends."""
    torch_version, cuda_version = library_versions()
    return {
        "bnbench": __version__,
        **{f"code_{k}": v for k, v in code_version().items()},
        "command": command,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": __import__("os").cpu_count(),
        "devices": devices,
        "gpus": gpus,
        "python": sys.version.split()[0],
        "torch": torch_version,
        "cuda": cuda_version,
        "numpy": _installed("numpy"),
        "started_at": now_iso(),
        "ended_at": None,
    }


def library_versions() -> tuple[str | None, str | None]:
    """torch's version and the CUDA it was built for, without importing torch where nothing else did (a command's
    run never needs it: 2 to 5 s of `bnbench measure`'s start-up): torch/version.py is read as text."""
    import re

    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        return torch.__version__, torch.version.cuda
    from importlib.util import find_spec

    spec = find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None, None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text(encoding="utf-8")
    except OSError:
        return _installed("torch"), None
    found = {key: value for key, value in re.findall(r"^(__version__|cuda)\b[^=]*=\s*'([^']*)'", text, re.MULTILINE)}
    return found.get("__version__") or _installed("torch"), found.get("cuda")


def _installed(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None
