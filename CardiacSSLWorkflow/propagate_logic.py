"""Carry corrected frames of a segmentation (sequence) to its other frames: propose, then apply or not.

In steps like :class:`~CardiacSSLWorkflow.segment_logic.SegmentLogic`: :func:`prepare` reads the
scene (main thread), :func:`compute` runs the propagation (no MRML: safe in a worker thread,
with progress and cancel), :func:`apply` writes a label array into the segmentation items.
Nothing changes in the scene until :func:`apply`; the proposal keeps the labels from before,
so undo is ``apply(proposal.frames, proposal.before)``. Corrected frames are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.propagation.methods import DEFAULT_METHOD, METHODS
from CardiacSSLWorkflow import mrml_convert


@dataclass
class PropagationRequest:
    cine: Cine
    frames: list[int]  # cine frame numbers held by the segmentation, in its order
    labels: np.ndarray  # (len(frames), Z, Y, X) with the user's edits
    corrected: list[int]  # cine frame numbers the user corrected
    method: str = DEFAULT_METHOD
    model: str = "default"
    device: str = "auto"


@dataclass
class PropagationProposal:
    frames: list[int]
    before: np.ndarray  # (len(frames), Z, Y, X): what the scene holds now (the undo)
    after: np.ndarray  # the proposal
    corrected: list[int]

    @property
    def changed(self) -> list[int]:
        return [f for i, f in enumerate(self.frames) if not np.array_equal(self.before[i], self.after[i])]


def prepare(
    segment_logic,
    segmentation_node,
    input_node,
    corrected_frames,
    method: str = DEFAULT_METHOD,
    model: str = "default",
    device: str = "auto",
):
    """A checked request from the scene: the cine, and the segmentation's frames with the user's edits."""
    if method not in METHODS:
        raise InputError(f"unknown propagation method {method!r}; choose one of {', '.join(METHODS)}")
    pairs = sorted(segment_logic.frame_labels(segmentation_node, input_node))
    frames = [f for f, _ in pairs]
    corrected = sorted({int(f) for f in corrected_frames})
    if not corrected:
        raise InputError("mark at least one corrected frame to propagate from")
    missing = [f for f in corrected if f not in frames]
    if missing:
        raise InputError(f"frame(s) {missing} are not in this segmentation (it holds frames {frames})")
    if len(frames) == len(corrected):
        raise InputError("every frame of this segmentation is marked corrected: nothing to propagate to")
    cine = segment_logic.input_cine(input_node)
    return PropagationRequest(cine, frames, np.stack([lab for _, lab in pairs]), corrected, method, model, device)


def compute(request: PropagationRequest, progress=None, cancel=None) -> PropagationProposal:
    """The proposal (CardiacSSLLib, no MRML). Frames the segmentation lacks are only passed through."""
    from CardiacSSLLib.propagation.methods import propagate_cine

    cine = request.cine
    full = np.zeros(cine.image.shape, dtype=np.uint8)
    full[request.frames] = request.labels
    targets = [f for f in request.frames if f not in request.corrected]
    new = propagate_cine(
        cine, full, request.corrected, targets, request.method, request.model, request.device,
        progress=progress, cancel=cancel,
    )  # fmt: skip
    return PropagationProposal(request.frames, request.labels.copy(), new[request.frames], request.corrected)


def apply(segment_logic, segmentation_node, input_node, frames: list[int], labels: np.ndarray) -> None:
    """Write ``labels`` (one per frame of ``frames``) into the segmentation items (MRML: main thread)."""
    index_values = mrml_convert.index_values_of(input_node)
    geometry = segment_logic.input_cine(input_node).geometry
    wanted = dict(zip(frames, labels, strict=True))
    for value, node in mrml_convert.segmentation_items(segmentation_node):
        frame = 0 if value is None or index_values is None else index_values.index(value)
        if frame in wanted:
            mrml_convert.set_segmentation_from_label(node, wanted[frame], geometry)


def corrected_frames(cases, source: str, frames: list[int], current: int) -> list[int]:
    """The frames of ``frames`` the user corrected: those of ``source`` added to the training set
    (``cases``: :class:`~CardiacSSLLib.io.trainingset.CaseInfo`, ``source``:
    :func:`~CardiacSSLWorkflow.trainingset_logic.case_source`), else the frame shown now."""
    added = sorted({int(c.provenance.frame) for c in cases if c.provenance.source == source} & set(frames))
    return added or [int(current)]
