"""Contrastive Complementary Masking (Zhou et al.): two U-Nets, complementary block masks.

x -> z-score; M^a keeps half of the 16x16 blocks, M^b = 1 - M^a.
Network a sees M^a x, network b sees M^b x; both reconstruct x (MSE over the image) and their
projected global bottleneck features (2 linear layers -> 1000-d) are contrasted with InfoNCE
(MONAI ``ContrastiveLoss``, tau 0.07): L = L_rec + lambda L_con. Both whole encoder-decoders
transfer (to the two networks of CPS fine-tuning).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import ContrastiveLoss

from CardiacSSLLib.methods import augment as A
from CardiacSSLLib.methods.base import Batch, OptimSettings, PretrainMethod
from CardiacSSLLib.methods.masking import complementary_masks
from CardiacSSLLib.models.heads import GlobalPool, MLPHead
from CardiacSSLLib.models.unet import UNet2D, UNetConfig


def ccm_loss(
    x: torch.Tensor,
    rec_a: torch.Tensor,
    rec_b: torch.Tensor,
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    temperature: float = 0.07,
    lambd: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, L_rec, L_con): L_rec = (MSE(x, rec_a) + MSE(x, rec_b)) / 2, L_con = InfoNCE(z_a, z_b)."""
    rec = 0.5 * (F.mse_loss(rec_a.float(), x.float()) + F.mse_loss(rec_b.float(), x.float()))
    con = ContrastiveLoss(temperature=temperature)(z_a.float(), z_b.float())
    return rec + lambd * con, rec, con


class CCM(PretrainMethod):
    name = "ccm"
    paper = "Zhou et al., CCM + CPS for semi-supervised cardiac segmentation"
    transfer = "encoder + decoder of both networks (output conv fresh)"
    defaults = OptimSettings(optimizer="adam", lr=1e-3, batch_size=40, epochs=400)
    backbone_out_channels = 1

    def __init__(
        self,
        network: UNetConfig,
        block: int = 16,
        temperature: float = 0.07,
        lambd: float = 1.0,
        proj_dim: int = 1000,
    ) -> None:
        super().__init__(network)
        self.backbone_b = UNet2D(self.backbone.config)
        c = self.backbone.config.features[-1]
        self.pool = GlobalPool()
        self.proj_a = MLPHead(c, proj_dim, proj_dim, n_layers=2)
        self.proj_b = MLPHead(c, proj_dim, proj_dim, n_layers=2)
        self.block, self.temperature, self.lambd, self.proj_dim = block, temperature, lambd, proj_dim

    def hparams(self) -> dict:
        return {"block": self.block, "temperature": self.temperature, "lambda": self.lambd, "proj_dim": self.proj_dim}

    def backbones(self) -> dict[str, UNet2D]:
        return {"backbone": self.backbone, "backbone_b": self.backbone_b}

    def transfer_prefixes(self) -> list[str]:
        return ["encoder.", "decoder."]

    def forward(self, batch: Batch, step: int, total: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = A.standardize(batch.images)
        m_a, m_b = complementary_masks(x.shape[0], x.shape[-2:], self.block, batch.generator, x.device)
        skips_a = self.backbone.encode(x * m_a)
        skips_b = self.backbone_b.encode(x * m_b)
        rec_a = self.backbone.decode(skips_a).logits
        rec_b = self.backbone_b.decode(skips_b).logits
        z_a = self.proj_a(self.pool(skips_a[-1]))
        z_b = self.proj_b(self.pool(skips_b[-1]))
        loss, rec, con = ccm_loss(x, rec_a, rec_b, z_a, z_b, self.temperature, self.lambd)
        return loss, {"rec": rec.detach(), "con": con.detach()}
