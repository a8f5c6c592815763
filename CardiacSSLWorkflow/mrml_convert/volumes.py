"""Scalar volume nodes <-> one frame of a ``Cine`` (deep copies on the cine's exact grid)."""

from __future__ import annotations

import numpy as np
import vtk

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLWorkflow.mrml_convert.geometry import (
    geometry_from_ijk_to_ras,
    ijk_to_ras,
    image_array,
    image_data,
    numpy_matrix,
    vtk_matrix,
)


def volume_geometry(volume_node) -> Geometry:
    m = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(m)
    known = volume_node.GetAttribute("CardiacSSL.spacingKnown") != "false"
    return geometry_from_ijk_to_ras(numpy_matrix(m), spacing_known=known)


def set_volume_from_array(volume_node, array3d: np.ndarray, geometry: Geometry) -> None:
    """Fill a volume node with ``array3d`` (z, y, x) in ``geometry`` (deep copy)."""
    volume_node.SetIJKToRASMatrix(vtk_matrix(ijk_to_ras(geometry)))
    volume_node.SetAndObserveImageData(image_data(array3d))
    volume_node.SetAttribute("CardiacSSL.spacingKnown", "true" if geometry.spacing_known else "false")


def volume_array(volume_node) -> np.ndarray:
    """Copy of a scalar volume's voxels as ``(z, y, x)``."""
    image = volume_node.GetImageData()
    if image is None:
        raise InputError(f"volume {volume_node.GetName()!r} holds no image data")
    return image_array(image)


def cine_to_volume_node(cine: Cine, scene, frame: int = 0, name: str | None = None):
    """One frame of a cine as a new scalar volume node in ``scene``."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name or cine.name or "cine")
    set_volume_from_array(node, cine.image[frame], cine.geometry)
    node.CreateDefaultDisplayNodes()
    return node
