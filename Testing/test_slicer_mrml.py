"""MRML <-> Cine conversion on real MRML (slicer-core): exact geometry, sequences, segmentations."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")

from CardiacSSLLib.cine import Cine, Geometry  # noqa: E402
from CardiacSSLLib.errors import InputError  # noqa: E402
from CardiacSSLWorkflow import mrml_convert  # noqa: E402


def _oblique_cine(n_frames=3, shape=(4, 18, 22), seed=0) -> Cine:
    rng = np.random.default_rng(seed)
    a, b = 0.5, -0.3
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    geometry = Geometry(spacing=(1.37, 1.25, 9.0), origin=(-101.5, 87.25, -33.0), direction=tuple((rz @ rx).ravel()))
    image = rng.normal(200, 50, size=(n_frames, *shape)).astype(np.float32)
    return Cine(image=image, geometry=geometry, trigger_times_ms=np.arange(n_frames) * 37.5, name="obl")


def _ijk_to_ras(node) -> np.ndarray:
    import vtk

    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_lps_to_ras_matrix_maps_voxels_to_the_same_world_point():
    cine = _oblique_cine()
    m = mrml_convert.ijk_to_ras(cine.geometry)
    ijk = np.array([[0, 0, 0], [3, 5, 2], [21, 17, 3]], dtype=float)
    lps = cine.geometry.index_to_world(ijk)
    ras = (m[:3, :3] @ ijk.T).T + m[:3, 3]
    np.testing.assert_allclose(ras, lps * [-1, -1, 1], atol=1e-9)
    back = mrml_convert.geometry_from_ijk_to_ras(m)
    assert back.isclose(cine.geometry, tol=1e-9)


def test_sequence_round_trip_is_exact():
    cine = _oblique_cine()
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(cine, scene)
    assert nodes.sequence.GetNumberOfDataNodes() == cine.n_frames
    np.testing.assert_allclose(_ijk_to_ras(nodes.proxy), mrml_convert.ijk_to_ras(cine.geometry), atol=1e-9)
    for source in (nodes.proxy, nodes.sequence, nodes.browser):
        back = mrml_convert.node_to_cine(source)
        np.testing.assert_array_equal(back.image, cine.image)
        assert back.geometry.isclose(cine.geometry, tol=1e-9)
        np.testing.assert_allclose(back.trigger_times_ms, cine.trigger_times_ms)


def test_plain_volume_and_refusals():
    cine = _oblique_cine(n_frames=1)
    scene = slicer.vtkMRMLScene()
    volume = mrml_convert.cine_to_volume_node(cine, scene)
    back = mrml_convert.node_to_cine(volume)
    assert back.n_frames == 1 and back.geometry.isclose(cine.geometry, tol=1e-9)
    np.testing.assert_array_equal(back.image, cine.image)
    with pytest.raises(InputError, match="no input"):
        mrml_convert.node_to_cine(None)
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    with pytest.raises(InputError, match="not a grey-level"):
        mrml_convert.node_to_cine(labelmap)


def test_segmentation_sequence_round_trip_and_terminology():
    cine = _oblique_cine()
    rng = np.random.default_rng(3)
    label = rng.integers(0, 4, size=cine.image.shape).astype(np.uint8)
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(cine, scene)
    values = mrml_convert.index_values_of(nodes.proxy)
    seg = mrml_convert.label_to_segmentation_sequence(scene, "seg", label, cine.geometry, values, browser=nodes.browser)
    assert seg.sequence.GetNumberOfDataNodes() == cine.n_frames
    assert seg.browser is nodes.browser  # browsing the cine shows each frame's segmentation
    items = mrml_convert.segmentation_items(seg.proxy)
    assert [v for v, _ in items] == values
    for t, (_, node) in enumerate(items):
        assert mrml_convert.segmentation_geometry(node).isclose(cine.geometry, tol=1e-9)
        np.testing.assert_array_equal(
            mrml_convert.label_from_segmentation(node, cine.geometry, cine.frame_shape), label[t]
        )
    segmentation = seg.proxy.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(3)] == ["LV", "MYO", "RV"]
    lv = segmentation.GetSegment(segmentation.GetSegmentIdBySegmentName("LV"))
    assert "SCT^87878005^" in lv.GetTerminology()  # Slicer's "Left ventricle" (test_slicer_terminology.py)
    assert lv.GetColor() == pytest.approx((0.86, 0.24, 0.20))


def test_unknown_segment_is_refused():
    cine = _oblique_cine(n_frames=1)
    scene = slicer.vtkMRMLScene()
    label = np.zeros(cine.frame_shape, np.uint8)
    label[1, 4:9, 4:9] = 1
    node = mrml_convert.new_segmentation_node(scene, "s", label, cine.geometry)
    node.GetSegmentation().AddEmptySegment("scratch", "scratch")
    with pytest.raises(InputError, match="scratch"):
        mrml_convert.label_from_segmentation(node, cine.geometry, cine.frame_shape)
    with pytest.raises(InputError, match="values"):
        mrml_convert.set_segmentation_from_label(node, label + 4, cine.geometry)


@pytest.mark.data
def test_sunnybrook_dicom_cine_to_sequence_exact(sunnybrook_dir):
    from CardiacSSLLib.io import load_cine

    cine = load_cine(sunnybrook_dir / "dicoms" / "SCD0000101")
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(cine, scene, name="SCD0000101")
    assert nodes.sequence.GetNumberOfDataNodes() == cine.n_frames == 20
    np.testing.assert_allclose(_ijk_to_ras(nodes.proxy), mrml_convert.ijk_to_ras(cine.geometry), atol=1e-9)
    # the voxel centre of (i, j, k) is the DICOM ImagePositionPatient-based LPS point, flipped to RAS
    corner = np.array([255.0, 0.0, cine.n_slices - 1.0])
    ras = _ijk_to_ras(nodes.proxy) @ np.append(corner, 1.0)
    np.testing.assert_allclose(ras[:3], cine.geometry.index_to_world(corner) * [-1, -1, 1], atol=1e-6)
    back = mrml_convert.node_to_cine(nodes.proxy)
    np.testing.assert_array_equal(back.image, cine.image)
    assert back.geometry.isclose(cine.geometry, tol=1e-9)
    np.testing.assert_allclose(back.trigger_times_ms, cine.trigger_times_ms, atol=1e-3)


def test_4d_nifti_through_the_library_reader_keeps_geometry(tmp_path):
    from CardiacSSLLib.io import load_cine, write_cine
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom(n_frames=3, n_slices=4, size=40, seed=5)
    path = write_cine(cine, tmp_path / "cine.nii.gz")
    loaded = load_cine(path)
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(loaded, scene)
    back = mrml_convert.node_to_cine(nodes.proxy)
    assert back.geometry.isclose(cine.geometry, tol=1e-5)
    np.testing.assert_allclose(back.image, cine.image, rtol=1e-6, atol=1e-4)


def test_segment_with_a_partial_extent_is_placed_on_the_right_voxels():
    """Segment Editor results often cover only part of the grid (their own extent)."""
    import vtk

    cine = _oblique_cine(n_frames=1)
    scene = slicer.vtkMRMLScene()
    node = mrml_convert.new_segmentation_node(scene, "s", np.zeros(cine.frame_shape, np.uint8), cine.geometry)
    segmentation = node.GetSegmentation()
    segmentation.RemoveSegment(segmentation.GetSegmentIdBySegmentName("RV"))
    part = slicer.vtkOrientedImageData()
    part.SetExtent(4, 9, 3, 8, 1, 2)  # i, j, k ranges inside the 22 x 18 x 4 grid
    part.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    part.GetPointData().GetScalars().Fill(1)
    part.SetImageToWorldMatrix(mrml_convert.vtk_matrix(mrml_convert.ijk_to_ras(cine.geometry)))
    rv = slicer.vtkSegment()
    rv.SetName("RV")
    rv.AddRepresentation(slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName(), part)
    segmentation.AddSegment(rv, "rv-by-hand")
    label = mrml_convert.label_from_segmentation(node, cine.geometry, cine.frame_shape)
    expected = np.zeros(cine.frame_shape, np.uint8)
    expected[1:3, 3:9, 4:10] = 3
    np.testing.assert_array_equal(label, expected)


def test_sequence_in_seconds_gives_trigger_times_in_ms():
    cine = _oblique_cine(n_frames=2)
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(cine, scene)
    nodes.sequence.SetIndexUnit("s")
    for t in range(2):
        nodes.sequence.UpdateIndexValue(nodes.sequence.GetNthIndexValue(t), str(0.25 * t))
    np.testing.assert_allclose(mrml_convert.node_to_cine(nodes.proxy).trigger_times_ms, [0.0, 250.0])
