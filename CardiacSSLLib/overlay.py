"""PNG montage of a cine frame with the label map coloured on top, for quick review.

Tiles are shown as the web app and Slicer's short-axis view show the stack
(``display_axes``: radiological, the RV on the viewer's left), each with its frame and
slice and the patient-direction letters at its edges; a legend names the colours.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.display_axes import display_axes, orientation_letters, to_screen
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.labels import COLORS, LV, NAMES
from CardiacSSLLib.metrics.output import prepare_output, write_atomic

ALPHA = 0.4
_GAP = 2  # pixels between tiles
LEGEND_HEIGHT = 18  # pixels of the legend strip under the montage (when a label is drawn)
_TEXT = (235, 235, 235)  # grey text keeps a label-free montage grey


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
    every slice. Tiles are turned as ``display_axes`` says (radiological, as the web view),
    each labelled with its frame, slice and patient directions; a legend strip under the
    montage names the label colours (when a label is drawn). Returns the written path.
    """
    prepare_output(path, overwrite)
    if zoom < 1:
        raise InputError(f"zoom must be a positive integer, got {zoom}")
    frame, lab3d = _frame_label(cine, label, frame)
    chosen = _pick_slices(lab3d, cine.n_slices, slices)
    axes = display_axes(cine.geometry.direction)
    gray = _normalise(cine.image[frame])
    tiles = [to_screen(_colour_tile(gray[z], None if lab3d is None else lab3d[z], alpha), axes) for z in chosen]
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

    image = Image.fromarray(np.round(canvas * 255).astype(np.uint8))
    origins = [((k % cols) * (w + _GAP) * zoom, (k // cols) * (h + _GAP) * zoom) for k in range(len(chosen))]
    image = _annotate(image, origins, (w * zoom, h * zoom), [(frame, z) for z in chosen], orientation_letters(axes))
    if lab3d is not None:
        image = _with_legend(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return write_atomic(path, buf.getvalue(), overwrite)


def _annotate(image, origins, tile_size, frame_slices, letters: dict[str, str]):
    """Frame and slice in each tile's top-left corner, patient-direction letters at its edges."""
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(image)
    tw, th = tile_size
    size = max(8, min(12, th // 10))
    font = ImageFont.load_default(size=size)
    for (x0, y0), (frame, z) in zip(origins, frame_slices, strict=True):
        text = f"frame {frame} slice {z}" if tw >= 120 else f"f{frame} s{z}"
        draw.text((x0 + 3, y0 + 2), text, fill=_TEXT, font=font)
        cx, cy = x0 + tw / 2, y0 + th / 2
        for side, anchor, xy in (  # the top letter goes under the frame/slice line
            ("left", "lm", (x0 + 2, cy)),
            ("right", "rm", (x0 + tw - 2, cy)),
            ("top", "mt", (cx, y0 + 4 + size)),
            ("bottom", "mb", (cx, y0 + th - 2)),
        ):
            draw.text(xy, letters[side], fill=_TEXT, font=font, anchor=anchor)
    return image


def _with_legend(image):
    """The montage over a strip naming each label colour and the display convention."""
    from PIL import Image, ImageDraw, ImageFont

    out = Image.new("RGB", (image.width, image.height + LEGEND_HEIGHT))
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=11)
    x, y = 4, image.height + 3
    for value, name in NAMES.items():
        colour = tuple(int(round(255 * c)) for c in COLORS[value])
        draw.rectangle((x, y, x + 11, y + 11), fill=colour)
        draw.text((x + 15, y), name, fill=_TEXT, font=font)
        x += 22 + int(draw.textlength(name, font=font))
    draw.text((x + 4, y), "radiological view", fill=_TEXT, font=font)
    return out
