"""Single-image super-resolution on the Y channel, as SRCNN trains and scores it.

Training pairs are (bicubic-degraded, original) patches drawn at random on the training device from one flat
buffer of all training pixels, so a batch is a few tensor ops, not a Python loop over patches. Validation runs
the model over whole images and scores PSNR on the region it can predict, with at least `scale` pixels shaved
from every border; the bicubic input scored on the same region is the reference a model has to beat.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bnbench.data import TASKS
from bnbench.data.images import (
    BUNDLED_PHOTOS,
    VALIDATION_PHOTOS,
    bicubic_degrade,
    bundled_photo,
    center_crop,
    crop_to_multiple,
    luma_bt601,
    psnr_db,
)
from bnbench.errors import UserError
from bnbench.models import ModelIO
from bnbench.scenario import TaskConfig


class PatchSampler:
    """Random aligned (input, target) patches from a set of image pairs, sampled on the tensors' device."""

    def __init__(self, pairs: list[tuple[torch.Tensor, torch.Tensor]], patch: int, device: torch.device) -> None:
        sizes = [tuple(hr.shape) for _, hr in pairs]
        too_small = [s for s in sizes if s[0] < patch or s[1] < patch]
        if too_small:
            raise UserError(f"training image of size {too_small[0]} is smaller than patch_size {patch}")
        self.patch = patch
        self.inputs = torch.cat([lr.flatten() for lr, _ in pairs]).to(device)
        self.targets = torch.cat([hr.flatten() for _, hr in pairs]).to(device)
        heights = torch.tensor([h for h, _ in sizes], dtype=torch.long)
        widths = torch.tensor([w for _, w in sizes], dtype=torch.long)
        offsets = torch.cumsum(heights * widths, 0) - heights * widths
        self.heights, self.widths, self.offsets = heights.to(device), widths.to(device), offsets.to(device)
        # Every valid top-left corner equally likely: an image is drawn in proportion to its corner count.
        self.weights = ((heights - patch + 1) * (widths - patch + 1)).double().to(device)
        self.span = torch.arange(patch, device=device)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """`batch` patches as (B, 1, P, P) inputs and targets."""
        device = self.inputs.device
        image = torch.multinomial(self.weights, batch, replacement=True, generator=generator)
        h, w = self.heights[image], self.widths[image]
        top = (torch.rand(batch, generator=generator, device=device) * (h - self.patch + 1)).long()
        left = (torch.rand(batch, generator=generator, device=device) * (w - self.patch + 1)).long()
        rows = (top[:, None] + self.span[None, :]) * w[:, None]  # (B, P)
        index = self.offsets[image][:, None, None] + rows[:, :, None] + (left[:, None] + self.span)[:, None, :]
        return self.inputs[index][:, None], self.targets[index][:, None]


def degraded_pairs(images: list, scale: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(bicubic input, original) Y-channel pairs, cropped to a multiple of `scale`."""
    pairs = []
    for image in images:
        hr = torch.from_numpy(luma_bt601(crop_to_multiple(image, scale)))
        pairs.append((bicubic_degrade(hr, scale), hr))
    return pairs


@TASKS.register("super-resolution", "x`scale` super-resolution of the Y channel, PSNR in dB")
class SuperResolution:
    metric = "psnr_db"
    metric_label = "PSNR (dB)"
    higher_is_better = True
    references = ("bicubic_psnr_db",)

    def __init__(self, config: TaskConfig, device: torch.device) -> None:
        if config.dataset != "bundled":
            raise UserError(f"[task] dataset: '{config.dataset}' is not supported yet; use \"bundled\"")
        self.config = config
        self.io = ModelIO(in_channels=1, out_channels=1)
        train = [bundled_photo(n) for n in BUNDLED_PHOTOS if n not in VALIDATION_PHOTOS]
        valid = [bundled_photo(n) for n in VALIDATION_PHOTOS]
        self.sampler = PatchSampler(degraded_pairs(train, config.scale), config.patch_size, device)
        self.validation = [(lr.to(device), hr.to(device)) for lr, hr in degraded_pairs(valid, config.scale)]

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sampler.sample(self.config.batch_size, generator)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Unpadded convs shrink the output: compare it with the centre of the target, as SRCNN does.
        target = center_crop(target, *output.shape[-2:])
        return F.mse_loss(output.float(), target)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        scores, references, losses = [], [], []
        for lr, hr in self.validation:
            output = model(lr[None, None])[0, 0].float().clamp(0.0, 1.0)
            h, w = hr.shape
            oh, ow = output.shape
            # Score the region the model predicts, shaved to at least `scale` pixels from every border.
            border = max(self.config.scale, (h - oh + 1) // 2, (w - ow + 1) // 2)
            height, width = h - 2 * border, w - 2 * border
            prediction = center_crop(output, height, width)
            target = center_crop(hr, height, width)
            scores.append(psnr_db(prediction, target))
            references.append(psnr_db(center_crop(lr, height, width), target))
            losses.append(F.mse_loss(prediction, target).item())
        n = len(self.validation)
        return {
            self.metric: sum(scores) / n,
            "bicubic_psnr_db": sum(references) / n,
            "val_loss": sum(losses) / n,
        }
