"""One BLAS thread for the commands that read a results folder and draw it.

numpy and scipy each load an OpenBLAS that starts a thread per core, and each of those threads spins a while
before it sleeps. On 2 cores, importing numpy and scipy took 0.40 CPU-s, against 0.21 CPU-s with one BLAS
thread (`perf stat -e task-clock python -c "import numpy, scipy.special"`), and the figures' forked children
spun up threads of their own again: with one thread, `bnbench report` of the paper's night took 2.87 CPU-s
instead of 3.29 (benchmarks/report_scale.py's folder, `perf stat`, medians of 6). A report does no linear
algebra that a second thread would speed up.

OpenBLAS reads OPENBLAS_NUM_THREADS once, when it is loaded, so the setting must be in place before numpy is
first imported: the commands enter `one_blas_thread` before they import anything that needs numpy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

VARIABLE = "OPENBLAS_NUM_THREADS"


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """OPENBLAS_NUM_THREADS=1 while the block runs, unless it is set already (the user's choice stands). It is
    taken away again afterwards, so a process started later (a training run, a measured command) inherits the
    environment it would have had; a numpy loaded inside the block keeps its one thread."""
    if VARIABLE in os.environ:
        yield
        return
    os.environ[VARIABLE] = "1"
    try:
        yield
    finally:
        os.environ.pop(VARIABLE, None)
