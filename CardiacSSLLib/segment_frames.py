"""Segment the frames of a cine that a choice names: all, the current one, ED + ES, or a list.

The one place where a frame choice becomes frames to run and, for ED + ES, where the two
frames are found (from the LV volume curve of the prediction). The command line, the
Slicer module and the web app all segment through :func:`segment_frames`; the MRML layer
only converts its result. Torch is imported when inference runs, not at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError

FRAMES_CURRENT, FRAMES_EDES, FRAMES_ALL = "current", "ed-es", "all"
FRAME_MODES = (FRAMES_CURRENT, FRAMES_EDES, FRAMES_ALL)

FrameChoice = str | Sequence[int]  # one of FRAME_MODES, or frame numbers


def check_mode(mode: str) -> str:
    if mode not in FRAME_MODES:
        raise InputError(f"unknown frame choice {mode!r}: frames must be one of {', '.join(FRAME_MODES)}")
    return mode


def frames_to_run(choice: FrameChoice, n_frames: int, current: int = 0) -> list[int]:
    """Frames inference runs on: all of them for ``all`` and ``ed-es``, ``current`` (clipped), or the list."""
    if not isinstance(choice, str):
        frames = [int(f) for f in choice]
        bad = [f for f in frames if not 0 <= f < n_frames]
        if bad or not frames:
            raise InputError(f"frames {bad or list(choice)} out of range: this cine has {n_frames} frames")
        return frames
    if check_mode(choice) == FRAMES_CURRENT or n_frames == 1:
        return [min(max(int(current), 0), n_frames - 1)]
    return list(range(n_frames))


@dataclass
class FrameSegmentation:
    """What :func:`segment_frames` found; frame numbers are the cine's."""

    run: list[int]  # frames inference ran on
    run_label: np.ndarray  # (len(run), Z, Y, X) uint8 canonical
    frames: list[int]  # frames the choice asks for: ``run``, or (ED, ES)
    label: np.ndarray  # (len(frames), Z, Y, X) uint8 canonical
    ed_es: tuple[int, int] | None = None  # (ED, ES) when the choice was ED + ES
    clinical: object | None = None  # ClinicalResult over ``run`` (ED + ES, or when asked for)


def segment_frames(
    model,
    cine: Cine,
    choice: FrameChoice = FRAMES_ALL,
    current: int = 0,
    *,
    device: str = "auto",
    tta: bool = False,
    precision: str = "auto",
    cleanup: bool = True,
    with_metrics: bool = False,
    progress=None,
    cancel=None,
    timings: dict[str, float] | None = None,
) -> FrameSegmentation:
    """Segment the frames ``choice`` names; ED + ES keeps only those two of all segmented frames.

    ED + ES segments every frame to find the two on the LV volume curve, unless the study
    names them itself (ACDC ``Info.cfg``): then only those two frames run.

    ``with_metrics`` also computes the clinical metrics over the segmented frames when the
    pixel spacing is known (ED + ES always needs them, and refuses a cine without spacing
    before the long inference).
    """
    from CardiacSSLLib.inference import segment_cine

    run = frames_to_run(choice, cine.n_frames, current)
    ed_es_wanted = choice == FRAMES_EDES and cine.n_frames > 1
    known = known_ed_es(cine) if ed_es_wanted else None
    if known is not None:
        run = sorted(set(known))  # the study names its ED and ES (ACDC Info.cfg): only those run
    if ed_es_wanted and not cine.geometry.spacing_known:
        raise InputError("ED/ES detection needs volumes, but this image has no pixel spacing: pick frames")
    label = segment_cine(
        model,
        cine,
        frames=run,
        device=device,
        tta=tta,
        precision=precision,
        cleanup=cleanup,
        progress=progress,
        cancel=cancel,
        timings=timings,
    )
    clinical = None
    if ed_es_wanted or (with_metrics and cine.geometry.spacing_known):
        clinical = _clinical(cine, run, label)
    if not ed_es_wanted:
        return FrameSegmentation(run, label, list(run), label, None, clinical)
    ed_es = known or (int(clinical.ed_frame), int(clinical.es_frame))
    keep = [run.index(ed_es[0]), run.index(ed_es[1])]
    return FrameSegmentation(run, label, list(ed_es), label[keep], ed_es, clinical)


def known_ed_es(cine: Cine) -> tuple[int, int] | None:
    """(ED, ES) frames the study's own files name (``meta["study_ed_es"]``, e.g. ACDC ``Info.cfg``), when valid."""
    ed, es = cine.meta.get("study_ed_es") or (None, None)
    if ed is None or es is None or ed == es or not (0 <= ed < cine.n_frames and 0 <= es < cine.n_frames):
        return None
    return int(ed), int(es)


def _clinical(cine: Cine, run: list[int], label: np.ndarray):
    """Clinical metrics over the segmented frames, with frame numbers of the cine."""
    from CardiacSSLLib.metrics.clinical import clinical_metrics

    full = np.zeros(cine.image.shape, dtype=np.uint8)
    full[run] = label
    return clinical_metrics(full, cine.geometry, cine.trigger_times_ms, frames=run)
