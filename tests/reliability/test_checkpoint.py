"""Checkpoint files: every BN buffer round-trips, damage is detected and the previous file used, RNGs resume."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bnbench import checkpoint
from bnbench.execute.resume import plan_runs
from bnbench.models.batchnorms import ZeroDebiasBatchNorm2d
from bnbench.scenario import expand, from_dict
from bnbench.train import NullHooks, train


def _bn_pair() -> nn.ModuleDict:
    return nn.ModuleDict({"debiased": ZeroDebiasBatchNorm2d(1, decay=0.9), "plain": nn.BatchNorm2d(1, momentum=0.1)})


def _state(model: nn.Module, step: int) -> dict:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    return checkpoint.capture_training(
        model=model, optimizer=optimizer, schedule=schedule, generator=torch.Generator().manual_seed(0), step=step,
        elapsed_s=1.5, pending_losses=[], evals=[], status="completed", stop_reason="",
    )


def test_every_bn_buffer_round_trips_with_the_zero_debias_state(tmp_path: Path):
    model = _bn_pair().train()
    for value in (1.0, 2.0, 3.0):  # three batches, every pixel equal: batch mean = value, batch variance 0
        batch = torch.full((4, 1, 3, 3), value)
        model["debiased"](batch)
        model["plain"](batch)
    path = checkpoint.save(tmp_path, 3, _state(model, 3))

    # Loadable with plain torch.load(weights_only=True): nothing but tensors and plain values inside.
    saved = torch.load(path, weights_only=True)["model"]
    fresh = _bn_pair()
    checkpoint.restore_training(checkpoint.load(path), fresh, torch.optim.SGD(fresh.parameters(), lr=0.1),
                                torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD(fresh.parameters(), lr=0.1),
                                                                  lambda _: 1.0),
                                torch.Generator())
    # By hand, decay 0.9: biased = 0.9*(0.9*(0.1*1) + 0.1*2) + 0.1*3 = 0.561 after t = 3 updates;
    # debiased mean = 0.561 / (1 - 0.9**3) = 0.561 / 0.271 = 2.070111; PyTorch's plain EMA from 0 is 0.561;
    # both variances: 0.9**3 * 1 + 0 = 0.729.
    assert saved["debiased.biased_mean"].item() == pytest.approx(0.561, abs=1e-6)
    assert saved["debiased.debias_steps"].item() == 3
    assert saved["debiased.running_mean"].item() == pytest.approx(0.561 / 0.271, abs=1e-6)
    assert saved["plain.running_mean"].item() == pytest.approx(0.561, abs=1e-6)
    assert saved["debiased.running_var"].item() == pytest.approx(0.729, abs=1e-6)
    assert saved["plain.running_var"].item() == pytest.approx(0.729, abs=1e-6)
    assert saved["debiased.num_batches_tracked"].item() == saved["plain.num_batches_tracked"].item() == 3
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    # In eval mode both layers normalize with the restored statistics: the same outputs as the originals.
    x = torch.randn(2, 1, 3, 3)
    model.eval(), fresh.eval()
    for key in ("debiased", "plain"):
        assert torch.equal(fresh[key](x), model[key](x))


def test_only_the_newest_files_are_kept(tmp_path: Path):
    model = _bn_pair()
    for step in (2, 4, 6):
        checkpoint.save(tmp_path, step, _state(model, step), keep=2)
    assert [c.step for c in checkpoint.list_checkpoints(tmp_path)] == [6, 4]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_a_truncated_checkpoint_is_detected_and_the_previous_one_used(tmp_path: Path):
    model = _bn_pair()
    checkpoint.save(tmp_path, 2, _state(model, 2))
    newest = checkpoint.save(tmp_path, 4, _state(model, 4))
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # what a copy cut short or a dying disk leaves

    found, state, skipped = checkpoint.load_latest(tmp_path)
    assert found is not None and found.step == 2 and state is not None and state["step"] == 2
    assert len(skipped) == 1 and "step-00000004.pt" in skipped[0] and "not a complete checkpoint" in skipped[0]
    assert checkpoint.latest_valid(tmp_path)[0].step == 2  # type: ignore[union-attr]


def test_a_flipped_byte_is_caught_by_the_crc(tmp_path: Path):
    model = nn.Linear(64, 64)
    checkpoint.save(tmp_path, 1, {"model": model.state_dict()})
    newest = checkpoint.save(tmp_path, 2, {"model": model.state_dict()})
    data = bytearray(newest.read_bytes())
    data[data.find(b"data/0") + 200] ^= 0xFF  # inside the weight bytes: torch.load alone would not notice
    newest.write_bytes(bytes(data))
    assert "CRC mismatch" in (checkpoint.problem(newest) or "")
    assert checkpoint.load_latest(tmp_path)[0].step == 1  # type: ignore[union-attr]


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    model = _bn_pair()
    checkpoint.save(tmp_path, 2, _state(model, 2))

    def disk_full(obj: object, handle) -> None:
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)  # checkpoint imports torch where it saves
    with pytest.raises(OSError, match="No space left"):
        checkpoint.save(tmp_path, 4, _state(model, 4))
    assert [c.step for c in checkpoint.list_checkpoints(tmp_path)] == [2]
    assert not list(tmp_path.glob(".*tmp"))
    assert checkpoint.load_latest(tmp_path)[1]["step"] == 2  # type: ignore[index]


def test_plan_resumes_from_the_newest_intact_checkpoint(tmp_path: Path):
    spec = expand(from_dict({"scenario": {"name": "t"}}))[0]
    folder = tmp_path / "runs" / spec.run_id / "checkpoints"
    for step in (5, 10):
        checkpoint.save(folder, step, {"model": {}})
    (folder / "step-00000010.pt").write_bytes(b"")
    (plan,) = plan_runs(tmp_path, [spec])
    assert plan.action == "resume" and plan.checkpoint is not None and plan.checkpoint.step == 5
    assert "step-00000010.pt" in plan.notes[0]


def test_rng_states_resume_where_they_were():
    generator = torch.Generator().manual_seed(7)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    saved = checkpoint.capture_rng(generator)
    buffer = io.BytesIO()
    torch.save(saved, buffer)  # the form they are written in: tensors and plain values only
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    def draw() -> tuple:
        return (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item())

    first = draw()
    draw()
    checkpoint.restore_rng(saved, generator)
    assert draw() == first


def test_training_resumed_from_any_checkpoint_ends_with_the_same_weights():
    # zero_debias BN, checkpoints every 2 steps, losses logged every 4: the checkpoint at step 2 holds the
    # losses of steps 1-2 not yet logged, so the resumed run's row at step 4 must average the same 4 losses.
    raw = {"scenario": {"name": "t", "seeds": [3]}, "task": {"batch_size": 8},
           "model": {"norm": "batch", "decay": 0.9, "zero_debias": True},
           "train": {"max_steps": 6, "eval_every": 6, "log_every": 4, "checkpoint_every": 2, "threads": 1}}
    spec = expand(from_dict(raw))[0]

    class Recorder(NullHooks):
        def __init__(self) -> None:
            self.states: dict[int, dict] = {}
            self.logged: list[tuple[int, float]] = []

        def on_checkpoint(self, step: int, state: dict) -> None:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            self.states[step] = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)

        def on_log(self, log) -> None:
            self.logged.append((log.step, log.loss))

    threads = torch.get_num_threads()
    try:
        whole = Recorder()
        outcome, model = train(spec, torch.device("cpu"), whole)
        assert sorted(whole.states) == [2, 4, 6] and outcome.steps == 6
        part = Recorder()
        resumed_outcome, resumed = train(spec, torch.device("cpu"), part, resume=whole.states[2])
        for name, tensor in model.state_dict().items():
            assert torch.equal(resumed.state_dict()[name], tensor), name
        # Rows after the checkpoint are exactly the uninterrupted run's rows after it: steps 4 and 6.
        assert part.logged == [row for row in whole.logged if row[0] > 2] and [s for s, _ in part.logged] == [4, 6]
        assert resumed_outcome.evals[-1].metrics == outcome.evals[-1].metrics
    finally:
        torch.set_num_threads(threads)
