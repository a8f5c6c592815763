"""Turn a Slicer slice view to a cine stack's own plane, shown as overlay.png and the web app show it.

The convention is :mod:`CardiacSSLLib.display_axes` (radiological short-axis view: the RV on
the viewer's left, anterior up). Slicer's default red view is axial, which cuts an oblique
short-axis stack across its slices; turning the view to the stack's plane shows the stack's
own pixels. Works on ``slicer.mrmlScene`` and on a bare ``vtkMRMLScene`` (slicer-core, tests).
"""

from __future__ import annotations

import numpy as np
import vtk

from CardiacSSLLib.display_axes import ras_view_vectors
from CardiacSSLLib.errors import InputError
from CardiacSSLWorkflow.mrml_convert.geometry import geometry_from_ijk_to_ras, numpy_matrix

RED_SLICE_NODE_ID = "vtkMRMLSliceNodeRed"  # the ID Slicer's layout gives the red view's slice node


def stack_view_pose(volume_node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normal, screen right, centre) in RAS for viewing ``volume_node`` in its own plane."""
    image = volume_node.GetImageData() if volume_node is not None else None
    if image is None:
        raise InputError("no volume with voxels to show: load a cine first")
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    ijk_to_ras = numpy_matrix(matrix)
    normal, right, _ = ras_view_vectors(geometry_from_ijk_to_ras(ijk_to_ras).direction)
    middle = (np.asarray(image.GetDimensions(), dtype=float) - 1) / 2  # (i, j, k) of the centre voxel
    centre = ijk_to_ras[:3, :3] @ middle + ijk_to_ras[:3, 3]
    return normal, right, centre


def orient_slice_node(slice_node, volume_node) -> bool:
    """Turn ``slice_node`` to the stack's plane through its centre; False (nothing changed) when it already is.

    Leaving an already turned view alone keeps the slice the user scrolled to when a result
    of the same stack is shown.
    """
    normal, right, centre = stack_view_pose(volume_node)
    current = numpy_matrix(slice_node.GetSliceToRAS())
    if np.allclose(current[:3, 0], right, atol=1e-6) and np.allclose(current[:3, 2], normal, atol=1e-6):
        return False
    # Orientation 0 (para-axial) keeps the columns as given: right, normal x right (= up), normal.
    slice_node.SetSliceToRASByNTP(*normal, *right, *centre, 0)
    return True


def orient_red_view(scene, volume_node) -> bool:
    """:func:`orient_slice_node` on the red view; False when the scene has no red view (no layout)."""
    slice_node = scene.GetNodeByID(RED_SLICE_NODE_ID)
    return slice_node is not None and orient_slice_node(slice_node, volume_node)
