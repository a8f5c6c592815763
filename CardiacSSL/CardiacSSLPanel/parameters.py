"""The module's typed parameter node (``slicer.parameterNodeWrapper``).

slicer-core (CI, tests) has no ``slicer.parameterNodeWrapper``: there the import is
guarded, :data:`CardiacSSLParameterNode` is None, and the logic (which never needs the
parameter node) still imports. Parameters bind to the ``.ui`` through the dynamic
``SlicerParameterName`` property of each widget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from CardiacSSLLib.segment_frames import FRAME_MODES as FRAME_CHOICES

PROPAGATE_CHOICES = ("calibrate", "fused", "registration", "adapt")  # CardiacSSLWorkflow.propagate_logic.METHODS

DEVICE_CHOICES = ("auto", "gpu", "cpu")
DEFAULT_STEPS = 300

try:
    from slicer import vtkMRMLPlotChartNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
    from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
except ImportError:  # slicer-core: no parameter node wrapper (logic and tests do not need it)
    parameterNodeWrapper = None


if parameterNodeWrapper is not None:

    @parameterNodeWrapper
    class CardiacSSLParameterNode:
        """GUI state of the CardiacSSL module (saved with the scene)."""

        inputVolume: vtkMRMLScalarVolumeNode  # a volume, or the proxy volume of a cine sequence
        model: str = ""  # registry name; the model list is filled from the registry, not bound
        frames: Annotated[str, Choice(list(FRAME_CHOICES))] = "current"
        device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
        segmentation: vtkMRMLSegmentationNode
        trainingSetFolder: Path = Path()
        finetuneInit: str = ""  # a finetune_logic.list_start_points value ("": the selected model); filled, not bound
        finetuneName: str = ""
        finetuneSteps: Annotated[int, WithinRange(1, 100000)] = DEFAULT_STEPS
        # advanced: checked, the start's recommended recipe (the worker resolves it; the two values
        # only show it); unchecked, the two values are passed (finetune_logic.transfer_options)
        finetuneRecommended: bool = True
        finetunePretrainedLrScale: Annotated[float, WithinRange(0.0, 10.0)] = 1.0
        finetuneFreezeSteps: Annotated[int, WithinRange(0, 100000)] = 0
        metricsTable: vtkMRMLTableNode
        propagateMethod: Annotated[str, Choice(list(PROPAGATE_CHOICES))] = "calibrate"
        volumeChart: vtkMRMLPlotChartNode

else:
    CardiacSSLParameterNode = None
