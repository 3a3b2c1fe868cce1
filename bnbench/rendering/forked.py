"""A call run in a forked child process, its result (or its exception) sent back through a pipe.

The report draws its figures this way on a machine with more than one core: a child starts with everything the
parent holds (the summary, the curves, matplotlib already imported), so nothing is pickled on the way in and the
drawing starts at once. A plain `multiprocessing.Process` rather than a `ProcessPoolExecutor`: an executor keeps
threads in the parent, and a fork taken while another thread runs may deadlock in the child.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ChildDied(RuntimeError):
    """The child ended without sending a result: killed, or out of memory."""


def _child(send: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        outcome: tuple[bool, Any] = (True, fn(*args))
    except BaseException as exc:  # noqa: BLE001 - every failure, a Ctrl-C included, goes back to the parent
        outcome = (False, exc)
    try:
        send.send(outcome)
    except Exception as exc:  # noqa: BLE001 - a result or exception that does not pickle: say what it was
        send.send((False, RuntimeError(f"{type(outcome[1]).__name__} from a forked child: {outcome[1]} ({exc})")))
    finally:
        send.close()


class Forked(Generic[T]):
    """`fn(*args)` running in a forked child from the moment this is made; `result()` waits for it."""

    def __init__(self, fn: Callable[..., T], *args: Any) -> None:
        # multiprocessing flushes sys.stdout and sys.stderr before it forks: text still buffered here is
        # written once, not a second time by the child.
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_child, args=(send, fn, args), daemon=True)
        # The objects this process holds are frozen across the fork: the child's garbage collector then never
        # walks them, so it does not write to (and copy) every page of the parent's objects it inherited.
        gc.freeze()
        try:
            self._process.start()
        finally:
            gc.unfreeze()
        send.close()  # the child holds the sending end now: its exit closes the pipe

    def result(self) -> T:
        """What the call returned; raises what it raised, or ChildDied when the child ended without a word."""
        try:
            ok, value = self._receive.recv()
        except EOFError:
            self._process.join()
            raise ChildDied(f"a forked child of the report ended with exit code {self._process.exitcode} "
                            "before it had finished") from None
        finally:
            self._receive.close()
        self._process.join()
        if ok:
            return value
        raise value

    def received(self) -> T:
        """What the call returned, read by a sibling: a child forked from the same parent after this one, which
        holds a copy of the receiving end. The parent then reads nothing, and ends this child with `close`.
        Raises what the call raised, or ChildDied when the child ended without a word."""
        try:
            ok, value = self._receive.recv()
        except EOFError:
            raise ChildDied("a forked child of the report ended before it had finished") from None
        if ok:
            return value
        raise value

    def close(self) -> None:
        """Stop the child if it still runs (the parent is leaving early: an error, a Ctrl-C)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._receive.close()


class Turns:
    """The numbers 0 to n-1, each handed to whichever process asks first: this one or a child forked after this
    was made. The figures to draw are shared out this way, so that a process that finishes early takes the next
    figure instead of idling while another draws two.

    A pipe holds one byte per number and each `next` reads one byte: a read of one byte from a pipe is atomic, so
    no lock is shared, and a child that is killed takes no lock with it. The writing end is closed at once, so the
    pipe reads empty once every number is taken.
    """

    MAX = 256  # one byte a number

    def __init__(self, n: int) -> None:
        if not 0 <= n <= self.MAX:
            raise ValueError(f"Turns holds 0 to {self.MAX} numbers, not {n}")
        self._read, write = os.pipe()
        try:
            os.write(write, bytes(range(n)))  # at most 256 bytes: within the pipe's buffer, written whole
        finally:
            os.close(write)

    def next(self) -> int | None:
        """The next number not yet taken by any process, or None when all are."""
        got = os.read(self._read, 1)
        return got[0] if got else None

    def close(self) -> None:
        """Close this process's reading end (each process that holds one closes its own)."""
        os.close(self._read)
