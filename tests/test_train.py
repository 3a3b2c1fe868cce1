"""The training loop on the CPU: seeded determinism, budgets, divergence."""

from __future__ import annotations

import torch

from bnbench.scenario import expand, load
from bnbench.train import NullHooks, train


class Recorder(NullHooks):
    def __init__(self) -> None:
        self.logs, self.evals, self.phases = [], [], []

    def phase(self, name):
        self.phases.append(name)
        return super().phase(name)

    def on_log(self, log):
        self.logs.append(log)

    def on_eval(self, log):
        self.evals.append(log)


def run(spec):
    hooks = Recorder()
    outcome, model = train(spec, torch.device("cpu"), hooks)
    return outcome, model, hooks


def test_same_seed_same_curve_on_cpu(tiny_scenario):
    spec = expand(load(tiny_scenario, ["variant.bn.zero_debias=true"]))[2]  # bn, seed 0
    first, model_a, hooks_a = run(spec)
    second, model_b, hooks_b = run(spec)
    assert [log.loss for log in hooks_a.logs] == [log.loss for log in hooks_b.logs]
    assert [e.metrics for e in hooks_a.evals] == [e.metrics for e in hooks_b.evals]
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_different_seeds_differ(tiny_scenario):
    specs = expand(load(tiny_scenario))
    _, _, a = run(specs[0])
    _, _, b = run(specs[1])
    assert a.logs[0].loss != b.logs[0].loss


def test_blocks_logs_and_evals(tiny_scenario):
    spec = expand(load(tiny_scenario, ["train.max_steps=5", "train.eval_every=2", "train.log_every=2"]))[0]
    outcome, _, hooks = run(spec)
    assert outcome.status == "completed" and outcome.steps == 5
    # Logs every 2 steps and at each block end; evals every 2 steps and at the last step.
    assert [log.step for log in hooks.logs] == [2, 4, 5]
    assert [e.step for e in hooks.evals] == [2, 4, 5]
    # Setup, warm-up, then one training window holding every evaluation and checkpoint: a checkpoint after
    # every evaluation (checkpoint_every defaults to eval_every) and one at the end.
    assert hooks.phases == ["setup", "warmup", "train", "eval", "checkpoint", "eval", "checkpoint", "eval",
                            "checkpoint"]
    assert set(hooks.evals[-1].metrics) == {"psnr_db", "bicubic_psnr_db", "val_loss"}


def test_non_finite_loss_marks_the_run_diverged(tiny_scenario):
    spec = expand(load(tiny_scenario, ['train.optimizer="sgd"', "train.lr=1e12", "train.max_steps=40"]))[0]
    outcome, _, hooks = run(spec)
    assert outcome.status == "diverged"
    assert outcome.steps < 40 and "non-finite loss" in outcome.stop_reason


def test_wall_clock_budget_stops_and_still_evaluates(tiny_scenario):
    spec = expand(load(tiny_scenario, ["train.max_steps=100000", "train.max_wall_s=0.5"]))[0]
    outcome, _, hooks = run(spec)
    assert outcome.status == "completed" and outcome.steps < 100000
    assert "wall-clock budget" in outcome.stop_reason
    assert hooks.evals[-1].step == outcome.steps


def test_bf16_autocast_trains(tiny_scenario):
    spec = expand(load(tiny_scenario, ['train.precision="bf16"']))[2]
    outcome, _, hooks = run(spec)
    assert outcome.status == "completed" and hooks.evals


def test_stop_flag_interrupts(tiny_scenario):
    class Stop(Recorder):
        def should_stop(self):
            return len(self.logs) >= 1

    spec = expand(load(tiny_scenario, ["train.max_steps=50", "train.log_every=1"]))[0]
    outcome, _ = train(spec, torch.device("cpu"), Stop())
    assert outcome.status == "interrupted" and outcome.steps == 2
