"""Super-resolution's data on the training device: patches for training, whole images for validation
(the task itself, its metric and its checks, is bnbench.data.superres)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bnbench.data.folder import dataset_files
from bnbench.data.images import (
    BUNDLED_PHOTOS,
    VALIDATION_PHOTOS,
    bicubic_degrade,
    bicubic_downsample,
    bundled_photo,
    center_crop,
    center_square,
    crop_to_multiple,
    luma_bt601,
    psnr_db,
    read_image,
)
from bnbench.errors import UserError
from bnbench.models import ModelIO
from bnbench.scenario import TaskConfig


class PatchSampler:
    """Random aligned (input, target) patches from a set of image pairs, sampled on the tensors' device.

    Each target is `factor` times its input's size (1: bicubic-upsampled inputs; the scale: low-resolution
    inputs). `patch` is the target patch's side; the input patch is `patch // factor`, and the target patch
    starts at `factor` times the input patch's corner, so the two cover the same part of the picture.
    """

    def __init__(
        self, pairs: list[tuple[torch.Tensor, torch.Tensor]], patch: int, device: torch.device, factor: int = 1
    ) -> None:
        sizes = [tuple(hr.shape) for _, hr in pairs]
        too_small = [s for s in sizes if s[0] < patch or s[1] < patch]
        if too_small:
            raise UserError(f"training image of size {too_small[0]} is smaller than patch_size {patch}")
        if patch % factor:
            raise UserError(f"patch_size {patch} must be a multiple of the scale {factor} for low-resolution inputs")
        self.patch, self.factor, self.input_patch = patch, factor, patch // factor
        self.inputs = torch.cat([lr.flatten() for lr, _ in pairs]).to(device)
        self.targets = torch.cat([hr.flatten() for _, hr in pairs]).to(device)
        heights = torch.tensor([lr.shape[0] for lr, _ in pairs], dtype=torch.long)
        widths = torch.tensor([lr.shape[1] for lr, _ in pairs], dtype=torch.long)
        offsets = torch.cumsum(heights * widths, 0) - heights * widths
        self.heights, self.widths, self.offsets = heights.to(device), widths.to(device), offsets.to(device)
        self.target_offsets = (offsets * factor * factor).to(device)
        # Every valid top-left corner equally likely: an image is drawn in proportion to its corner count.
        p = self.input_patch
        self.weights = ((heights - p + 1) * (widths - p + 1)).double().to(device)
        self.span = torch.arange(p, device=device)
        self.target_span = torch.arange(patch, device=device)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """`batch` patches as (B, 1, P, P) inputs and targets."""
        device = self.inputs.device
        image = torch.multinomial(self.weights, batch, replacement=True, generator=generator)
        h, w = self.heights[image], self.widths[image]
        top = (torch.rand(batch, generator=generator, device=device) * (h - self.input_patch + 1)).long()
        left = (torch.rand(batch, generator=generator, device=device) * (w - self.input_patch + 1)).long()
        index = _patch_index(self.offsets[image], w, top, left, self.span)
        if self.factor == 1:
            return self.inputs[index][:, None], self.targets[index][:, None]
        f = self.factor
        target_index = _patch_index(self.target_offsets[image], w * f, top * f, left * f, self.target_span)
        return self.inputs[index][:, None], self.targets[target_index][:, None]


def _patch_index(
    offsets: torch.Tensor, widths: torch.Tensor, top: torch.Tensor, left: torch.Tensor, span: torch.Tensor
) -> torch.Tensor:
    """(B, P, P) flat indices of square patches at (top, left) of images stored row-major from `offsets`."""
    rows = (top[:, None] + span[None, :]) * widths[:, None]  # (B, P)
    return offsets[:, None, None] + rows[:, :, None] + (left[:, None] + span)[:, None, :]


def luma_images(images: list[np.ndarray], scale: int) -> list[torch.Tensor]:
    """Each image's Y channel in [0, 1], cropped to a multiple of `scale`."""
    return [torch.from_numpy(luma_bt601(crop_to_multiple(image, scale))) for image in images]


def degraded_pairs(images: list[np.ndarray], scale: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(bicubic input, original) Y-channel pairs, cropped to a multiple of `scale`."""
    return [(bicubic_degrade(hr, scale), hr) for hr in luma_images(images, scale)]


def low_res_pairs(images: list[np.ndarray], scale: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(low-resolution input, original) Y-channel pairs: the input is `scale` times smaller on each side."""
    return [(bicubic_downsample(hr, scale), hr) for hr in luma_images(images, scale)]


def source_images(config: TaskConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(training, validation) images: the bundled photos, or the user's folder(s) of PNG/JPEG files."""
    if config.dataset == "bundled":
        if config.validation is not None:
            raise UserError("[task] validation: a validation folder needs dataset = \"path/to/images\" too")
        train = [bundled_photo(n) for n in BUNDLED_PHOTOS if n not in VALIDATION_PHOTOS]
        return train, [bundled_photo(n) for n in VALIDATION_PHOTOS]
    train_files, valid_files = dataset_files(config)
    return [read_image(f) for f in train_files], [read_image(f) for f in valid_files]


class SuperResolutionOnDevice:
    """Training batches, the loss and the evaluation of x`scale` super-resolution, its images on `device`; `io`
    and `metric` as the task (bnbench.data.superres) states them."""

    def __init__(self, config: TaskConfig, device: torch.device, io: ModelIO, metric: str) -> None:
        self.config = config
        self.io = io
        self.metric = metric
        train, valid = source_images(config)
        if config.eval_size is not None:  # a quicker evaluation: the centre of each validation image
            valid = [center_square(image, config.eval_size) for image in valid]
        low_res = config.input == "low_res"
        make_pairs = low_res_pairs if low_res else degraded_pairs
        factor = config.scale if low_res else 1
        self.sampler = PatchSampler(make_pairs(train, config.scale), config.patch_size, device, factor)
        # Validation keeps the bicubic-upsampled image too: it is the reference every model must beat.
        self.validation = [
            (model_input.to(device), bicubic.to(device), hr.to(device))
            for (model_input, hr), (bicubic, _) in zip(
                make_pairs(valid, config.scale), degraded_pairs(valid, config.scale), strict=True
            )
        ]

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sampler.sample(self.config.batch_size, generator)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Unpadded convs shrink the output: compare it with the centre of the target, as SRCNN does.
        target = center_crop(target, *output.shape[-2:])
        return F.mse_loss(output.float(), target)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        scores, references, losses = [], [], []
        for model_input, bicubic, hr in self.validation:
            output = model(model_input[None, None])[0, 0].float().clamp(0.0, 1.0)
            h, w = hr.shape
            oh, ow = output.shape
            # Score the region the model predicts, shaved to at least `scale` pixels from every border.
            border = max(self.config.scale, (h - oh + 1) // 2, (w - ow + 1) // 2)
            height, width = h - 2 * border, w - 2 * border
            prediction = center_crop(output, height, width)
            target = center_crop(hr, height, width)
            scores.append(psnr_db(prediction, target))
            references.append(psnr_db(center_crop(bicubic, height, width), target))
            losses.append(F.mse_loss(prediction, target).item())
        n = len(self.validation)
        return {
            self.metric: sum(scores) / n,
            "bicubic_psnr_db": sum(references) / n,
            "val_loss": sum(losses) / n,
        }
