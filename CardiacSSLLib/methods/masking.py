"""Block masks for masked image modelling (MIM) and complementary masking (CCM)."""

from __future__ import annotations

import torch


def random_patch_mask(
    batch: int, size: tuple[int, int], patch: int, ratio: float, g: torch.Generator, device=None
) -> torch.Tensor:
    """(B, 1, H, W) float mask, 1 on masked patches: exactly round(ratio * n_patches) per image.

    The patch grid covers the image from its top-left corner; a partial last row/column of
    patches is kept (so sizes need not be multiples of ``patch``).
    """
    h, w = size
    gh, gw = -(-h // patch), -(-w // patch)
    n = gh * gw
    n_mask = int(round(ratio * n))
    order = torch.rand(batch, n, generator=g).argsort(dim=1)
    grid = torch.zeros(batch, n)
    grid.scatter_(1, order[:, :n_mask], 1.0)
    grid = grid.view(batch, 1, gh, gw)
    mask = grid.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)[:, :, :h, :w]
    return mask.contiguous().to(device)


def complementary_masks(
    batch: int, size: tuple[int, int], block: int, g: torch.Generator, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """CCM: M^a keeps half of the blocks (1 = visible), M^b = 1 - M^a."""
    visible_a = random_patch_mask(batch, size, block, 0.5, g, device)
    return visible_a, 1.0 - visible_a
