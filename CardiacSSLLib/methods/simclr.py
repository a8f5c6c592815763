"""SimCLR on the U-Net encoder (de Mooij et al.'s setting): NT-Xent between two augmented views.

Bottleneck -> global average pool -> 2-layer MLP -> MONAI ``ContrastiveLoss``. Encoder transfers.
"""

from __future__ import annotations

import torch
from monai.losses import ContrastiveLoss

from CardiacSSLLib.methods import augment as A
from CardiacSSLLib.methods.base import Batch, OptimSettings, PretrainMethod
from CardiacSSLLib.models.heads import GlobalPool, MLPHead
from CardiacSSLLib.models.unet import UNetConfig


class SimCLR(PretrainMethod):
    name = "simclr"
    paper = "Chen et al. 2020, as used by de Mooij et al."
    transfer = "encoder"
    # the paper's SGD lr 0.1 barely moves scale-invariant (instance-normalised) layers: AdamW
    defaults = OptimSettings(optimizer="adamw", lr=1e-3, weight_decay=1e-4, batch_size=224, epochs=100)

    def __init__(
        self, network: UNetConfig, temperature: float = 0.1, proj_hidden: int = 512, proj_dim: int = 128
    ) -> None:
        super().__init__(network)
        c = self.backbone.config.features[-1]
        self.pool = GlobalPool()
        self.head = MLPHead(c, proj_hidden, proj_dim)
        self.spatial, self.inten = A.SpatialAug(), A.IntensityAug()
        self.temperature, self._hp = (
            temperature,
            {"temperature": temperature, "proj_hidden": proj_hidden, "proj_dim": proj_dim},
        )

    def hparams(self) -> dict:
        return dict(self._hp)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.backbone.encode(x)[-1]))

    def two_views(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        g = batch.generator
        v1 = A.view(batch.images, self.spatial, self.inten, g)
        v2 = A.view(batch.images, self.spatial, self.inten, g)
        return self.embed(v1), self.embed(v2)

    def forward(self, batch: Batch, step: int, total: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z1, z2 = self.two_views(batch)
        loss = ContrastiveLoss(temperature=self.temperature)(z1.float(), z2.float())
        return loss, {"nt_xent": loss.detach()}
