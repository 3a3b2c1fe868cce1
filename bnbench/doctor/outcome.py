"""What a check found (PASS / WARN / FAIL / SKIP, one line, its figures) and the log that prints and saves them.

Each check runs in its own try/except: an unexpected exception becomes a FAIL line with its message, so one
broken check never hides the others. The JSON file is rewritten after every check, so a doctor killed halfway
keeps everything it found until then.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnbench.results.atomic import atomic_write_text

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"


@dataclass(frozen=True)
class Outcome:
    """One line of the doctor's report: `status`, the check's `name`, what it found, and its figures."""

    status: str
    name: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def line(self) -> str:
        return f"{self.status} {self.name}: {self.message}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class DoctorLog:
    """Runs checks, prints each line through `echo` and rewrites `json_path` after each."""

    def __init__(self, json_path: Path, echo: Callable[[str], None], info: dict[str, Any] | None = None) -> None:
        self.json_path, self.echo = json_path, echo
        self.info = dict(info or {})
        self.outcomes: list[Outcome] = []
        self.started = time.perf_counter()
        self._save()

    def run(self, name: str, check: Callable[..., Outcome | list[Outcome]]) -> list[Outcome]:
        """Run one check; its outcomes are printed and saved. An exception is a FAIL with its message."""
        try:
            found = check()
            outcomes = found if isinstance(found, list) else [found]
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            first = (str(exc).strip().splitlines() or [""])[0]
            outcomes = [Outcome(FAIL, name, f"{type(exc).__name__}: {first}"[:400])]
        for outcome in outcomes:
            self.add(outcome)
        return outcomes

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.echo(outcome.line)
        self._save()

    def skip(self, names: list[str], why: str, line: str | None = None) -> None:
        """Record each of `names` as skipped for `why`: a line each, or the one `line` for them all."""
        for name in names:
            self.outcomes.append(Outcome(SKIP, name, why))
            if line is None:
                self.echo(self.outcomes[-1].line)
        if line is not None:
            self.echo(f"{SKIP} {line}")
        self._save()

    def _save(self) -> None:
        document = {
            **self.info,
            "elapsed_s": time.perf_counter() - self.started,
            "summary": {s: sum(o.status == s for o in self.outcomes) for s in (PASS, WARN, FAIL, SKIP)},
            "checks": [{"status": o.status, "name": o.name, "message": o.message, "data": o.data}
                       for o in self.outcomes],
        }
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.json_path, json.dumps(_jsonable(document), indent=2) + "\n")

    @property
    def exit_code(self) -> int:
        """0 when no check failed, else 1."""
        return 1 if any(o.status == FAIL for o in self.outcomes) else 0
