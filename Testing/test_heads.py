"""Global projectors see differences between frames despite the instance-normalised bottleneck."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from CardiacSSLLib.models.heads import GlobalPool, MLPHead
from CardiacSSLLib.models.unet import UNetConfig, build_unet
from CardiacSSLLib.phantom import make_phantom


def _mean_pairwise_cosine(z: torch.Tensor) -> float:
    z = F.normalize(z, dim=1)
    c = z @ z.t()
    n = c.shape[0]
    return float((c.sum() - c.diagonal().sum()).detach() / (n * (n - 1)))


def test_projector_separates_frames_that_global_pooling_does_not():
    torch.manual_seed(0)
    cine = make_phantom(n_frames=4, n_slices=4, size=64, seed=1)
    x = torch.from_numpy(cine.image.reshape(-1, 64, 64)[:12]).float()[:, None]
    x = (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True)
    net = build_unet(UNetConfig(features=(8, 16, 32, 64)))
    pooled = GlobalPool()(net.encode(x)[-1])
    # the reason for the batch norm: pooled instance-normalised features are nearly identical
    assert _mean_pairwise_cosine(pooled) > 0.95
    head = MLPHead(pooled.shape[1], 64, 32).train()
    assert _mean_pairwise_cosine(head(pooled)) < 0.5
