"""Propagate corrected frames to the other phases: register, warp, fuse; corrected frames untouched.

Each target frame takes its labels from the nearest corrected frame in time (the cine is
periodic, so the distance wraps around). ``chain=True`` registers neighbouring phases and
composes the transforms along the way (small motions, each easy to register); ``chain=False``
registers the target directly to the source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from CardiacSSLLib.errors import InputError
from CardiacSSLLib.progress import CancelToken, Progress
from CardiacSSLLib.propagation.fusion import fuse_band
from CardiacSSLLib.propagation.registration import RegistrationConfig, compose, register_slice, warp_label

log = logging.getLogger(__name__)
FUSIONS = ("fused", "registration")


@dataclass(frozen=True)
class PropagationConfig:
    """How to propagate; defaults chosen on the ACDC validation split (``benchmarks/propagation.py``)."""

    fusion: str = "fused"  # fused: model at the warped edges, warped elsewhere; registration: warped only
    band_mm: float = 8.0
    chain: bool = True
    margin_mm: float = 30.0  # registration runs in a box this far around every label of the cine
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)


def _path(source: int, target: int, n: int) -> list[int]:
    """Frames from ``source`` to ``target`` the short way round the cycle (both included)."""
    forward = (target - source) % n
    step = 1 if forward <= n - forward else -1
    length = forward if step == 1 else n - forward
    return [(source + step * i) % n for i in range(length + 1)]


def plan(corrected: Sequence[int], targets: Iterable[int], n_frames: int, chain: bool) -> dict[int, list[int]]:
    """``{target: [source, ..., target]}``: the frames a chain passes through (just the two when direct)."""
    out = {}
    for t in targets:
        best = min(corrected, key=lambda s: (min((t - s) % n_frames, (s - t) % n_frames), s))
        path = _path(best, t, n_frames)
        out[t] = path if chain else [path[0], path[-1]]
    return out


def heart_box(labels: np.ndarray, margin_px: int) -> tuple[slice, slice]:
    """In-plane box around every labelled pixel of every frame, widened by ``margin_px``.

    Registering this box only is faster and keeps the chest wall and the lungs, which move
    differently, from pulling on the heart's deformation.
    """
    any_yx = labels.reshape(-1, *labels.shape[-2:]).any(0)
    if not any_yx.any():
        return slice(None), slice(None)
    ys, xs = np.nonzero(any_yx)
    h, w = any_yx.shape
    return (
        slice(max(int(ys.min()) - margin_px, 0), min(int(ys.max()) + 1 + margin_px, h)),
        slice(max(int(xs.min()) - margin_px, 0), min(int(xs.max()) + 1 + margin_px, w)),
    )


def check_inputs(image: np.ndarray, labels: np.ndarray, corrected: Sequence[int]) -> list[int]:
    if image.ndim != 4 or labels.shape != image.shape:
        raise InputError(f"labels {labels.shape} must match the cine's (frame, slice, row, column) shape {image.shape}")
    n = image.shape[0]
    frames = sorted({int(f) for f in corrected})
    if not frames:
        raise InputError("no corrected frame given: propagation needs at least one frame to carry")
    bad = [f for f in frames if not 0 <= f < n]
    if bad:
        raise InputError(f"corrected frame(s) {bad} out of range: this cine has {n} frames")
    if labels.max(initial=0) > 3:
        raise InputError(f"labels hold value {int(labels.max())}; expected canonical 0-3 (background, LV, MYO, RV)")
    return frames


def target_frames(
    image: np.ndarray, labels: np.ndarray, corrected: Sequence[int], targets: Sequence[int] | None
) -> tuple[list[int], list[int]]:
    """``(corrected, frames to update)`` after :func:`check_inputs`; ``targets`` None: every frame
    not corrected; corrected frames are never among those to update."""
    corrected = check_inputs(image, labels, corrected)
    wanted = range(image.shape[0]) if targets is None else sorted({int(t) % image.shape[0] for t in targets})
    return corrected, [t for t in wanted if t not in corrected]


def propagate(
    image: np.ndarray,
    labels: np.ndarray,
    corrected_frames: Sequence[int],
    spacing_yx: tuple[float, float] | None = None,
    config: PropagationConfig | None = None,
    targets: Sequence[int] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """A new label array ``(T, Z, Y, X)``: corrected frames carried to ``targets`` (default: all others).

    ``labels`` holds every frame (the model's prediction, with the user's corrections in
    ``corrected_frames``); the model's prediction of a target is what the fusion falls back
    on near edges. Frames in ``corrected_frames`` are never changed, even when listed in
    ``targets``; ``labels`` itself is never modified. ``spacing_yx`` (mm) converts the fusion
    band; unknown spacing takes 1.5 mm pixels (the models' working resolution).
    """
    config = config or PropagationConfig()
    if config.fusion not in FUSIONS:
        raise InputError(f"unknown fusion {config.fusion!r}; choose one of {', '.join(FUSIONS)}")
    corrected, frames = target_frames(image, labels, corrected_frames, targets)
    n_frames, n_slices = image.shape[:2]
    routes = plan(corrected, frames, n_frames, config.chain)
    pairs = sorted(
        {(b, a) for path in routes.values() for a, b in zip(path, path[1:], strict=False)}
    )  # (fixed, moving)
    if progress is not None:
        progress.total = len(pairs) * n_slices + len(routes)
    box = heart_box(labels, margin_px=round(config.margin_mm / min(spacing_yx or (1.5, 1.5))))
    image = image[..., box[0], box[1]]
    transforms: dict[tuple[int, int, int], object] = {}
    step = 0
    for fixed, moving in pairs:
        for z in range(n_slices):
            if cancel is not None:
                cancel.check()
            transforms[fixed, moving, z] = register_slice(image[fixed, z], image[moving, z], config.registration)
            step += 1
            if progress is not None:
                progress.step(step, stage="register")
    out = labels.copy()
    band_px = config.band_mm / min(spacing_yx or (1.5, 1.5))
    for target, path in routes.items():
        if cancel is not None:
            cancel.check()
        # fixed = later frame on the path: the target's points map back, link by link, to the source
        chain = [(b, a) for a, b in zip(path, path[1:], strict=False)]
        warped = np.stack(
            [
                warp_label(labels[path[0], z, box[0], box[1]], compose([transforms[f, m, z] for f, m in chain]))
                for z in range(n_slices)
            ]
        )
        model = labels[target][:, box[0], box[1]]
        out[target] = 0
        out[target][:, box[0], box[1]] = fuse_band(warped, model, band_px) if config.fusion == "fused" else warped
        step += 1
        if progress is not None:
            progress.step(step, stage="warp", frame=target)
    return out
