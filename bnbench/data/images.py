"""Photos that ship inside scikit-image's wheel, and the image math of super-resolution (pure functions).

Nothing here downloads: the files are read from the installed `skimage/data/` folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bnbench.errors import UserError

# Natural photos bundled in scikit-image's wheel (documents, charts and synthetic images are left out).
BUNDLED_PHOTOS: dict[str, str] = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "coins": "coins.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "ihc": "ihc.png",
    "moon": "moon.png",
    "motorcycle_left": "motorcycle_left.png",
    "retina": "retina.jpg",
    "rocket": "rocket.jpg",
}
# A fixed split by name: three colour photos, like Set5's, are held out for validation.
VALIDATION_PHOTOS: tuple[str, ...] = ("astronaut", "chelsea", "coffee")


def bundled_photo(name: str) -> np.ndarray:
    """The named bundled photo as uint8, HxW (grey) or HxWx3 (RGB)."""
    folder = resources.files("skimage") / "data"
    return read_image(Path(str(folder / BUNDLED_PHOTOS[name])))


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 HxW or HxWx3; UserError if it cannot be decoded."""
    try:
        with Image.open(path) as img:
            converted = img.convert("L") if img.mode in ("L", "I", "I;16", "1") else img.convert("RGB")
            return np.asarray(converted, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read image ({exc})") from None


def luma_bt601(image: np.ndarray) -> np.ndarray:
    """Y of BT.601 YCbCr (MATLAB's rgb2ycbcr) in [0, 1] as float32: 16..235 of 255 for RGB 0..255.

    Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 with R, G, B in [0, 1]. A grey image is R = G = B.
    """
    rgb = image.astype(np.float64) / 255.0
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    y = 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]
    return (y / 255.0).astype(np.float32)


def center_square(image: np.ndarray, size: int) -> np.ndarray:
    """The centre `size` x `size` pixels of an HxW or HxWxC image (a side shorter than `size` is kept whole)."""
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top : top + size, left : left + size]


def crop_to_multiple(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom and right edges so both sides are multiples of `scale`."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def bicubic_downsample(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """HxW downsampled by `scale` (bicubic, antialiased like MATLAB's imresize), clamped to [0, 1]."""
    h, w = hr.shape
    low = F.interpolate(hr[None, None], size=(h // scale, w // scale), mode="bicubic", align_corners=False,
                        antialias=True)
    return low[0, 0].clamp(0.0, 1.0)


def bicubic_degrade(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Downsample HxW by `scale` (bicubic, antialiased like MATLAB's imresize) and upsample back (bicubic)."""
    h, w = hr.shape
    x = hr[None, None]
    low = F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", align_corners=False, antialias=True)
    up = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)
    return up[0, 0].clamp(0.0, 1.0)


def psnr_db(prediction: torch.Tensor, target: torch.Tensor, peak: float = 1.0) -> float:
    """20 log10(peak / RMSE) over all elements; inf when the two are equal."""
    mse = torch.mean((prediction.double() - target.double()) ** 2).item()
    return float("inf") if mse == 0 else 20.0 * float(np.log10(peak)) - 10.0 * float(np.log10(mse))


def center_crop(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The centred height x width window of the last two dimensions."""
    h, w = image.shape[-2:]
    top, left = (h - height) // 2, (w - width) // 2
    return image[..., top : top + height, left : left + width]
