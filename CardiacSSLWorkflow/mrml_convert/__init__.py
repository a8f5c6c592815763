"""The only place where MRML nodes and CardiacSSLLib ``Cine`` objects meet, split by what it converts.

``geometry`` (IJK-to-RAS and voxel copies), ``volumes`` (one frame), ``sequences`` (a whole
cine and its browser), ``segmentations`` (label maps as LV/MYO/RV segments, one frame or a
sequence). Works with a bare ``vtkMRMLScene`` (slicer-core, tests) and with ``slicer.mrmlScene``.
"""

from CardiacSSLWorkflow.mrml_convert.geometry import geometry_from_ijk_to_ras, ijk_to_ras, vtk_matrix
from CardiacSSLWorkflow.mrml_convert.segmentations import (
    ensure_segmentation_converters,
    label_from_segmentation,
    label_to_segmentation_sequence,
    new_segmentation_node,
    oriented_image,
    segment_values,
    segmentation_geometry,
    segmentation_items,
    set_segmentation_from_label,
)
from CardiacSSLWorkflow.mrml_convert.sequences import (
    SequenceNodes,
    browser_for_node,
    cine_to_sequence,
    index_values_of,
    node_to_cine,
    sequence_of,
    sequence_to_cine,
)
from CardiacSSLWorkflow.mrml_convert.volumes import cine_to_volume_node, volume_array, volume_geometry

__all__ = [
    "SequenceNodes", "browser_for_node", "cine_to_sequence", "cine_to_volume_node", "ensure_segmentation_converters",
    "geometry_from_ijk_to_ras", "ijk_to_ras", "index_values_of", "label_from_segmentation",
    "label_to_segmentation_sequence", "new_segmentation_node", "node_to_cine", "oriented_image", "segment_values",
    "segmentation_geometry", "segmentation_items", "sequence_of", "sequence_to_cine", "set_segmentation_from_label",
    "vtk_matrix", "volume_array", "volume_geometry",
]  # fmt: skip
