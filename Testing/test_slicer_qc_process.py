"""The quality check with the model-confidence flag in a worker process (slicer-core + the real worker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")
pytest.importorskip("torch", reason="the worker runs a real (tiny) U-Net")

from mrml_scenes import scene_state as _scene_state  # noqa: E402

from CardiacSSLLib.phantom import make_phantom  # noqa: E402
from CardiacSSLLib.progress import Progress  # noqa: E402
from CardiacSSLWorkflow import mrml_convert, qc_logic  # noqa: E402
from CardiacSSLWorkflow.finetune_runner import RunState, SubprocessRunner  # noqa: E402
from CardiacSSLWorkflow.qc_process import QualityProcess, main, write_job  # noqa: E402
from CardiacSSLWorkflow.segment_logic import Prediction, SegmentLogic  # noqa: E402
from workflow_check import make_tiny_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _segmented_scene(n_frames: int, n_slices: int, size: int):
    """A phantom cine in a scene with its true labels as the segmentation, one slice's myocardium erased."""
    phantom = make_phantom(n_frames=n_frames, n_slices=n_slices, size=size, seed=1)
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(phantom, scene, name="ph")
    logic = SegmentLogic(scene)
    label = phantom.label.copy()
    label[n_frames - 1, 1][label[n_frames - 1, 1] == 2] = 0
    frames = list(range(n_frames))
    result = logic.add_result(nodes.proxy, Prediction(logic.input_cine(nodes.proxy), frames, label, "phantom"))
    return scene, logic, result.segmentation, nodes.proxy


def test_assess_cine_reports_each_model_run_and_the_table_as_steps(tmp_path):
    from CardiacSSLLib.quality.run import assess_cine

    cine = make_phantom(n_frames=2, n_slices=2, size=32, seed=2)
    model = str(make_tiny_model(tmp_path / "tiny" / "model"))
    for labels, expected in ((cine.label, ["flipped pass 1/2", "flipped pass 2/2", "quality table"]),
                             (None, ["segment", "flipped pass 1/2", "flipped pass 2/2", "quality table"])):  # fmt: skip
        events = []
        progress = Progress(total=0, show_bar=False, callback=events.append)
        assess_cine(model, cine, labels, device="cpu", progress=progress)
        assert [e["stage"] for e in events] == expected
        assert [e["step"] for e in events] == list(range(1, len(expected) + 1))
        assert {e["total"] for e in events} == {len(expected)}


def test_worker_rows_equal_the_in_process_rows_with_confidence(tmp_path):
    scene, logic, segmentation, input_node = _segmented_scene(4, 3, 64)
    model = str(make_tiny_model(tmp_path / "tiny" / "model"))
    request = qc_logic.prepare(logic, segmentation, input_node, model, "cpu")
    assert request.frames == [0, 1, 2, 3] and request.labels.shape == (4, 3, 64, 64)
    process = QualityProcess(SubprocessRunner(), python=sys.executable)
    events = []
    process.runner.progress.connect(events.append)
    result, rows = process.run(request, timeout=240)
    assert result.state is RunState.SUCCEEDED, result.message
    expected = qc_logic.rows(qc_logic.compute(request, confidence=True))
    assert rows == expected and len(rows) == 4 * 3
    assert all("flip_disagreement" in r for r in rows)
    without = qc_logic.rows(qc_logic.compute(request, confidence=False))
    assert all(r["flip_disagreement"] == 0 for r in without)
    assert any(r["flip_disagreement"] > 0 for r in rows)  # the model's flipped runs did contribute
    assert any("flip_disagreement" in r["flags"].split() for r in rows)
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3] and steps[-1]["total"] == 3
    assert result.done == {"event": "done", "rows": 12, "flagged": sum(1 for r in rows if r["flags"])}
    assert process._folder is None  # the request folder is removed


def test_a_stopped_check_leaves_nothing(tmp_path):
    scene, logic, segmentation, input_node = _segmented_scene(12, 6, 96)
    model = str(make_tiny_model(tmp_path / "tiny" / "model"))
    request = qc_logic.prepare(logic, segmentation, input_node, model, "cpu")
    before = _scene_state(scene)
    process = QualityProcess(SubprocessRunner(), python=sys.executable)
    folders = []

    def stop_on_first_step(event):
        if event["event"] == "step" and not folders:
            folders.append(process._folder)
            process.cancel()

    process.runner.progress.connect(stop_on_first_step)
    result, rows = process.run(request, timeout=240)
    assert folders and result.state is RunState.CANCELLED and rows is None
    assert QualityProcess.summary(result) == "Quality check stopped; the scene is unchanged."
    assert not folders[0].exists()  # neither the request nor a partial table is left
    assert _scene_state(scene) == before


def test_a_bad_request_fails_with_one_line(tmp_path, capsys):
    scene, logic, segmentation, input_node = _segmented_scene(2, 2, 32)
    request = qc_logic.prepare(logic, segmentation, input_node, str(tmp_path / "missing-model.safetensors"), "cpu")
    result, rows = QualityProcess(python=sys.executable).run(request, timeout=240)
    assert result.state is RunState.MODEL_ERROR and rows is None
    summary = QualityProcess.summary(result)
    assert "missing-model" in summary and "\n" not in summary and "Traceback" not in result.message

    request.labels = request.labels[:1]  # fewer label frames than frames
    write_job(tmp_path, request)
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("quality: labels") and "do not match" in err and "\n" not in err
    assert main([str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no readable quality-check request" in err and "\n" not in err


def test_worker_imports_neither_slicer_qt_nor_vtk():
    """It runs in PythonSlicer, where the application's modules are not there."""
    script = (
        "import sys\n"
        "for name in ('slicer', 'qt', 'ctk', 'vtk', 'torch'):\n"
        "    sys.modules[name] = None\n"
        "import CardiacSSLWorkflow.qc_process as w\n"
        "print(w.ROWS_FILE)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "qc_rows.json", done.stderr
