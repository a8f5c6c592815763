"""Add corrected segmentations to a training set (CardiacSSLLib.io.trainingset) from MRML."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io.trainingset import CaseInfo, Provenance, TrainingSet
from CardiacSSLWorkflow import mrml_convert
from CardiacSSLWorkflow.segment_logic import MODEL_ATTRIBUTE, SegmentLogic, result_attribute

logger = logging.getLogger(__name__)


def default_folder() -> Path:
    """``<Slicer user settings folder>/CardiacSSL/TrainingSet`` in Slicer, ``~/.cardiacssl/trainingset`` outside."""
    try:
        import slicer

        settings_file = slicer.app.slicerUserSettingsFilePath
        return Path(os.path.dirname(settings_file)) / "CardiacSSL" / "TrainingSet"
    except (ImportError, AttributeError):
        return Path.home() / ".cardiacssl" / "trainingset"


def case_source(cine, input_node) -> str:
    """The provenance source of cases from ``input_node``: its file, or its node name (not a scene ID)."""
    return cine.source if not cine.source.startswith("mrml:") else input_node.GetName()


class TrainingSetLogic:
    """The training set in ``folder`` seen from Slicer: add the shown correction, list, remove."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.store = TrainingSet(folder or default_folder())

    @property
    def folder(self) -> Path:
        return self.store.folder

    def add_segmentation(self, segmentation_node, input_node, which: str = "current") -> list[str]:
        """Store the corrected frame shown now (``which="current"``) or every segmented frame (``"all"``).

        The image frame comes from ``input_node`` (same grid as the segmentation, checked);
        provenance records the source, the frame, the model that drafted the label, and the time.
        """
        if segmentation_node is None or input_node is None:
            raise InputError("select the input image and its segmentation first")
        if which not in ("current", "all"):
            raise InputError(f"which must be 'current' or 'all', not {which!r}")
        logic = SegmentLogic(segmentation_node.GetScene())
        cine = logic.input_cine(input_node)
        items = logic.frame_labels(segmentation_node, input_node)
        if which == "current":
            shown = logic.current_frame(input_node)
            current = [item for item in items if item[0] == shown]
            if not current:
                raise InputError(
                    f"frame {shown} shown now was not segmented; browse to a segmented frame or add all frames"
                )
            items = current
        model = result_attribute(segmentation_node, MODEL_ATTRIBUTE) or ""
        source = case_source(cine, input_node)
        # from the items: the proxy shows an empty segmentation on a frame without a result
        found = (mrml_convert.segment_values(node) for _, node in mrml_convert.segmentation_items(segmentation_node))
        structures = next((values for values in found if values), ())
        if not structures:
            raise InputError("the segmentation has no LV, MYO or RV segment")
        case_ids = []
        for frame, label in items:
            provenance = Provenance(source=source, frame=int(frame), model=model)
            case_ids.append(self.store.add(cine.frame(frame), label, provenance, structures=structures))
        return case_ids

    def cases(self) -> list[CaseInfo]:
        return self.store.cases()

    def remove(self, case_id: str) -> None:
        self.store.remove(case_id)

    def __len__(self) -> int:
        return len(self.store)
