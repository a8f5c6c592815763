"""Intensity normalisation and in-plane resampling, with the exact inverse back to native.

Networks see slices at ``target_spacing`` mm (when the spacing is known) and intensities
scaled by robust percentiles. Resampling uses ``torch.nn.functional.interpolate`` with
``align_corners=False`` both ways: the half-pixel convention keeps pixel centres aligned,
so probabilities mapped back with the inverse land on the native grid exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from CardiacSSLLib.errors import InputError


def normalize_intensity(image: np.ndarray, lower: float = 0.5, upper: float = 99.5) -> np.ndarray:
    """Per 2D slice, map the ``lower``..``upper`` percentiles to 0..1 and clip.

    Per slice rather than per volume: surface-coil shading and vendor scaling vary
    along the stack, and the networks are trained on single slices the same way. A
    flat slice becomes zeros; NaN/inf anywhere is refused; an all-flat image too.
    """
    arr = np.asarray(image, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise InputError("image contains NaN or infinite voxels")
    flat = arr.reshape(-1, arr.shape[-2] * arr.shape[-1])
    lo, hi = np.percentile(flat, [lower, upper], axis=1)
    rng = hi - lo
    if not np.any(rng > 1e-6 * np.maximum(np.abs(hi), 1.0)):
        raise InputError("image is constant (no contrast): nothing to segment")
    scale = np.where(rng > 0, 1.0 / np.where(rng > 0, rng, 1.0), 0.0)
    out = np.clip((flat - lo[:, None]) * scale[:, None], 0.0, 1.0)
    return out.reshape(arr.shape).astype(np.float32)


@dataclass(frozen=True)
class InplaneGrid:
    """How a native ``(H, W)`` slice maps to the network input.

    Native -> resampled ``(h, w)`` at the target spacing -> optional crop to ``roi``
    ``(y0, y1, x0, x1)`` (a box around the heart, in resampled pixels) -> symmetric zero
    padding to the network's divisor. :func:`from_network` undoes each step; outside the
    box the probability maps are background.
    """

    native: tuple[int, int]
    resampled: tuple[int, int]
    pad: tuple[int, int, int, int]  # left, right, top, bottom (F.pad order for the last two dims)
    roi: tuple[int, int, int, int] | None = None

    @property
    def cropped(self) -> tuple[int, int]:
        if self.roi is None:
            return self.resampled
        return (self.roi[1] - self.roi[0], self.roi[3] - self.roi[2])

    @property
    def padded(self) -> tuple[int, int]:
        h, w = self.cropped
        return (h + self.pad[2] + self.pad[3], w + self.pad[0] + self.pad[1])


def _pad_to(n: int, divisor: int, min_size: int = 0) -> tuple[int, int]:
    total = max(-(-n // divisor) * divisor, -(-min_size // divisor) * divisor) - n
    return total // 2, total - total // 2


def plan_grid(
    native: tuple[int, int],
    pixel_spacing: tuple[float, float] | None,
    target_spacing: float | None,
    divisor: int,
    min_size: int = 0,
) -> InplaneGrid:
    """Grid for slices of ``native`` (rows, cols) with spacing ``(sy, sx)``; None keeps pixels."""
    h, w = native
    if pixel_spacing is not None and target_spacing:
        h = max(1, int(round(native[0] * pixel_spacing[0] / target_spacing)))
        w = max(1, int(round(native[1] * pixel_spacing[1] / target_spacing)))
    top, bottom = _pad_to(h, divisor, min_size)
    left, right = _pad_to(w, divisor, min_size)
    return InplaneGrid(native=tuple(native), resampled=(h, w), pad=(left, right, top, bottom))


def with_roi(grid: InplaneGrid, box: tuple[int, int, int, int], divisor: int, min_size: int = 0) -> InplaneGrid:
    """``grid`` cropped to ``box`` (resampled pixels), grown to ``min_size`` and clipped to the image."""
    h, w = grid.resampled
    y0, y1, x0, x1 = box

    def span(a: int, b: int, n: int) -> tuple[int, int]:
        size = min(n, max(b - a, min_size))
        size = min(n, -(-size // divisor) * divisor)  # whole multiples avoid padding inside the image
        centre = (a + b) // 2
        lo = min(max(0, centre - size // 2), n - size)
        return lo, lo + size

    y0, y1 = span(y0, y1, h)
    x0, x1 = span(x0, x1, w)
    top, bottom = _pad_to(y1 - y0, divisor)
    left, right = _pad_to(x1 - x0, divisor)
    return InplaneGrid(grid.native, grid.resampled, (left, right, top, bottom), (y0, y1, x0, x1))


def to_network(slices: torch.Tensor, grid: InplaneGrid, mode: str = "bilinear") -> torch.Tensor:
    """``(N, C, H, W)`` native -> resampled, cropped and padded network input."""
    x = slices
    if tuple(x.shape[-2:]) != grid.resampled:
        kwargs = {"align_corners": False, "antialias": True} if mode == "bilinear" else {}
        x = F.interpolate(x, size=grid.resampled, mode=mode, **kwargs)
    if grid.roi is not None:
        y0, y1, x0, x1 = grid.roi
        x = x[..., y0:y1, x0:x1]
    if any(grid.pad):
        x = F.pad(x, grid.pad, mode="constant", value=0.0)
    return x


def from_network(maps: torch.Tensor, grid: InplaneGrid) -> torch.Tensor:
    """Inverse of :func:`to_network` for probability maps ``(N, C, h, w)`` (channel 0 = background)."""
    left, right, top, bottom = grid.pad
    h, w = maps.shape[-2:]
    x = maps[..., top : h - bottom, left : w - right]
    if grid.roi is not None:
        y0, y1, x0, x1 = grid.roi
        full = x.new_zeros((*x.shape[:-2], *grid.resampled))
        full[:, 0] = 1.0  # background outside the heart box
        full[..., y0:y1, x0:x1] = x
        x = full
    if tuple(x.shape[-2:]) != grid.native:
        x = F.interpolate(x, size=grid.native, mode="bilinear", align_corners=False)
    return x


def resample_slice(image: np.ndarray, label: np.ndarray | None, factor: tuple[float, float]):
    """Resample one 2D slice (and its label, nearest) by ``factor`` = native/target spacing."""
    size = (max(1, int(round(image.shape[0] * factor[0]))), max(1, int(round(image.shape[1] * factor[1]))))
    if size == tuple(image.shape):
        return image, label
    img = F.interpolate(torch.from_numpy(image)[None, None], size=size, mode="bilinear", align_corners=False)
    lab = None
    if label is not None:
        lab = F.interpolate(torch.from_numpy(label.astype(np.float32))[None, None], size=size, mode="nearest")
        lab = lab[0, 0].numpy().astype(np.uint8)
    return img[0, 0].numpy(), lab
