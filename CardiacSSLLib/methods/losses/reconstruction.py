"""Reconstruction loss restricted to masked pixels (MIM)."""

from __future__ import annotations

import torch


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over pixels where ``mask`` is 1. pred, target: (B, C, H, W); mask (B, 1, H, W)."""
    mask = mask.to(pred.dtype).expand_as(pred)
    denom = mask.sum().clamp_min(1.0)
    return ((pred.float() - target.float()) ** 2 * mask).sum() / denom
