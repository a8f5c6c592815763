"""The module's red view turned to an oblique stack's plane shows it as overlay.png does (``display_axes``)."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the slice-node checks")

from CardiacSSLLib.display_axes import display_axes  # noqa: E402
from CardiacSSLLib.errors import InputError  # noqa: E402
from CardiacSSLLib.labels import LV, RV  # noqa: E402
from CardiacSSLLib.phantom import make_phantom  # noqa: E402
from CardiacSSLWorkflow.mrml_convert import cine_to_sequence, ijk_to_ras  # noqa: E402
from CardiacSSLWorkflow.slice_view import orient_red_view  # noqa: E402

LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


def _matrix(node) -> np.ndarray:
    m = node.GetSliceToRAS()
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def _centroid_ras(cine, value: int) -> np.ndarray:
    z, y, x = np.nonzero(cine.label[0] == value)
    ijk = np.stack([x, y, z, np.ones_like(x)]).astype(float)
    return (ijk_to_ras(cine.geometry) @ ijk)[:3].mean(axis=1)


@pytest.fixture()
def stack():
    scene = slicer.vtkMRMLScene()
    red = slicer.vtkMRMLSliceNode()
    red.SetLayoutName("Red")  # what Slicer's layout creates: ID vtkMRMLSliceNodeRed
    scene.AddNode(red)
    cine = make_phantom(n_frames=2, n_slices=4, size=48, seed=3)  # oblique, like a real SAX stack
    nodes = cine_to_sequence(cine, scene, name="phantom")
    return scene, red, cine, nodes.proxy


def test_red_view_looks_along_the_stack_with_rv_left_and_anterior_up(stack):
    scene, red, cine, volume = stack
    d = np.asarray(cine.geometry.direction).reshape(3, 3)
    assert abs(d[2, 2]) < 0.99, "the phantom must be oblique for this test to mean anything"
    assert orient_red_view(scene, volume)
    m = _matrix(red)
    axes = display_axes(cine.geometry.direction)
    screen_right, screen_up, normal = m[:3, 0], m[:3, 1], m[:3, 2]
    assert screen_right == pytest.approx(np.asarray(axes.right_lps) * LPS_TO_RAS, abs=1e-6)
    assert screen_up == pytest.approx(np.asarray(axes.up_lps) * LPS_TO_RAS, abs=1e-6)
    stack_axis = LPS_TO_RAS * d[:, 2]
    assert abs(normal @ stack_axis) == pytest.approx(1.0, abs=1e-6)  # the view plane is the slice plane
    assert screen_right[0] < 0 and screen_up[1] > 0  # towards the patient's left (R-to-L), anterior up
    # The RV (patient's right) lies left of the LV on screen.
    assert (_centroid_ras(cine, RV) - _centroid_ras(cine, LV)) @ screen_right < -5.0
    centre = ijk_to_ras(cine.geometry) @ np.append((np.array(cine.frame_shape[::-1]) - 1) / 2, 1.0)
    assert m[:3, 3] == pytest.approx(centre[:3], abs=1e-6)  # through the stack's middle


def test_a_view_already_on_the_stack_keeps_the_users_slice(stack):
    scene, red, _, volume = stack
    assert orient_red_view(scene, volume)
    red.GetSliceToRAS().SetElement(2, 3, red.GetSliceToRAS().GetElement(2, 3) + 8.0)  # the user scrolled
    scrolled = _matrix(red)
    assert not orient_red_view(scene, volume)  # e.g. after segmenting: nothing moves
    np.testing.assert_allclose(_matrix(red), scrolled)


def test_no_red_view_or_no_voxels():
    scene = slicer.vtkMRMLScene()
    cine = make_phantom(n_frames=1, n_slices=2, size=32, seed=1)
    volume = cine_to_sequence(cine, scene, name="p").proxy
    assert not orient_red_view(scene, volume)  # no layout (e.g. a bare scene): nothing to turn
    red = slicer.vtkMRMLSliceNode()
    red.SetLayoutName("Red")
    scene.AddNode(red)
    with pytest.raises(InputError, match="load a cine first"):
        orient_red_view(scene, slicer.vtkMRMLScalarVolumeNode())
    with pytest.raises(InputError, match="load a cine first"):
        orient_red_view(scene, None)
