"""Pix2Rep (Seince et al., MIDL 2024): pixel representations equivariant to a spatial transform.

Two intensity views v, v' of x; one spatial transform phi applied *after* the network on
branch 1 and *before* it on branch 2, so both projected maps share phi's viewpoint:
  z1 = phi . g(f(v))      z2 = g(f(phi . v'))          (B, d, H, W)
v1 (``pix2rep``): InfoNCE over M pixels sampled per image inside the valid (in-view) area.
v2 (``pix2rep-v2``): Barlow Twins over all valid pixels of the batch.
f is the whole U-Net without its output conv (last decoder features); all of f transfers.
"""

from __future__ import annotations

import torch

from CardiacSSLLib.methods import augment as A
from CardiacSSLLib.methods.base import Batch, OptimSettings, PretrainMethod
from CardiacSSLLib.methods.losses import barlow_twins, nt_xent
from CardiacSSLLib.models.heads import ConvProjectionHead
from CardiacSSLLib.models.unet import UNetConfig


def sample_pixels(valid: torch.Tensor, m: int, g: torch.Generator) -> torch.Tensor:
    """Flat indices (B, m) into H*W of ``m`` random valid pixels per image (with replacement if few)."""
    b = valid.shape[0]
    flat = valid.reshape(b, -1).float().cpu() + 1e-6  # all pixels possible if none valid
    return torch.multinomial(flat, m, replacement=bool((flat > 0.5).sum(1).min() < m), generator=g)


class Pix2Rep(PretrainMethod):
    name = "pix2rep"
    paper = "Seince et al., Pix2Rep, MIDL 2024"
    transfer = "encoder + decoder (output conv fresh)"
    defaults = OptimSettings(optimizer="adamw", lr=5e-4, batch_size=8, epochs=200, schedule="constant")
    variant = "infonce"

    def __init__(
        self,
        network: UNetConfig,
        n_pixels: int = 1000,
        temperature: float = 0.53,  # the paper's value as audited; at 0.1 bundled features had effective rank 6
        proj_hidden: int = 1024,
        proj_dim: int = 128,
        barlow_lambda: float = 5e-3,
        p_reverse: float = 0.5,
    ) -> None:
        super().__init__(network)
        self.n_pixels, self.temperature, self.barlow_lambda = n_pixels, temperature, barlow_lambda
        self.head = ConvProjectionHead(self.backbone.config.features[0], proj_hidden, proj_dim)
        self.spatial = A.SpatialAug(translate=0.0)
        self.inten = A.IntensityAug(p_reverse=p_reverse)
        self._hp = {
            "n_pixels": n_pixels,
            "temperature": temperature,
            "proj_hidden": proj_hidden,
            "proj_dim": proj_dim,
            "p_reverse": p_reverse,
            "variant": self.variant,
        }
        if self.variant == "barlow":
            self._hp["barlow_lambda"] = barlow_lambda

    def hparams(self) -> dict:
        return dict(self._hp)

    def transfer_prefixes(self) -> list[str]:
        return ["encoder.", "decoder."]

    def pixel_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        """g(f(x)): (B, 1, H, W) -> (B, d, H, W)."""
        return self.head(self.backbone.decode(self.backbone.encode(x)).features[-1])

    def forward(self, batch: Batch, step: int, total: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, g = batch.images, batch.generator
        v1, v2 = A.intensity(x, self.inten, g), A.intensity(x, self.inten, g)
        theta = A.random_affine(x.shape[0], self.spatial, g, x.device)
        z1 = A.warp(self.pixel_embeddings(v1), theta)  # phi after the network
        z2 = self.pixel_embeddings(A.warp(v2, theta))  # phi before the network
        valid = A.warp(torch.ones_like(x), theta) > 0.999  # (B,1,H,W) inside the transformed view
        b, d = z1.shape[:2]
        if self.variant == "barlow":
            sel = valid.reshape(-1)
            e1 = z1.permute(0, 2, 3, 1).reshape(-1, d)[sel]
            e2 = z2.permute(0, 2, 3, 1).reshape(-1, d)[sel]
            loss = barlow_twins(e1, e2, self.barlow_lambda)
            return loss, {"barlow": loss.detach(), "pixels": sel.sum()}
        idx = sample_pixels(valid, self.n_pixels, g).to(x.device)  # (B, M)
        e1 = torch.gather(z1.flatten(2), 2, idx.unsqueeze(1).expand(b, d, -1)).permute(0, 2, 1).reshape(-1, d)
        e2 = torch.gather(z2.flatten(2), 2, idx.unsqueeze(1).expand(b, d, -1)).permute(0, 2, 1).reshape(-1, d)
        loss = nt_xent(e1, e2, self.temperature)
        return loss, {"infonce": loss.detach()}


class Pix2RepV2(Pix2Rep):
    name = "pix2rep-v2"
    variant = "barlow"
