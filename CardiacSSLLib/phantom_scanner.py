"""What the scanner adds to the drawn phantom: coil sensitivity, a slight blur, Rician noise."""

from __future__ import annotations

import numpy as np


def acquire(image: np.ndarray, rng: np.random.Generator, coil_direction: float, grid, fov, noise: float) -> np.ndarray:
    """Smooth coil sensitivity (an anterior surface coil facing ``coil_direction``, radians), blur, Rician noise."""
    xx, yy = grid
    n_slices = image.shape[1]
    coil_angle = coil_direction + rng.uniform(-0.6, 0.6)
    qx, qy = 0.5 * fov[0] * np.cos(coil_angle), 0.5 * fov[1] * np.sin(coil_angle)
    field = 0.7 + 0.5 * np.exp(-((xx - qx) ** 2 + (yy - qy) ** 2) / (2.0 * (0.45 * max(fov)) ** 2))
    slice_gain = 1.0 + 0.05 * np.cos(np.linspace(0.0, np.pi, n_slices))
    image *= (field[None, None] * slice_gain[None, :, None, None]).astype(np.float32)
    image = blur(image)
    if noise > 0:
        real = image + rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise)
        imag = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise)
        image = np.sqrt(real * real + imag * imag)
    return image


def blur(vol: np.ndarray, sigma: float = 0.6) -> np.ndarray:
    """Separable Gaussian blur over the last two axes (edge-replicated), in place-ish."""
    radius = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    for axis in (-1, -2):
        pad = [(0, 0)] * vol.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(vol, pad, mode="edge")
        n = vol.shape[axis]
        out = np.multiply(padded[_along(axis, vol.ndim, 0, n)], k[0])
        for i in range(1, len(k)):
            out += k[i] * padded[_along(axis, vol.ndim, i, i + n)]
        vol = out
    return vol


def _along(axis: int, ndim: int, start: int, stop: int) -> tuple[slice, ...]:
    index = [slice(None)] * ndim
    index[axis] = slice(start, stop)
    return tuple(index)
