"""Normalization layers by name, with TensorFlow's batch-norm semantics where the paper relied on them.

A norm factory maps a channel count to a module; models call it after every conv but the last. The registry
holds one entry per scheme; variants pick one with `norm = "..."` and pass its parameters as model fields.
The registry and the facts a shape walk needs (`norm_parameters`) load no torch: each factory imports its
module when a model is built (the modules themselves are in bnbench.models.batchnorms and .syncbn).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bnbench.errors import UserError
from bnbench.registry import Registry
from bnbench.scenario import ModelConfig

if TYPE_CHECKING:
    from torch import nn

NormFactory = Callable[[int], "nn.Module"]

NORMS: Registry[Callable[[ModelConfig], NormFactory]] = Registry("norm")
IDENTITY = "none"  # the one norm that hands its input on: no output of its own, no parameters


def make_norm(config: ModelConfig) -> NormFactory:
    """The channel-count -> module factory for `config.norm`; UserError for an unknown name."""
    return NORMS.get(config.norm)(config)


def check_width(config: ModelConfig, channels: int) -> None:
    """UserError when `config.norm` cannot normalize a layer of `channels` feature maps."""
    if config.norm == "group" and channels % config.groups:
        raise UserError(
            f"norm 'group': groups = {config.groups} does not divide a layer of {channels} channels; "
            f"set groups to a divisor of every normalized layer's width"
        )


def norm_parameters(config: ModelConfig, channels: int) -> int:
    """The learned parameters of `config.norm` over `channels` feature maps: a scale and a shift per channel for
    every norm but 'none'. UserError as `check_width`. `tests/models/test_shapes.py` holds this to the modules."""
    NORMS.get(config.norm)
    check_width(config, channels)
    return 0 if config.norm == IDENTITY else 2 * channels


@NORMS.register(IDENTITY, "no normalization: the paper's control",
                aliases=("no", "off", "identity"))
def _none(config: ModelConfig) -> NormFactory:
    from torch import nn

    return lambda channels: nn.Identity()


@NORMS.register("batch", "batch normalization (Ioffe & Szegedy 2015), TF decay/eps and zero_debias_moving_mean",
                aliases=("batchnorm", "batch_norm", "batch-norm", "bn", "batchnorm2d"))
def _batch(config: ModelConfig) -> NormFactory:
    from torch import nn

    from bnbench.models.batchnorms import ZeroDebiasBatchNorm2d

    decay, eps = config.bn_decay, config.eps
    if config.zero_debias:
        return lambda channels: ZeroDebiasBatchNorm2d(channels, decay=decay, eps=eps)
    # TF's moving = decay*moving + (1-decay)*batch is PyTorch's running = (1-m)*running + m*batch, m = 1-decay.
    return lambda channels: nn.BatchNorm2d(channels, eps=eps, momentum=1.0 - decay)


@NORMS.register("group", "group normalization (Wu & He 2018): statistics per sample over `groups` channel groups",
                aliases=("groupnorm", "group_norm", "group-norm", "gn"))
def _group(config: ModelConfig) -> NormFactory:
    from torch import nn

    def build(channels: int) -> nn.Module:
        check_width(config, channels)
        return nn.GroupNorm(config.groups, channels, eps=config.eps)

    return build


@NORMS.register("layer", "layer normalization (Ba, Kiros & Hinton 2016): per sample over all channels and pixels",
                aliases=("layernorm", "layer_norm", "layer-norm", "ln"))
def _layer(config: ModelConfig) -> NormFactory:
    from torch import nn

    # nn.LayerNorm needs a fixed (C, H, W), but evaluation runs on whole images of any size; one group over all
    # channels is the same statistics, with a per-channel gain and bias as conv nets use it (Wu & He, Fig. 2).
    return lambda channels: nn.GroupNorm(1, channels, eps=config.eps)


@NORMS.register("instance", "instance normalization (Ulyanov, Vedaldi & Lempitsky 2016): per sample and channel",
                aliases=("instancenorm", "instance_norm", "instance-norm", "in"))
def _instance(config: ModelConfig) -> NormFactory:
    from torch import nn

    return lambda channels: nn.InstanceNorm2d(channels, eps=config.eps, affine=True)


@NORMS.register("batchrenorm", "batch renormalization (Ioffe 2017): batch norm corrected by clipped r and d",
                aliases=("batch_renorm", "batch-renorm", "renorm", "brn"))
def _batchrenorm(config: ModelConfig) -> NormFactory:
    from bnbench.models.batchnorms import BatchRenorm2d

    return lambda channels: BatchRenorm2d(
        channels,
        decay=config.bn_decay,
        eps=config.eps,
        rmax=config.rmax,
        dmax=config.dmax,
        warmup_steps=config.renorm_warmup,
        ramp_steps=config.renorm_ramp,
    )


@NORMS.register("syncbatch", "batch norm with statistics synchronized across the replicas of a DDP run",
                aliases=("syncbn", "syncbatchnorm", "sync_batch_norm", "sync-bn"))
def _syncbatch(config: ModelConfig) -> NormFactory:
    from bnbench.models.syncbn import SyncBatchNorm2d

    decay, eps = config.bn_decay, config.eps
    # TF's decay -> PyTorch's momentum, as for norm = "batch".
    return lambda channels: SyncBatchNorm2d(channels, eps=eps, momentum=1.0 - decay)
