"""Single-image super-resolution on the Y channel, as SRCNN trains and scores it.

Training pairs are (bicubic-degraded, original) patches drawn at random on the training device from one flat
buffer of all training pixels, so a batch is a few tensor ops, not a Python loop over patches. Validation runs
the model over whole images and scores PSNR on the region it can predict, with at least `scale` pixels shaved
from every border; the bicubic input scored on the same region is the reference a model has to beat.

With `input = "low_res"` the model gets the downsampled image itself and upsamples it (FSRCNN). The images are
the photos bundled with scikit-image, or a user's folder (`dataset = "path"`, PNG and JPEG).

This module is the task as the registry and the checks know it, without torch; the patches, the loss and the
evaluation on the training device are bnbench.data.superres_device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bnbench.data.folder import check_sizes, dataset_files
from bnbench.data.tasks import TASKS
from bnbench.errors import UserError
from bnbench.models import ModelIO
from bnbench.scenario import TaskConfig

if TYPE_CHECKING:
    import torch

    from bnbench.data.tasks import Task


@TASKS.register("super-resolution", "x`scale` super-resolution of the Y channel, PSNR in dB")
class SuperResolution:
    metric = "psnr_db"
    metric_label = "PSNR (dB)"
    higher_is_better = True
    references: tuple[str, ...] = ("bicubic_psnr_db",)

    @staticmethod
    def model_io(config: TaskConfig) -> ModelIO:
        if config.input == "low_res":
            return ModelIO(1, 1, scale=config.scale, image_size=config.patch_size // config.scale)
        return ModelIO(1, 1, scale=1, image_size=config.patch_size)

    @staticmethod
    def check(config: TaskConfig) -> None:
        """Everything about the data that can fail, from file headers only: folders, files, sizes, patch size."""
        if config.input == "low_res" and config.patch_size % config.scale:
            raise UserError(
                f"[task] patch_size {config.patch_size} must be a multiple of scale {config.scale} when "
                f"input = \"low_res\""
            )
        if config.dataset == "bundled":
            if config.validation is not None:
                raise UserError("[task] validation: a validation folder needs dataset = \"path/to/images\" too")
            return
        train, valid = dataset_files(config)
        check_sizes(train, config.patch_size)
        check_sizes(valid, 2 * config.scale + 1)

    @staticmethod
    def load(config: TaskConfig, device: torch.device) -> Task:
        """The task with its images on `device` (bnbench.data.superres_device)."""
        from bnbench.data.superres_device import SuperResolutionOnDevice

        return SuperResolutionOnDevice(config, device, SuperResolution.model_io(config), SuperResolution.metric)
