"""The folders a user's model may be imported from besides the import path: a scenario file's own folder.

They are searched last, after every entry of `sys.path` and every other finder (an editable install's among
them), by a finder of their own instead of an entry in `sys.path`: so a file there named like a package
(`bnbench.py`, `torch.py`) shadows nothing, in bnbench or in the worker processes it spawns. The folders travel
to those processes in the environment variable FOLDERS_ENV.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

FOLDERS_ENV = "BNBENCH_MODEL_FOLDERS"


def folders() -> list[str]:
    """The trusted folders, in the order they were added."""
    return [f for f in os.environ.get(FOLDERS_ENV, "").split(os.pathsep) if f]


class _TrustedFolders(importlib.abc.MetaPathFinder):
    """Finds top-level modules and packages in the trusted folders (a package's own modules are then found
    through its `__path__`, as usual)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if path is not None or "." in fullname:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, folders())


def install() -> None:
    """Search the trusted folders, last, in this process (once); a spawned worker calls it before it imports a
    user's model."""
    if not any(isinstance(finder, _TrustedFolders) for finder in sys.meta_path):
        sys.meta_path.append(_TrustedFolders())


def trust(folder: str) -> None:
    """Add `folder` to the trusted folders of this process and of the processes it starts."""
    known = folders()
    if folder not in known:
        os.environ[FOLDERS_ENV] = os.pathsep.join([*known, folder])
    importlib.invalidate_caches()
    install()
