"""One cine in the MRML scene and the workflow steps on it, all done by CardiacSSLWorkflow.

No trame here: the app calls these methods on its event loop (MRML is not thread-safe);
only :meth:`Session.predict` is safe to run in a worker thread (pure CardiacSSLLib).
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from CardiacSSLLib import labels
from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.propagation.methods import DEFAULT_METHOD
from CardiacSSLWorkflow import mrml_convert
from CardiacSSLWorkflow.finetune_logic import START_SELECTED, FinetuneLogic
from CardiacSSLWorkflow.metrics_logic import MetricsLogic, MetricsResult
from CardiacSSLWorkflow.segment_logic import Prediction, SegmentationResult, SegmentLogic, SegmentRequest
from CardiacSSLWorkflow.trainingset_logic import TrainingSetLogic

logger = logging.getLogger(__name__)


class Session:
    """The scene's loaded cine, its segmentation, the training set and the fine-tuning runs."""

    def __init__(self, scene, train_set: str | Path | None = None, python: str | None = None) -> None:
        self.scene = scene
        self.segment_logic = SegmentLogic(scene)
        self.training_set = TrainingSetLogic(train_set)
        self.finetune = FinetuneLogic(python=python or sys.executable)
        self.cine: Cine | None = None
        self.nodes: mrml_convert.SequenceNodes | None = None
        self.result: SegmentationResult | None = None
        self.predicted: dict[int, np.ndarray] = {}  # the model's labels, to report what the user changed
        self.metrics: MetricsResult | None = None

    # --- loading -----------------------------------------------------------------------

    def show_cine(self, cine: Cine) -> mrml_convert.SequenceNodes:
        """Replace the scene's content by ``cine`` as a sequence (the scene is cleared first)."""
        self.scene.Clear()  # before adding nodes: views and editor keep working on a clean scene
        self.cine, self.result, self.metrics, self.predicted = cine, None, None, {}
        self.nodes = mrml_convert.cine_to_sequence(cine, self.scene, name=cine.name or "cine")
        return self.nodes

    @property
    def input_node(self):
        return None if self.nodes is None else self.nodes.proxy

    @property
    def n_frames(self) -> int:
        return 0 if self.cine is None else self.cine.n_frames

    def current_frame(self) -> int:
        return 0 if self.nodes is None else self.segment_logic.current_frame(self.nodes.proxy)

    def set_frame(self, frame: int) -> int:
        """Show ``frame`` (clipped); the segmentation sequence follows (edits are kept in it)."""
        if self.nodes is None:
            return 0
        frame = min(max(int(frame), 0), self.n_frames - 1)
        self.nodes.browser.SetSelectedItemNumber(frame)
        return frame

    # --- segmentation ------------------------------------------------------------------

    def prepare_prediction(self, model: str, frames: str, device: str, replace: bool) -> SegmentRequest:
        """The module's checks and inputs for a run (it refuses to replace a result unless ``replace``)."""
        return self.segment_logic.prepare(self.input_node, model, frames, device, overwrite=replace)

    @staticmethod
    def predict(job: SegmentRequest, progress=None, cancel=None) -> Prediction:
        """Inference only (the module's MRML-free step, ED/ES choice included): safe in a worker thread."""
        return SegmentLogic.predict_request(job, progress=progress, cancel=cancel)

    def add_prediction(self, job: SegmentRequest, prediction: Prediction) -> SegmentationResult:
        """Put a finished prediction into the scene as the module does (replacing an earlier one if asked)."""
        # SegmentLogic.segment() = prepare() + predict() + add_result(); the web app runs predict() in a
        # worker thread and the MRML steps on its event loop.
        self.result = self.segment_logic.add_result(job.input_node, prediction, overwrite=job.overwrite)
        self.predicted = {f: np.asarray(prediction.label[i]).copy() for i, f in enumerate(prediction.frames)}
        self.metrics = None
        return self.result

    @property
    def segmentation_node(self):
        return None if self.result is None else self.result.segmentation

    def _require_result(self):
        if self.result is None or self.segmentation_node is None:
            raise InputError("segment the cine first")
        return self.segmentation_node

    def shown_label(self) -> np.ndarray | None:
        """Canonical label of the frame shown now, with the user's edits (None when not segmented)."""
        node = self.segmentation_node
        if node is None or self.cine is None or self.current_frame() not in self.predicted:
            return None
        return mrml_convert.label_from_segmentation(node, self.cine.geometry, self.cine.frame_shape)

    # --- training set, fine-tuning, metrics ---------------------------------------------

    def add_to_training_set(self, which: str = "current") -> list[str]:
        return self.training_set.add_segmentation(self._require_result(), self.input_node, which=which)

    def start_finetune(
        self,
        model: str,
        name: str,
        steps: int,
        device: str,
        extra: list[str] | None = None,
        start: str = START_SELECTED,
    ):
        """Fine-tune from ``start`` (a ``list_start_points`` value; default: continue training ``model``)."""
        return self.finetune.start_from(start, model, self.training_set.folder, name, steps, device, extra=extra)

    # --- quality flags and propagation (CardiacSSLWorkflow.qc_logic / propagate_logic) ----------

    def quality_request(self, model: str = "default", device: str = "auto"):
        """What the quality check of the segmentation with the user's edits needs (read here, on the event
        loop): :func:`qc_logic.compute` it off the event loop (the model runs for the confidence flag)."""
        from CardiacSSLWorkflow import qc_logic

        return qc_logic.prepare(self.segment_logic, self._require_result(), self.input_node, model, device)

    def go_to(self, frame: int, slice_index: int) -> tuple[float, float, float]:
        """Show ``frame`` and move the slice views to ``slice_index``; the RAS point they jump to."""
        from slicer import vtkMRMLSliceNode

        from CardiacSSLWorkflow import qc_logic

        ras = qc_logic.go_to(self.segment_logic, self.input_node, int(frame), int(slice_index))
        vtkMRMLSliceNode.JumpAllSlices(self.scene, *ras)
        return ras

    def propagation_request(self, method: str = DEFAULT_METHOD, model: str = "default", device: str = "auto"):
        """A request to carry the corrected frames (those of this cine in the training set, else the frame
        shown) to the other segmented frames: :func:`propagate_logic.compute` it off the event loop."""
        from CardiacSSLWorkflow import propagate_logic
        from CardiacSSLWorkflow.trainingset_logic import case_source

        node = self._require_result()
        frames = [f for f, _ in self.segment_logic.frame_labels(node, self.input_node)]
        source = case_source(self.segment_logic.input_cine(self.input_node), self.input_node)
        corrected = propagate_logic.corrected_frames(self.training_set.cases(), source, frames, self.current_frame())
        return propagate_logic.prepare(self.segment_logic, node, self.input_node, corrected, method, model, device)

    def set_labels(self, frames: list[int], labels_: np.ndarray) -> list[int]:
        """Write labels into the segmentation's frames (a propagation, or its undo); the frames written."""
        from CardiacSSLWorkflow import propagate_logic

        propagate_logic.apply(self.segment_logic, self._require_result(), self.input_node, frames, labels_)
        self.metrics = None
        return list(frames)

    def compute_metrics(self) -> MetricsResult:
        previous = self.metrics
        self.metrics = MetricsLogic(self.scene).compute(
            self._require_result(),
            self.input_node,
            table=None if previous is None else previous.table,
            chart=None if previous is None else previous.chart,
        )
        return self.metrics

    def metrics_csv(self) -> bytes:
        if self.metrics is None:
            raise InputError("compute the metrics first")
        with tempfile.TemporaryDirectory() as tmp:
            path = MetricsLogic.export_csv(self.metrics, Path(tmp) / "metrics.csv")
            return path.read_bytes()

    def segmentation_file(self) -> tuple[str, bytes]:
        """The segmentation with the user's edits, in the cine's native geometry (4D when all frames are done)."""
        from CardiacSSLLib.io import write_segmentation

        node = self._require_result()
        items = dict(self.segment_logic.frame_labels(node, self.input_node))
        cine = self.cine
        frame = self._download_frame()
        label = np.stack([items[t] for t in range(cine.n_frames)]) if frame is None else items[frame]
        name = self.segmentation_filename()
        with tempfile.TemporaryDirectory() as tmp:
            path = write_segmentation(label, cine, Path(tmp) / name, frame=frame)
            return name, path.read_bytes()

    def _download_frame(self) -> int | None:
        """None when every frame is segmented (a 4D file), else the frame written (the shown one if segmented)."""
        frames = sorted(self.predicted)
        if frames == list(range(self.n_frames)):
            return None
        return self.current_frame() if self.current_frame() in frames else (frames[0] if frames else None)

    def segmentation_filename(self) -> str:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in (self.cine.name if self.cine else "") or "cine")
        frame = self._download_frame()
        return f"{stem}_seg.nii.gz" if frame is None else f"{stem}_frame{frame}_seg.nii.gz"

    def status(self) -> dict:
        """A small JSON-able summary (the HTTP status endpoint and tests read it)."""
        out: dict = {
            "cine": None if self.cine is None else self.cine.name,
            "n_frames": self.n_frames,
            "frame": self.current_frame(),
            "segmented_frames": sorted(self.predicted),
            "training_cases": len(self.training_set),
            "finetune_running": self.finetune.runner.is_running(),
        }
        label = self.shown_label()
        if label is not None:
            predicted = self.predicted[self.current_frame()]
            changed = label != predicted
            slices = sorted({int(k) for k in np.nonzero(changed)[0]})
            out.update(
                label_counts={str(v): int((label == v).sum()) for v in labels.NAMES},
                edited_voxels=int(changed.sum()),
                edited_to={str(v): int((label[changed] == v).sum()) for v in (0, *labels.NAMES)},
                edited_slices=slices,
            )
        return out
