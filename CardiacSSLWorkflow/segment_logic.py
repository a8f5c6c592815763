"""Segment a cine in the scene with a registry model: MRML in, segmentation (sequence) out.

No GUI here: errors are raised (``InputError``, ``OutputExistsError``, ``ModelError``) and
the front end shows them. Which frames to segment and the ED/ES choice are
CardiacSSLLib's (``segment_frames``); this file takes the request from the scene and puts
the result into it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError, OutputExistsError
from CardiacSSLLib.segment_frames import FRAMES_CURRENT, FRAMES_EDES, check_mode, frames_to_run
from CardiacSSLWorkflow import mrml_convert

logger = logging.getLogger(__name__)
INPUT_ATTRIBUTE = "CardiacSSL.inputNodeID"
MODEL_ATTRIBUTE = "CardiacSSL.model"
FRAMES_ATTRIBUTE = "CardiacSSL.frames"


@dataclass
class ModelChoice:
    name: str
    origin: str  # bundled | user
    accuracy: str  # e.g. "val Dice 0.87" or "" when unknown

    @property
    def label(self) -> str:
        return f"{self.name} ({self.origin}{', ' + self.accuracy if self.accuracy else ''})"


@dataclass
class Prediction:
    """What :meth:`SegmentLogic.predict` found and :meth:`SegmentLogic.add_result` puts into the scene."""

    cine: Cine  # the input as CardiacSSLLib sees it (its geometry places the result)
    frames: list[int]  # frame numbers of the cine, one per label frame
    label: np.ndarray  # (len(frames), Z, Y, X) uint8 canonical
    model: str
    ed_es: tuple[int, int] | None = None  # (ED, ES) frame numbers when they were looked for


@dataclass
class SegmentRequest:
    """A checked request, taken from the scene on the main thread: what :meth:`SegmentLogic.predict` needs."""

    input_node: object
    cine: Cine
    frames: list[int]  # frames to run inference on (all of them for ED + ES)
    mode: str  # one of FRAME_MODES
    model: str
    device: str = "auto"
    overwrite: bool = False


@dataclass
class SegmentationResult:
    segmentation: object  # vtkMRMLSegmentationNode shown in the views (a proxy for several frames)
    frames: list[int]
    label: np.ndarray  # (len(frames), Z, Y, X) canonical
    model: str
    sequence: mrml_convert.SequenceNodes | None = None
    ed_es: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)


def _first_dice(summary: dict, depth: int = 0) -> float | None:
    """The first Dice-like number in a (nested) summary: ``*dice*`` keys, or ``mean`` under a Dice section."""
    for key, value in summary.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and "dice" in str(key).lower():
            return float(value)
    for key, value in summary.items():
        if isinstance(value, dict) and depth < 3:
            if isinstance(value.get("mean"), (int, float)) and ("dice" in str(key).lower() or key == "validation"):
                return float(value["mean"])
            found = _first_dice(value, depth + 1)
            if found is not None:
                return found
    return None


def _accuracy(summary: dict) -> str:
    """A short accuracy text from a registry summary (bundled card numbers or user validation)."""
    dice = _first_dice(summary or {})
    if dice is None:
        return ""
    return f"{'val ' if 'validation' in (summary or {}) else ''}Dice {dice:.3f}"


def list_models() -> list[ModelChoice]:
    """Segmentation models of the registry (bundled, then user) with their stated accuracy."""
    from CardiacSSLLib.registry import list_models as registry_models

    return [ModelChoice(e.name, e.origin, _accuracy(e.summary)) for e in registry_models(kind="segmentation")]


def result_attribute(node, name: str) -> str | None:
    """An attribute of a result: the node's own, else its sequence's.

    A proxy that shows a frame without a result is a copy of an empty node, attributes
    included, so the sequence is where they always are.
    """
    value = node.GetAttribute(name)
    if value is None:
        sequence, _ = mrml_convert.sequence_of(node)
        value = sequence.GetAttribute(name) if sequence is not None else None
    return value


def gpu_message(device: str) -> str | None:
    """A clear sentence when a GPU was asked for (or would help) but none is usable; None otherwise."""
    import torch

    if torch.cuda.is_available():
        return None
    if device == "gpu":
        return (
            f"No usable GPU: PyTorch {torch.__version__} sees no CUDA device (CUDA build: "
            f"{torch.version.cuda or 'none'}). Choose CPU, or install a CUDA build with the PyTorch extension."
        )
    return "No usable GPU: running on the CPU (slower)."


class SegmentLogic:
    """``segment(input_node, model, frames, device)`` -> segmentation node(s) aligned with the input.

    In steps: :meth:`check_request` and :meth:`input_cine` (MRML), :meth:`predict` (no MRML, may run
    in a worker thread), :meth:`add_result` (MRML).
    """

    def __init__(self, scene) -> None:
        self.scene = scene

    def input_cine(self, node) -> Cine:
        return mrml_convert.node_to_cine(node)

    def current_frame(self, node) -> int:
        """Frame shown now for a sequence proxy (0 for a plain volume)."""
        browser = mrml_convert.browser_for_node(node) if node is not None else None
        return int(browser.GetSelectedItemNumber()) if browser is not None else 0

    def existing_segmentation(self, input_node):
        """The segmentation this module made earlier for ``input_node``, or None."""
        for i in range(self.scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")):
            node = self.scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
            if result_attribute(node, INPUT_ATTRIBUTE) == input_node.GetID():
                return node
        return None

    def frames_to_run(self, mode: str, cine: Cine, current: int) -> list[int]:
        return frames_to_run(check_mode(mode), cine.n_frames, current)

    def check_request(self, input_node, model: str, overwrite: bool = False):
        """Refuse a run before any work: no input, no model, or an earlier result kept unless ``overwrite``.

        Returns the earlier segmentation of ``input_node`` (None when there is none).
        """
        if input_node is None:
            raise InputError("no input selected: load a cine, or pick a cine sequence or a volume")
        if not model:
            raise InputError("no model selected: pick one from the list (or fine-tune one)")
        previous = self.existing_segmentation(input_node)
        if previous is not None and not overwrite:
            raise OutputExistsError(
                f"{input_node.GetName()!r} already has a segmentation ({previous.GetName()!r}): "
                "replacing it discards the corrections made there"
            )
        return previous

    def prepare(
        self, input_node, model: str, mode: str = FRAMES_CURRENT, device: str = "auto", overwrite: bool = False
    ) -> SegmentRequest:
        """All checks before any work (:meth:`check_request`, the frame choice), and the input as a cine."""
        self.check_request(input_node, model, overwrite)
        check_mode(mode)
        cine = self.input_cine(input_node)
        run = self.frames_to_run(mode, cine, self.current_frame(input_node))
        return SegmentRequest(input_node, cine, run, mode, str(model), device, overwrite)

    @staticmethod
    def predict(
        cine: Cine,
        model: str,
        frames: list[int],
        mode: str = FRAMES_CURRENT,
        device: str = "auto",
        progress=None,
        cancel=None,
    ) -> Prediction:
        """Inference only (CardiacSSLLib, no MRML, safe in a worker thread) on ``frames`` of ``cine``.

        ``frames`` comes from :meth:`frames_to_run` for ``mode``; with ``FRAMES_EDES`` only the
        end-diastolic and end-systolic frames found in the prediction are kept.
        """
        from CardiacSSLLib.segment_frames import segment_frames

        check_mode(mode)
        run = [int(t) for t in frames]
        choice = FRAMES_EDES if mode == FRAMES_EDES else run
        found = segment_frames(
            model, cine, choice, current=run[0] if run else 0, device=device, progress=progress, cancel=cancel
        )
        return Prediction(cine, found.frames, found.label, str(model), found.ed_es)

    def segment(
        self,
        input_node,
        model: str,
        frames: str = FRAMES_CURRENT,
        device: str = "auto",
        overwrite: bool = False,
        progress=None,
        cancel=None,
    ) -> SegmentationResult:
        """Segment and add the result to the scene; refuses to replace an earlier result unless ``overwrite``.

        The composition of :meth:`prepare`, :meth:`predict` and :meth:`add_result`; a caller
        that must keep inference off its main thread calls them one by one.
        """
        request = self.prepare(input_node, model, frames, device, overwrite)
        prediction = self.predict_request(request, progress=progress, cancel=cancel)
        return self.add_result(input_node, prediction, overwrite=overwrite)

    @classmethod
    def predict_request(cls, request: SegmentRequest, progress=None, cancel=None) -> Prediction:
        """:meth:`predict` for a :meth:`prepare` d request (no MRML: safe in a worker thread)."""
        return cls.predict(
            request.cine, request.model, request.frames, request.mode, request.device, progress=progress, cancel=cancel
        )

    def add_result(self, input_node, prediction: Prediction, overwrite: bool = False) -> SegmentationResult:
        """Put ``prediction`` into the scene as segmentation node(s) aligned with ``input_node`` (MRML: main thread).

        An earlier result of this module for ``input_node`` is replaced when ``overwrite``, refused otherwise.
        """
        previous = self.check_request(input_node, prediction.model, overwrite)
        if previous is not None:
            self.remove_result(previous)
        cine, run, label, model = prediction.cine, list(prediction.frames), prediction.label, prediction.model
        if label.shape[0] != len(run):
            raise ValueError(f"the prediction has {label.shape[0]} frame(s) for {len(run)} frame number(s)")
        name = f"{input_node.GetName()} segmentation"
        index_values = mrml_convert.index_values_of(input_node)
        if index_values is None:
            node = mrml_convert.new_segmentation_node(self.scene, name, label[0], cine.geometry, input_node)
            seq = None
        else:
            sequence, browser = mrml_convert.sequence_of(input_node)
            seq = mrml_convert.label_to_segmentation_sequence(
                self.scene,
                name,
                label,
                cine.geometry,
                [index_values[t] for t in run],
                index_name=sequence.GetIndexName(),
                index_unit=sequence.GetIndexUnit(),
                browser=browser,
            )
            node = seq.proxy
        targets = [node]
        if seq is not None:  # items too: a proxy may take its attributes from the item it shows
            targets += [seq.sequence] + [seq.sequence.GetNthDataNode(i) for i in range(len(run))]
        for target in targets:
            if target is None:
                continue
            target.SetAttribute(INPUT_ATTRIBUTE, input_node.GetID())
            target.SetAttribute(MODEL_ATTRIBUTE, str(model))
            target.SetAttribute(FRAMES_ATTRIBUTE, ",".join(str(t) for t in run))
        if node is not None and hasattr(node, "SetReferenceImageGeometryParameterFromVolumeNode"):
            node.SetNodeReferenceID(node.GetReferenceImageGeometryReferenceRole(), input_node.GetID())
        return SegmentationResult(node, run, label, str(model), seq, prediction.ed_es)

    def remove_result(self, segmentation_node) -> None:
        """Remove a segmentation made by this module, with its sequence when it has one."""
        sequence, browser = mrml_convert.sequence_of(segmentation_node)
        if browser is not None and sequence is not None:
            browser.RemoveSynchronizedSequenceNode(sequence.GetID())
            if browser.GetMasterSequenceNode() is None:
                self.scene.RemoveNode(browser)
        if sequence is not None:
            self.scene.RemoveNode(sequence)
        if segmentation_node.GetScene() is not None:
            self.scene.RemoveNode(segmentation_node)

    def frame_labels(self, segmentation_node, input_node) -> list[tuple[int, np.ndarray]]:
        """``[(frame index, canonical label (Z, Y, X))]`` of a result, with the user's edits."""
        if input_node is None:
            raise InputError("the input image of this segmentation is not in the scene any more")
        volume = self._frame_volume(input_node)
        geometry = mrml_convert.volume_geometry(volume)
        shape = tuple(reversed(volume.GetImageData().GetDimensions()))
        index_values = mrml_convert.index_values_of(input_node)
        out = []
        for value, node in mrml_convert.segmentation_items(segmentation_node):
            frame = 0 if value is None or index_values is None else index_values.index(value)
            out.append((frame, mrml_convert.label_from_segmentation(node, geometry, shape)))
        return out

    @staticmethod
    def _frame_volume(input_node):
        sequence, _ = mrml_convert.sequence_of(input_node)
        return input_node if sequence is None else sequence.GetNthDataNode(0)
