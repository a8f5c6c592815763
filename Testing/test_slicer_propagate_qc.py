"""Propagation and quality flags through real MRML (slicer-core): propose, apply, undo; rank, go to."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")

from CardiacSSLLib.errors import InputError  # noqa: E402
from CardiacSSLWorkflow import mrml_convert, propagate_logic, qc_logic  # noqa: E402
from CardiacSSLWorkflow.segment_logic import SegmentLogic  # noqa: E402


@pytest.fixture()
def scene_with_result(monkeypatch):
    """A phantom cine segmented by an oracle, then frame 3 damaged (a 'model error')."""
    import CardiacSSLLib.inference as inference
    from CardiacSSLLib.phantom import make_phantom

    phantom = make_phantom(n_frames=4, n_slices=3, size=64, seed=1)

    def segment_cine(model, cine, frames=None, **kwargs):
        frames = list(range(cine.n_frames)) if frames is None else list(frames)
        return phantom.label[frames].copy()

    monkeypatch.setattr(inference, "segment_cine", segment_cine)
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(phantom, scene, name="ph")
    logic = SegmentLogic(scene)
    result = logic.segment(nodes.proxy, "oracle", frames="all")
    damaged = phantom.label[3].copy()
    damaged[1][damaged[1] == 2] = 0  # the myocardium of one slice lost
    propagate_logic.apply(logic, result.segmentation, nodes.proxy, [3], damaged[None])
    return phantom, logic, result, nodes


def test_qc_ranks_the_damaged_slice_first_and_goes_there(scene_with_result):
    phantom, logic, result, nodes = scene_with_result
    table = qc_logic.assess(logic, result.segmentation, nodes.proxy, confidence=False)
    first = qc_logic.rows(table)[0]
    assert (first["frame"], first["slice"]) == (3, 1)
    ras = qc_logic.go_to(logic, nodes.proxy, 3, 1)
    assert nodes.browser.GetSelectedItemNumber() == 3 and len(ras) == 3


def test_propagation_is_a_proposal_until_applied_and_undoable(scene_with_result):
    phantom, logic, result, nodes = scene_with_result
    request = propagate_logic.prepare(logic, result.segmentation, nodes.proxy, [2], method="registration")
    proposal = propagate_logic.compute(request)
    assert 2 not in proposal.changed and 3 in proposal.changed
    labels = dict(logic.frame_labels(result.segmentation, nodes.proxy))
    assert not (labels[3][1] == 2).any()  # the scene is unchanged by compute
    propagate_logic.apply(logic, result.segmentation, nodes.proxy, proposal.frames, proposal.after)
    labels = dict(logic.frame_labels(result.segmentation, nodes.proxy))
    assert (labels[3][1] == 2).sum() > 0.5 * (phantom.label[3][1] == 2).sum()  # the ring came back
    np.testing.assert_array_equal(labels[2], phantom.label[2])
    propagate_logic.apply(logic, result.segmentation, nodes.proxy, proposal.frames, proposal.before)
    assert not (dict(logic.frame_labels(result.segmentation, nodes.proxy))[3][1] == 2).any()
    with pytest.raises(InputError, match="not in this segmentation"):
        propagate_logic.prepare(logic, result.segmentation, nodes.proxy, [9])
