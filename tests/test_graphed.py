"""The graphed training loop: the same numbers as the eager loop, the capture in the warm-up window, and one line
and the eager loop wherever the step cannot be captured."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import random
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bnbench import graphed
from bnbench import train as train_module
from bnbench.cli import app
from bnbench.errors import UserError
from bnbench.graphed import CallCapture
from bnbench.replicas import Replicas
from bnbench.scenario import expand, load
from bnbench.train import NullHooks, train

runner = CliRunner()
# Dropout draws from torch's global RNG inside the step, and zero-debias BN keeps counters: a capture that drew a
# number or left a warm-up step's update behind would show in the losses or the weights.
COMMON = ["train.max_steps=12", "train.log_every=1", "train.eval_every=6", "model.dropout=0.25",
          "variant.bn.zero_debias=true"]


class Seen(NullHooks):
    """The logged losses, and which window was open when the capture happened."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.open: list[str] = []

    @contextlib.contextmanager
    def phase(self, name):
        self.open.append(name)
        try:
            yield
        finally:
            self.open.pop()

    def on_log(self, log):
        self.losses.append(log.loss)


def _run(spec, hooks=None):
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    hooks = hooks or Seen()
    outcome, model = train(spec, torch.device("cpu"), hooks)
    return outcome, model.state_dict(), hooks.losses


@pytest.fixture
def call_capture(monkeypatch):
    """The graph path on the CPU: nothing refuses it, and CallCapture stands in for the CUDA graph."""
    captures: list[list[str]] = []

    class Recorded(CallCapture):
        def __init__(self, hooks_open: list[str]) -> None:
            self.hooks_open = hooks_open

        def capture(self, step):
            captures.append(list(self.hooks_open))
            return step

    monkeypatch.setattr(train_module, "graph_refusal", lambda *args: "")
    return captures, Recorded


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("variant", [0, 2])  # control, and batch norm (running statistics, debias counters)
def test_the_graphed_loop_gives_the_eager_loops_numbers_bit_for_bit(tiny_scenario, call_capture, monkeypatch,
                                                                     variant, optimizer) -> None:
    captures, recorded = call_capture
    sets = [*COMMON, f'train.optimizer="{optimizer}"']
    eager_outcome, eager_weights, eager_losses = _run(expand(load(tiny_scenario, sets))[variant])
    hooks = Seen()
    monkeypatch.setattr(train_module, "device_capture", lambda device: recorded(hooks.open))
    graph_outcome, graph_weights, graph_losses = _run(expand(load(tiny_scenario, [*sets, "train.graph=true"]))[variant],
                                                      hooks)
    assert (eager_outcome.loop, graph_outcome.loop, graph_outcome.loop_note) == ("eager", "graph", "")
    assert captures == [["warmup"]]  # captured once, in the warm-up window
    # 12 steps, one logged loss each, and the same weights and buffers (BN's running statistics among them)
    assert len(graph_losses) == 12 and graph_losses == eager_losses
    assert graph_weights.keys() == eager_weights.keys()
    for name in eager_weights:
        assert torch.equal(graph_weights[name], eager_weights[name]), name
    assert [e.metrics for e in graph_outcome.evals] == [e.metrics for e in eager_outcome.evals]


def test_a_graphed_run_resumed_from_a_checkpoint_ends_with_the_uninterrupted_runs_weights(
        tiny_scenario, call_capture, monkeypatch) -> None:
    # The checkpoint's model and Adam state are loaded before the capture, and the capture's warm-up steps are
    # undone back to them, not to a fresh optimizer: otherwise the resumed run would restart Adam's moments.
    _, recorded = call_capture
    monkeypatch.setattr(train_module, "device_capture", lambda device: recorded([]))

    class Checkpoints(Seen):
        def __init__(self) -> None:
            super().__init__()
            self.states: dict[int, dict] = {}

        def on_checkpoint(self, step, state):
            buffer = io.BytesIO()
            torch.save(state, buffer)
            self.states[step] = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)

    spec = expand(load(tiny_scenario, [*COMMON, "train.graph=true", "train.checkpoint_every=4"]))[2]
    whole = Checkpoints()
    outcome, model = train(spec, torch.device("cpu"), whole)
    part = Checkpoints()
    resumed_outcome, resumed = train(spec, torch.device("cpu"), part, resume=whole.states[4])
    assert (outcome.loop, resumed_outcome.loop) == ("graph", "graph")
    assert part.losses == whole.losses[4:]  # steps 5 to 12, one logged loss each
    for name, tensor in model.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name


def test_a_capture_that_raises_leaves_one_line_and_the_eager_loops_numbers(tiny_scenario, call_capture, monkeypatch,
                                                                           capsys) -> None:
    class HostSync(CallCapture):
        def capture(self, step):
            step()  # part of the step ran before the sync was found: its effects must be undone
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore detail")

    _, eager_weights, eager_losses = _run(expand(load(tiny_scenario, COMMON))[2])
    capsys.readouterr()
    monkeypatch.setattr(train_module, "device_capture", lambda device: HostSync())
    outcome, weights, losses = _run(expand(load(tiny_scenario, [*COMMON, "train.graph=true"]))[2])
    note = ("graph = true could not capture the training step (CUDA error: operation not permitted when stream is "
            "capturing)")
    assert (outcome.loop, outcome.loop_note) == ("eager", note)
    assert capsys.readouterr().err == f"bnbench: warning: {note}; this run trains eager\n"
    assert losses == eager_losses
    for name in eager_weights:
        assert torch.equal(weights[name], eager_weights[name]), name


def test_the_graph_is_refused_on_the_cpu_under_ddp_and_for_sgd_with_a_schedule() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda:0")
    alone, pair = Replicas(), Replicas(0, 2)
    assert graphed.graph_refusal(cpu, alone, "adam", "constant") == (
        "graph = true needs a CUDA device (this run trains on cpu)")
    assert graphed.graph_refusal(gpu, pair, "adam", "constant").startswith("graph = true is not captured under DDP")
    assert "schedule = 'cosine' changes it" in graphed.graph_refusal(gpu, alone, "sgd", "cosine")
    assert graphed.graph_refusal(gpu, alone, "sgd", "constant") == ""
    assert graphed.graph_refusal(gpu, alone, "adam", "cosine") == ""  # Adam reads its rate from a device tensor


def test_a_cpu_run_with_graph_says_why_once_and_records_the_loop_per_run(tiny_scenario, tmp_path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(tiny_scenario), "--out", str(out), "--set", "variant.bn.graph=true",
                                 "--set", "train.warmup_steps=0"])
    assert result.exit_code == 0, result.output
    line = "graph = true needs a CUDA device (this run trains on cpu); this run trains eager"
    # two bn runs, one line; the control runs leave graph unset, which on the CPU is eager and says nothing
    assert result.output.count(line) == 1 and result.output.count("CUDA device") == 1
    with (out / "runs.csv").open(newline="") as f:
        rows = {r["run_id"]: (r["loop"], r["loop_note"]) for r in csv.DictReader(f)}
    refused = ("eager", "graph = true needs a CUDA device (this run trains on cpu)")
    assert rows == {"control-s0": ("eager", ""), "control-s1": ("eager", ""), "bn-s0": refused, "bn-s1": refused}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["math_mode"]["bn"]["graph"] is True and manifest["math_mode"]["control"]["graph"] is None


def test_graph_unset_is_the_graphed_loop_on_cuda_and_eager_on_the_cpu_without_a_word(
        tiny_scenario, call_capture, monkeypatch, capsys) -> None:
    captures, recorded = call_capture
    forced_outcome, forced_weights, forced_losses = _run(expand(load(tiny_scenario, [*COMMON, "train.graph=false"]))[2])
    cpu_outcome, _, cpu_losses = _run(expand(load(tiny_scenario, COMMON))[2])
    assert (forced_outcome.loop, cpu_outcome.loop, cpu_outcome.loop_note) == ("eager", "eager", "")
    assert captures == [] and cpu_losses == forced_losses and capsys.readouterr().err == ""
    # On a CUDA GPU (the seam says so; CallCapture stands in for the graph) the same scenario runs graphed, with
    # the eager loop's numbers; graph = false keeps it eager there.
    monkeypatch.setattr(train_module, "graph_by_default", lambda device: True)
    hooks = Seen()
    monkeypatch.setattr(train_module, "device_capture", lambda device: recorded(hooks.open))
    outcome, weights, losses = _run(expand(load(tiny_scenario, COMMON))[2], hooks)
    assert (outcome.loop, outcome.loop_note, captures) == ("graph", "", [["warmup"]])
    assert losses == forced_losses
    for name in forced_weights:
        assert torch.equal(weights[name], forced_weights[name]), name
    assert _run(expand(load(tiny_scenario, [*COMMON, "train.graph=false"]))[2])[0].loop == "eager"
    assert capsys.readouterr().err == ""


def test_where_the_default_graph_cannot_be_captured_the_run_records_why_and_says_nothing(
        tiny_scenario, monkeypatch, capsys) -> None:
    # graph unset on a CUDA GPU under DDP: eager, the reason in loop_note, no warning (nobody asked for the graph)
    monkeypatch.setattr(train_module, "graph_by_default", lambda device: True)
    monkeypatch.setattr(train_module, "graph_refusal", lambda device, replicas, optimizer, schedule, asked:
                        f"{asked} is not captured under DDP (its gradient all-reduce runs outside the graph)")
    outcome, _, _ = _run(expand(load(tiny_scenario, ["train.max_steps=2"]))[0])
    assert (outcome.loop, outcome.loop_note) == (
        "eager", "the graphed loop (the GPU default) is not captured under DDP (its gradient all-reduce runs "
        "outside the graph)")
    assert capsys.readouterr().err == ""


def test_compile_with_graph_unset_is_compile_and_only_graph_true_with_compile_is_refused(tiny_scenario,
                                                                                        monkeypatch) -> None:
    monkeypatch.setattr(train_module, "graph_by_default", lambda device: True)
    monkeypatch.setattr(torch, "compile", lambda module, mode=None: module)
    outcome, _ = train(expand(load(tiny_scenario, ['train.compile="reduce-overhead"', "train.max_steps=1"]))[0],
                       torch.device("cpu"))
    assert (outcome.loop, outcome.loop_note) == ("compile:reduce-overhead", "")
    with pytest.raises(UserError, match="graph = true and compile = 'reduce-overhead' are two training loops"):
        load(tiny_scenario, ['train.compile="reduce-overhead"', "train.graph=true"])
    # "auto" is how a variant puts the default back where [train] set the graph
    assert load(tiny_scenario, ['train.graph="auto"']).train.graph is None


def test_compile_modes_reach_torch_compile(tiny_scenario, monkeypatch) -> None:
    modes: list[str | None] = []

    def fake_compile(module, mode=None):
        modes.append(mode)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    for text, mode in [("true", None), ('"default"', None), ('"reduce-overhead"', "reduce-overhead"),
                       ('"max-autotune"', "max-autotune")]:
        modes.clear()
        spec = expand(load(tiny_scenario, [f"train.compile={text}", "train.max_steps=1"]))[0]
        outcome, _ = train(spec, torch.device("cpu"))
        # the run's forward and the warm-up copy's, each in the mode asked for
        assert modes == [mode, mode]
        assert outcome.loop == f"compile:{'default' if mode is None else mode}"


def test_the_loop_is_in_the_fingerprint_and_a_folder_begun_before_it_keeps_its_own(tiny_scenario, tmp_path) -> None:
    plain = load(tiny_scenario)
    # Defaults are written as before the loops existed: compile as false, graph (unset, the device decides) left
    # out. The fingerprints are the ones the code before graph's default changed gave (c3f3983dbe609fe6 for the
    # defaults, b1319d9d1df0dc5a with graph = true), so folders begun then still resume.
    assert plain.to_dict()["train"]["compile"] is False and "graph" not in plain.to_dict()["train"]
    assert plain.fingerprint() == "c3f3983dbe609fe6"
    assert load(tiny_scenario, ["train.graph=true"]).fingerprint() == "b1319d9d1df0dc5a"
    assert load(tiny_scenario, ['train.graph="auto"']).fingerprint() == plain.fingerprint()
    # graph = false is eager on a GPU too, where unset is graphed: another experiment
    assert load(tiny_scenario, ["train.graph=false"]).fingerprint() != plain.fingerprint()
    assert load(tiny_scenario, ["train.compile=false"]).fingerprint() == plain.fingerprint()
    assert load(tiny_scenario, ['train.compile="default"']).fingerprint() == load(
        tiny_scenario, ["train.compile=true"]).fingerprint()
    # The loop changes what a run measures (its seconds and joules): another loop is another experiment.
    assert load(tiny_scenario, ["train.graph=true"]).fingerprint() != plain.fingerprint()
    assert load(tiny_scenario, ['train.compile="max-autotune"']).fingerprint() != plain.fingerprint()
    out = tmp_path / "out"
    sets = ["--set", "scenario.seeds=[0]", "--set", "train.max_steps=2", "--set", "train.warmup_steps=0"]
    assert runner.invoke(app, ["run", str(tiny_scenario), "--out", str(out), *sets]).exit_code == 0
    result = runner.invoke(app, ["run", str(tiny_scenario), "--resume", str(out), *sets, "--set", "train.graph=true"])
    assert result.exit_code == 2
    assert "train.graph (default) -> true" in result.output
    result = runner.invoke(app, ["run", str(tiny_scenario), "--resume", str(out), *sets, "--set", "train.graph=false"])
    assert result.exit_code == 2 and "train.graph (default) -> false" in result.output
    assert runner.invoke(app, ["run", str(tiny_scenario), "--resume", str(out), *sets]).exit_code == 0
    # A folder begun while false was graph's default (its manifest records each variant's graph false, not unset)
    # left graph = false out of scenario.toml: it resumes with graph = false as well as with graph unset.
    manifest = json.loads((out / "manifest.json").read_text())
    assert {mode["graph"] for mode in manifest["math_mode"].values()} == {None}
    for mode in manifest["math_mode"].values():
        mode["graph"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    for extra in (["--set", "train.graph=false"], []):
        result = runner.invoke(app, ["run", str(tiny_scenario), "--resume", str(out), *sets, *extra])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["run", str(tiny_scenario), "--resume", str(out), *sets, "--set", "train.graph=true"])
    assert result.exit_code == 2 and "train.graph (default) -> true" in result.output


# --- The same numbers on a GPU, against a bound measured in the same test ---------------------------------------
#
# On a GPU the two loops cannot agree bit for bit: capturable Adam keeps its step count and learning rate on the
# device and orders its arithmetic differently, and cuDNN's backward kernels may add in any order. Rounding
# differences of one unit in the last place grow over 200 steps of training into losses a percent apart. So a
# fixed tolerance either fails rounding or passes a bug. The bound is measured instead: two more eager runs whose
# every parameter is nudged by one float32 ulp (up or down at random, per element) after every optimizer step.
# How far those runs drift from the eager one, and from each other, is how far rounding alone takes training here.
# A graphed run is accepted where its distance from the eager run stays within a small multiple of that.
ROUNDING_FACTOR = 4.0  # the graph's gap may be this many times the largest gap rounding alone gave
FLOOR_REL = 1e-6  # a gap this small relative to the value is rounding however small the reference's happened to be
FIRST_LOSS_REL = 1e-4  # steps 1-10 start from the same weights and batches: only a few steps' rounding apart
METRIC_FLOOR_DB = 0.1  # the final evaluation's PSNR
GPU = "cuda:0"


@dataclass(frozen=True)
class Trace:
    """What one training run leaves to compare: its logged losses (in order), its final weights and buffers by
    name (float, on the CPU), and its final evaluation's metric (dB)."""

    losses: list[float]
    tensors: dict[str, torch.Tensor]
    metric_db: float


def _norm(t: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(t.double()))


def rounding_verdict(eager: Trace, graph: Trace, references: list[Trace]) -> tuple[dict, list[str]]:
    """(the measured gaps, the failures) of `graph` against `eager`, where `references` are eager runs that differ
    from `eager` only by rounding. The rounding gap at a point is the largest between any two of eager and the
    references; at a logged loss it is the largest relative gap up to that point, times the loss there (the gap
    grows, and any one pair may happen to cross near zero at a point). Fails: (a) the first logged loss more than
    FIRST_LOSS_REL apart, relative, and more than ROUNDING_FACTOR times rounding's gap; (b) any logged loss, or
    any tensor (norm of the difference), more than ROUNDING_FACTOR times rounding's gap plus FLOOR_REL of its
    size apart; (c) the final metric more than METRIC_FLOOR_DB and more than ROUNDING_FACTOR times rounding's
    gap apart."""
    failures: list[str] = []
    runs = [eager, *references]
    pairs = [(a, b) for i, a in enumerate(runs) for b in runs[i + 1:]]
    if len({len(r.losses) for r in [*runs, graph]}) != 1:
        failures.append(f"logged losses: {len(graph.losses)} graphed, {[len(r.losses) for r in runs]} eager")
        return {}, failures
    loss_gaps, loss_rounding, envelope_rel = [], [], 0.0
    for i, value in enumerate(eager.losses):
        envelope_rel = max(envelope_rel, *(abs(a.losses[i] - b.losses[i]) / abs(value) for a, b in pairs))
        envelope = envelope_rel * abs(value)
        gap = abs(graph.losses[i] - value)
        loss_gaps.append(gap)
        loss_rounding.append(envelope)
        allowed = ROUNDING_FACTOR * envelope + FLOOR_REL * abs(value)
        if i == 0:
            allowed = max(allowed, FIRST_LOSS_REL * abs(value))
        if gap > allowed:
            failures.append(f"logged loss {i + 1}: graphed {graph.losses[i]:.7g}, eager {value:.7g}, gap {gap:.3g} > "
                            f"{allowed:.3g} (rounding's gap {envelope:.3g})")
    tensor_gaps = {}
    for name, value in eager.tensors.items():
        if name not in graph.tensors or graph.tensors[name].shape != value.shape:
            failures.append(f"{name}: missing or reshaped in the graphed run")
            continue
        rounding = max(_norm(a.tensors[name] - b.tensors[name]) for a, b in pairs)
        gap, size = _norm(graph.tensors[name] - value), _norm(value)
        tensor_gaps[name] = {"gap": gap, "rounding": rounding, "norm": size}
        allowed = ROUNDING_FACTOR * rounding + FLOOR_REL * size
        if gap > allowed:
            failures.append(f"{name}: |graphed - eager| = {gap:.3g} > {allowed:.3g} (rounding's {rounding:.3g}, "
                            f"|eager| {size:.3g})")
    metric_rounding = max(abs(a.metric_db - b.metric_db) for a, b in pairs)
    metric_gap = abs(graph.metric_db - eager.metric_db)
    metric_allowed = max(METRIC_FLOOR_DB, ROUNDING_FACTOR * metric_rounding)
    if metric_gap > metric_allowed:
        failures.append(f"final metric: graphed {graph.metric_db:.4f} dB, eager {eager.metric_db:.4f} dB, gap "
                        f"{metric_gap:.3g} > {metric_allowed:.3g} dB (rounding's {metric_rounding:.3g})")
    figures = {
        "loss_gap": loss_gaps, "loss_rounding": loss_rounding,
        "loss_gap_rel_max": max(g / abs(v) for g, v in zip(loss_gaps, eager.losses, strict=True)),
        "loss_rounding_rel_max": max(r / abs(v) for r, v in zip(loss_rounding, eager.losses, strict=True)),
        "first_loss_rel": loss_gaps[0] / abs(eager.losses[0]),
        "tensors": tensor_gaps,
        "metric_db": {"eager": eager.metric_db, "graph": graph.metric_db, "gap": metric_gap,
                      "rounding": metric_rounding, "references": [r.metric_db for r in references]},
    }
    return figures, failures


def _ulp_nudged(generator: torch.Generator):
    """bnbench.train.train_step, after which every parameter moves by one float32 ulp, up or down at random per
    element: rounding of the size reordered arithmetic leaves, at every step."""
    step = train_module.train_step

    def nudged(task, forward, optimizer, batches, autocast):
        loss = step(task, forward, optimizer, batches, autocast)
        with torch.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    up = torch.rand(p.shape, generator=generator, device=p.device) < 0.5
                    toward = torch.where(up, torch.full_like(p, math.inf), torch.full_like(p, -math.inf))
                    p.copy_(torch.nextafter(p, toward))
        return loss

    return nudged


def _gpu_trace(spec, device) -> tuple[str, Trace]:
    torch.manual_seed(0)
    hooks = Seen()
    outcome, model = train(spec, device, hooks)
    tensors = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    return outcome.loop, Trace(hooks.losses, tensors, float(outcome.evals[-1].metrics["psnr_db"]))


def _summary(figures: dict) -> str:
    worst = max(figures["tensors"].items(), key=lambda kv: kv[1]["gap"] / max(kv[1]["rounding"], 1e-30))
    metric = figures["metric_db"]
    return (f"first logged loss {figures['first_loss_rel']:.3g} apart (relative); logged losses at most "
            f"{figures['loss_gap_rel_max']:.3g} apart, rounding alone {figures['loss_rounding_rel_max']:.3g}; "
            f"tensor furthest past rounding's gap: {worst[0]} {worst[1]['gap']:.3g} against "
            f"{worst[1]['rounding']:.3g}; "
            f"PSNR graphed {metric['graph']:.4f} dB, eager {metric['eager']:.4f} dB, references "
            f"{', '.join(f'{m:.4f}' for m in metric['references'])} dB")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("variant", [0, 2])  # control, and batch norm (running statistics, debias counters)
def test_on_a_gpu_200_graphed_steps_agree_with_eager_ones(tiny_scenario, monkeypatch, variant) -> None:
    # Eager, graphed, and two eager runs nudged by an ulp at every step (the rounding reference, rounding_verdict).
    # The measured gaps go to the assertion message, and to the file BNBENCH_GPU_REPORT names (JSON lines).
    device = torch.device(GPU)
    sets = ["train.max_steps=200", "train.log_every=10", "train.eval_every=200"]
    eager_sets = [*sets, "train.graph=false"]  # unset, a GPU run would be graphed
    eager_loop, eager = _gpu_trace(expand(load(tiny_scenario, eager_sets))[variant], device)
    graph_loop, graph = _gpu_trace(expand(load(tiny_scenario, [*sets, "train.graph=true"]))[variant], device)
    references = []
    for seed in (1, 2):
        with monkeypatch.context() as patch:
            patch.setattr(train_module, "train_step", _ulp_nudged(torch.Generator(device=device).manual_seed(seed)))
            loop, trace = _gpu_trace(expand(load(tiny_scenario, eager_sets))[variant], device)
        assert loop == "eager"
        references.append(trace)
    assert (eager_loop, graph_loop) == ("eager", "graph")
    figures, failures = rounding_verdict(eager, graph, references)
    name = expand(load(tiny_scenario, sets))[variant].variant
    if os.environ.get("BNBENCH_GPU_REPORT"):
        with open(os.environ["BNBENCH_GPU_REPORT"], "a", encoding="utf-8") as report:
            report.write(json.dumps({"variant": name, "failures": failures, "summary": _summary(figures),
                                     "figures": figures}) + "\n")
    assert not failures, f"{name}: " + "; ".join(failures[:8]) + f". Measured: {_summary(figures)}"


def test_the_rounding_verdict_passes_rounding_sized_gaps_and_fails_a_stale_batch_or_frozen_statistics() -> None:
    # Eager losses 1, 0.5, 0.25; the references drift from it and each other by rounding: at the second logged loss
    # by at most 2e-6 (1e-6 against -1e-6; 4e-6 of 0.5), at the third by at most 4e-6 (1.6e-5 of 0.25). The graphed
    # run's gaps are within 4x that plus 1e-6 of the value: 1e-7 <= 1e-4 (the first loss's own bound),
    # 2e-6 <= 8.5e-6, 5e-6 <= 1.625e-5.
    def trace(losses, mean, psnr):
        # float64, so that the hand-made gaps are not rounded to float32's
        tensors = {"bn.running_mean": torch.tensor(mean, dtype=torch.float64),
                   "conv.weight": torch.tensor([1.0, 2.0], dtype=torch.float64)}
        return Trace(losses, tensors, psnr)

    eager = trace([1.0, 0.5, 0.25], [0.5, -0.5], 30.25)
    references = [trace([1.0, 0.5 + 1e-6, 0.25 + 4e-6], [0.5 + 1e-7, -0.5], 30.24),
                  trace([1.0, 0.5 - 1e-6, 0.25 + 2e-6], [0.5, -0.5 - 1e-7], 30.26)]
    figures, failures = rounding_verdict(eager, trace([1.0 + 1e-7, 0.5 + 2e-6, 0.25 + 5e-6], [0.5, -0.5 + 2e-7],
                                                     30.3), references)
    assert failures == []
    assert figures["loss_rounding"] == pytest.approx([0.0, 2e-6, 4e-6], abs=1e-12)
    assert figures["tensors"]["bn.running_mean"]["rounding"] == pytest.approx(2 ** 0.5 * 1e-7, rel=1e-3)
    # A gap 5x rounding's at the third loss (2e-5 > 1.625e-5) is more than rounding.
    _, failures = rounding_verdict(eager, trace([1.0, 0.5, 0.25 + 2e-5], [0.5, -0.5], 30.25), references)
    assert len(failures) == 1 and failures[0].startswith("logged loss 3:")
    # A graph replaying one stale batch: its first losses already 2% off, far past 1e-4.
    _, failures = rounding_verdict(eager, trace([0.98, 0.3, 0.1], [0.5, -0.5], 30.25), references)
    assert [f.split(":")[0] for f in failures] == ["logged loss 1", "logged loss 2", "logged loss 3"]
    # A graph that leaves BN's running statistics at their start (0): the same losses, the statistics 0.71 apart
    # where rounding moved them 1.4e-7, and an evaluation 6 dB worse (rounding's PSNR gap 0.02 dB: bound 0.1 dB).
    _, failures = rounding_verdict(eager, trace([1.0, 0.5, 0.25], [0.0, 0.0], 24.0), references)
    assert [f.split(":")[0] for f in failures] == ["bn.running_mean", "final metric"]


def test_the_learning_rate_moves_inside_the_tensor_a_graph_reads() -> None:
    # A captured optimizer step reads the rate from the tensor it saw at capture: the schedule must write each new
    # value into that same tensor. Cosine over 4 steps from 1e-3: after one step 1e-3 (1 + cos(pi/4)) / 2 = 8.5355e-4,
    # after two 1e-3 (1 + cos(pi/2)) / 2 = 5e-4.
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    graphed.learning_rate_on_device(optimizer, torch.device("cpu"))
    rate = optimizer.param_groups[0]["lr"]
    assert isinstance(rate, torch.Tensor) and rate.dtype == torch.float32 and rate.item() == pytest.approx(1e-3)
    seen = []
    for _ in range(2):
        optimizer.step()  # no grads: nothing moves, but the schedule sees the order it expects
        schedule.step()
        assert optimizer.param_groups[0]["lr"] is rate
        seen.append(rate.item())
    assert seen == pytest.approx([8.5355339e-4, 5e-4], rel=1e-6)


class _Pairs:
    """The least a captured step draws from: fixed batches of a 2-in, 1-out regression."""

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ones(4, 2), torch.zeros(4, 1)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(outputs, targets)


class _Untouched(CallCapture):
    """A capture that runs nothing (Adam built for capture cannot step on the CPU): only the rate's place shows."""

    def warm(self, steps):
        pass

    def capture(self, step):
        return step


@pytest.mark.parametrize(("rate_changes", "on_device"), [(True, True), (False, False)])
def test_only_a_rate_the_schedule_changes_is_read_from_the_device(rate_changes, on_device) -> None:
    # Cosine changes the rate, so the graph must read it from a tensor; a constant rate stays a float, which the
    # schedule's every step would otherwise write onto the device again for nothing.
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True)
    graphed.capture_step(_Pairs(), model, model, optimizer, contextlib.nullcontext, _Untouched(), torch.device("cpu"),
                         rate_changes=rate_changes)
    rate = optimizer.param_groups[0]["lr"]
    assert isinstance(rate, torch.Tensor) is on_device and float(rate) == pytest.approx(1e-3)


def test_a_failed_capture_gives_the_eager_loop_its_float_rate_back() -> None:
    class Raises(_Untouched):
        def warm(self, steps):
            raise RuntimeError("operation not permitted when stream is capturing")

    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True)
    with pytest.raises(RuntimeError):
        graphed.capture_step(_Pairs(), model, model, optimizer, contextlib.nullcontext, Raises(),
                             torch.device("cpu"), rate_changes=True)
    assert optimizer.param_groups[0]["lr"] == 1e-3 and not isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)


def test_a_folder_begun_when_eager_was_the_default_keeps_training_eager(tiny_scenario) -> None:
    # Its manifest records graph false for every variant (graph unset then meant eager everywhere): its remaining
    # runs with graph unset train eager too, on a GPU as on the CPU, so the folder's runs stay of one loop.
    from bnbench.execute.resume import keep_the_folders_loop

    scenario = load(tiny_scenario)
    specs = expand(scenario)
    old = {"math_mode": {v.name: {"graph": False} for v in scenario.variants}}
    kept, kept_specs, changed = keep_the_folders_loop(old, scenario, specs)
    assert changed and {v.train.graph for v in kept.variants} == {False}
    assert {s.train.graph for s in kept_specs} == {False} and [s.run_id for s in kept_specs] == [
        s.run_id for s in specs]
    # Begun since (unset recorded as null), or with the loop set: nothing changes.
    new = {"math_mode": {v.name: {"graph": None} for v in scenario.variants}}
    assert keep_the_folders_loop(new, scenario, specs) == (scenario, specs, False)
    graphed = load(tiny_scenario, ["train.graph=true"])
    assert keep_the_folders_loop(old, graphed, expand(graphed))[2] is False
