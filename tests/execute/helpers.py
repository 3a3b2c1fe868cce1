"""What the executor tests read back from a results folder."""

from __future__ import annotations

import csv
from pathlib import Path


def read_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "runs.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
