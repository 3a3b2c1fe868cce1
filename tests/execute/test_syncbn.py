"""Synchronized BN over 2 gloo ranks, each holding half a batch, equals plain BN over the whole batch."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from bnbench.models.norms import make_norm
from bnbench.models.syncbn import SyncBatchNorm2d
from bnbench.scenario import ModelConfig

DECAY, EPS = 0.9, 1e-5


def whole_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """8 samples x 3 channels x 4 x 4 with a large mean (it stresses the variance), and loss weights."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64) * 2.0 + 5.0
    w = torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64)
    return x, w


def fresh_layer(cls: type[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    layer = cls(3, eps=EPS, momentum=1 - DECAY).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, 1.5, -2.0]))
        layer.bias.copy_(torch.tensor([0.1, -0.3, 0.7]))
    return layer


def _rank(rank: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        x, w = whole_batch()
        half = slice(4 * rank, 4 * rank + 4)
        x = x[half].clone().requires_grad_(True)
        layer = fresh_layer(SyncBatchNorm2d).train()
        y = layer(x)
        (y * w[half]).sum().backward()
        layer(x.detach() * 0.5)  # a second step, so the running statistics move twice
        torch.save({"y": y.detach(), "dx": x.grad, "dgamma": layer.weight.grad, "dbeta": layer.bias.grad,
                    "mean": layer.running_mean, "var": layer.running_var}, f"{out}/rank{rank}.pt")
        by_hand = SyncBatchNorm2d(1, eps=EPS, momentum=1 - DECAY).train()
        x = torch.tensor([[1.0, 3.0], [5.0, 7.0]][rank]).reshape(2, 1, 1, 1)
        torch.save({"y": by_hand(x).detach(), "mean": by_hand.running_mean, "var": by_hand.running_var},
                   f"{out}/by-hand{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both rank programs in one spawn of 2 gloo processes (a spawn costs seconds)."""
    out = tmp_path_factory.mktemp("syncbn")
    mp.spawn(_rank, args=(f"file://{out}/store", str(out)), nprocs=2, join=True)
    return out


def test_two_gloo_ranks_equal_whole_batch_bn(ranks_dir: Path) -> None:
    ranks = [torch.load(ranks_dir / f"rank{r}.pt") for r in range(2)]

    x, w = whole_batch()
    x.requires_grad_(True)
    reference = fresh_layer(nn.BatchNorm2d).train()
    y = reference(x)
    (y * w).sum().backward()
    reference(x.detach() * 0.5)

    def close(a: torch.Tensor, b: torch.Tensor) -> None:
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)

    close(torch.cat([r["y"] for r in ranks]), y.detach())
    close(torch.cat([r["dx"] for r in ranks]), x.grad)
    # gamma and beta see only their own rank's output gradients; summed over ranks (what DDP's gradient
    # all-reduce does, up to its 1/N) they are the whole batch's.
    close(ranks[0]["dgamma"] + ranks[1]["dgamma"], reference.weight.grad)
    close(ranks[0]["dbeta"] + ranks[1]["dbeta"], reference.bias.grad)
    for r in ranks:
        close(r["mean"], reference.running_mean)
        close(r["var"], reference.running_var)


def test_statistics_worked_out_by_hand(ranks_dir: Path) -> None:
    # Rank 0 holds [1, 3], rank 1 holds [5, 7]. Whole batch: mean 4; biased variance
    # (9 + 1 + 1 + 9) / 4 = 5 normalizes; unbiased 20 / 3 goes into the moving variance.
    # Moving mean 0.9 * 0 + 0.1 * 4 = 0.4; moving variance 0.9 * 1 + 0.1 * 20/3 = 1.5667.
    # Output for 1: (1 - 4) / sqrt(5 + 1e-5) = -1.341639.
    ranks = [torch.load(ranks_dir / f"by-hand{r}.pt") for r in range(2)]
    scale = 1 / math.sqrt(5 + EPS)
    assert ranks[0]["y"].flatten().tolist() == pytest.approx([-3 * scale, -1 * scale], rel=1e-6)
    assert ranks[1]["y"].flatten().tolist() == pytest.approx([1 * scale, 3 * scale], rel=1e-6)
    for r in ranks:
        assert r["mean"].item() == pytest.approx(0.4, rel=1e-6)
        assert r["var"].item() == pytest.approx(0.9 + 0.1 * 20 / 3, rel=1e-6)


def test_single_process_is_plain_batch_norm() -> None:
    # Outside a process group syncbatch is BN: same output and statistics as norm = "batch".
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3, 3)
    sync = make_norm(ModelConfig(norm="syncbatch", decay=0.99, eps=1e-3))(2)
    plain = make_norm(ModelConfig(norm="batch", decay=0.99, eps=1e-3))(2)
    assert isinstance(sync, SyncBatchNorm2d)
    assert sync.momentum == pytest.approx(0.01) and sync.eps == 1e-3
    torch.testing.assert_close(sync(x), plain(x))
    torch.testing.assert_close(sync.running_var, plain.running_var)
