"""A call run in a forked child process, its result (or its exception) sent back through a pipe.

The report draws its figures this way on a machine with more than one core: a child starts with everything the
parent holds (the summary, the curves, matplotlib already imported), so nothing is pickled on the way in and the
drawing starts at once. A plain `multiprocessing.Process` rather than a `ProcessPoolExecutor`: an executor keeps
threads in the parent, and a fork taken while another thread runs may deadlock in the child.
"""

from __future__ import annotations

import multiprocessing
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
        self._process.start()
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
