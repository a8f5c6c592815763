"""Canonical label maps <-> segmentation nodes (LV, MYO, RV segments with Slicer terminology entries).

One segmentation holds one frame; a sequence of them, synchronised with the cine's
browser, holds several. The labelmaps keep the exact voxel grid of the cine.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from CardiacSSLLib import labels
from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLWorkflow.mrml_convert.geometry import (
    geometry_from_ijk_to_ras,
    ijk_to_ras,
    image_array,
    image_data,
    numpy_matrix,
    vtk_matrix,
)
from CardiacSSLWorkflow.mrml_convert.sequences import (
    TIME_INDEX_NAME,
    SequenceNodes,
    ensure_sequence_classes,
    new_browser,
    sequence_of,
    sequences_logic,
)
from CardiacSSLWorkflow.mrml_convert.terminology import label_of_terminology, terminology_string


def ensure_segmentation_converters() -> None:
    """Register the segmentation conversion rules, as Slicer's Segmentations module does at startup.

    Without them (bare slicer-core) a segmentation cannot copy binary labelmaps, which
    storing segmentations in a sequence does. A no-op inside Slicer.
    """
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    if factory.GetConverterRules():
        return
    for rule in (
        slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule,
        slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule,
        slicer.vtkClosedSurfaceToFractionalLabelmapConversionRule,
        slicer.vtkFractionalLabelmapToClosedSurfaceConversionRule,
    ):
        factory.RegisterConverterRule(rule())


def oriented_image(label3d: np.ndarray, geometry: Geometry):
    image = slicer.vtkOrientedImageData()
    image_data(np.asarray(label3d, dtype=np.uint8), image)
    image.SetImageToWorldMatrix(vtk_matrix(ijk_to_ras(geometry)))
    return image


def set_segmentation_from_label(segmentation_node, label3d: np.ndarray, geometry: Geometry) -> None:
    """Replace all segments by LV, MYO, RV from a canonical ``(z, y, x)`` label map (shared labelmap).

    The labelmap keeps the exact voxel grid of ``geometry``: no resampling, so voxel
    ``(k, j, i)`` of the segmentation is voxel ``(k, j, i)`` of the image.
    """
    label3d = np.asarray(label3d)
    bad = sorted(set(np.unique(label3d).tolist()) - {0, *labels.NAMES})
    if bad:
        raise InputError(f"label map holds values {bad}; canonical labels are 0 (background), 1 LV, 2 MYO, 3 RV")
    ensure_segmentation_converters()
    shared = oriented_image(label3d, geometry)
    segmentation = segmentation_node.GetSegmentation()
    was_modifying = segmentation_node.StartModify()
    try:
        segmentation.RemoveAllSegments()
        segmentation_node.SetSourceRepresentationToBinaryLabelmap()
        segmentation_node.SetAttribute("CardiacSSL.spacingKnown", "true" if geometry.spacing_known else "false")
        segmentation.SetConversionParameter(
            slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(),
            slicer.vtkSegmentationConverter.SerializeImageGeometry(shared),
        )
        for value, name in labels.NAMES.items():
            segment = slicer.vtkSegment()
            segment.SetName(name)
            segment.SetColor(*labels.COLORS[value])
            segment.SetTerminology(terminology_string(value))
            segment.SetLabelValue(value)
            segment.AddRepresentation(slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName(), shared)
            segmentation.AddSegment(segment, name)
    finally:
        segmentation_node.EndModify(was_modifying)


def _canonical_value(segment) -> int | None:
    if segment.HasTerminology():
        value = label_of_terminology(segment.GetTerminology())
        if value is not None:
            return value
    for value, name in labels.NAMES.items():
        if segment.GetName().strip().upper() == name:
            return value
    return None


def segment_values(segmentation_node) -> tuple[int, ...]:
    """Canonical labels that have a segment (a deleted RV segment means RV was not annotated)."""
    segmentation = segmentation_node.GetSegmentation()
    values = {_canonical_value(segmentation.GetNthSegment(i)) for i in range(segmentation.GetNumberOfSegments())}
    return tuple(sorted(v for v in values if v is not None))


def label_from_segmentation(segmentation_node, geometry: Geometry, shape: tuple[int, int, int]) -> np.ndarray:
    """Canonical ``(z, y, x)`` uint8 label map of a segmentation on the grid of ``geometry``.

    Segments are recognised by their terminology entry, else their name (LV/MYO/RV);
    any other segment is refused (its meaning for training is unknown). Later segments
    win where segments overlap (LV, then MYO, then RV).
    """
    reference = slicer.vtkOrientedImageData()
    reference.SetImageToWorldMatrix(vtk_matrix(ijk_to_ras(geometry)))
    reference.SetExtent(0, shape[2] - 1, 0, shape[1] - 1, 0, shape[0] - 1)
    segmentation = segmentation_node.GetSegmentation()
    out = np.zeros(shape, dtype=np.uint8)
    order = []
    for i in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(i)
        value = _canonical_value(segmentation.GetSegment(segment_id))
        if value is None:
            raise InputError(
                f"segment {segmentation.GetSegment(segment_id).GetName()!r} is not LV, MYO or RV: "
                "rename or delete it before using this segmentation"
            )
        order.append((value, segment_id))
    for value, segment_id in sorted(order):
        binary = slicer.vtkOrientedImageData()
        segmentation_node.GetBinaryLabelmapRepresentation(segment_id, binary)
        if binary.GetPointData().GetScalars() is None or binary.IsEmpty():
            continue
        resampled = slicer.vtkOrientedImageData()
        if not slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            binary, reference, resampled, False, True
        ):
            raise InputError(f"segment {segment_id!r} could not be mapped onto the image grid")
        mask = np.zeros(shape, dtype=bool)
        e = resampled.GetExtent()
        # paste the (possibly smaller) resampled extent into the full grid, clipped to it
        arr = image_array(resampled) if resampled.GetPointData().GetScalars() is not None else None
        if arr is None:
            continue
        lo = [max(e[2 * a], 0) for a in range(3)]
        hi = [min(e[2 * a + 1], (shape[2], shape[1], shape[0])[a] - 1) for a in range(3)]
        if any(h < lo_ for lo_, h in zip(lo, hi, strict=True)):
            continue
        mask[lo[2] : hi[2] + 1, lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] = (
            arr[
                lo[2] - e[4] : hi[2] - e[4] + 1,
                lo[1] - e[2] : hi[1] - e[2] + 1,
                lo[0] - e[0] : hi[0] - e[0] + 1,
            ]
            > 0
        )
        out[mask] = value
    return out


def segmentation_geometry(segmentation_node) -> Geometry:
    """Geometry of a segmentation's reference image grid."""
    geometry_string = segmentation_node.GetSegmentation().GetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
    )
    image = slicer.vtkOrientedImageData()
    if not geometry_string or not slicer.vtkSegmentationConverter.DeserializeImageGeometry(geometry_string, image):
        # sequence items may lose the conversion parameters: use the first labelmap's grid
        segmentation = segmentation_node.GetSegmentation()
        if segmentation.GetNumberOfSegments() == 0:
            raise InputError(f"segmentation {segmentation_node.GetName()!r} has no reference geometry")
        segmentation_node.GetBinaryLabelmapRepresentation(segmentation.GetNthSegmentID(0), image)
    m = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(m)
    known = segmentation_node.GetAttribute("CardiacSSL.spacingKnown") != "false"
    return geometry_from_ijk_to_ras(numpy_matrix(m), spacing_known=known)


def new_segmentation_node(scene, name: str, label3d: np.ndarray, geometry: Geometry, reference_node=None):
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.CreateDefaultDisplayNodes()
    set_segmentation_from_label(node, label3d, geometry)
    if reference_node is not None:
        node.SetNodeReferenceID(node.GetReferenceImageGeometryReferenceRole(), reference_node.GetID())
    return node


def label_to_segmentation_sequence(
    scene,
    name: str,
    label4d: np.ndarray,
    geometry: Geometry,
    index_values: list[str],
    index_name: str = TIME_INDEX_NAME,
    index_unit: str = "ms",
    browser=None,
) -> SequenceNodes:
    """A sequence of segmentation nodes, one per item of ``index_values``.

    With ``browser`` (the input cine's browser) the sequence is synchronised to it, so
    browsing the cine shows each frame's segmentation; otherwise a new browser is made.
    """
    if len(index_values) != label4d.shape[0]:
        raise InputError("one index value per segmented frame is required")
    ensure_sequence_classes(scene)
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", f"{name} sequence")
    sequence.SetIndexName(index_name)
    sequence.SetIndexUnit(index_unit)
    sequence.SetIndexType(sequence.NumericIndex)
    item = slicer.vtkMRMLSegmentationNode()
    for t, value in enumerate(index_values):
        set_segmentation_from_label(item, label4d[t], geometry)
        item.SetName(f"{name} {index_name}={value}")
        sequence.SetDataNodeAtValue(item, value)
    if browser is None:
        browser = new_browser(scene, sequence, f"{name} browser")
    else:
        browser.AddSynchronizedSequenceNodeID(sequence.GetID())
        # A frame without a result shows an empty segmentation and keeps no edit. With changes saved,
        # every other mode but "create" ones fills the proxy from item 0 by a shallow copy, so that
        # frame would show (and an edit would change) item 0 (vtkSlicerSequencesLogic.cxx,
        # UpdateProxyNodesFromSequences / UpdateSequencesFromProxyNodes, Slicer v5.10.0); "create"
        # modes would add items just by browsing. Set before SaveChanges, which updates the proxy.
        browser.SetMissingItemMode(sequence, browser.MissingItemSetToDefault)
    browser.SetSaveChanges(sequence, True)  # edits of the shown segmentation go back into the sequence
    sequences_logic(scene).UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    if proxy is not None:
        proxy.SetName(name)
        proxy.CreateDefaultDisplayNodes()
    return SequenceNodes(sequence, browser, proxy)


def segmentation_items(node) -> list[tuple[str | None, object]]:
    """``[(index value, segmentation node)]`` behind a segmentation (proxy or sequence) node.

    For a proxy, the item currently shown is the proxy itself (it holds unsaved edits).
    """
    sequence, browser = sequence_of(node)
    if sequence is None:
        return [(None, node)]
    items = []
    shown = browser.GetProxyNode(sequence) if browser is not None else None
    current = None
    if browser is not None and shown is not None:
        master = browser.GetMasterSequenceNode()
        current = master.GetNthIndexValue(browser.GetSelectedItemNumber())
    for t in range(sequence.GetNumberOfDataNodes()):
        value = sequence.GetNthIndexValue(t)
        items.append((value, shown if value == current and shown is not None else sequence.GetNthDataNode(t)))
    return items
