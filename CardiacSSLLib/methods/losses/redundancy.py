"""Barlow Twins (Pix2Rep-v2) through MONAI's ``BarlowTwinsLoss``."""

from __future__ import annotations

import torch
from monai.losses import BarlowTwinsLoss


def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3) -> torch.Tensor:
    """z1, z2: (N, D) twin embeddings (N samples: pixels of the whole batch). Returns a scalar.

    Sum over the D x D cross-correlation matrix of (1 - C_ii)^2 + lambd * C_ij^2 (i != j),
    embeddings standardised over the N samples.
    """
    return BarlowTwinsLoss(lambd=lambd)(z1.float(), z2.float())
