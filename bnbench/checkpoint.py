"""Checkpoint files of one run: written atomically, verified before use, loaded without executing code.

A run's checkpoints live in `runs/RUN_ID/checkpoints/step-NNNNNNNN.pt`. Each is an ordinary `torch.save` zip
archive of plain tensors and Python values, so `torch.load(path, weights_only=True)` reads it anywhere. It is
written to a temporary file, fsynced and renamed into place; the older ones are removed only after the new
one is complete, and the newest `keep` stay, so a file damaged after the fact (a truncated copy, a bad disk)
falls back to the one before it. Validity is checked twice: the zip's per-entry CRC32s (which catch a
truncation or a flipped bit that `torch.load` alone would miss) and a safe `torch.load`.

This module also captures and restores what a checkpoint must hold beyond the weights: every RNG state
(Python, NumPy, torch CPU and CUDA, the data sampler's generator) in a form `weights_only` accepts.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from bnbench.results.atomic import atomic_write

if TYPE_CHECKING:  # torch and numpy load where a checkpoint is written or read: a command's run needs neither
    import torch

FORMAT_VERSION = 1
_NAME = re.compile(r"^step-(\d{8})\.pt$")


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint on disk: its path and the training step it was taken after."""

    path: Path
    step: int


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step-{step:08d}.pt"


def list_checkpoints(folder: Path) -> list[CheckpointFile]:
    """Checkpoint files in `folder`, newest (highest step) first, unverified; [] when there is no folder."""
    if not folder.is_dir():
        return []
    found = [CheckpointFile(p, int(m.group(1))) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found, key=lambda c: c.step, reverse=True)


def save(folder: Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write `state` as the checkpoint of `step`, then drop all but the newest `keep`. OSError if unwritable.

    The new file is complete (fsynced, renamed) before any older one is removed, so an error or a kill at any
    moment leaves the previous checkpoint intact.
    """
    path = checkpoint_path(folder, step)
    atomic_write(path, lambda tmp: _save_to(tmp, {"format": FORMAT_VERSION, "step": step, **state}))
    for old in list_checkpoints(folder)[max(keep, 1):]:
        old.path.unlink(missing_ok=True)
    return path


class _Sink:
    """A file torch.save writes through, keeping the OSError of a failed write: torch reports a full disk as a
    RuntimeError ('unexpected pos ...') without the cause, which a storage error must name."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        self.handle.flush()


# torch's archive writer failing: how a full disk surfaces when torch.save writes the file itself.
_WRITER_FAILED = re.compile(r"inline_container|PytorchStreamWriter|unexpected pos|file write failed")


def _save_to(path: Path, state: dict[str, Any]) -> None:
    """torch.save `state` to `path`; OSError when the file cannot be written (the disk's own error when it is
    known), so a full disk stops the session like any storage error instead of failing runs one by one."""
    import torch

    with open(path, "wb") as handle:
        sink = _Sink(handle)
        try:
            torch.save(state, sink)  # type: ignore[arg-type]
        except RuntimeError as exc:
            if sink.error is not None:
                raise sink.error from None
            if _WRITER_FAILED.search(str(exc)):
                first = str(exc).strip().splitlines()[0]
                full = shutil.disk_usage(path.parent).free == 0
                raise OSError(errno.ENOSPC if full else errno.EIO,
                              f"{os.strerror(errno.ENOSPC if full else errno.EIO)} (torch.save: {first})") from None
            raise


def problem(path: Path) -> str | None:
    """Why the file at `path` is not a usable checkpoint (truncated, corrupt, unreadable), or None if it is."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        return f"not a complete checkpoint ({exc})"
    return f"corrupt entry '{bad}' (CRC mismatch)" if bad else None


# What `capture_training` saves: a file without all of them is not a checkpoint a run can continue from.
TRAINING_KEYS = frozenset({"step", "model", "optimizer", "schedule", "rng", "pending_losses", "evals", "status"})


def load(path: Path, required: frozenset[str] = frozenset({"step", "model"})) -> dict[str, Any]:
    """The state saved at `path`, tensors on the CPU. Only tensors and plain values are unpickled.

    ValueError when the file is not a bnbench checkpoint: a pickle `weights_only` refuses (it would run code),
    or a dict without the `required` keys."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"not a bnbench checkpoint: {str(exc).strip().splitlines()[0]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise ValueError(f"not a bnbench checkpoint of format {FORMAT_VERSION}")
    missing = sorted(required - set(state))
    if missing:
        raise ValueError(f"not a bnbench checkpoint: no {', '.join(missing)}")
    return state


def latest_valid(folder: Path) -> tuple[CheckpointFile | None, list[str]]:
    """The newest checkpoint that passes its CRC check, and one line per newer file skipped as damaged."""
    skipped: list[str] = []
    for candidate in list_checkpoints(folder):
        reason = problem(candidate.path)
        if reason is None:
            return candidate, skipped
        skipped.append(f"{candidate.path}: {reason}; using the one before it")
    return None, skipped


def load_latest(
    folder: Path, required: frozenset[str] = frozenset({"step", "model"})
) -> tuple[CheckpointFile | None, dict[str, Any] | None, list[str]]:
    """The newest checkpoint that verifies and loads with the `required` keys, its state, and one line per
    damaged or foreign file skipped."""
    skipped: list[str] = []
    for candidate in list_checkpoints(folder):
        reason = problem(candidate.path)
        if reason is None:
            try:
                return candidate, load(candidate.path, required), skipped
            except (RuntimeError, ValueError, OSError, EOFError, KeyError) as exc:  # torch.load's errors
                reason = f"unreadable ({str(exc).splitlines()[0]})"
        skipped.append(f"{candidate.path}: {reason}; using the one before it")
    return None, None, skipped


def capture_rng(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every RNG state as tensors and plain values: Python, NumPy, torch CPU and CUDA, and `generator`."""
    import numpy as np
    import torch

    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "generator": generator.get_state() if generator is not None else None,
    }
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Put back the RNG states `capture_rng` took; CUDA states only when as many GPUs are visible."""
    import numpy as np
    import torch

    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["name"], keys, npy["pos"], npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"])


def capture_training(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    step: int,
    elapsed_s: float,
    pending_losses: list[torch.Tensor],
    evals: list[dict[str, Any]],
    status: str,
    stop_reason: str,
) -> dict[str, Any]:
    """Everything the loop needs to continue exactly where it is after `step` steps.

    The model's state dict holds every parameter and buffer: BN running mean and variance,
    `num_batches_tracked`, and the zero-debias `biased_mean` and `debias_steps`. `pending_losses` are the
    losses of steps not yet logged, so the next curve row averages the same steps as in an uninterrupted run.
    `elapsed_s` is training time so far (seconds); `evals` are the evaluations so far as plain dicts.
    """
    import torch

    return {
        "step": step,
        "elapsed_s": elapsed_s,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "rng": capture_rng(generator),
        "pending_losses": torch.stack(pending_losses).cpu() if pending_losses else torch.zeros(0),
        "evals": evals,
        "status": status,
        "stop_reason": stop_reason,
    }


def restore_training(
    state: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
) -> list[torch.Tensor]:
    """Load a `capture_training` state into freshly built objects; returns the pending losses (on the model's
    device). Call it after everything is built, so the RNGs are not advanced again by building."""
    import torch

    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    restore_rng(state["rng"], generator)
    device = next(iter(model.parameters()), torch.zeros(0)).device
    return list(state["pending_losses"].to(device).unbind())
