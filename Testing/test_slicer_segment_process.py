"""Segmentation in a separate process (slicer-core + the real worker): same result; a stop leaves the scene alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")
pytest.importorskip("torch", reason="the worker runs a real (tiny) U-Net")

from mrml_scenes import scene_state as _scene_state  # noqa: E402

from CardiacSSLLib.phantom import make_phantom  # noqa: E402
from CardiacSSLWorkflow import mrml_convert  # noqa: E402
from CardiacSSLWorkflow.finetune_runner import RunState, SubprocessRunner  # noqa: E402
from CardiacSSLWorkflow.segment_logic import SegmentLogic  # noqa: E402
from CardiacSSLWorkflow.segment_process import SegmentProcess  # noqa: E402
from CardiacSSLWorkflow.segment_worker import read_request, write_request  # noqa: E402
from workflow_check import make_tiny_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_request_round_trip_keeps_the_cine_exactly(tmp_path):
    cine = make_phantom(n_frames=3, n_slices=2, size=32, seed=1)
    write_request(tmp_path, cine, "m", [0, 2], "all", "cpu")
    back, meta = read_request(tmp_path)
    np.testing.assert_array_equal(back.image, cine.image)
    assert back.geometry == cine.geometry
    np.testing.assert_array_equal(back.trigger_times_ms, cine.trigger_times_ms)
    assert meta == {"model": "m", "frames": [0, 2], "mode": "all", "device": "cpu", "spacing_known": True,
                    "has_trigger": True}  # fmt: skip


def test_worker_result_equals_in_process_prediction_and_progress_is_reported(tmp_path):
    cine = make_phantom(n_frames=4, n_slices=3, size=40, seed=3)
    model = str(make_tiny_model(tmp_path / "tiny" / "model"))
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(cine, scene, name="ph")
    logic = SegmentLogic(scene)
    request = logic.prepare(nodes.proxy, model, "all", "cpu")
    process = SegmentProcess(logic, SubprocessRunner(), python=sys.executable)
    events = []
    process.runner.progress.connect(events.append)
    result, segmentation = process.run(request, timeout=240)
    assert result.state is RunState.SUCCEEDED, result.message
    steps = [e for e in events if e["event"] == "step"]
    assert steps and steps[-1]["step"] == steps[-1]["total"]
    expected = SegmentLogic.predict(request.cine, model, request.frames, "all", "cpu")
    assert segmentation.frames == expected.frames == [0, 1, 2, 3]
    labels = dict(logic.frame_labels(segmentation.segmentation, nodes.proxy))
    for i, t in enumerate(expected.frames):
        np.testing.assert_array_equal(labels[t], expected.label[i])
    assert process._folder is None  # the request folder is removed


def test_stopped_run_leaves_the_scene_unchanged(tmp_path):
    cine = make_phantom(n_frames=12, n_slices=6, size=96, seed=5)
    model = str(make_tiny_model(tmp_path / "tiny" / "model"))
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(cine, scene, name="ph")
    logic = SegmentLogic(scene)
    request = logic.prepare(nodes.proxy, model, "all", "cpu")
    before = _scene_state(scene)
    process = SegmentProcess(logic, SubprocessRunner(), python=sys.executable)
    stopped_at = []

    def stop_on_first_step(event):
        if event["event"] == "step" and not stopped_at:
            stopped_at.append(event["step"])
            process.cancel()

    process.runner.progress.connect(stop_on_first_step)
    result, segmentation = process.run(request, timeout=240)
    assert stopped_at and stopped_at[0] < 12  # stopped while frames were still left
    assert result.state is RunState.CANCELLED and segmentation is None
    assert SegmentProcess.summary(result) == "Segmentation stopped; the scene is unchanged."
    assert _scene_state(scene) == before
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0


def test_failed_run_shows_the_reason_and_adds_nothing(tmp_path):
    cine = make_phantom(n_frames=2, n_slices=2, size=32, seed=6)
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(cine, scene, name="ph")
    logic = SegmentLogic(scene)
    request = logic.prepare(nodes.proxy, str(tmp_path / "missing-model.safetensors"), "all", "cpu")
    before = _scene_state(scene)
    result, segmentation = SegmentProcess(logic, python=sys.executable).run(request, timeout=240)
    assert result.state in (RunState.MODEL_ERROR, RunState.BAD_INPUT) and segmentation is None
    assert "missing-model" in SegmentProcess.summary(result)
    assert _scene_state(scene) == before


def test_worker_imports_neither_slicer_nor_qt():
    """It runs in PythonSlicer, where the application's modules are not there."""
    script = (
        "import sys\n"
        "for name in ('slicer', 'qt', 'ctk', 'vtk', 'torch'):\n"
        "    sys.modules[name] = None\n"
        "import CardiacSSLWorkflow.segment_worker as w\n"
        "print(w.REQUEST_FILE)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "request.npz", done.stderr
