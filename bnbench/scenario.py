"""Scenario files: TOML in, frozen typed objects out, validated once at the edge.

A scenario has seven sections (`[scenario]`, `[task]`, `[model]`, `[train]`, `[energy]`, `[stats]`, `[export]`) and
any number of `[[variant]]` tables. A variant's keys override fields of `[model]`, `[train]` and `[task]`.
Expansion gives one `RunSpec` per variant x seed. Nothing deeper than this module reads TOML or raw dicts.

`[task] name = "command"` makes each run the user's own command (bnbench.execute.command): each variant gives
its `command`, and `[task]` the `metric` it reports and its direction; model and data keys do not apply.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import string
import tomllib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from bnbench.errors import UserError, did_you_mean
from bnbench.units import (
    DEFAULT_CO2_G_PER_KWH,
    DEFAULT_CURRENCY,
    DEFAULT_PRICE_PER_KWH,
    DEFAULT_W_PER_CORE,
    WH_PER_CUP,
)

_SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
COMMAND = "command"  # [task] name of a run that is the user's own command (bnbench.execute.command)
SEED_LIMIT = 2**32  # np.random.seed takes 0 .. 2^32-1; a run's seed goes to it
PLACEHOLDERS = ("seed", "run_id", "run_dir", "variant")  # filled per run in a command's arguments
Order = Literal["interleaved", "variant-major"]  # how runs are handed out (bnbench.execute.order)


_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")


def _duration_schema(schema: dict[str, Any]) -> None:
    """JSON Schema: a duration field also takes text such as '12h' (parse_duration_s)."""
    schema["anyOf"].insert(1, {"type": "string", "pattern": _DURATION.pattern})


CompileMode = Literal["none", "default", "reduce-overhead", "max-autotune"]


def _graph_schema(schema: dict[str, Any]) -> None:
    """JSON Schema: `graph` is true, false or "auto" (unset: the default, decided by the device)."""
    schema["anyOf"] = [{"type": "boolean"}, {"const": "auto"}]
    schema.pop("default", None)


def _compile_schema(schema: dict[str, Any]) -> None:
    """JSON Schema: `compile` also takes true or false (default and none)."""
    schema["anyOf"] = [{"enum": list(get_args(CompileMode))}, {"type": "boolean"}]
    schema.pop("enum", None)
    schema.pop("type", None)


def _text_schema(schema: dict[str, Any]) -> None:
    """JSON Schema: an argv field also takes one string, split like a shell."""
    schema["anyOf"].insert(1, {"type": "string"})


class _Section(BaseModel):
    # inf and nan are never a setting: `idle_s = inf` would wait for ever, `lr = inf` diverge at once.
    # strict: TOML has types, so max_steps = "800" or 800.0 is a mistake to point out, not a value to coerce
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class SeedRange(_Section):
    """Adaptive seeds: rounds of one run per variant (seeds 0, 1, ...), from `min` rounds up to `max`, until every
    comparison is decided or the next round would break a budget."""

    min: int = Field(default=3, ge=2, description="Rounds always run, before any comparison may be decided.")
    max: int = Field(default=20, ge=2, le=SEED_LIMIT, description="Rounds at most: seeds 0 .. max-1.")
    budget_kwh: float | None = Field(default=None, gt=0, description="Energy of all runs together, in kWh.")
    budget_s: float | None = Field(default=None, gt=0, json_schema_extra=_duration_schema,
                                   description="Run time of all runs added up: seconds, or text such as '12h'.")

    @field_validator("budget_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration_s(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _ordered(self) -> SeedRange:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self


class ScenarioSection(_Section):
    """[scenario]: the experiment's name, its seeds, the devices it runs on and how runs are handed out."""

    name: str = Field(pattern=_SLUG, description="The scenario's name: letters, digits, '-', '_', '.'; names the "
                      "results folder.")
    description: str = Field(default="", description="Free text shown in reports.")
    seeds: list[int] | SeedRange = Field(
        default=[0], description="Seeds every variant runs with, e.g. [0, 1, 2]; or adaptive seeds "
        "{ min = 3, max = 20 } (optional budget_kwh, budget_s).")
    device: str | list[str] = Field(default="auto", description="auto (all visible GPUs, else the CPU), cpu, "
                                    "cuda, cuda:N, or a list of them.")
    baseline: str = Field(default="control", description="The variant every other one is compared against.")
    workers: int | None = Field(default=None, ge=1,
                                description="Runs at once; default one per GPU, or 1 on the CPU.")
    gpus_per_run: int = Field(default=1, ge=1, description="More than 1: each run is DDP over this many GPUs "
                              "(processes on the CPU).")
    runs_per_gpu: int = Field(default=1, ge=1, le=64,
                              description="Runs packed on each GPU at once, each charged its share.")
    order: Order = Field(default="interleaved", description="How runs are handed out: interleaved (seed by seed, "
                         "variants rotated) or variant-major (variant by variant).")

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_range(cls, seeds: Any) -> Any:
        if not isinstance(seeds, dict):
            return seeds
        try:
            return SeedRange.model_validate(seeds)
        except ValidationError as exc:  # said here, or the message would name 'seeds' and not the key inside it
            err = exc.errors()[0]
            key = str(err["loc"][0]) if err["loc"] else ""
            if err["type"] == "extra_forbidden":
                raise ValueError(f"unknown key '{key}' in seeds{did_you_mean(key, SeedRange.model_fields)}; "
                                 "adaptive seeds are { min = 3, max = 20 } (optional budget_kwh, budget_s)") from None
            message = err["msg"].removeprefix("Value error, ")
            raise ValueError(f"{key}: {message}" if key else message) from None

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int] | SeedRange) -> list[int] | SeedRange:
        # the caller appends '(got [...])' to every message
        if isinstance(seeds, SeedRange):
            return seeds
        if not seeds:
            raise ValueError("needs at least one seed, e.g. seeds = [0, 1]")
        if len(set(seeds)) != len(seeds):
            raise ValueError("must be distinct")
        if any(s < 0 for s in seeds):
            raise ValueError("must be >= 0")
        if any(s >= SEED_LIMIT for s in seeds):
            raise ValueError(f"must be < 2^32 = {SEED_LIMIT} (NumPy's seeds are 32 bits)")
        return seeds

    @field_validator("device")
    @classmethod
    def _device_names(cls, device: str | list[str]) -> str | list[str]:
        # what any host could resolve (execute/devices.py); whether this host has the GPUs is checked by `run`
        items = [device] if isinstance(device, str) else device
        if not items:
            raise ValueError('needs at least one device, e.g. device = "auto" or ["cuda:0", "cuda:1"]')
        for item in items:
            name = item.strip().lower()
            if name not in ("auto", "cpu", "cuda") and not (name.startswith("cuda:") and name[5:].isdigit()):
                raise ValueError(f"unknown device '{item}'; use auto, cpu, cuda or cuda:N")
        return device

    @property
    def adaptive(self) -> SeedRange | None:
        return self.seeds if isinstance(self.seeds, SeedRange) else None

    @property
    def seed_list(self) -> list[int]:
        """Every seed that may run, in round order: the list, or 0 .. max-1 for adaptive seeds."""
        return list(range(self.seeds.max)) if isinstance(self.seeds, SeedRange) else list(self.seeds)


class ParseConfig(_Section):
    """How a command's stdout is read: a `preset` for a framework's own log lines ('hf-trainer', 'lightning',
    'keras'; bnbench.execute.parse_presets), or regular expressions with named groups: `log` lines give the
    training loss ((?P<loss>...)), `eval` lines the metric; an optional (?P<step>...) group gives the step."""

    preset: Literal["hf-trainer", "lightning", "keras"] | None = Field(
        default=None, description="Read a framework's own log lines: hf-trainer, lightning or keras (instead of "
        "log and eval).")
    log: str | None = Field(default=None, description="Regular expression for training-log lines, e.g. with "
                            "(?P<loss>[0-9.eE+-]+).")
    eval: str | None = Field(default=None, description="Regular expression for evaluation lines, with a group "
                             "named after the metric.")

    @model_validator(mode="after")
    def _one_way(self) -> ParseConfig:
        if self.preset is not None and (self.log is not None or self.eval is not None):
            raise ValueError(f"preset = '{self.preset}' reads the lines itself: leave out log and eval")
        return self

    @field_validator("log", "eval")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"'{value}' is not a regular expression ({exc})") from None
        if not pattern.groupindex:
            raise ValueError(f"'{value}' has no named group such as (?P<loss>[0-9.eE+-]+)")
        return value


class TaskConfig(_Section):
    """[task]: what is learned and scored: super-resolution, digits, or the user's own command."""

    name: str = Field(default="super-resolution", description="The task: super-resolution, digits, or command "
                      "(each run is the user's own command).")
    scale: int = Field(default=3, ge=2, le=8, description="Super-resolution: the upscaling factor.")
    patch_size: int = Field(default=33, ge=8, le=512, description="Super-resolution: side of the training "
                            "patches, in pixels.")
    batch_size: int = Field(default=64, ge=1, description="Samples per training step.")
    dataset: str = Field(default="bundled", description="bundled, or a folder of PNG/JPEG images, relative to "
                         "the scenario file's folder.")
    validation: str | None = Field(default=None, description="Super-resolution: a folder of validation images; "
                                   "unset holds out every 5th image.")
    input: Literal["bicubic", "low_res"] = Field(
        default="bicubic", description="Super-resolution input: bicubic-upsampled (SRCNN) or low-res (FSRCNN).")
    eval_size: int | None = Field(default=None, ge=16, description="Super-resolution: score each validation "
                                  "image on its centre NxN pixels.")
    # name = "command": each variant runs a command (bnbench.execute.command); the rest is for it alone.
    command: list[str] | None = Field(
        default=None, json_schema_extra=_text_schema,
        description="name = 'command': the program and its arguments, with {seed} {run_id} {run_dir} {variant}; "
        "a string is split like a shell.")
    metric: str | None = Field(default=None, description="name = 'command': the metric the command reports and "
                               "the verdict compares.")
    higher_is_better: bool | None = Field(default=None, description="name = 'command': the metric's direction, "
                                          "stated (a name such as 'score' does not tell).")
    metric_required: bool = Field(default=True, description="false: a command that reports no metric still "
                                  "completes (bnbench measure).")
    parse: ParseConfig | None = Field(default=None, description="name = 'command': regular expressions over the "
                                      "command's stdout (log, eval).")
    workdir: str = Field(default=".", description="name = 'command': where the command runs, relative to the "
                         "scenario file's folder.")
    grace_s: float = Field(default=10.0, ge=0, description="After SIGTERM, seconds before the command's process "
                           "group is killed.")
    echo: bool = Field(default=False, description="Pass the command's output through to the terminal (always "
                       "kept in runs/RUN_ID/).")

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("command")
    @classmethod
    def _known_placeholders(cls, argv: list[str] | None) -> list[str] | None:
        if argv is not None:
            if not argv or not argv[0]:
                raise ValueError("is empty; give the program and its arguments, e.g. [\"python\", \"train.py\"]")
            for arg in argv:
                check_placeholders(arg)
        return argv

    @field_validator("metric")
    @classmethod
    def _metric_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError("must be a name of letters, digits and '_', e.g. 'val_accuracy_pct'")
        return value

    @model_validator(mode="after")
    def _eval_size_for_images(self) -> TaskConfig:
        if self.eval_size is not None and self.name != "super-resolution":
            raise ValueError(f"eval_size applies to name = 'super-resolution' only (name is '{self.name}')")
        return self

    @model_validator(mode="after")
    def _command_fields(self) -> TaskConfig:
        own = ("command", "metric", "higher_is_better", "parse")
        if self.name != COMMAND:
            given = [k for k in own if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{given[0]} applies to name = '{COMMAND}' only (name is '{self.name}')")
            return self
        if self.metric is None:
            raise ValueError(f"name = '{COMMAND}' needs metric = \"...\": the metric the command reports")
        if self.higher_is_better is None:
            raise ValueError(f"name = '{COMMAND}' needs higher_is_better = true or false for '{self.metric}'")
        if self.parse and self.parse.eval and self.metric not in re.compile(self.parse.eval).groupindex:
            raise ValueError(f"parse.eval has no group (?P<{self.metric}>...) for the metric")
        return self


def check_placeholders(arg: str) -> None:
    """ValueError for a `{name}` in a command argument that is not a placeholder (write `{{` for a brace)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(arg) if f is not None]
    except ValueError as exc:
        raise ValueError(f"argument '{arg}': {exc}; write {{{{ and }}}} for literal braces") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            hint = did_you_mean(name, PLACEHOLDERS)
            raise ValueError(f"unknown placeholder '{{{name}}}'{hint} (placeholders: {known})")


class ModelConfig(_Section):
    """[model]: the network and its normalization."""

    arch: str = Field(default="srcnn", description="A bundled architecture (srcnn, srcnn-955, fsrcnn, lenet) or "
                      "your own factory as 'module.path:function'.")
    norm: str = Field(default="none", description="The normalization after each hidden layer: none, batch, "
                      "group, layer, instance, batchrenorm or syncbatch.")
    decay: float | None = Field(default=None, gt=0, lt=1, description="Batch norm's moving-average decay, "
                                "TensorFlow's word (default 0.9); PyTorch's momentum = 1 - decay.")
    momentum: float | None = Field(default=None, gt=0, lt=1, description="PyTorch's word for 1 - decay; give "
                                   "decay or momentum, not both.")
    eps: float = Field(default=1e-5, gt=0, description="Added to the variance before its square root.")
    zero_debias: bool = Field(default=False, description="norm = 'batch': TensorFlow's zero_debias_moving_mean, "
                              "mean = biased / (1 - decay^t).")
    groups: int = Field(default=32, ge=1, description="norm = 'group': groups per layer (Wu & He's default 32).")
    rmax: float = Field(default=3.0, ge=1, description="norm = 'batchrenorm': r clipped to [1/rmax, rmax] after "
                        "the ramp.")
    dmax: float = Field(default=5.0, ge=0, description="norm = 'batchrenorm': d clipped to [-dmax, dmax] after "
                        "the ramp.")
    renorm_warmup: int = Field(default=5000, ge=0, description="norm = 'batchrenorm': steps with rmax = 1, "
                               "dmax = 0 (plain batch norm).")
    renorm_ramp: int = Field(default=20000, ge=0, description="norm = 'batchrenorm': steps over which rmax and "
                             "dmax then grow linearly.")
    placement: Literal["before_activation", "after_activation"] = Field(
        default="before_activation", description="Where the norm sits: before or after each activation.")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="Rate of dropout after every hidden layer.")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the architecture's "
                                    "factory, e.g. { widths = [64, 32] }.")

    @model_validator(mode="after")
    def _consistent_bn(self) -> ModelConfig:
        if self.decay is not None and self.momentum is not None and abs(self.decay + self.momentum - 1) > 1e-9:
            raise ValueError(
                f"decay {self.decay} and momentum {self.momentum} contradict each other: "
                f"momentum = 1 - decay = {1 - self.decay:g}; give only one"
            )
        if self.zero_debias and self.norm != "batch":
            raise ValueError(f"zero_debias applies to norm = 'batch' only (norm is '{self.norm}')")
        return self

    @property
    def bn_decay(self) -> float:
        """TensorFlow's decay: moving = decay * moving + (1 - decay) * batch. Default 0.9 (PyTorch's 0.1)."""
        if self.decay is not None:
            return self.decay
        if self.momentum is not None:
            return 1.0 - self.momentum
        return 0.9


def parse_duration_s(value: str | float | int) -> float:
    """Seconds from a number of seconds or a string such as '12h', '1h30m', '90s'."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not value.strip() or not match or not any(match.groups()):
        raise ValueError(f"'{value}' is not a duration; write seconds or e.g. '12h', '1h30m', '90s'")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class TrainConfig(_Section):
    """[train]: optimizer, steps, evaluations, precision and checkpoints."""

    optimizer: Literal["adam", "sgd"] = Field(default="adam", description="The optimizer.")
    lr: float = Field(default=1e-3, gt=0, description="Learning rate.")
    sgd_momentum: float = Field(default=0.9, ge=0, lt=1, description="optimizer = 'sgd': its momentum.")
    weight_decay: float = Field(default=0.0, ge=0, description="L2 weight decay.")
    schedule: Literal["constant", "cosine"] = Field(default="constant", description="Learning-rate schedule.")
    max_steps: int = Field(default=300, ge=1, description="Training steps per run.")
    max_wall_s: float | None = Field(default=None, gt=0, json_schema_extra=_duration_schema,
                                     description="Stop a run after this long: seconds, or text such as '4h'.")
    eval_every: int = Field(default=50, ge=1, description="Steps between evaluations.")
    log_every: int = Field(default=10, ge=1, description="Steps between logged training losses.")
    target: float | None = Field(default=None, description="The metric's target: time- and energy-to-target are "
                                 "measured against it.")
    precision: Literal["fp32", "tf32", "bf16"] = Field(
        default="fp32", description="Arithmetic: fp32 is full fp32 (TF32 off), tf32, or bf16 autocast.")
    channels_last: bool = Field(default=False, description="Weights and image batches in NHWC memory format.")
    cudnn_benchmark: bool = Field(default=False, description="Let cuDNN time its algorithms and keep the fastest.")
    compile: CompileMode = Field(
        default="none", json_schema_extra=_compile_schema, description="torch.compile the model: none, default, "
        "reduce-overhead (CUDA graphs) or max-autotune; true and false mean default and none.")
    graph: bool | None = Field(
        default=None, json_schema_extra=_graph_schema, description="Capture the whole training step (forward, "
        "loss, backward, optimizer) in a CUDA graph after the warm-up and replay it; where it cannot be captured "
        "the run trains eager and says why. Unset (or \"auto\"): graphed on a CUDA GPU unless compile is set, "
        "eager elsewhere.")
    threads: int | None = Field(default=None, ge=1, description="CPU threads torch may use; default: its own "
                                "choice for the worker's share of cores.")
    warmup_steps: int = Field(default=3, ge=0, description="Steps and an evaluation on copies, before the "
                              "measured phases.")
    checkpoint_every: int | None = Field(default=None, ge=1, description="Steps between checkpoints; unset: at "
                                         "every evaluation.")
    checkpoint_every_s: float | None = Field(default=600.0, gt=0, json_schema_extra=_duration_schema,
                                             description="And at least this often in wall time: seconds or '10m'.")
    keep_checkpoints: int = Field(default=2, ge=1, description="Newest checkpoint files kept; the older ones are "
                                  "fallbacks.")

    @field_validator("max_wall_s", "checkpoint_every_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration_s(value) if isinstance(value, str) else value

    @field_validator("compile", mode="before")
    @classmethod
    def _compile_bool(cls, value: Any) -> Any:
        # `compile = true` (the key's first form) is torch.compile's default mode, exactly what it always did
        return {True: "default", False: "none"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("graph", mode="before")
    @classmethod
    def _graph_auto(cls, value: Any) -> Any:
        # TOML has no null: "auto" is how a variant puts back the default a [train] table changed
        return None if value == "auto" else value

    @field_serializer("compile")
    def _compile_written(self, value: str) -> str | bool:
        # Written as the first form where it has one, so a results folder begun before the modes existed keeps
        # its fingerprint and still resumes (the same setting, the same text)
        return {"default": True, "none": False}.get(value, value)

    @model_validator(mode="after")
    def _one_loop(self) -> TrainConfig:
        if self.graph and self.compile != "none":
            raise ValueError(f"graph = true and compile = '{self.compile}' are two training loops; choose one")
        return self


class StatsConfig(_Section):
    """[stats]: how comparisons are decided (docs/explanation/verdicts.md)."""

    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="Two-sided significance level, for the family "
                         "of variants against the baseline.")
    power: float = Field(default=0.8, gt=0, lt=1, description="For `bnbench plan` and the seeds an undecided "
                         "comparison needs.")
    min_effect: float | None = Field(default=None, gt=0, description="In the metric's units: smaller "
                                     "differences do not matter.")
    energy_ratio: float | None = Field(default=None, gt=0, lt=1, description="E.g. 0.05: energies within +-5% "
                                       "count as the same.")
    wall_ratio: float | None = Field(default=None, gt=0, lt=1, description="The same as energy_ratio, for wall "
                                     "time.")
    spending: Literal["obrien-fleming", "pocock"] = Field(
        default="obrien-fleming", description="Adaptive seeds: the alpha-spending function.")


class EnergyConfig(_Section):
    """[energy]: how power is sampled and how joules become kWh, cups of tea, CO2 and cost."""

    sample_hz: float = Field(default=10.0, gt=0, le=100, description="Power samples a second, for the trace.")
    idle_s: float = Field(default=5.0, ge=0, description="Seconds of idle baseline before the runs (net_kwh "
                          "subtracts it).")
    estimate: bool = Field(default=True, description="With no sensor, estimate estimate_w_per_core x process CPU "
                           "time (labelled 'estimate').")
    estimate_w_per_core: float = Field(default=DEFAULT_W_PER_CORE, gt=0, description="Watts per busy core, for "
                                       "the estimate.")
    wh_per_cup: float = Field(default=WH_PER_CUP, gt=0, description="Watt-hours per cup of tea: 18 kWh / 540 "
                              "cups = 33.3 Wh, the paper's arithmetic.")
    co2_g_per_kwh: float = Field(default=DEFAULT_CO2_G_PER_KWH, ge=0, description="Grams of CO2 per kWh of "
                                 "electricity.")
    price_per_kwh: float = Field(default=DEFAULT_PRICE_PER_KWH, ge=0, description="Price of a kWh.")
    currency: str = Field(default=DEFAULT_CURRENCY, description="Currency of the price.")
    pue: float = Field(default=1.0, ge=1.0, description="Data-centre PUE: facility energy / device energy.")
    powercap: str | None = Field(default=None, description="The powercap tree RAPL is read from; default "
                                 "$BNBENCH_POWERCAP or /sys/class/powercap.")


class ExportConfig(_Section):
    """[export]: where a session's results go when it ends, besides its results folder. Changes nothing the runs
    measure, so a resume may change it."""

    mlflow: str | None = Field(default=None, description="An MLflow tracking URI (http://host:5000, "
                               "sqlite:///mlflow.db or a folder, relative to the scenario file): each session "
                               "that ends is exported there, as `bnbench export DIR --mlflow URI` would.")
    experiment: str | None = Field(default=None, description="The MLflow experiment. Default: the scenario's name.")

    @field_validator("mlflow", "experiment")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave the key out for none)")
        return value


class SlurmConfig(_Section):
    """[slurm]: what each run's job asks of a Slurm cluster (`bnbench run --executor slurm`). Where and when runs
    train, not what they measure, so a resume may change it."""

    partition: str | None = Field(default=None, description="The partition jobs go to. Default: the cluster's.")
    gpus: int = Field(default=0, ge=0, le=1, description="GPUs per run's job: 0 (CPU) or 1; runs over several "
                      "GPUs (gpus_per_run > 1) train with the local executor.")
    cpus: int | None = Field(default=None, ge=1, le=1024, description="CPU cores per job. Default: [train] "
                             "threads, else 1.")
    mem_gb: float | None = Field(default=None, gt=0, le=65536, description="Memory per job, in GB. Default: the "
                                 "partition's.")
    time_min: int = Field(default=60, ge=1, le=525600, description="Time limit of a job, in minutes; a run "
                          "that needs longer is requeued from its checkpoint (see requeues).")
    requeues: int = Field(default=3, ge=0, le=100, description="Times a run's job is requeued after a time-out "
                          "(preemptions do not count), each resuming from the run's newest checkpoint.")
    signal_s: int = Field(default=90, ge=10, le=3600, description="Seconds before its time limit that a job is "
                          "told to checkpoint and requeue.")

    @field_validator("partition")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave the key out for the cluster's default)")
        return value


_OVERRIDABLE: dict[str, type[_Section]] = {"model": ModelConfig, "train": TrainConfig, "task": TaskConfig}
_TASK_FIELDS_NOT_OVERRIDABLE = {"name", "dataset", "validation", "metric", "higher_is_better"}


def _variant_keys() -> dict[str, str]:
    """Variant key -> the section it overrides."""
    keys: dict[str, str] = {}
    for section, model in _OVERRIDABLE.items():
        for key in model.model_fields:
            if section == "task" and key in _TASK_FIELDS_NOT_OVERRIDABLE:
                continue
            keys.setdefault(key, section)
    return keys


VARIANT_KEYS = _variant_keys()


@dataclass(frozen=True)
class Variant:
    name: str
    model: ModelConfig
    train: TrainConfig
    task: TaskConfig
    overrides: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class RunSpec:
    """One training run: a variant with one seed. `run_id` is stable across invocations."""

    run_id: str
    index: int
    scenario_name: str
    variant: str
    seed: int
    task: TaskConfig
    model: ModelConfig
    train: TrainConfig
    energy: EnergyConfig


@dataclass(frozen=True)
class Scenario:
    scenario: ScenarioSection
    task: TaskConfig
    model: ModelConfig
    train: TrainConfig
    energy: EnergyConfig
    variants: tuple[Variant, ...]
    source: str = "<scenario>"
    stats: StatsConfig = StatsConfig()
    export: ExportConfig = ExportConfig()
    slurm: SlurmConfig = SlurmConfig()

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def baseline(self) -> str:
        return self.scenario.baseline

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario (defaults filled in), ready for TOML: None values are left out."""
        # Unset keys are left out. [train] graph unset (the device decides) is left out as graph = false was before
        # it became the GPU default, so a folder begun then with the defaults keeps its fingerprint and resumes.
        out: dict[str, Any] = {
            section: _drop_none(getattr(self, section).model_dump())
            for section in ("scenario", "task", "model", "train", "energy")
        }
        stats = self.stats.model_dump(exclude_defaults=True)  # left out when default: older folders still resume
        if stats:
            out["stats"] = stats
        export = self.export.model_dump(exclude_none=True)
        if export:
            out["export"] = export
        slurm = self.slurm.model_dump(exclude_defaults=True)  # left out when default: older folders still resume
        if slurm:
            out["slurm"] = slurm
        out["variant"] = [{"name": v.name, **dict(v.overrides)} for v in self.variants]
        return out

    def fingerprint(self) -> str:
        """A hash of everything that changes results; equal fingerprints mean the same experiment."""
        # Where results go and where runs train, not what they are.
        settings = {k: v for k, v in self.to_dict().items() if k not in ("export", "slurm")}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}


_SECTIONS: dict[str, type[_Section]] = {
    "scenario": ScenarioSection,
    "task": TaskConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "energy": EnergyConfig,
    "stats": StatsConfig,
    "export": ExportConfig,
    "slurm": SlurmConfig,
}


def load(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override (`section.key=value`) and validate a scenario file. Raises UserError, one line."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: a folder, not a scenario file")
    if not path.is_file():
        raise UserError(f"{path}: no such scenario file")
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:  # refused before parsing: TOML parsers take seconds on some large inputs
        raise UserError(f"{path}: over {MAX_BYTES // 1024} KiB; a scenario is a few KiB (a thousand variants fit)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a TOML text file (byte {data[exc.start]:#04x} at offset {exc.start} is not "
                        "UTF-8)") from None
    if any(line.split("=", 1)[0].count(".") > MAX_DEPTH for line in text.splitlines()):
        raise _too_deep(path)  # a key of many dotted parts: tomllib's time grows with their square
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise _too_deep(path) from None
    resolve_data_paths(raw, path.parent)
    given = apply_overrides(raw, overrides)
    if _depth(raw) > MAX_DEPTH:
        raise _too_deep(path)
    scenario = from_dict(raw, source=str(path), text=text, given=given)
    named = raw.get("scenario", {}).get("baseline") if isinstance(raw.get("scenario"), dict) else None
    if named is not None and scenario.baseline not in {v.name for v in scenario.variants}:
        # with several variants from_dict refuses it; one variant is its own baseline unless one is named
        raise UserError(f"{path}: [scenario] baseline: no variant named '{scenario.baseline}' (variants: "
                        f"{', '.join(v.name for v in scenario.variants)}); remove baseline or name a variant")
    return scenario


MAX_DEPTH = 16  # tables in tables (variant options included); far more than any scenario, far less than recursion
MAX_BYTES = 256 * 1024  # the bundled scenarios are 1-2 KiB


def _too_deep(path: Path) -> UserError:
    return UserError(f"{path}: tables or arrays nested more than {MAX_DEPTH} deep; a scenario needs a few levels")


def _depth(value: Any) -> int:
    """How deeply tables and arrays nest in `value` (a scalar is 0), without recursion."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, level = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_DEPTH:
            break
        todo += [(child, level + 1) for child in children]
    return deepest


_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def resolve_data_paths(raw: dict[str, Any], folder: Path) -> None:
    """Make `[task] dataset` and `validation` folders (and an `[export] mlflow` folder, a URI without a scheme)
    absolute, relative to the scenario file's `folder`.

    Runs before `--set` overrides, so a path given on the command line stays relative to the working directory.
    """
    export = raw.get("export")
    if isinstance(export, dict) and isinstance(export.get("mlflow"), str) and export["mlflow"].strip() \
            and not _URI_SCHEME.match(export["mlflow"]):
        export["mlflow"] = str((folder / Path(export["mlflow"]).expanduser()).resolve())
    task = raw.get("task")
    if not isinstance(task, dict):
        return
    for key in ("dataset", "validation"):
        value = task.get(key)
        if isinstance(value, str) and value != "bundled":
            task[key] = str((folder / Path(value).expanduser()).resolve())
    if task.get("name") == COMMAND:
        value = task.get("workdir", ".")
        if isinstance(value, str):
            task["workdir"] = str((folder / Path(value).expanduser()).resolve())


def from_dict(
    raw: dict[str, Any], source: str = "<scenario>", text: str = "", given: Collection[str] = ()
) -> Scenario:
    """Validate a raw scenario mapping (as parsed from TOML). Raises UserError naming the field; a field that
    `given` names ('train.lr', 'variant.bn.lr': what --set changed) is said to come from --set, not from a line
    of `text`."""
    known = [*_SECTIONS, "variant"]
    for section in raw:
        if section not in known:
            raise UserError(f"{source}: unknown section [{section}]{did_you_mean(section, known)}")
    if "scenario" not in raw:
        raise UserError(f"{source}: missing section [scenario] (it needs at least name = \"...\")")
    sections: dict[str, _Section] = {}
    for name, model in _SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise UserError(f"{source}: [{name}] must be a table")
        sections[name] = _validate(model, table, source, text, f"[{name}]", name,
                                   given={k.partition(".")[2] for k in given if k.startswith(f"{name}.")})
    variants = _variants(raw.get("variant", []), sections, source, text, given)
    scenario = Scenario(variants=variants, source=source, **sections)  # type: ignore[arg-type]
    names = [v.name for v in variants]
    for variant in variants:
        if variant.task.name == COMMAND and not variant.task.command:
            where = "[task]" if len(variants) == 1 else f"[[variant]] '{variant.name}'"
            raise UserError(f"{source}: {where}: needs command = [\"program\", \"arg\", ...] ([task] name = "
                            f"'{COMMAND}')")
    if scenario.baseline not in names and len(variants) > 1:
        raise UserError(
            f"{source}: [scenario] baseline: no variant named '{scenario.baseline}' "
            f"(variants: {', '.join(names)}); name one 'control' or set baseline"
        )
    return scenario


def _variants(
    tables: Any, sections: dict[str, _Section], source: str, text: str, given: Collection[str] = ()
) -> tuple[Variant, ...]:
    if not isinstance(tables, list):
        raise UserError(f"{source}: variants are written [[variant]] (an array of tables)")
    if not tables:
        tables = [{"name": sections["scenario"].baseline}]  # type: ignore[attr-defined]
    variants: list[Variant] = []
    for index, table in enumerate(tables):
        name = table.get("name")
        where = f"[[variant]] #{index + 1}"
        if not isinstance(name, str) or not re.match(_SLUG, name):
            raise UserError(f"{source}: {where}: needs name = \"...\" (letters, digits, '-', '_', '.')")
        if name in {v.name for v in variants}:
            raise UserError(f"{source}: {where}: duplicate variant name '{name}'")
        where = f"[[variant]] '{name}'"
        split: dict[str, dict[str, Any]] = {s: {} for s in _OVERRIDABLE}
        for key, value in table.items():
            if key == "name":
                continue
            if key not in VARIANT_KEYS:
                by_set = _by_set(f"variant.{name}.{key}" in given)
                line = "" if by_set else _line_of(text, "variant", key, index)
                hint = did_you_mean(key, VARIANT_KEYS)
                raise UserError(f"{source}{line}: {where}: unknown key '{key}'{hint}{by_set}")
            split[VARIANT_KEYS[key]][key] = value
        resolved = {
            s: _validate(
                model,
                {**sections[s].model_dump(exclude_unset=True), **split[s]},
                source,
                text,
                where,
                "variant",
                index,
                given={k.removeprefix(f"variant.{name}.") for k in given if k.startswith(f"variant.{name}.")},
            )
            for s, model in _OVERRIDABLE.items()
        }
        overrides = tuple((k, v) for k, v in table.items() if k != "name")
        variants.append(Variant(name=name, overrides=overrides, **resolved))
    return tuple(variants)


def _validate(
    model: type[_Section],
    table: dict[str, Any],
    source: str,
    text: str,
    where: str,
    section: str,
    variant_index: int | None = None,
    given: Collection[str] = (),
) -> Any:
    """`table` as `model`, or UserError naming the key, its line in `text` or, for a key in `given`, --set."""
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else ""
        by_set = _by_set(key in given)  # its value is the command line's: the file's line would mislead
        line = _line_of(text, section, key, variant_index) if key and not by_set else ""
        if err["type"] == "extra_forbidden" and len(err["loc"]) > 1:  # inside a table of the section
            path, key = ".".join(str(p) for p in err["loc"][:-1]), str(err["loc"][-1])
            nested = _nested_model(model, err["loc"][:-1])
            hint = did_you_mean(key, nested.model_fields) if nested else ""
            line = _line_of(text, f"{section}.{path}", key, variant_index) or line
            inner = f"[{where[1:-1]}.{path}]" if re.fullmatch(r"\[[\w.-]+\]", where) else f"{where} [{path}]"
            raise UserError(f"{source}{line}: {inner}: unknown key '{key}'{hint}") from None
        if err["type"] == "extra_forbidden":
            hint = did_you_mean(key, model.model_fields)
            raise UserError(f"{source}{line}: {where}: unknown key '{key}'{hint}{by_set}") from None
        if err["type"] == "missing":
            raise UserError(f"{source}: {where}: missing required key '{key}'") from None
        message = _TYPE_MESSAGES.get(err["type"], err["msg"].removeprefix("Value error, "))
        got = f" (got {err['input']!r}{', given by --set' if by_set else ''})" \
            if key and not isinstance(err.get("input"), dict) else by_set
        field = f" {key}" if key else ""
        raise UserError(f"{source}{line}: {where}{field}: {message}{got}") from None


def _by_set(given: object) -> str:
    return " (given by --set)" if given else ""


def _nested_model(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model of the table at `loc` inside `model` (through optional fields), None when there is none."""
    import typing

    current: type[BaseModel] | None = model
    for part in loc:
        field = current.model_fields.get(str(part)) if current else None
        if field is None:
            return None
        kinds = typing.get_args(field.annotation) or (field.annotation,)
        current = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
    return current


# pydantic's words for a value of the wrong TOML type, in the words of a scenario file.
_TYPE_MESSAGES = {
    "int_type": "must be a whole number, written without quotes or a decimal point (e.g. 800)",
    "float_type": "must be a number, written without quotes (e.g. 0.001)",
    "bool_type": "must be true or false, written without quotes",
    "string_type": "must be text in quotes",
    "list_type": "must be a list in brackets, e.g. [0, 1]",
}


def _line_of(text: str, section: str, key: str, variant_index: int | None = None) -> str:
    """':LINE' of `key = ...` inside `[section]` (or the n-th `[[variant]]`), '' when not found."""
    current, seen_variants = None, -1
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[[") and stripped.endswith("]]"):
            current = stripped[2:-2].strip()
            if current == "variant":
                seen_variants += 1
        elif stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1].strip()
        elif (
            current == section
            and re.match(rf"^{re.escape(key)}\s*=", stripped)
            and variant_index in (None, seen_variants)
        ):
            return f":{number}"
    return ""


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> set[str]:
    """Apply `section.key=value` (or `variant.NAME.key=value`) in place; values are parsed as TOML. Returns the
    dotted keys set ('train.lr', 'variant.bn.lr')."""
    given: set[str] = set()
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set '{item}': expected section.key=value, e.g. train.max_steps=20")
        dotted, value_text = item.split("=", 1)
        parts = dotted.strip().split(".")
        value = _parse_value(value_text.strip())
        if parts[0] == "variant":
            if len(parts) != 3:
                raise UserError(f"--set '{item}': expected variant.NAME.key=value")
            tables = raw.get("variant", [])
            matches = [t for t in tables if t.get("name") == parts[1]]
            if not matches:
                names = [t.get("name", "?") for t in tables]
                raise UserError(
                    f"--set '{item}': no variant named '{parts[1]}'{did_you_mean(parts[1], names)}"
                )
            matches[0][parts[2]] = value
            given.add(".".join(parts))
            continue
        if len(parts) != 2:
            raise UserError(f"--set '{item}': expected section.key=value, e.g. train.max_steps=20")
        section, key = parts
        if section not in _SECTIONS:
            hint = did_you_mean(section, [*_SECTIONS, "variant"])
            raise UserError(f"--set '{item}': unknown section '{section}'{hint}")
        raw.setdefault(section, {})[key] = value
        given.add(f"{section}.{key}")
    return given


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text


def expand(scenario: Scenario) -> list[RunSpec]:
    """One RunSpec per variant x seed, variants in file order, seeds in the order given (the matrix order;
    the order runs are handed out in is the executor's, see bnbench.execute.order)."""
    specs: list[RunSpec] = []
    for variant in scenario.variants:
        for seed in scenario.scenario.seed_list:
            specs.append(
                RunSpec(
                    run_id=f"{variant.name}-s{seed}",
                    index=len(specs),
                    scenario_name=scenario.name,
                    variant=variant.name,
                    seed=seed,
                    task=variant.task,
                    model=variant.model,
                    train=variant.train,
                    energy=scenario.energy,
                )
            )
    return specs



def is_import_path(arch: str) -> bool:
    """Whether `arch` names a user's model factory ('module.path:factory') rather than a registered one."""
    return ":" in arch


def trust_scenario_folder(scenario: Scenario) -> None:
    """Let `arch = "module:factory"` import from the folder of `scenario`'s file, searched last, so a file there
    never shadows an installed package (bnbench.trusted). Spawned pool workers inherit it."""
    from bnbench import trusted

    if not any(is_import_path(v.model.arch) for v in scenario.variants):
        return
    trusted.trust(str(Path(scenario.source).resolve().parent))
