"""The only place where MRML nodes and CardiacSSLLib ``Cine`` objects meet.

``Cine`` geometry is ITK/LPS (columns of ``direction`` = world directions of the x, y, z
index axes); MRML volumes use RAS, so ``IJKToRAS = diag(-1, -1, 1, 1) @ [D * spacing | origin]``.
Numpy arrays of MRML volumes are ``(k, j, i)`` = ``(z, y, x)``, the same order as a cine frame,
so voxels are copied without any transposition or resampling.

Works with a bare ``vtkMRMLScene`` (slicer-core, tests) and with ``slicer.mrmlScene``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from CardiacSSLLib import labels
from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError

logger = logging.getLogger(__name__)

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
TERMINOLOGY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
ANATOMICAL_STRUCTURE = ("SCT", "123037004", "Anatomical Structure")
TIME_INDEX_NAME = "time"
FRAME_INDEX_NAME = "frame"


@dataclass
class SequenceNodes:
    """A sequence, the browser that plays it, and the proxy node shown in the views."""

    sequence: object  # vtkMRMLSequenceNode
    browser: object  # vtkMRMLSequenceBrowserNode
    proxy: object  # vtkMRMLScalarVolumeNode / vtkMRMLSegmentationNode


# --- geometry -------------------------------------------------------------------------


def ijk_to_ras(geometry: Geometry) -> np.ndarray:
    """4x4 IJKToRAS matrix of a cine frame."""
    m = np.eye(4)
    m[:3, :3] = LPS_TO_RAS @ geometry.direction_matrix @ np.diag(geometry.spacing)
    m[:3, 3] = LPS_TO_RAS @ np.asarray(geometry.origin, dtype=float)
    return m


def geometry_from_ijk_to_ras(matrix: np.ndarray, spacing_known: bool = True) -> Geometry:
    """Inverse of :func:`ijk_to_ras` (spacing = column norms, direction = unit columns)."""
    m = np.asarray(matrix, dtype=float)
    lps = LPS_TO_RAS @ m[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    if np.any(spacing <= 0):
        raise InputError("the volume has a degenerate IJK-to-RAS matrix (zero spacing)")
    direction = lps / spacing
    return Geometry(
        spacing=tuple(float(s) for s in spacing),
        origin=tuple(float(v) for v in LPS_TO_RAS @ m[:3, 3]),
        direction=tuple(float(v) for v in direction.ravel()),
        spacing_known=spacing_known,
    )


def _vtk_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(array[r, c]))
    return m


def _numpy_matrix(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def volume_geometry(volume_node) -> Geometry:
    m = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(m)
    known = volume_node.GetAttribute("CardiacSSL.spacingKnown") != "false"
    return geometry_from_ijk_to_ras(_numpy_matrix(m), spacing_known=known)


def _image_data(array: np.ndarray, image=None):
    """Deep copy of a ``(z, y, x)`` array into a (new or given) vtkImageData."""
    array = np.ascontiguousarray(array)
    if image is None:
        image = vtk.vtkImageData()
    image.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    vtk_array = numpy_support.numpy_to_vtk(array.ravel(), deep=True)
    image.GetPointData().SetScalars(vtk_array)
    return image


def _image_array(image) -> np.ndarray:
    nx, ny, nz = image.GetDimensions()
    scalars = image.GetPointData().GetScalars()
    if scalars is None:
        raise InputError("the volume has no voxel data")
    if scalars.GetNumberOfComponents() != 1:
        raise InputError("a colour or vector volume cannot be segmented: select a scalar (grey-level) volume")
    return numpy_support.vtk_to_numpy(scalars).reshape(nz, ny, nx).copy()


# --- volumes and sequences ------------------------------------------------------------


def set_volume_from_array(volume_node, array3d: np.ndarray, geometry: Geometry) -> None:
    """Fill a volume node with ``array3d`` (z, y, x) in ``geometry`` (deep copy)."""
    volume_node.SetIJKToRASMatrix(_vtk_matrix(ijk_to_ras(geometry)))
    volume_node.SetAndObserveImageData(_image_data(array3d))
    volume_node.SetAttribute("CardiacSSL.spacingKnown", "true" if geometry.spacing_known else "false")


def volume_array(volume_node) -> np.ndarray:
    """Copy of a scalar volume's voxels as ``(z, y, x)``."""
    image = volume_node.GetImageData()
    if image is None:
        raise InputError(f"volume {volume_node.GetName()!r} holds no image data")
    return _image_array(image)


def cine_to_volume_node(cine: Cine, scene, frame: int = 0, name: str | None = None):
    """One frame of a cine as a new scalar volume node in ``scene``."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name or cine.name or "cine")
    set_volume_from_array(node, cine.image[frame], cine.geometry)
    node.CreateDefaultDisplayNodes()
    return node


def _index_values(cine: Cine) -> tuple[str, str, list[str]]:
    if cine.trigger_times_ms is not None:
        return TIME_INDEX_NAME, "ms", [f"{float(t):.10g}" for t in cine.trigger_times_ms]
    return FRAME_INDEX_NAME, "", [str(t) for t in range(cine.n_frames)]


def sequences_logic(scene):
    """Slicer's Sequences logic when running in Slicer, else a new one bound to ``scene``.

    A bare ``vtkMRMLScene`` (slicer-core) knows no sequence node classes until a
    Sequences logic registers them, which binding the logic to the scene does.
    """
    modules = getattr(slicer, "modules", None)
    if modules is not None and hasattr(modules, "sequences") and scene is getattr(slicer, "mrmlScene", None):
        return modules.sequences.logic()
    logic = getattr(scene, "_cardiacSSLSequencesLogic", None)
    if logic is None:
        logic = slicer.vtkSlicerSequencesLogic()
        logic.SetMRMLScene(scene)
        scene._cardiacSSLSequencesLogic = logic  # one logic per bare scene, alive as long as the scene
    return logic


def _ensure_sequence_classes(scene) -> None:
    if not scene.IsNodeClassRegistered("vtkMRMLSequenceBrowserNode"):
        sequences_logic(scene)


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


def _new_browser(scene, sequence_node, name: str):
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", name)
    browser.SetAndObserveMasterSequenceNodeID(sequence_node.GetID())
    browser.SetSelectedItemNumber(0)
    sequences_logic(scene).UpdateProxyNodesFromSequences(browser)
    return browser


def cine_to_sequence(cine: Cine, scene, name: str | None = None) -> SequenceNodes:
    """A cine as a sequence of scalar volumes + a browser (how Slicer shows a 4D cine)."""
    name = name or cine.name or "cine"
    _ensure_sequence_classes(scene)
    index_name, unit, values = _index_values(cine)
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", f"{name} sequence")
    sequence.SetIndexName(index_name)
    sequence.SetIndexUnit(unit)
    sequence.SetIndexType(sequence.NumericIndex)
    sequence.SetAttribute("CardiacSSL.source", cine.source)
    frame_node = slicer.vtkMRMLScalarVolumeNode()
    for t, value in enumerate(values):
        set_volume_from_array(frame_node, cine.image[t], cine.geometry)
        frame_node.SetName(f"{name} {index_name}={value}")
        sequence.SetDataNodeAtValue(frame_node, value)
    browser = _new_browser(scene, sequence, f"{name} browser")
    proxy = browser.GetProxyNode(sequence)
    proxy.SetName(name)
    proxy.CreateDefaultDisplayNodes()
    return SequenceNodes(sequence, browser, proxy)


def browser_for_node(node):
    """The sequence browser whose proxy (or sequence) ``node`` is, or None."""
    scene = node.GetScene()
    if scene is None:
        return None
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode")):
        browser = scene.GetNthNodeByClass(i, "vtkMRMLSequenceBrowserNode")
        if browser.IsProxyNodeID(node.GetID()) or browser.IsSynchronizedSequenceNodeID(node.GetID()):
            return browser
    return None


def sequence_of(node):
    """``(sequence, browser)`` for a sequence, a browser or a proxy volume; ``(None, None)`` for a plain volume."""
    if node.IsA("vtkMRMLSequenceBrowserNode"):
        return node.GetMasterSequenceNode(), node
    if node.IsA("vtkMRMLSequenceNode"):
        return node, browser_for_node(node)
    browser = browser_for_node(node)
    if browser is not None:
        return browser.GetSequenceNode(node), browser
    return None, None


def sequence_to_cine(sequence_node, name: str | None = None) -> Cine:
    """A sequence of scalar volumes as a cine; all frames must share shape and geometry."""
    n = sequence_node.GetNumberOfDataNodes()
    if n == 0:
        raise InputError(f"sequence {sequence_node.GetName()!r} is empty")
    frames, geometry = [], None
    for t in range(n):
        item = sequence_node.GetNthDataNode(t)
        if not item.IsA("vtkMRMLScalarVolumeNode") or item.IsA("vtkMRMLLabelMapVolumeNode"):
            raise InputError(
                f"sequence {sequence_node.GetName()!r} holds {item.GetClassName()} items, not grey-level volumes"
            )
        g = volume_geometry(item)
        if geometry is None:
            geometry = g
        elif not geometry.isclose(g):
            raise InputError(f"frame {t} of sequence {sequence_node.GetName()!r} has a different geometry")
        frames.append(volume_array(item))
    if len({f.shape for f in frames}) != 1:
        raise InputError(f"frames of sequence {sequence_node.GetName()!r} differ in size")
    trigger = None
    if sequence_node.GetIndexName().lower() == TIME_INDEX_NAME:
        scale = {"s": 1000.0, "sec": 1000.0, "second": 1000.0, "seconds": 1000.0}.get(
            sequence_node.GetIndexUnit().strip().lower(), 1.0
        )
        try:
            trigger = np.array([float(sequence_node.GetNthIndexValue(t)) * scale for t in range(n)])
        except ValueError:
            trigger = None
    return Cine(
        image=np.stack(frames).astype(np.float32),
        geometry=geometry,
        trigger_times_ms=trigger,
        source=sequence_node.GetAttribute("CardiacSSL.source") or f"mrml:{sequence_node.GetID()}",
        name=name or sequence_node.GetName(),
    )


def node_to_cine(node) -> Cine:
    """A cine from a scalar volume (a proxy of a sequence gives the whole sequence), a sequence or a browser."""
    if node is None:
        raise InputError("no input selected: load a cine, or pick a cine sequence or a volume")
    sequence, _ = sequence_of(node)
    if sequence is not None:
        return sequence_to_cine(sequence, name=node.GetName())
    if not node.IsA("vtkMRMLScalarVolumeNode") or node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise InputError(f"{node.GetName()!r} ({node.GetClassName()}) is not a grey-level volume or a sequence")
    return Cine(
        image=volume_array(node)[None].astype(np.float32),
        geometry=volume_geometry(node),
        source=f"mrml:{node.GetID()}",
        name=node.GetName(),
    )


def index_values_of(node) -> list[str] | None:
    """Index values of the sequence behind ``node`` (None for a plain volume)."""
    sequence, _ = sequence_of(node)
    if sequence is None:
        return None
    return [sequence.GetNthIndexValue(t) for t in range(sequence.GetNumberOfDataNodes())]


# --- segmentations --------------------------------------------------------------------


def _oriented_image(label3d: np.ndarray, geometry: Geometry):
    image = slicer.vtkOrientedImageData()
    _image_data(np.asarray(label3d, dtype=np.uint8), image)
    image.SetImageToWorldMatrix(_vtk_matrix(ijk_to_ras(geometry)))
    return image


def terminology_string(value: int) -> str:
    scheme, code, meaning = labels.SNOMED[value]
    entry = slicer.vtkSlicerTerminologyEntry()
    entry.SetTerminologyContextName(TERMINOLOGY_CONTEXT)
    category = entry.GetCategoryObject()
    category.SetCodingSchemeDesignator(ANATOMICAL_STRUCTURE[0])
    category.SetCodeValue(ANATOMICAL_STRUCTURE[1])
    category.SetCodeMeaning(ANATOMICAL_STRUCTURE[2])
    typ = entry.GetTypeObject()
    typ.SetCodingSchemeDesignator(scheme)
    typ.SetCodeValue(code)
    typ.SetCodeMeaning(meaning)
    return slicer.vtkSlicerTerminologiesModuleLogic.SerializeTerminologyEntry(entry)


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
    shared = _oriented_image(label3d, geometry)
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
        code = segment.GetTerminology().split("~")[2].split("^")
        for value, (scheme, snomed, _) in labels.SNOMED.items():
            if len(code) >= 2 and code[0] == scheme and code[1] == snomed:
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

    Segments are recognised by their SNOMED type code, else their name (LV/MYO/RV);
    any other segment is refused (its meaning for training is unknown). Later segments
    win where segments overlap (LV, then MYO, then RV).
    """
    reference = slicer.vtkOrientedImageData()
    reference.SetImageToWorldMatrix(_vtk_matrix(ijk_to_ras(geometry)))
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
        arr = _image_array(resampled) if resampled.GetPointData().GetScalars() is not None else None
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
    return geometry_from_ijk_to_ras(_numpy_matrix(m), spacing_known=known)


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
    _ensure_sequence_classes(scene)
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
        browser = _new_browser(scene, sequence, f"{name} browser")
    else:
        browser.AddSynchronizedSequenceNodeID(sequence.GetID())
        browser.SetMissingItemMode(sequence, browser.MissingItemDisplayHidden)
        sequences_logic(scene).UpdateProxyNodesFromSequences(browser)
    browser.SetSaveChanges(sequence, True)  # edits of the shown segmentation go back into the sequence
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
