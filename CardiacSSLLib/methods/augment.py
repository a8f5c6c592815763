"""Batch augmentations on the training device for the pretraining views (pure PyTorch).

Images arrive scaled to about [0, 1]. Spatial transforms are affine matrices applied with
``affine_grid`` / ``grid_sample`` so the same transform can act on images *and* on feature
maps (Pix2Rep's equivariance). Every function takes an explicit ``torch.Generator`` so a
run is reproducible from its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SpatialAug:
    rotation_deg: float = 180.0
    scale: tuple[float, float] = (0.8, 1.25)
    translate: float = 0.1  # fraction of the half-size
    flip: bool = True


@dataclass
class IntensityAug:
    brightness: float = 0.1  # additive, +-
    contrast: tuple[float, float] = (0.75, 1.25)
    gamma: tuple[float, float] = (0.7, 1.5)
    noise_std: float = 0.03
    bias_field: float = 0.2  # amplitude of a smooth multiplicative field
    p_reverse: float = 0.0  # intensity reversal x -> 1 - x (Pix2Rep)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=g) * (hi - lo) + lo).to(device)


def random_affine(n: int, aug: SpatialAug, g: torch.Generator, device=None) -> torch.Tensor:
    """(n, 2, 3) matrices for ``affine_grid`` (output -> input normalised coordinates)."""
    ang = _uniform(n, -aug.rotation_deg, aug.rotation_deg, g, "cpu") * math.pi / 180
    s = torch.exp(_uniform(n, math.log(aug.scale[0]), math.log(aug.scale[1]), g, "cpu"))
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if aug.flip else torch.ones(n)
    t = _uniform(2 * n, -aug.translate, aug.translate, g, "cpu").view(n, 2)
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos * flip
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin * flip
    theta[:, 1, 1] = cos
    theta[:, :, 2] = t
    return theta.to(device)


def random_crop_affine(n: int, scale: tuple[float, float], g: torch.Generator, device=None) -> torch.Tensor:
    """Random-resized-crop as affine matrices: crop area fraction in ``scale``, aspect 3/4..4/3, flip."""
    area = _uniform(n, scale[0], scale[1], g, "cpu")
    log_r = _uniform(n, math.log(3 / 4), math.log(4 / 3), g, "cpu")
    r = torch.exp(log_r)
    sx = torch.sqrt(area * r).clamp(max=1.0)
    sy = torch.sqrt(area / r).clamp(max=1.0)
    cx = (torch.rand(n, generator=g) * 2 - 1) * (1 - sx)
    cy = (torch.rand(n, generator=g) * 2 - 1) * (1 - sy)
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = sx * flip
    theta[:, 1, 1] = sy
    theta[:, 0, 2] = cx
    theta[:, 1, 2] = cy
    return theta.to(device)


def warp(
    x: torch.Tensor, theta: torch.Tensor, size: tuple[int, int] | None = None, mode: str = "bilinear"
) -> torch.Tensor:
    """Apply affine matrices to images or feature maps (B, C, H, W); zeros outside."""
    b, c, h, w = x.shape
    out = size or (h, w)
    # the grid in float32 even under bf16 autocast (sub-pixel alignment of the two Pix2Rep branches)
    grid = F.affine_grid(theta.float(), [b, c, out[0], out[1]], align_corners=False)
    return F.grid_sample(x.float(), grid, mode=mode, padding_mode="zeros", align_corners=False)


def intensity(x: torch.Tensor, aug: IntensityAug, g: torch.Generator) -> torch.Tensor:
    """Random brightness/contrast, gamma, smooth bias field, Gaussian noise and reversal per image."""
    b, _, h, w = x.shape
    dev = x.device
    x = x.clamp(0, 1)
    gamma = torch.exp(_uniform(b, math.log(aug.gamma[0]), math.log(aug.gamma[1]), g, dev)).view(b, 1, 1, 1)
    x = x.clamp_min(1e-6) ** gamma
    if aug.bias_field > 0:
        coarse = (torch.rand(b, 1, 3, 3, generator=g) * 2 - 1).to(dev) * aug.bias_field
        x = x * torch.exp(F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    c = _uniform(b, *aug.contrast, g, dev).view(b, 1, 1, 1)
    x = (x - mean) * c + mean + _uniform(b, -aug.brightness, aug.brightness, g, dev).view(b, 1, 1, 1)
    if aug.noise_std > 0:
        std = _uniform(b, 0, aug.noise_std, g, dev).view(b, 1, 1, 1)
        x = x + std * torch.randn(x.shape, generator=g).to(dev)
    if aug.p_reverse > 0:
        rev = (torch.rand(b, generator=g) < aug.p_reverse).to(dev).view(b, 1, 1, 1)
        x = torch.where(rev, 1 - x, x)
    return x


def standardize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-image zero mean, unit variance."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / (std + eps)


def view(x: torch.Tensor, spatial: SpatialAug | None, inten: IntensityAug | None, g: torch.Generator) -> torch.Tensor:
    """One randomly augmented view of a batch (spatial first, then intensity)."""
    if spatial is not None:
        x = warp(x, random_affine(x.shape[0], spatial, g, x.device))
    if inten is not None:
        x = intensity(x, inten, g)
    return x
