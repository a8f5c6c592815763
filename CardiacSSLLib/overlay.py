"""PNG montage of a cine frame with the label map coloured on top, for quick review."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.labels import COLORS, LV
from CardiacSSLLib.metrics.output import prepare_output, write_atomic

ALPHA = 0.4
_GAP = 2  # pixels between tiles


def _frame_label(cine: Cine, label: np.ndarray | None, frame: int | None) -> tuple[int, np.ndarray | None]:
    """Pick the frame (ED by LV size when not given) and its (Z, Y, X) label, if any."""
    label = cine.label if label is None else np.asarray(label)
    if label is not None and label.shape not in (cine.image.shape, cine.image.shape[1:]):
        raise InputError(f"label shape {label.shape} matches neither the cine {cine.image.shape} nor one frame")
    if frame is None:
        if label is not None and label.ndim == 4 and (label == LV).any():
            frame = int(np.argmax((label == LV).sum(axis=(1, 2, 3))))
        else:
            frame = 0
    if not -cine.n_frames <= frame < cine.n_frames:
        raise InputError(f"frame {frame} out of range: this cine has {cine.n_frames} frames")
    frame %= cine.n_frames
    if label is not None and label.ndim == 4:
        label = label[frame]
    return frame, label


def _pick_slices(label3d: np.ndarray | None, n_slices: int, slices: Sequence[int] | str | None) -> list[int]:
    if isinstance(slices, str):
        if slices != "all":
            raise InputError(f"slices must be a list of indices, 'all' or None, got {slices!r}")
        return list(range(n_slices))
    if slices is not None:
        chosen = [int(s) for s in slices]
        if not chosen or any(not 0 <= s < n_slices for s in chosen):
            raise InputError(f"slice indices must lie in 0..{n_slices - 1}, got {chosen}")
        return chosen
    with_lv = np.flatnonzero((label3d == LV).any(axis=(1, 2))) if label3d is not None else np.array([], int)
    lo, hi = (int(with_lv[0]), int(with_lv[-1]) + 1) if with_lv.size else (0, n_slices)
    third = (hi - lo) / 3.0
    start, stop = lo + int(np.floor(third)), lo + int(np.ceil(2 * third))
    return list(range(start, max(stop, start + 1)))


def _normalise(frame_image: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(frame_image, (1.0, 99.5))
    return np.clip((frame_image - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def _colour_tile(gray: np.ndarray, lab: np.ndarray | None, alpha: float) -> np.ndarray:
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    if lab is None:
        return rgb
    for value, colour in COLORS.items():
        mask = lab == value
        if not mask.any():
            continue
        rgb[mask] = (1.0 - alpha) * rgb[mask] + alpha * np.asarray(colour)
        padded = np.pad(mask, 1)
        interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        rgb[mask & ~interior] = colour  # solid outline
    return rgb


def save_overlay_png(
    cine: Cine,
    label: np.ndarray | None,
    path: str | os.PathLike,
    frame: int | None = None,
    slices: Sequence[int] | str | None = None,
    overwrite: bool = False,
    alpha: float = ALPHA,
    zoom: int = 1,
) -> Path:
    """Write a montage of ``slices`` of ``frame`` with LV/MYO/RV coloured (``labels.COLORS``).

    ``label`` is ``(T, Z, Y, X)`` or the ``(Z, Y, X)`` map of ``frame`` (frame 0 when
    ``frame`` is None); None uses
    ``cine.label`` (and with no label at all the montage is the image alone).
    ``frame`` None picks the frame with the largest LV (ED), or 0 without labels;
    ``slices`` None picks the mid-ventricular third of the slices holding LV, ``"all"``
    every slice. Returns the written path.
    """
    prepare_output(path, overwrite)
    if zoom < 1:
        raise InputError(f"zoom must be a positive integer, got {zoom}")
    frame, lab3d = _frame_label(cine, label, frame)
    chosen = _pick_slices(lab3d, cine.n_slices, slices)
    gray = _normalise(cine.image[frame])
    tiles = [_colour_tile(gray[z], None if lab3d is None else lab3d[z], alpha) for z in chosen]
    cols = int(np.ceil(np.sqrt(len(tiles))))
    rows = int(np.ceil(len(tiles) / cols))
    h, w = tiles[0].shape[:2]
    canvas = np.zeros((rows * (h + _GAP) - _GAP, cols * (w + _GAP) - _GAP, 3))
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        canvas[r * (h + _GAP) : r * (h + _GAP) + h, c * (w + _GAP) : c * (w + _GAP) + w] = tile
    if zoom > 1:
        canvas = canvas.repeat(zoom, axis=0).repeat(zoom, axis=1)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.round(canvas * 255).astype(np.uint8)).save(buf, format="PNG")
    return write_atomic(path, buf.getvalue(), overwrite)
