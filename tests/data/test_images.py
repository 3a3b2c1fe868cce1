"""Image math of the super-resolution task, against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bnbench.data import build_task
from bnbench.data.images import (
    BUNDLED_PHOTOS,
    VALIDATION_PHOTOS,
    bicubic_degrade,
    bundled_photo,
    center_crop,
    center_square,
    crop_to_multiple,
    luma_bt601,
    psnr_db,
)
from bnbench.data.superres_device import PatchSampler
from bnbench.scenario import TaskConfig


def test_psnr_of_a_constant_error():
    target = torch.zeros(10, 10)
    # RMSE 0.1 against peak 1: 20 log10(1 / 0.1) = 20 dB.
    assert psnr_db(target + 0.1, target) == pytest.approx(20.0)
    # Half the pixels off by 0.2: MSE 0.02, PSNR = -10 log10(0.02) = 16.9897 dB.
    half = target.clone()
    half[:5] = 0.2
    assert psnr_db(half, target) == pytest.approx(-10 * math.log10(0.02))
    assert psnr_db(target, target) == math.inf


def test_luma_bt601_like_matlab():
    pixels = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    y = luma_bt601(pixels)[0]
    # White 235, black 16, red 16 + 65.481 = 81.481, all over 255.
    assert y == pytest.approx([235 / 255, 16 / 255, 81.481 / 255], abs=1e-6)
    grey = luma_bt601(np.full((1, 1), 255, dtype=np.uint8))
    assert grey[0, 0] == pytest.approx(235 / 255)


def test_crop_and_degrade_keep_the_grid():
    image = np.zeros((100, 101), dtype=np.uint8)
    assert crop_to_multiple(image, 3).shape == (99, 99)
    hr = torch.rand(99, 99)
    lr = bicubic_degrade(hr, 3)
    assert lr.shape == hr.shape and float(lr.min()) >= 0 and float(lr.max()) <= 1
    # A constant image survives bicubic down- and up-sampling unchanged.
    assert torch.allclose(bicubic_degrade(torch.full((30, 30), 0.5), 3), torch.full((30, 30), 0.5), atol=1e-6)


def test_center_crop():
    x = torch.arange(25.0).reshape(5, 5)
    assert center_crop(x, 3, 3).tolist() == [[6, 7, 8], [11, 12, 13], [16, 17, 18]]


def test_bundled_photos_load_offline():
    assert set(VALIDATION_PHOTOS) <= set(BUNDLED_PHOTOS)
    assert bundled_photo("camera").shape == (512, 512)
    assert bundled_photo("astronaut").shape == (512, 512, 3)


def test_patch_sampler_draws_aligned_patches_inside_the_images():
    # Inputs are 1000 + the pixel's index and targets its index: an aligned pair differs by exactly 1000.
    small = torch.arange(40 * 50, dtype=torch.float32).reshape(40, 50)
    large = torch.arange(60 * 35, dtype=torch.float32).reshape(60, 35) + 10_000
    sampler = PatchSampler([(small + 1000, small), (large + 1000, large)], patch=33, device=torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    inputs, targets = sampler.sample(64, generator)
    assert inputs.shape == targets.shape == (64, 1, 33, 33)
    assert torch.equal(inputs - targets, torch.full_like(inputs, 1000.0))
    for patch in targets[:, 0]:
        # Each patch is a contiguous window of one image: rows step by the image width, columns by 1.
        width = 50 if patch[0, 0] < 10_000 else 35
        assert torch.equal(patch[1:, :] - patch[:-1, :], torch.full((32, 33), float(width)))
        assert torch.equal(patch[:, 1:] - patch[:, :-1], torch.ones(33, 32))
    again = sampler.sample(64, torch.Generator().manual_seed(0))
    assert torch.equal(again[1], targets)


def test_patch_sampler_refuses_small_images():
    from bnbench.errors import UserError

    tiny = torch.zeros(10, 10)
    with pytest.raises(UserError, match="smaller than patch_size 33"):
        PatchSampler([(tiny, tiny)], patch=33, device=torch.device("cpu"))


def test_center_square_of_a_photo():
    image = np.arange(5 * 7 * 3).reshape(5, 7, 3)
    # 3x3 from a 5x7 photo: rows 1..3, columns 2..4, every channel.
    assert np.array_equal(center_square(image, 3), image[1:4, 2:5])
    assert center_square(image, 6).shape == (5, 6, 3)  # a side shorter than 6 stays whole


def test_eval_size_scores_the_centre_of_each_validation_photo():
    task = build_task(TaskConfig(eval_size=50), torch.device("cpu"))
    # 50x50 centre squares, cut to a multiple of scale 3: 48x48, for astronaut, chelsea and coffee alike.
    assert [tuple(hr.shape) for _, _, hr in task.validation] == [(48, 48)] * len(VALIDATION_PHOTOS)
    astronaut = luma_bt601(crop_to_multiple(bundled_photo("astronaut")[231:281, 231:281], 3))  # 512x512: 231 = 462/2
    assert torch.equal(task.validation[0][2], torch.from_numpy(astronaut))
    whole = build_task(TaskConfig(), torch.device("cpu"))
    assert [tuple(hr.shape) for _, _, hr in whole.validation] == [(510, 510), (300, 450), (399, 600)]


def test_eval_size_is_for_super_resolution_only():
    with pytest.raises(ValueError, match="eval_size applies to name = 'super-resolution' only"):
        TaskConfig(name="digits", eval_size=32)
    with pytest.raises(ValueError, match="greater than or equal to 16"):
        TaskConfig(eval_size=8)
