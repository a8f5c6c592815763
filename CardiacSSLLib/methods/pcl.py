"""Positional contrastive learning (Zeng et al.; de Mooij et al.'s threshold 0.1) on the encoder.

Each frame carries its relative slice position p in [0, 1]; two embeddings (of the 2B views)
are positives when |p_i - p_j| < threshold, negatives otherwise.
"""

from __future__ import annotations

import torch

from CardiacSSLLib.methods.base import Batch, OptimSettings
from CardiacSSLLib.methods.losses import multi_positive_info_nce
from CardiacSSLLib.methods.simclr import SimCLR
from CardiacSSLLib.models.unet import UNetConfig


def positional_masks(position: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(positives, negatives) (2B, 2B) for the views [v1 of all images, v2 of all images]."""
    p = torch.cat([position, position]).float()
    close = (p[:, None] - p[None, :]).abs() < threshold
    return close, ~close


class PCL(SimCLR):
    name = "pcl"
    paper = "Zeng et al. 2021, as used by de Mooij et al."
    defaults = OptimSettings(optimizer="adamw", lr=1e-3, weight_decay=1e-5, batch_size=64, epochs=100)  # see SimCLR

    def __init__(self, network: UNetConfig, threshold: float = 0.1, temperature: float = 0.1, **kw) -> None:
        super().__init__(network, temperature=temperature, **kw)
        self.threshold = threshold
        self._hp["threshold"] = threshold

    def forward(self, batch: Batch, step: int, total: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z1, z2 = self.two_views(batch)
        pos, neg = positional_masks(batch.position.to(z1.device), self.threshold)
        loss = multi_positive_info_nce(torch.cat([z1, z2]), pos, neg, self.temperature)
        return loss, {"pcl": loss.detach()}
