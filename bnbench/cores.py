"""The CPU cores this process may run on."""

from __future__ import annotations

import os


def usable_cores() -> tuple[int, ...]:
    """The CPU cores this process may run on (its affinity mask: a container's limit or a batch job's share, not
    the host's count)."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return tuple(range(os.cpu_count() or 1))
