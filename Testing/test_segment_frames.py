"""Frame choices (all / current / ED + ES / a list): the one implementation every front end uses."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from CardiacSSLLib.errors import InputError
from CardiacSSLLib.metrics.clinical import clinical_metrics
from CardiacSSLLib.phantom import make_phantom
from CardiacSSLLib.segment_frames import FRAME_MODES, frames_to_run, segment_frames

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(n_frames=7, n_slices=3, size=40, seed=5)


@pytest.fixture()
def oracle(monkeypatch, phantom):
    """Inference replaced by the phantom's true labels: checks the frame logic, not a network."""
    import CardiacSSLLib.inference as inference

    calls = []

    def fake(model, cine, frames=None, **kwargs):
        calls.append(list(frames))
        return phantom.label[list(frames)].copy()

    monkeypatch.setattr(inference, "segment_cine", fake)
    return calls


@pytest.mark.parametrize(
    ("choice", "n_frames", "current", "expected"),
    [
        ("all", 5, 3, [0, 1, 2, 3, 4]),
        ("ed-es", 5, 3, [0, 1, 2, 3, 4]),
        ("current", 5, 3, [3]),
        ("current", 5, 9, [4]),  # clipped to the cine
        ("current", 5, -2, [0]),
        ("ed-es", 1, 0, [0]),  # one frame: nothing to choose
        ("all", 1, 0, [0]),
        ([4, 1], 5, 0, [4, 1]),
    ],
)
def test_frames_to_run(choice, n_frames, current, expected):
    assert frames_to_run(choice, n_frames, current) == expected


def test_bad_choices_are_input_errors():
    with pytest.raises(InputError, match="frames must be one of current, ed-es, all"):
        frames_to_run("some", 5)
    with pytest.raises(InputError, match="out of range"):
        frames_to_run([0, 5], 5)
    with pytest.raises(InputError, match="out of range"):
        frames_to_run([], 5)
    assert FRAME_MODES == ("current", "ed-es", "all")


def test_ed_es_keeps_the_two_frames_of_the_volume_curve(phantom, oracle):
    truth = clinical_metrics(phantom.label, phantom.geometry, phantom.trigger_times_ms)
    found = segment_frames("oracle", phantom, "ed-es", device="cpu")
    assert oracle == [list(range(phantom.n_frames))]
    assert found.run == list(range(phantom.n_frames))
    assert found.ed_es == (truth.ed_frame, truth.es_frame) and found.frames == list(found.ed_es)
    assert truth.ed_frame != truth.es_frame
    np.testing.assert_array_equal(found.label, phantom.label[found.frames])
    np.testing.assert_array_equal(found.run_label, phantom.label)
    assert found.clinical.ed_frame == truth.ed_frame
    assert found.clinical.to_dict()["summary"]["lv_ef_percent"] == pytest.approx(truth.lv_ef_percent)


def test_ed_es_named_by_the_study_runs_only_those_two_frames(phantom, oracle):
    truth = clinical_metrics(phantom.label, phantom.geometry, phantom.trigger_times_ms)
    named = replace(phantom, meta={**phantom.meta, "study_ed_es": (truth.ed_frame, truth.es_frame)})
    found = segment_frames("oracle", named, "ed-es", device="cpu")
    assert oracle == [sorted([truth.ed_frame, truth.es_frame])]  # no other frame was segmented
    assert found.ed_es == (truth.ed_frame, truth.es_frame) and found.frames == list(found.ed_es)
    np.testing.assert_array_equal(found.label, phantom.label[found.frames])
    assert found.clinical.to_dict()["summary"]["lv_ef_percent"] == pytest.approx(truth.lv_ef_percent)
    same = replace(phantom, meta={**phantom.meta, "study_ed_es": (2, 2)})  # unusable: the curve decides
    assert segment_frames("oracle", same, "ed-es").run == list(range(phantom.n_frames))


def test_current_and_lists_keep_what_was_run(phantom, oracle):
    current = segment_frames("oracle", phantom, "current", current=2)
    assert (current.run, current.frames, current.ed_es, current.clinical) == ([2], [2], None, None)
    listed = segment_frames("oracle", phantom, [5, 1], with_metrics=True)
    assert listed.frames == [5, 1] and listed.label.shape[0] == 2
    assert listed.clinical is not None and {listed.clinical.ed_frame, listed.clinical.es_frame} == {1, 5}


def test_ed_es_without_spacing_refuses_before_inference(phantom, oracle):
    flat = replace(phantom, geometry=replace(phantom.geometry, spacing_known=False))
    with pytest.raises(InputError, match="no pixel spacing"):
        segment_frames("oracle", flat, "ed-es")
    assert oracle == []
    unmeasured = segment_frames("oracle", flat, "all", with_metrics=True)
    assert unmeasured.clinical is None and unmeasured.frames == list(range(phantom.n_frames))


def test_import_is_torch_free():
    code = "import sys, CardiacSSLLib.segment_frames; sys.exit('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr or "importing segment_frames imported torch"
