"""The training step captured once in a CUDA graph and replayed: the loop whose speed is the GPU's, not Python's.

Below a few hundred samples a batch, an eager step of a small network is launch-bound: the GPU waits on the
hundreds of kernels Python launches one by one. A CUDA graph records those launches once (forward, loss,
backward and the optimizer step, BN's running statistics included) and replays them with one call. The
graph reads its batch from fixed buffers, so each step samples its batch on the device, as the eager loop
does, copies it into those buffers and replays.

What needs CUDA (a side stream, `torch.cuda.graph`, capturable optimizers) sits behind `Capture`; `CallCapture`
stands in for it where there is no GPU, so everything else here runs, and is tested, on the CPU.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

if TYPE_CHECKING:
    from bnbench.replicas import Replicas

# Eager steps on the run's own model before the capture: they build the optimizer's state and grads, let cuDNN
# pick its algorithms and the allocator grow, as torch's documentation asks, and are then undone.
WARM_STEPS = 3

Step = Callable[[], torch.Tensor]
AutocastFactory = Callable[[], contextlib.AbstractContextManager[Any]]


class Batches(Protocol):
    """What a captured step needs of its task (bnbench.data.Task has it): batches and the loss."""

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]: ...

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


class Capture(Protocol):
    """What a graphed step needs from the device: eager warm-up steps, and capture that returns a replay."""

    capturable: bool  # build the optimizer with capturable=True and its learning rate as a device tensor

    def warm(self, run: Callable[[], None]) -> None:
        """Run `run` eagerly, where a later capture wants its warm-up (a side stream for CUDA)."""
        ...

    def capture(self, step: Step) -> Step:
        """Record `step` without running it; the result replays it and returns its (static) loss tensor."""
        ...


class CudaCapture:
    """torch.cuda.CUDAGraph on `device`."""

    capturable = True

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def warm(self, run: Callable[[], None]) -> None:
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            run()
        torch.cuda.current_stream(self.device).wait_stream(side)

    def capture(self, step: Step) -> Step:
        graph = torch.cuda.CUDAGraph()
        # thread_local: the power sampler's thread reads NVML meanwhile; only this thread's calls must be safe
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            loss = step()

        def replay() -> torch.Tensor:
            graph.replay()
            return loss

        return replay


class CallCapture:
    """The seam's stand-in where there is no GPU: `capture` returns the step itself, so each replay calls it."""

    capturable = False

    def warm(self, run: Callable[[], None]) -> None:
        run()

    def capture(self, step: Step) -> Step:
        return step


@dataclass(frozen=True)
class Loop:
    """Which training loop a run uses: `name` eager, graph or compile:<mode>; `note` why it is not the one asked
    for ('' when it is)."""

    name: str
    note: str = ""


GRAPH_ASKED = "graph = true"  # how a note names the graphed loop a scenario asked for
GRAPH_DEFAULT = "the graphed loop (the GPU default)"  # and the one it did not turn off


def requested(graph: bool | None, compile: str, cuda: bool) -> Loop:
    """The loop a run's [train] keys ask for on a CUDA GPU (`cuda`) or elsewhere: the graphed loop where `graph`
    is true, or unset (None) with no compile mode on a CUDA GPU, where the doctor's SRCNN bench measured it up to
    3.6x eager's steps a second; a compile mode where one is set; eager otherwise."""
    if graph or (graph is None and compile == "none" and cuda):
        return Loop("graph")
    return Loop(f"compile:{compile}") if compile != "none" else Loop("eager")


def graph_refusal(device: torch.device, replicas: Replicas, optimizer: str, schedule: str,
                  asked: str = GRAPH_ASKED) -> str:
    """Why the step cannot be captured here ('' when it can be tried): decided before any capture is attempted.
    `asked` names the loop in the sentence (GRAPH_ASKED or GRAPH_DEFAULT)."""
    if device.type != "cuda":
        return f"{asked} needs a CUDA device (this run trains on {device.type})"
    if replicas.parallel:
        return f"{asked} is not captured under DDP (its gradient all-reduce runs outside the graph)"
    if optimizer == "sgd" and schedule != "constant":
        return (f"{asked} with optimizer = 'sgd' keeps the learning rate fixed at capture, and schedule = "
                f"'{schedule}' changes it")
    return ""


class GraphedStep:
    """A captured training step: each call draws a batch on the device into the graph's input buffers and
    replays. Returns the step's loss, a tensor of its own (the graph's is overwritten by the next replay)."""

    def __init__(self, task: Batches, inputs: torch.Tensor, targets: torch.Tensor, replay: Step) -> None:
        self.task, self.inputs, self.targets, self.replay = task, inputs, targets, replay

    def __call__(self, generator: torch.Generator) -> torch.Tensor:
        inputs, targets = self.task.batch(generator)
        self.inputs.copy_(inputs)
        self.targets.copy_(targets)
        return self.replay().clone()


def capture_step(
    task: Batches, forward: torch.nn.Module, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
    autocast: AutocastFactory, capture: Capture, device: torch.device, *, rate_changes: bool,
) -> GraphedStep:
    """The run's own model and optimizer, their step captured over fixed input buffers. Their values are left
    as they were: the warm-up steps that build the optimizer's state are undone in place (the graph holds the
    tensors' addresses, so none may be replaced). A capture that raises (a model that reads a value back to the
    host, for one) leaves them as they were too, and the exception goes to the caller."""
    # The buffers' first contents: a batch from a generator of their own, so the run's patch stream is untouched.
    sample = torch.Generator(device=device).manual_seed(0)
    first_inputs, first_targets = task.batch(sample)
    inputs, targets = first_inputs.clone(), first_targets.clone()

    def step() -> torch.Tensor:
        # No grads before the backward, so it writes them rather than adds to them: captured, the backward's
        # kernels write fresh grads at every replay (into tensors from the graph's pool); called again, as
        # CallCapture does, it would otherwise add to the last step's.
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = task.loss(forward(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss.detach()  # the caller's copy needs no autograd history

    def warm_steps() -> None:
        for _ in range(WARM_STEPS):
            step()

    rates = [group["lr"] for group in optimizer.param_groups]
    # A rate the schedule changes must be read from the device at each replay (a float is fixed at capture); only
    # Adam built for capture can (SGD reads its rate as a number, .item()). A constant rate stays a float: moved,
    # the schedule's every step would write it there again for nothing.
    if rate_changes and optimizer.defaults.get("capturable"):
        learning_rate_on_device(optimizer, device)
    saved_model = {k: v.clone() for k, v in model.state_dict().items()}
    saved_optimizer = copy.deepcopy(optimizer.state_dict()["state"])
    model.train()
    try:
        # A model's own randomness (dropout) is not drawn twice.
        with torch.random.fork_rng(devices=rng_devices(device)):
            capture.warm(warm_steps)
            restore_in_place(model, optimizer, saved_model, saved_optimizer)
            optimizer.zero_grad(set_to_none=True)  # the warm-up's grads freed before, not during, the capture
            replay = capture.capture(step)
    except BaseException:
        optimizer.zero_grad(set_to_none=True)
        restore_in_place(model, optimizer, saved_model, saved_optimizer)
        for group, rate in zip(optimizer.param_groups, rates, strict=True):  # the eager loop's floats again
            group["lr"] = rate
        raise
    return GraphedStep(task, inputs, targets, replay)


def rng_devices(device: torch.device) -> list[int]:
    """The CUDA devices whose RNG `torch.random.fork_rng` must save for work on `device` (none off CUDA)."""
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def learning_rate_on_device(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Each group's learning rate as a one-element tensor on `device`: a captured optimizer step reads it there,
    and the schedule writes each new value into it in place (a Python float would be fixed at capture)."""
    for group in optimizer.param_groups:
        group["lr"] = torch.tensor(float(group["lr"]), dtype=torch.float32, device=device)


def restore_in_place(model: torch.nn.Module, optimizer: torch.optim.Optimizer, saved_model: dict[str, torch.Tensor],
                     saved_optimizer: dict[int, dict[str, Any]]) -> None:
    """Put back the values of `saved_model` (a state dict) and `saved_optimizer` (a state dict's "state") into the
    tensors that hold them now. State the optimizer built since, where none was saved, is zeroed: a zero Adam step
    count and moments, or a zero SGD momentum buffer, give the same next step as state not yet built."""
    with torch.no_grad():
        for name, value in model.state_dict().items():
            value.copy_(saved_model[name])
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for index, param in enumerate(params):
            before = saved_optimizer.get(index, {})
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor):
                    value.copy_(before[key]) if key in before else value.zero_()
