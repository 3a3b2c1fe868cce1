"""What the headline metric is: its column, its label and unit, and which direction is better.

The task registry knows this, but importing it loads torch (seconds), so a report first reads the direction off
the metric's name and asks the registry only for a name it does not recognise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Name fragments whose direction is unambiguous. Checked in order, so 'error' wins over nothing else.
_HIGHER = ("psnr", "ssim", "accuracy", "acc", "f1", "auc", "precision", "recall", "bleu", "iou", "score")
_LOWER = ("loss", "error", "err", "mse", "mae", "rmse", "perplexity", "ppl", "wer", "cer")
_UNITS = {"db": "dB", "pct": "%", "percent": "%"}
_LABELS = {"psnr": "PSNR", "ssim": "SSIM", "acc": "accuracy", "mse": "MSE", "rmse": "RMSE", "mae": "MAE"}


@dataclass(frozen=True)
class MetricInfo:
    """The headline metric: `name` is its runs.csv column stem (`final_<name>`), e.g. 'psnr_db'."""

    name: str
    label: str  # e.g. 'PSNR'
    unit: str  # e.g. 'dB'; '' for a unitless metric such as accuracy
    higher_is_better: bool

    @property
    def axis_label(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def decimals(self) -> int:
        """Decimals worth printing: dB to 0.01, fractions such as accuracy to 0.001."""
        return 2 if self.unit else 3

    def better(self, a: float, b: float) -> bool:
        """Whether `a` is strictly better than `b`."""
        return a > b if self.higher_is_better else a < b

    def value(self, x: float | None, signed: bool = False) -> str:
        """`x` with the metric's decimals and unit ('30.35 dB'); 'n/a' for None/NaN. `signed` marks a difference,
        and a difference of percentages is in percentage points ('+3.85 percentage points', not a relative %)."""
        if x is None or not math.isfinite(x):
            return "n/a"
        text = f"{x:+.{self.decimals}f}" if signed else f"{x:.{self.decimals}f}"
        unit = "percentage points" if signed and self.unit == "%" else self.unit
        return f"{text} {unit}" if unit else text


def bounds(metric: MetricInfo, values: Sequence[float]) -> tuple[float, float] | None:
    """What the metric can take, where its name says: a percentage ('%' unit) lies in [0, 100]; an accuracy
    without a unit in [0, 1] when every value is, else [0, 100]. None for anything else (PSNR, a loss)."""
    finite = [v for v in values if math.isfinite(v)]
    if metric.unit == "%":
        return (0.0, 100.0)
    if metric.unit == "" and any(part in ("acc", "accuracy") for part in metric.name.lower().split("_")):
        return (0.0, 1.0) if finite and max(finite) <= 1 and min(finite) >= 0 else (0.0, 100.0)
    return None


def split_name(name: str) -> tuple[str, str]:
    """('PSNR', 'dB') from 'psnr_db'; ('accuracy', '') from 'accuracy'."""
    parts = name.split("_")
    unit = _UNITS.get(parts[-1].lower(), "") if len(parts) > 1 else ""
    stem = parts[:-1] if unit else parts
    label = " ".join(_LABELS.get(p.lower(), p) for p in stem)
    return label, unit


def direction_from_name(name: str) -> bool | None:
    """True when higher is better, False when lower is, None when the name does not say."""
    words = name.lower().split("_")
    if any(w in _LOWER for w in words):
        return False
    if any(w in _HIGHER for w in words):
        return True
    return None


def direction_from_registry(task_name: str | None, metric: str) -> bool | None:
    """Ask the task registry. None when the task is unknown or names another metric."""
    if not task_name:
        return None
    from bnbench.data import TASKS

    try:
        kind = TASKS.get(task_name)
    except Exception:  # noqa: BLE001 - an unknown task (a folder from another version) falls through
        return None
    if kind.metric != metric:
        return None
    return bool(kind.higher_is_better)


def resolve(metric: str, task_name: str | None, higher_is_better: bool | None = None) -> MetricInfo:
    """The metric's info; `higher_is_better` when the caller knows it (e.g. from `task_metadata`).

    Falls back to 'higher is better' only when neither the name nor the registry says.
    """
    label, unit = split_name(metric)
    if higher_is_better is None:
        higher_is_better = direction_from_name(metric)
    if higher_is_better is None:
        higher_is_better = direction_from_registry(task_name, metric)
    return MetricInfo(metric, label, unit, True if higher_is_better is None else higher_is_better)
