"""Geometry and voxels between ``Cine`` and VTK/MRML: IJK-to-RAS matrices and image-data copies.

``Cine`` geometry is ITK/LPS (columns of ``direction`` = world directions of the x, y, z
index axes); MRML volumes use RAS, so ``IJKToRAS = diag(-1, -1, 1, 1) @ [D * spacing | origin]``.
Numpy arrays of MRML volumes are ``(k, j, i)`` = ``(z, y, x)``, the same order as a cine frame,
so voxels are copied without any transposition or resampling.
"""

from __future__ import annotations

import numpy as np
import vtk
from vtk.util import numpy_support

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


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


def vtk_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(array[r, c]))
    return m


def numpy_matrix(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def image_data(array: np.ndarray, image=None):
    """Deep copy of a ``(z, y, x)`` array into a (new or given) vtkImageData."""
    array = np.ascontiguousarray(array)
    if image is None:
        image = vtk.vtkImageData()
    image.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    vtk_array = numpy_support.numpy_to_vtk(array.ravel(), deep=True)
    image.GetPointData().SetScalars(vtk_array)
    return image


def image_array(image) -> np.ndarray:
    nx, ny, nz = image.GetDimensions()
    scalars = image.GetPointData().GetScalars()
    if scalars is None:
        raise InputError("the volume has no voxel data")
    if scalars.GetNumberOfComponents() != 1:
        raise InputError("a colour or vector volume cannot be segmented: select a scalar (grey-level) volume")
    return numpy_support.vtk_to_numpy(scalars).reshape(nz, ny, nx).copy()
