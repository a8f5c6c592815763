"""Masked image modelling (de Mooij et al.): reconstruct masked 32x32 patches with the whole U-Net.

x (B,1,H,W) -> augment -> standardise -> zero 75 % of the patches -> U-Net (1-channel output)
-> MSE on masked pixels only.

Two departures from the paper, both measured (issue: self-supervised backbones that pay off):
AdamW instead of SGD (every conv feeds a non-affine instance norm, so the weights are
scale-invariant and SGD at the paper's settings left the deep half at its initialisation),
and only the encoder transfers (the decoder learns to in-paint intensities; transferred, it
cut one-patient fine-tuning Dice from 0.728 to 0.467).
"""

from __future__ import annotations

import torch

from CardiacSSLLib.methods import augment as A
from CardiacSSLLib.methods.base import Batch, OptimSettings, PretrainMethod
from CardiacSSLLib.methods.losses import masked_mse
from CardiacSSLLib.methods.masking import random_patch_mask
from CardiacSSLLib.models.unet import UNetConfig


class MIM(PretrainMethod):
    name = "mim"
    paper = "de Mooij et al., SSP for CMR cine segmentation"
    transfer = "encoder"
    defaults = OptimSettings(optimizer="adamw", lr=1e-3, weight_decay=1e-4, batch_size=128, epochs=100)
    backbone_out_channels = 1

    def __init__(self, network: UNetConfig, patch: int = 32, ratio: float = 0.75, mask_value: float = 0.0) -> None:
        super().__init__(network)
        self.patch, self.ratio, self.mask_value = patch, ratio, mask_value
        self.spatial, self.inten = A.SpatialAug(), A.IntensityAug()

    def hparams(self) -> dict:
        return {"patch": self.patch, "ratio": self.ratio, "mask_value": self.mask_value}

    def transfer_prefixes(self) -> list[str]:
        return ["encoder."]

    def forward(self, batch: Batch, step: int, total: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = A.standardize(A.view(batch.images, self.spatial, self.inten, batch.generator))  # (B,1,H,W)
        mask = random_patch_mask(x.shape[0], x.shape[-2:], self.patch, self.ratio, batch.generator, x.device)
        masked = torch.where(mask.bool(), torch.full_like(x, self.mask_value), x)
        pred = self.backbone(masked)  # (B,1,H,W)
        loss = masked_mse(pred, x, mask)
        return loss, {"mse_masked": loss.detach()}
