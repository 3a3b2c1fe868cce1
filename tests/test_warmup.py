"""The warm-up: first-call costs land in the `warmup` window, and the run's trajectory does not change."""

from __future__ import annotations

import contextlib
import functools
import random

import numpy as np
import pytest
import torch

from bnbench import train as train_module
from bnbench.scenario import expand, load
from bnbench.train import NullHooks, train


class PhaseLog(NullHooks):
    """Hooks that know which window is open, and a log of what ran in which."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.seen: list[tuple[str | None, str]] = []

    @property
    def current(self) -> str | None:
        return self.stack[-1] if self.stack else None

    @contextlib.contextmanager
    def phase(self, name):
        self.stack.append(name)
        try:
            yield
        finally:
            self.stack.pop()


def test_warm_up_steps_and_one_evaluation_run_inside_the_warmup_window(tiny_scenario, monkeypatch) -> None:
    hooks = PhaseLog()
    step, build_task = train_module.train_step, train_module.build_task

    def logged_step(*args, **kwargs):
        hooks.seen.append((hooks.current, "step"))
        return step(*args, **kwargs)

    def logged_task(*args, **kwargs):
        task = build_task(*args, **kwargs)
        evaluate = task.evaluate

        def logged_evaluate(model):
            hooks.seen.append((hooks.current, "eval"))
            return evaluate(model)

        task.evaluate = logged_evaluate
        return task

    monkeypatch.setattr(train_module, "train_step", logged_step)
    monkeypatch.setattr(train_module, "build_task", logged_task)
    spec = expand(load(tiny_scenario, ["train.warmup_steps=3"]))[0]  # 4 steps, an evaluation every 2
    outcome, _ = train(spec, torch.device("cpu"), hooks)
    assert outcome.steps == 4
    # 3 warm-up steps and one evaluation, all in the warm-up window; then the run's own 4 steps and 2 evaluations,
    # each in its measured window.
    assert hooks.seen == [("warmup", "step")] * 3 + [("warmup", "eval")] + (
        [("train", "step")] * 2 + [("eval", "eval")]) * 2


def test_warmup_steps_zero_disables_it(tiny_scenario, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(train_module, "warm_up", lambda *args: calls.append(args))
    train(expand(load(tiny_scenario, ["train.warmup_steps=0"]))[0], torch.device("cpu"))
    assert calls == []
    train(expand(load(tiny_scenario))[0], torch.device("cpu"))  # the default warms up
    assert len(calls) == 1


def _run(spec):
    """Train `spec` from fixed global RNG states; its final weights, logged losses, evals and RNG states after."""
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    losses = []

    class Losses(NullHooks):
        def on_log(self, log):
            losses.append(log.loss)

    outcome, model = train(spec, torch.device("cpu"), Losses())
    return model.state_dict(), losses, outcome.evals, (torch.get_rng_state(), np.random.get_state(), random.getstate())


@pytest.mark.parametrize("variant", [0, 2])  # control, and batch norm (running statistics, debias counters)
def test_the_run_is_bit_for_bit_the_same_with_and_without_a_warm_up(tiny_scenario, variant) -> None:
    # Dropout draws from torch's global RNG during training: a warm-up that leaked a single draw would shift it.
    common = ["train.max_steps=6", "model.dropout=0.25", "variant.bn.zero_debias=true"]
    cold = _run(expand(load(tiny_scenario, [*common, "train.warmup_steps=0"]))[variant])
    warm = _run(expand(load(tiny_scenario, [*common, "train.warmup_steps=5"]))[variant])
    weights_cold, losses_cold, evals_cold, rng_cold = cold
    weights_warm, losses_warm, evals_warm, rng_warm = warm
    assert weights_cold.keys() == weights_warm.keys()
    for name in weights_cold:
        assert torch.equal(weights_cold[name], weights_warm[name]), name
    assert losses_cold == losses_warm
    assert [e.metrics for e in evals_cold] == [e.metrics for e in evals_warm]
    assert torch.equal(rng_cold[0], rng_warm[0])
    assert all(np.array_equal(a, b) for a, b in zip(rng_cold[1][1:2], rng_warm[1][1:2], strict=True))
    assert rng_cold[1][0] == rng_warm[1][0] and rng_cold[1][2:] == rng_warm[1][2:]
    assert rng_cold[2] == rng_warm[2]


def _traced_by_phase(spec, monkeypatch) -> tuple[dict[str, int], int]:
    """Train `spec` on the CPU with torch.compile's "eager" backend (Dynamo traces the model, what a first call
    costs, without needing a C compiler): the graphs Dynamo traced in each phase, and in all."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    traced: dict[str, int] = {}

    class Traces(NullHooks):
        @contextlib.contextmanager
        def phase(self, name):
            before = counters["stats"]["unique_graphs"]
            yield
            traced[name] = traced.get(name, 0) + counters["stats"]["unique_graphs"] - before

    try:
        train(spec, torch.device("cpu"), Traces())
        return traced, counters["stats"]["unique_graphs"]
    finally:
        torch._dynamo.reset()


def test_compilation_happens_in_the_warmup_window(tiny_scenario, monkeypatch) -> None:
    # The warm-up's copy is the same class, so the run's own calls reuse its graphs.
    traced, _ = _traced_by_phase(expand(load(tiny_scenario, ["train.compile=true", "train.warmup_steps=2"]))[0],
                                 monkeypatch)
    assert traced["warmup"] >= 1
    assert traced.get("train", 0) == 0 and traced.get("eval", 0) == 0


def test_an_evaluation_never_reaches_the_compiler(monkeypatch) -> None:
    # The quick scenario evaluates whole photos of several sizes. Through the compiled module each new size made
    # Dynamo trace again and mark the sizes dynamic (two graphs in the warm-up here, and on a GPU a training step
    # slower than eager's); evaluated uncompiled, the one graph is the training step's, traced in the warm-up.
    from tests.conftest import REPO

    sets = ["train.compile=true", "train.max_steps=4", "train.eval_every=2", "train.warmup_steps=1"]
    traced, graphs = _traced_by_phase(expand(load(REPO / "scenarios" / "quick.toml", sets))[0], monkeypatch)
    assert graphs == 1 and traced["warmup"] == 1
    assert traced.get("train", 0) == 0 and traced.get("eval", 0) == 0
