"""Super-resolution on a user's image folder: file choice, split, errors, and the low-resolution input mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bnbench.data import build_task, check_task, task_io
from bnbench.data.folder import image_files, split_files
from bnbench.data.superres_device import PatchSampler
from bnbench.errors import UserError
from bnbench.scenario import TaskConfig, load

CPU = torch.device("cpu")


def write_images(folder: Path, count: int, size: tuple[int, int] = (40, 36)) -> list[Path]:
    """`count` small RGB pictures, alternately PNG and JPEG (smooth gradients plus a little noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        h, w = size
        ramp = np.linspace(0, 200, w)[None, :, None] + np.linspace(0, 50, h)[:, None, None]
        pixels = np.clip(ramp + rng.normal(0, 5, (h, w, 3)), 0, 255).astype(np.uint8)
        path = folder / f"img{i:02d}.{'png' if i % 2 == 0 else 'JPG'}"
        Image.fromarray(pixels).save(path, format="PNG" if i % 2 == 0 else "JPEG")
        paths.append(path)
    return paths


def test_only_png_and_jpeg_in_name_order(tmp_path):
    paths = write_images(tmp_path, 3)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    assert image_files(tmp_path) == paths


def test_split_holds_out_every_fifth(tmp_path):
    files = [tmp_path / f"{i}.png" for i in range(10)]
    train, valid = split_files(files)
    assert valid == [files[4], files[9]] and len(train) == 8
    # Fewer than 5 images: the last one is held out.
    assert split_files(files[:3]) == (files[:2], files[2:3])


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d.mkdir(), "holds no PNG or JPEG images"),
        (lambda d: None, "is not a folder"),
        (lambda d: (d.mkdir(), (d / "a.png").write_bytes(b"not a png"), (d / "b.png").write_bytes(b"x")),
         "cannot read image"),
        (lambda d: write_images(d, 1), "holds one image"),
        (lambda d: write_images(d, 3, size=(20, 20)), "need at least 33 pixels"),
    ],
)
def test_bad_folders_are_user_errors(tmp_path, setup, message):
    folder = tmp_path / "images"
    setup(folder)
    with pytest.raises(UserError, match=message):
        check_task(TaskConfig(dataset=str(folder)))


def test_dataset_path_is_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "exp").mkdir()
    path = tmp_path / "exp" / "s.toml"
    path.write_text('[scenario]\nname = "s"\n[task]\ndataset = "../photos"\nvalidation = "set5"\n')
    task = load(path).task
    assert task.dataset == str((tmp_path / "photos").resolve())
    assert task.validation == str((tmp_path / "exp" / "set5").resolve())


def test_folder_task_trains_and_scores(tmp_path):
    write_images(tmp_path / "train", 3)
    write_images(tmp_path / "valid", 1, size=(30, 30))
    config = TaskConfig(dataset=str(tmp_path / "train"), validation=str(tmp_path / "valid"), batch_size=4)
    check_task(config)
    task = build_task(config, CPU)
    inputs, targets = task.batch(torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (4, 1, 33, 33)
    metrics = task.evaluate(torch.nn.Identity())
    # The identity model returns the bicubic input, so it scores exactly the bicubic reference.
    assert metrics["psnr_db"] == pytest.approx(metrics["bicubic_psnr_db"])


def test_low_res_patches_line_up_with_their_targets():
    # A target whose values are their own coordinates, and an input that is every 3rd pixel of it: an aligned
    # sampler must give input patches equal to the target patch's every 3rd pixel.
    hr = torch.arange(36 * 45, dtype=torch.float32).view(36, 45)
    other = -torch.arange(42 * 42, dtype=torch.float32).view(42, 42)
    pairs = [(img[::3, ::3].contiguous(), img) for img in (hr, other)]
    sampler = PatchSampler(pairs, patch=12, device=CPU, factor=3)
    inputs, targets = sampler.sample(64, torch.Generator().manual_seed(0))
    assert inputs.shape == (64, 1, 4, 4) and targets.shape == (64, 1, 12, 12)
    assert torch.equal(inputs, targets[:, :, ::3, ::3])
    # And each target patch is a contiguous window: neighbours differ by 1 along a row.
    assert bool(((targets[..., 1:] - targets[..., :-1]).abs() == 1).all())


def test_low_res_task_feeds_fsrcnn_sized_inputs():
    config = TaskConfig(input="low_res", scale=3, patch_size=33, batch_size=2)
    io = task_io(config)
    assert (io.scale, io.image_size) == (3, 11)
    task = build_task(config, CPU)
    inputs, targets = task.batch(torch.Generator().manual_seed(0))
    assert inputs.shape == (2, 1, 11, 11) and targets.shape == (2, 1, 33, 33)
    with pytest.raises(UserError, match="multiple of scale 3"):
        check_task(TaskConfig(input="low_res", scale=3, patch_size=32))
