"""The module's end-to-end workflow as one function, driving CardiacSSLWorkflow as the panel does.

Test code: the ctest beside it and the module's self-test run it inside Slicer, pytest
(Testing/test_slicer_workflow.py, the web tests) on slicer-core.

Load cine -> sequence (exact geometry) -> segment with a small model in the worker process -> edit the result
as a user correction would -> add it to a training set -> fine-tune for a few steps in
the real worker process -> cancel a second run midway (first model unchanged) -> metrics.
Raises AssertionError (or the library's errors) on any failure; returns numbers to report.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from CardiacSSLLib import labels
from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import OutputExistsError
from CardiacSSLWorkflow import mrml_convert
from CardiacSSLWorkflow.finetune_logic import FinetuneLogic
from CardiacSSLWorkflow.finetune_runner import RunState
from CardiacSSLWorkflow.metrics_logic import MetricsLogic
from CardiacSSLWorkflow.segment_logic import SegmentLogic
from CardiacSSLWorkflow.segment_process import SegmentProcess
from CardiacSSLWorkflow.trainingset_logic import TrainingSetLogic

logger = logging.getLogger(__name__)

FAST_FINETUNE = ["--batch-size", "2", "--patch-size", "64", "--val-every", "1"]


def make_tiny_model(path: Path, seed: int = 0) -> Path:
    """A small random U-Net checkpoint (a stand-in when no trained model is installed)."""
    import torch

    from CardiacSSLLib.checkpoint import save_checkpoint
    from CardiacSSLLib.models.unet import UNetConfig, build_unet

    torch.manual_seed(seed)
    config = UNetConfig(features=(4, 8, 16))
    net = build_unet(config)
    save_checkpoint(
        path,
        net.state_dict(),
        {"kind": "segmentation", "network": config.to_dict(), "preprocess": {"target_spacing": None}},
    )
    return path.with_suffix(".safetensors")


def pick_model(workdir: Path) -> str:
    """The registry's default segmentation model when one is installed, else a tiny random one."""
    from CardiacSSLLib.errors import ModelError
    from CardiacSSLLib.registry import default_model_name, resolve

    name = default_model_name()
    if name:
        try:
            entry = resolve(name)
            if entry.kind == "segmentation":
                return entry.name
        except ModelError:
            logger.warning("default model %s is not usable; using a tiny random model", name)
    return str(make_tiny_model(workdir / "tiny" / "model"))


@contextmanager
def user_home(folder: Path):
    """Point the registry's user models at ``folder`` while the check runs (the user's stay untouched)."""
    old = os.environ.get("CARDIACSSL_HOME")
    os.environ["CARDIACSSL_HOME"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CARDIACSSL_HOME", None)
        else:
            os.environ["CARDIACSSL_HOME"] = old


def assert_same_grid(node_matrix: np.ndarray, cine: Cine, what: str) -> None:
    expected = mrml_convert.ijk_to_ras(cine.geometry)
    if not np.allclose(node_matrix, expected, atol=1e-6):
        raise AssertionError(f"{what}: IJKToRAS differs from the cine geometry:\n{node_matrix}\n!=\n{expected}")


def paint_block(segmentation_node, segment_name: str, block: tuple[slice, slice, slice], geometry, shape) -> None:
    """A user correction through MRML: add a block of voxels to one segment (others lose them)."""
    import slicer

    segment_id = segmentation_node.GetSegmentation().GetSegmentIdBySegmentName(segment_name)
    current = mrml_convert.label_from_segmentation(segmentation_node, geometry, shape)
    value = {name: value for value, name in labels.NAMES.items()}[segment_name]
    mask = (current == value).astype(np.uint8)
    mask[block] = 1
    image = mrml_convert.oriented_image(mask, geometry)
    segmentation = segmentation_node.GetSegmentation()
    others = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    others.remove(segment_id)  # the Segment Editor's default: painting overwrites other segments
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    extent = image.GetExtent()
    if not logic.SetBinaryLabelmapToSegment(
        image, segmentation_node, segment_id, logic.MODE_REPLACE, extent, False, others
    ):
        raise AssertionError("editing the segment through MRML failed")


def run_workflow_check(
    scene,
    workdir: str | Path,
    cine: Cine | None = None,
    model: str | None = None,
    python: str | None = None,
    finetune_steps: int = 2,
    frames: str = "all",
    finetune_extra: list[str] | None = None,
    timeout_s: float = 300.0,
) -> dict:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    if cine is None:
        from CardiacSSLLib.phantom import make_phantom

        cine = make_phantom(n_frames=4, n_slices=3, size=64, seed=1)
    t0 = time.monotonic()
    nodes = mrml_convert.cine_to_sequence(cine, scene, name="cine")
    matrix = np.zeros((4, 4))
    import vtk

    m = vtk.vtkMatrix4x4()
    nodes.proxy.GetIJKToRASMatrix(m)
    matrix[:] = [[m.GetElement(r, c) for c in range(4)] for r in range(4)]
    assert_same_grid(matrix, cine, "input volume")
    back = mrml_convert.node_to_cine(nodes.proxy)
    assert np.array_equal(back.image, cine.image.astype(np.float32)), "voxels changed in the MRML round trip"
    assert back.geometry.isclose(cine.geometry, tol=1e-6), "geometry changed in the MRML round trip"
    report["load_s"] = time.monotonic() - t0

    with user_home(workdir / "home"):
        model = model or pick_model(workdir)
        seg_logic = SegmentLogic(scene)
        t0 = time.monotonic()
        # as the panel does: in the worker process (PythonSlicer inside Slicer), the result added on success
        request = seg_logic.prepare(nodes.proxy, model, frames, "cpu")
        run, result = SegmentProcess(seg_logic, python=python or sys.executable).run(request, timeout=timeout_s)
        if result is None:
            raise AssertionError(f"segmentation failed: {SegmentProcess.summary(run)}\n{run.message}")
        report["segment_s"] = time.monotonic() - t0
        report["frames"] = result.frames
        if frames == "all":
            assert result.frames == list(range(cine.n_frames)), result.frames
        seg_geometry = mrml_convert.segmentation_geometry(result.segmentation)
        assert seg_geometry.isclose(cine.geometry, tol=1e-6), "segmentation geometry differs from the input"
        assert_same_grid(mrml_convert.ijk_to_ras(seg_geometry), cine, "segmentation")
        try:
            seg_logic.segment(nodes.proxy, model, frames="current", device="cpu")
            raise AssertionError("an existing segmentation was replaced without asking")
        except OutputExistsError:
            pass

        shape = cine.frame_shape
        block = (
            slice(0, shape[0]),
            slice(shape[1] // 2 - 4, shape[1] // 2 + 4),
            slice(shape[2] // 2 - 4, shape[2] // 2 + 4),
        )
        before = mrml_convert.label_from_segmentation(result.segmentation, cine.geometry, shape)
        paint_block(result.segmentation, "LV", block, cine.geometry, shape)
        expected = before.copy()
        expected[block] = 1
        edited = dict(seg_logic.frame_labels(result.segmentation, nodes.proxy))[seg_logic.current_frame(nodes.proxy)]
        assert np.array_equal(edited, expected), "the user's correction is not what the logic reads back"

        ts_logic = TrainingSetLogic(workdir / "trainingset")
        case_ids = ts_logic.add_segmentation(result.segmentation, nodes.proxy, which="current")
        stored = ts_logic.store.load(case_ids[0])
        assert np.array_equal(stored.label[0], expected), "stored label differs from the corrected one"
        assert stored.geometry.isclose(cine.geometry, tol=1e-5), "stored geometry differs from the input"
        report["cases"] = len(TrainingSetLogic(workdir / "trainingset").cases())

        extra = FAST_FINETUNE if finetune_extra is None else finetune_extra
        ft = FinetuneLogic(python=python or sys.executable)
        events: list[dict] = []
        ft.runner.progress.connect(events.append)
        job = ft.start(ts_logic.folder, model, "check-ft1", finetune_steps, "cpu", extra=extra)
        t0 = time.monotonic()
        first = ft.runner.wait(timeout=timeout_s)
        report["finetune_s"] = time.monotonic() - t0
        if not first.ok:
            raise AssertionError(f"fine-tuning failed: {FinetuneLogic.summary(first)}")
        steps = [e for e in events if e.get("event") == "step"]
        assert steps, "no progress events from the worker"
        from CardiacSSLLib.checkpoint import sha256_file
        from CardiacSSLLib.registry import list_models

        assert any(e.name == job.name for e in list_models()), "the new model is not in the registry"
        weights = job.out / "model.safetensors"
        digest = sha256_file(weights)
        report["val_dice"] = (first.done or {}).get("val_dice")

        ft2 = FinetuneLogic(python=python or sys.executable)
        started = []
        ft2.runner.progress.connect(lambda e: started.append(e) if e.get("event") == "step" else None)
        ft2.start(ts_logic.folder, str(weights), "check-ft2", 100000, "cpu", extra=extra)
        deadline = time.monotonic() + timeout_s
        while not started and ft2.runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        ft2.cancel()
        second = ft2.runner.wait(timeout=60)
        assert second.state is RunState.CANCELLED, f"second run ended as {second.state}: {second.message}"
        assert sha256_file(weights) == digest, "cancelling a run changed the first model"
        report["cancelled_after_steps"] = len(started)

        metrics = MetricsLogic(scene).compute(result.segmentation, nodes.proxy)
        assert metrics.table.GetNumberOfRows() >= 9, "metrics table incomplete"
        if len(result.frames) > 1:
            assert metrics.chart is not None and metrics.chart.GetNumberOfPlotSeriesNodes() == 2
        csv = MetricsLogic.export_csv(metrics, workdir / "metrics.csv")
        assert csv.is_file()
        report["rows"] = metrics.table.GetNumberOfRows()
    return report
