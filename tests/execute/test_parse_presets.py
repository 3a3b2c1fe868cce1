"""`[task.parse] preset`: framework logs read as the libraries printed them (tests/execute/fixtures/, captured
verbatim, with the versions: see SOURCES.md there), and the step axis of fractional or missing steps."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bnbench.cli import app
from bnbench.execute.command_events import Evaluated, Logged, StdoutParser
from bnbench.scenario import ParseConfig

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def read(name: str, preset: str) -> tuple[list[Logged], list[Evaluated]]:
    """Every event of a fixture fed line by line (split at '\\n' only, as a pipe delivers them), then flushed."""
    parser = StdoutParser(ParseConfig(preset=preset))
    events = []
    for line in (FIXTURES / name).read_bytes().decode("utf-8").split("\n"):
        events += parser.feed(line)
    events += parser.flush()
    return [e for e in events if isinstance(e, Logged)], [e for e in events if isinstance(e, Evaluated)]


@pytest.mark.parametrize("name", ["hf_trainer_4.46.3.txt", "hf_trainer_5.25.0.txt"])
def test_hf_trainer_lines_numbers_or_quoted_strings(name):
    # 2 epochs of 12 steps, logging every 3 steps (epoch 0.25, 0.5, ...: 8 training lines), evaluating every 6
    # (after every second training line). 4.46.3 prints numbers, 5.25.0 the same values as quoted strings
    # ('loss': '0.7809'); the eval dicts put eval_runtime and two rates between eval_accuracy and epoch.
    logged, evaluated = read(name, "hf-trainer")
    assert [e.step for e in logged] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e.metrics["loss"] for e in logged] == [0.7809, 0.6942, 0.7813, 0.6036, 0.6001, 0.4118, 0.4961, 0.423]
    # Each evaluation sits at the training lines before it (2, 4, 6, 8) and keeps its fractional epoch.
    assert [(e.step, e.metrics["epoch"], e.metrics["eval_accuracy"]) for e in evaluated] == [
        (2, 0.5, 0.8125), (4, 1.0, 0.875), (6, 1.5, 0.875), (8, 2.0, 1.0)]
    assert round(evaluated[0].metrics["eval_loss"], 4) == 0.5555


def test_lightning_tqdm_frames():
    # 3 epochs of 12 batches: step = epoch x 12 + batch, the loss train_loss_step's last value at that batch
    # (each batch is drawn twice, first with the previous batch's loss); after each validation bar, the next
    # epoch frame's val_loss and val_acc are the evaluation at the epoch's last step.
    logged, evaluated = read("lightning_2.6.6_tqdm.txt", "lightning")
    assert [e.step for e in logged] == list(range(1, 37))
    assert [e.metrics["loss"] for e in logged[:3]] == [0.929, 0.784, 0.888]
    assert logged[-1].metrics["loss"] == 0.318  # the last frame, kept by the flush at the end of the output
    assert [(e.step, e.metrics) for e in evaluated] == [
        (12, {"val_loss": 0.519, "val_acc": 0.688}), (24, {"val_loss": 0.423, "val_acc": 1.0}),
        (36, {"val_loss": 0.371, "val_acc": 1.0})]


def test_keras_progress_frames_and_one_line_epochs():
    # verbose 'auto' piped: '\r' frames with colour codes; step = (epoch - 1) x 12 + batch. Keras skips a redraw
    # within 0.05 s of the last, so only the batches it drew are there: epoch 1 drew 1 2 3 5 6 8 9 10 12, epoch 2
    # 1 3 4 5 6 7 9 10 11 12 (steps 13 ...), epoch 3 1 2 3 4 5 6 7 10 11 12 (steps 25 ...).
    logged, evaluated = read("keras_3.15.1_auto.txt", "keras")
    assert [e.step for e in logged] == [1, 2, 3, 5, 6, 8, 9, 10, 12, 13, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25, 26,
                                        27, 28, 29, 30, 31, 34, 35, 36]
    assert [e.metrics["loss"] for e in logged[:3]] == [0.389, 0.4035, 0.4494]
    assert [(e.step, e.metrics["val_accuracy"], e.metrics["val_loss"]) for e in evaluated] == [
        (12, 0.8125, 0.4304), (24, 0.875, 0.3067), (36, 0.9375, 0.24)]
    # verbose 2: one line per epoch, the same evaluations.
    logged, evaluated2 = read("keras_3.15.1_verbose2.txt", "keras")
    assert [(e.step, e.metrics["loss"]) for e in logged] == [(12, 0.465), (24, 0.3775), (36, 0.325)]
    assert [e.metrics for e in evaluated2] == [e.metrics for e in evaluated]


def test_fractional_or_missing_steps_share_one_axis():
    # A 'step' group holding the Trainer's epoch: 0.25 used to become step 0. Now the axis is the count of log
    # lines, and the fraction is kept as 'epoch'.
    parser = StdoutParser(ParseConfig(log=r"loss=(?P<loss>[0-9.]+) epoch=(?P<step>[0-9.]+)",
                                      eval=r"acc=(?P<acc>[0-9.]+) epoch=(?P<step>[0-9.]+)"))
    assert parser.feed("loss=0.7 epoch=0.25") == [Logged(1, {"loss": 0.7, "epoch": 0.25})]
    assert parser.feed("loss=0.6 epoch=0.5") == [Logged(2, {"loss": 0.6, "epoch": 0.5})]
    assert parser.feed("acc=0.9 epoch=0.5") == [Evaluated(2, {"acc": 0.9, "epoch": 0.5})]
    # No step group: 12 log lines, then the 3rd evaluation lands at step 12, not 3.
    parser = StdoutParser(ParseConfig(log=r"loss=(?P<loss>[0-9.]+)", eval=r"acc=(?P<acc>[0-9.]+)"))
    for i in range(12):
        parser.feed(f"loss={1 / (i + 1):.3f}")
        if i in (3, 7):
            parser.feed("acc=0.5")
    assert parser.feed("acc=0.75") == [Evaluated(12, {"acc": 0.75})]
    # A whole step stays the step.
    assert StdoutParser(ParseConfig(log=r"it (?P<step>\d+) loss=(?P<loss>[0-9.]+)")).feed("it 40 loss=0.5") == [
        Logged(40, {"loss": 0.5})]


def manual_recipe(preset: str) -> str:
    """The ```toml block of the manual's own-script tutorial that sets this preset."""
    page = REPO / "docs" / "tutorials" / "own-script.md"
    blocks = re.findall(r"```toml\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if f'preset = "{preset}"' in b]
    return block


def test_the_manuals_hf_trainer_recipe_runs_a_trainer_log_end_to_end(tmp_path):
    # The manual's recipe as the whole [task], and a command that prints the 5.25.0 fixture as the Trainer did.
    (tmp_path / "job.py").write_text(f"import sys\nsys.stdout.write(open({str(FIXTURES / 'hf_trainer_5.25.0.txt')!r},"
                                     " encoding='utf-8').read())\n", encoding="utf-8")
    text = (f'[scenario]\nname = "hf"\nseeds = [0]\ndevice = "cpu"\n\n{manual_recipe("hf-trainer")}\n'
            f'[energy]\nidle_s = 0\n\n[[variant]]\nname = "control"\ncommand = [{json.dumps(sys.executable)}, '
            '"job.py"]\n')
    (tmp_path / "hf.toml").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(tmp_path / "hf.toml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out / "runs.csv").iloc[0]
    # Evaluations 0.8125, 0.875, 0.875, 1: final and best 1.0, at the 8th training line.
    assert (row["final_eval_accuracy"], row["best_eval_accuracy"], row["steps"]) == (1.0, 1.0, 8)
    # Train and eval points share one axis: eval i after training line 2i.
    curves = pd.read_parquet(out / "curves.parquet")
    assert curves[curves["kind"] == "eval"]["step"].tolist() == [2, 4, 6, 8]
    assert curves[curves["kind"] == "train"]["step"].tolist() == list(range(1, 9))
    # The report's hyperparameter table lists the command's [task], not the bundled tasks' defaults.
    task_row = next(line for line in (out / "report.md").read_text().splitlines() if line.startswith("| task |"))
    assert "metric = eval_accuracy" in task_row and "preset" in task_row
    assert not any(f"{key} =" in task_row for key in ("scale", "patch_size", "dataset", "input"))


@pytest.mark.parametrize(("parse", "message"), [
    ('preset = "hf-trainer"\nlog = "loss=(?P<loss>.*)"', "preset = 'hf-trainer' reads the lines itself"),
    ('preset = "fastai"', "hf-trainer"),
])
def test_bad_presets_are_one_line_errors(write_scenario, parse, message):
    path = write_scenario('[scenario]\nname = "x"\n[task]\nname = "command"\nmetric = "acc"\nhigher_is_better = true\n'
                          f'command = ["true"]\n[task.parse]\n{parse}\n')
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
