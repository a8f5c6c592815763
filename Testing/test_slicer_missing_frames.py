"""A cine where only some frames were segmented: browsing shows each frame's own result or nothing.

Slicer's Sequences logic (Modules/Loadable/Sequences/Logic/vtkSlicerSequencesLogic.cxx,
UpdateProxyNodesFromSequences, v5.10.0) fills the proxy of a missing item from item 0 when
changes are saved and the missing-item mode is neither "create from previous", "create from
default" nor "set to default"; the copy is shallow, so an edit there lands in item 0's data.
"""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")

from CardiacSSLLib.phantom import make_phantom  # noqa: E402
from CardiacSSLWorkflow import mrml_convert  # noqa: E402
from CardiacSSLWorkflow.segment_logic import Prediction, SegmentLogic  # noqa: E402


def _proxy_label(proxy, cine) -> np.ndarray:
    """What the views show now: the proxy's segments as a canonical label map (empty when it has none)."""
    if proxy.GetSegmentation().GetNumberOfSegments() == 0:
        return np.zeros(cine.frame_shape, np.uint8)
    return mrml_convert.label_from_segmentation(proxy, cine.geometry, cine.frame_shape)


@pytest.fixture()
def partial():
    """A 5-frame cine in a scene with frames 1 and 3 segmented (as 'ED + ES' leaves it)."""
    cine = make_phantom(n_frames=5, n_slices=3, size=40, seed=7)
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(cine, scene, name="ph")
    logic = SegmentLogic(scene)
    result = logic.add_result(nodes.proxy, Prediction(cine, [1, 3], cine.label[[1, 3]].copy(), "truth"))
    return cine, scene, nodes, logic, result


def test_each_frame_shows_its_own_result_or_nothing(partial):
    cine, _, nodes, logic, result = partial
    proxy = result.segmentation
    for index in (0, 1, 2, 3, 4, 1, 0, 3):  # forwards and back: nothing sticks from an earlier frame
        nodes.browser.SetSelectedItemNumber(index)
        shown = _proxy_label(proxy, cine)
        if index in (1, 3):
            np.testing.assert_array_equal(shown, cine.label[index])
        else:
            assert not shown.any(), f"frame {index} shows another frame's contours"
        assert logic.existing_segmentation(nodes.proxy) is proxy  # still found as this input's result


def test_an_edit_on_a_missing_frame_changes_no_other_frame(partial):
    cine, scene, nodes, logic, result = partial
    sequence = result.sequence.sequence
    before = [mrml_convert.label_from_segmentation(sequence.GetNthDataNode(i), cine.geometry, cine.frame_shape)
              for i in range(sequence.GetNumberOfDataNodes())]  # fmt: skip
    nodes.browser.SetSelectedItemNumber(2)  # not segmented
    edit = np.zeros(cine.frame_shape, np.uint8)
    edit[1, 5:15, 5:15] = 1
    mrml_convert.set_segmentation_from_label(result.segmentation, edit, cine.geometry)  # a user's paint
    for index in (3, 1, 2):
        nodes.browser.SetSelectedItemNumber(index)
    assert sequence.GetNumberOfDataNodes() == 2
    for i, label in enumerate(before):
        np.testing.assert_array_equal(
            mrml_convert.label_from_segmentation(sequence.GetNthDataNode(i), cine.geometry, cine.frame_shape), label
        )
    assert not _proxy_label(result.segmentation, cine).any()  # frame 2 still has no result
    labels = dict(logic.frame_labels(result.segmentation, nodes.proxy))
    assert sorted(labels) == [1, 3]
    np.testing.assert_array_equal(labels[1], cine.label[1])


def test_an_edit_on_a_segmented_frame_is_kept_in_that_frame_only(partial):
    cine, _, nodes, logic, result = partial
    nodes.browser.SetSelectedItemNumber(3)
    edited = cine.label[3].copy()
    edited[0] = 0  # the user erases the basal slice
    mrml_convert.set_segmentation_from_label(result.segmentation, edited, cine.geometry)
    for index in (0, 1, 2, 4, 3):
        nodes.browser.SetSelectedItemNumber(index)
    labels = dict(logic.frame_labels(result.segmentation, nodes.proxy))
    np.testing.assert_array_equal(labels[3], edited)
    np.testing.assert_array_equal(labels[1], cine.label[1])


def test_all_frames_join_the_training_set_while_a_frame_without_result_is_shown(partial, tmp_path):
    from CardiacSSLLib.errors import InputError
    from CardiacSSLWorkflow.trainingset_logic import TrainingSetLogic

    cine, _, nodes, _, result = partial
    nodes.browser.SetSelectedItemNumber(4)  # not segmented
    store = TrainingSetLogic(tmp_path / "ts")
    with pytest.raises(InputError, match="frame 4 shown now was not segmented"):
        store.add_segmentation(result.segmentation, nodes.proxy, which="current")
    ids = store.add_segmentation(result.segmentation, nodes.proxy, which="all")
    cases = {case.provenance.frame: case for case in store.cases()}
    assert len(ids) == 2 and sorted(cases) == [1, 3]
    assert {case.provenance.model for case in cases.values()} == {"truth"}
