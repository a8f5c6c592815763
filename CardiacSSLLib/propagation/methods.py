"""Every way of carrying corrected frames to the other phases, behind one call (CLI, workflow, web app).

``calibrate`` and ``adapt`` re-segment the other phases with the model (weighed, or fine-tuned,
to agree with the correction); ``fused`` and ``registration`` warp the corrected labels by
registration (:mod:`.propagate`). The default is the best on the ACDC validation split
(``benchmarks/propagation.py``; the README's table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.progress import CancelToken, Progress

METHODS = ("calibrate", "fused", "registration", "adapt")
DEFAULT_METHOD = "calibrate"
MODEL_METHODS = ("calibrate", "adapt")  # the ones that run a model


def propagate_cine(
    cine: Cine,
    labels: np.ndarray,
    corrected_frames: Sequence[int],
    targets: Sequence[int] | None = None,
    method: str = DEFAULT_METHOD,
    model="default",
    device: str = "auto",
    band_mm: float | None = None,
    chain: bool = True,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """A new label array ``(T, Z, Y, X)``: ``targets`` (default every frame not corrected) from the
    corrected frames by ``method``; the corrected frames and ``labels`` themselves are never changed.

    ``band_mm`` and ``chain`` apply to the registration methods, ``model`` and ``device`` to the others.
    """
    if method not in METHODS:
        raise InputError(f"unknown propagation method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "calibrate":
        from CardiacSSLLib.propagation.calibrate import propagate_by_calibration

        return propagate_by_calibration(
            model, cine, labels, corrected_frames, targets, device=device, progress=progress, cancel=cancel
        )
    if method == "adapt":
        from CardiacSSLLib.propagation.adapt import propagate_by_adaptation

        return propagate_by_adaptation(
            model, cine, labels, corrected_frames, targets, device=device, progress=progress, cancel=cancel
        )
    from CardiacSSLLib.propagation.propagate import PropagationConfig, propagate

    config = replace(PropagationConfig(), fusion=method, chain=chain)
    if band_mm is not None:
        config = replace(config, band_mm=band_mm)
    g = cine.geometry
    spacing = (g.spacing[1], g.spacing[0]) if g.spacing_known else None
    return propagate(cine.image, labels, corrected_frames, spacing, config, targets, progress, cancel)
