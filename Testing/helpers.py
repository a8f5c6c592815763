"""Small builders shared by tests: a tiny U-Net checkpoint and a small phantom."""

from __future__ import annotations

from pathlib import Path

import torch

from CardiacSSLLib.checkpoint import save_checkpoint
from CardiacSSLLib.models.unet import UNetConfig, build_unet

TINY = (8, 16, 32, 64)


def tiny_checkpoint(path: Path, seed: int = 0, target_spacing: float | None = 1.5) -> Path:
    torch.manual_seed(seed)
    net = build_unet(UNetConfig(features=TINY))
    save_checkpoint(
        path,
        net.state_dict(),
        {"kind": "segmentation", "network": net.config.to_dict(), "preprocess": {"target_spacing": target_spacing}},
    )
    return path


def small_phantom(n_frames: int = 4, n_slices: int = 5, size: int = 96, seed: int = 0):
    from CardiacSSLLib.phantom import make_phantom

    return make_phantom(n_frames=n_frames, n_slices=n_slices, size=size, seed=seed)
