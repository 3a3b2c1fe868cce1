"""Framework logs read as the frameworks print them: `[task.parse] preset = "hf-trainer" | "lightning" | "keras"`.

Each preset turns stdout lines into the same events as the reporter (command_events.Logged, Evaluated), whatever
the order of the keys and whether values are quoted. Checked against lines the libraries printed
(tests/execute/fixtures/, with the versions):

- **hf-trainer**: the Hugging Face Trainer's log dicts, `{'loss': 0.6942, 'grad_norm': ..., 'epoch': 0.5}` and
  `{'eval_loss': ..., 'eval_accuracy': 0.8125, 'eval_runtime': ..., 'epoch': 0.5}` (transformers 4.x prints
  numbers, 5.x quoted strings: `'loss': '0.6942'`). A dict with a `loss` key is a training point, one with an
  `eval_` key an evaluation (every number in it a metric), the end-of-training summary (`train_runtime`) is
  skipped. The lines carry the epoch, not the step: the step axis counts training log lines (one per
  `logging_steps`), an evaluation sits at the count before it, so both share one axis (its fractional epoch is
  one of its figures, which curves.parquet does not keep).
- **lightning**: PyTorch Lightning's TQDMProgressBar frames, `Epoch 1:  50%|...| 6/12 [..., train_loss_step=0.439,
  val_loss=0.519, val_acc=0.688]`. Step = epoch x batches per epoch + the batch; the loss is the postfix's first
  key with 'loss' in it that is not a `val` one (train_loss_step, train_loss, loss). After each validation bar,
  the next epoch frame's `val*` keys are an evaluation.
- **keras**: `model.fit` output, `Epoch 2/3` then frames `5/12 ━━━ 0s 3ms/step - accuracy: 0.8 - loss: 0.37`
  (verbose 1, '\\r' frames and colour codes) or one line per epoch (verbose 2). Step = (epoch - 1) x batches + the
  batch; the loss is Keras's running mean over the epoch so far. A frame with `val_` keys is an evaluation with
  every figure in it.

A frame seen twice for the same step (the bars redraw) counts once, with its last figures.
"""

from __future__ import annotations

import ast
import re

from bnbench.execute.command_events import Evaluated, Event, Logged

PRESETS = ("hf-trainer", "lightning", "keras")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _number(value: object) -> float | None:
    """A figure as a float: a number, or a string holding one ('0.6942'); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def frames(line: str) -> list[str]:
    """The frames a terminal would draw one after another: split at '\\r', colour and cursor codes removed."""
    return [text for text in (ANSI.sub("", part).strip() for part in line.split("\r")) if text]


class HfTrainer:
    """The Trainer's printed log dicts (ProgressCallback's `write(str(logs))`, or PrinterCallback's print)."""

    DICT = re.compile(r"\{'[^{}]*\}")

    def __init__(self) -> None:
        self.logged = 0  # training log lines so far: the step axis

    def feed(self, line: str) -> list[Event]:
        events: list[Event] = []
        for text in self.DICT.findall(line):
            try:
                logs = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                continue
            if not isinstance(logs, dict):
                continue
            figures = {str(k): v for k, v in ((k, _number(v)) for k, v in logs.items()) if v is not None}
            if any(str(k).startswith("eval_") for k in logs):
                events.append(Evaluated(self.logged, figures))
            elif "loss" in figures:
                self.logged += 1
                events.append(Logged(self.logged, {"loss": figures["loss"]}))
        return events

    def flush(self) -> list[Event]:
        return []


class Lightning:
    """TQDMProgressBar's epoch frames (and its validation bars, which mark a fresh evaluation)."""

    EPOCH = re.compile(r"^Epoch (?P<epoch>\d+):\s+\d+%\|[^|]*\|\s*(?P<batch>\d+)/(?P<total>\d+)\s*\[(?P<rest>[^\]]*)\]")
    PAIR = re.compile(r"(?P<key>[A-Za-z_][\w./-]*)=(?P<value>[-+0-9.eE]+|nan|inf)")

    def __init__(self) -> None:
        self.pending: tuple[int, float] | None = None  # the last frame's (step, loss), emitted when the step moves
        self.validated = False  # a validation bar since the last evaluation

    def _loss(self, pairs: dict[str, float]) -> float | None:
        for key, value in pairs.items():
            if "loss" in key and not key.startswith("val"):
                return value
        return None

    def feed(self, line: str) -> list[Event]:
        events: list[Event] = []
        for frame in frames(line):
            if frame.startswith("Validation"):
                self.validated = True
                continue
            match = self.EPOCH.match(frame)
            if match is None:
                continue
            step = int(match["epoch"]) * int(match["total"]) + int(match["batch"])
            pairs = {m["key"]: float(m["value"]) for m in self.PAIR.finditer(match["rest"])}
            if self.pending is not None and self.pending[0] != step:
                events.append(Logged(self.pending[0], {"loss": self.pending[1]}))
                self.pending = None
            loss = self._loss(pairs)
            if loss is not None and int(match["batch"]) > 0:
                self.pending = (step, loss)
            validation = {k: v for k, v in pairs.items() if k.startswith("val")}
            if self.validated and validation:
                events.append(Evaluated(step, validation))
                self.validated = False
        return events

    def flush(self) -> list[Event]:
        pending, self.pending = self.pending, None
        return [] if pending is None else [Logged(pending[0], {"loss": pending[1]})]


class Keras:
    """`model.fit`'s progress: 'Epoch k/K' lines, then per-batch frames (verbose 1) or one line (verbose 2)."""

    EPOCH = re.compile(r"^Epoch (?P<epoch>\d+)/\d+$")
    FRAME = re.compile(r"^(?P<batch>\d+)/(?P<total>\d+)\b(?P<rest>.*)$")
    PAIR = re.compile(r" - (?P<key>[A-Za-z_][\w./-]*): (?P<value>[-+0-9.eE]+|nan|inf)")

    def __init__(self) -> None:
        self.epoch = 1
        self.seen: set[int] = set()  # steps already logged
        self.evaluated: set[int] = set()

    def feed(self, line: str) -> list[Event]:
        events: list[Event] = []
        for frame in frames(line):
            epoch = self.EPOCH.match(frame)
            if epoch is not None:
                self.epoch = int(epoch["epoch"])
                continue
            match = self.FRAME.match(frame)
            if match is None:
                continue
            step = (self.epoch - 1) * int(match["total"]) + int(match["batch"])
            pairs = {m["key"]: float(m["value"]) for m in self.PAIR.finditer(match["rest"])}
            if "loss" in pairs and step not in self.seen:
                self.seen.add(step)
                events.append(Logged(step, {"loss": pairs["loss"]}))
            if any(k.startswith("val_") for k in pairs) and step not in self.evaluated:
                self.evaluated.add(step)
                events.append(Evaluated(step, pairs))
        return events

    def flush(self) -> list[Event]:
        return []


def preset(name: str) -> HfTrainer | Lightning | Keras:
    """A fresh reader of the named preset (one per run)."""
    readers: dict[str, type[HfTrainer] | type[Lightning] | type[Keras]] = {
        "hf-trainer": HfTrainer, "lightning": Lightning, "keras": Keras}
    return readers[name]()
