"""A user's folder of images for super-resolution: which files, which are held out, and whether they can be read.

Only the folder's own PNG and JPEG files are used (not sub-folders), in name order. Every check here reads image
headers only, so a folder is vetted in well under a second before any results folder is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bnbench.errors import UserError

if TYPE_CHECKING:
    from bnbench.scenario import TaskConfig

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
HOLD_OUT_EVERY = 5  # without a validation folder, every 5th image (by name) is held out: a fixed 20% split


def image_files(folder: str | Path, what: str = "dataset") -> list[Path]:
    """The PNG/JPEG files directly inside `folder`, sorted by name; UserError if it is missing or has none."""
    path = Path(folder)
    if not path.is_dir():
        raise UserError(f"[task] {what}: '{path}' is not a folder")
    try:
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:
        raise UserError(f"[task] {what}: cannot list '{path}' ({exc.strerror or exc})") from None
    if not files:
        raise UserError(f"[task] {what}: '{path}' holds no PNG or JPEG images (*.png, *.jpg, *.jpeg)")
    return files


def split_files(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """(training, validation): every `HOLD_OUT_EVERY`-th file is validation; at least one of each."""
    if len(files) < 2:
        raise UserError(
            f"[task] dataset: '{files[0].parent}' holds one image; it needs two or more (one is held out for "
            f"validation), or set [task] validation to a folder of validation images"
        )
    held = [f for i, f in enumerate(files) if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1] or files[-1:]
    return [f for f in files if f not in held], held


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file's header; UserError if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError  # here: the task registry, which every run loads, needs no PIL

    try:
        with Image.open(path) as img:
            img.verify()  # checks the file's structure without decoding every pixel
            width, height = img.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise UserError(f"[task] dataset: cannot read image '{path}' ({exc})") from None
    return height, width


def check_sizes(files: list[Path], min_side: int) -> None:
    """Every file readable and at least `min_side` pixels on each side; UserError naming the first that is not."""
    for path in files:
        height, width = image_size(path)
        if min(height, width) < min_side:
            raise UserError(
                f"[task] dataset: '{path}' is {width}x{height}; training images need at least {min_side} pixels "
                f"a side (patch_size)"
            )


def dataset_files(config: TaskConfig) -> tuple[list[Path], list[Path]]:
    """(training, validation) files of a user's dataset folder; UserError for a missing, empty or unreadable one."""
    files = image_files(config.dataset)
    if config.validation is None:
        return split_files(files)
    return files, image_files(config.validation, "validation")
