"""Small heads the pretraining methods put on top of the U-Net backbone.

All are discarded after pretraining (only the backbone is transferred). No batch
normalisation: heads stay deterministic per sample, so DDP ranks need no buffer sync.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GlobalPool(nn.Module):
    """(B, C, H, W) -> (B, C) by global average pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1))


class MLPHead(nn.Module):
    """Linear -> BatchNorm -> ReLU -> ... -> Linear on vectors (SimCLR / CCM / Chaitanya g1 projectors).

    The batch norm is what makes global contrast work on this U-Net: its bottleneck is instance-
    normalised, so the spatial mean of every channel is nearly the same for any image (cosine
    similarity > 0.99 between pooled vectors of different frames) and, without it, the InfoNCE
    loss sits at log(2B - 1) from the first step. Normalising across the batch recovers the
    differences (SimCLR's reference projector has the same layer).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, n_layers: int = 2) -> None:
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (n_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for i in range(n_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < n_layers - 1:
                layers += [nn.BatchNorm1d(dims[i + 1]), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvProjectionHead(nn.Module):
    """Pixel-wise MLP with one hidden layer as 1x1 convolutions: (B, C, H, W) -> (B, out, H, W).

    Pix2Rep's g = W2 * relu(W1 * .) and Chaitanya's g2 (two 1x1 convolutions).
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, out_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DINOHead(nn.Module):
    """DINO projection: 3-layer MLP (GELU) -> L2 normalise -> weight-normalised linear (g fixed to 1)."""

    def __init__(self, in_dim: int, out_dim: int = 8192, hidden_dim: int = 2048, bottleneck_dim: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, bottleneck_dim),
        )
        self.last = nn.Parameter(torch.empty(out_dim, bottleneck_dim))
        nn.init.trunc_normal_(self.last, std=0.02)  # rows are normalised in forward: only directions matter
        # the MLP keeps PyTorch's default init: DINO's std-0.02 init shrinks narrow heads' outputs
        # towards 0, where the L2 normalisation explodes the gradients

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(self.mlp(x), dim=-1)
        return F.linear(x, F.normalize(self.last, dim=1))
