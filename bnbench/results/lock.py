"""One writer per results folder: an advisory lock the kernel drops when its holder dies, and the checks a
folder passes before a writer touches it (no symbolic links; temporary files of killed writes removed).

The lock is `flock` on `DIR/.lock`, which holds the holder's process id for the message a second writer sees.
A process killed with -9 loses its lock with its last file descriptor, so a stale `.lock` file never blocks
a resume: only a live holder does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from bnbench.errors import UserError

LOCK_NAME = ".lock"
# Files a session writes atomically at the top of a results folder; their temporary twins are `.NAME.*.tmp`.
# (A report's temporaries are left alone: `bnbench report` may be running beside a resume.)
SESSION_FILES = ("runs.csv", "manifest.json", "scenario.toml", "curves.parquet", "power.parquet")
# What a new session writes before runs.csv, which marks a results folder: a folder holding no more was stopped
# during start-up, and holds nothing to resume.
START_FILES = (LOCK_NAME, "scenario.toml", "manifest.json")


@contextlib.contextmanager
def hold(root: Path) -> Iterator[None]:
    """Hold the results folder `root` (created if missing) for the duration of the block.

    UserError naming the holder's process id when another live process holds it, or when it cannot be created.
    A folder this call created that still holds nothing but the lock and a session's start-up files on leaving
    (a Ctrl-C before runs.csv) is removed, so no such folder is left to refuse a later --resume.
    """
    created = not root.exists()
    fd = -1
    try:
        try:
            root.mkdir(parents=True, exist_ok=True)
            # Inside the cleanup's try: a Ctrl-C landing as the open returns (the file exists, `fd` is not yet
            # bound) must still remove the folder this call made.
            fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise UserError(f"{root}: cannot write results ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            created = False  # the live holder's folder, not ours to remove
            raise UserError(
                f"{root}: in use by another bnbench process (pid {holder}); wait for it to end, or use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        if fd >= 0:
            os.close(fd)  # releases the lock; the file stays, harmless without a live holder
        if created and only_start_files(root):
            with contextlib.suppress(OSError):
                for path in root.iterdir():
                    path.unlink()
                root.rmdir()


def only_start_files(root: Path) -> bool:
    """True when the folder `root` holds nothing but what a session writes before its runs.csv (the lock,
    scenario.toml, manifest.json, their temporaries): a session stopped before its first run was written."""
    try:
        names = {p.name for p in root.iterdir()}
    except OSError:
        return False
    return all(name in START_FILES or _start_temporary(name) for name in names)


def _start_temporary(name: str) -> bool:
    return name.endswith(".tmp") and any(name.startswith(f".{start}.") for start in START_FILES)


def refuse_symlinks(root: Path) -> None:
    """UserError when anything inside the results folder `root` is a symbolic link: a resume deletes and
    replaces files there, and must never follow a link out of the folder."""
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                raise UserError(
                    f"{path}: a symbolic link inside a results folder; bnbench only writes real files there. "
                    "Replace it with a copy of what it points to, or remove it"
                )


def refuse_foreign_contents(root: Path) -> None:
    """UserError when the folder `root`, about to become a new results folder, holds files that are not a
    session's own (its lock, its first files, their temporaries): a new session would write among someone
    else's files, and a later resume would delete and replace files there."""
    own = {LOCK_NAME, "scenario.toml", "manifest.json"}
    found = sorted(p.name for p in root.iterdir() if p.name not in own and not (
        p.name.startswith(".") and p.name.endswith(".tmp"))) if root.is_dir() else []
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise UserError(f"{root}: not empty ({shown}) and not a bnbench results folder; give --out a new or empty "
                        "folder")


def remove_temporaries(root: Path) -> list[Path]:
    """Delete the temporary files that writes killed midway left (`.NAME.XXXX.tmp`, never renamed into
    place); return them. Call only while holding the folder: a live writer's temporaries look the same."""
    found = [p for name in SESSION_FILES for p in root.glob(f".{name}.*.tmp")]
    runs = root / "runs"
    if runs.is_dir():
        found += [*runs.glob("*/.*.tmp"), *runs.glob("*/checkpoints/.*.tmp")]
    for path in found:
        path.unlink(missing_ok=True)
    return found
