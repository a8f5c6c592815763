"""The module's logic on real MRML (slicer-core): segment, correct, training set, fine-tune, metrics."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")

from CardiacSSLLib.errors import InputError, OutputExistsError  # noqa: E402
from CardiacSSLWorkflow import mrml_convert  # noqa: E402
from CardiacSSLWorkflow.finetune_logic import FinetuneLogic  # noqa: E402
from CardiacSSLWorkflow.finetune_runner import RunResult, RunState  # noqa: E402
from CardiacSSLWorkflow.metrics_logic import MetricsLogic  # noqa: E402
from CardiacSSLWorkflow.segment_logic import SegmentLogic  # noqa: E402
from CardiacSSLWorkflow.signals import Signal  # noqa: E402
from workflow_check import make_tiny_model, paint_block, run_workflow_check, user_home  # noqa: E402


@pytest.fixture()
def phantom():
    from CardiacSSLLib.phantom import make_phantom

    return make_phantom(n_frames=6, n_slices=3, size=48, seed=2)


@pytest.fixture()
def oracle(monkeypatch, phantom):
    """A 'model' that returns the phantom's true labels: checks the logic, not a network."""
    import CardiacSSLLib.inference as inference

    def segment_cine(model, cine, frames=None, **kwargs):
        frames = list(range(cine.n_frames)) if frames is None else list(frames)
        return phantom.label[frames].copy()

    monkeypatch.setattr(inference, "segment_cine", segment_cine)


def test_ed_es_segmentation_and_metrics_match_the_library(phantom, oracle, tmp_path):
    from CardiacSSLLib.metrics.clinical import clinical_metrics

    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(phantom, scene, name="ph")
    logic = SegmentLogic(scene)
    result = logic.segment(nodes.proxy, "oracle", frames="ed-es")
    truth = clinical_metrics(phantom.label, phantom.geometry, phantom.trigger_times_ms)
    assert result.ed_es == (truth.ed_frame, truth.es_frame)
    assert result.frames == [truth.ed_frame, truth.es_frame]
    assert result.sequence.sequence.GetNumberOfDataNodes() == 2
    labels = dict(logic.frame_labels(result.segmentation, nodes.proxy))
    for t in result.frames:
        np.testing.assert_array_equal(labels[t], phantom.label[t])
    metrics = MetricsLogic(scene).compute(result.segmentation, nodes.proxy)
    rows = {metrics.table.GetCellText(r, 0): float(metrics.table.GetCellText(r, 1)) for r in range(9)}
    assert rows["LV EF"] == pytest.approx(truth.lv_ef_percent, rel=1e-6)
    assert rows["LV mass (ED)"] == pytest.approx(truth.lv_mass_ed_g, rel=1e-6)
    assert rows["RV EDV"] == pytest.approx(truth.rv_edv_ml, rel=1e-6)
    assert metrics.chart.GetNumberOfPlotSeriesNodes() == 2
    csv = MetricsLogic.export_csv(metrics, tmp_path / "m.csv")
    assert "EF" in csv.read_text()
    with pytest.raises(OutputExistsError):
        MetricsLogic.export_csv(metrics, tmp_path / "m.csv")


def test_current_frame_single_volume_and_overwrite(phantom, oracle):
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(phantom, scene, name="ph")
    nodes.browser.SetSelectedItemNumber(3)
    logic = SegmentLogic(scene)
    first = logic.segment(nodes.proxy, "oracle", frames="current")
    assert first.frames == [3]
    with pytest.raises(OutputExistsError, match="already has a segmentation"):
        logic.segment(nodes.proxy, "oracle", frames="all")
    second = logic.segment(nodes.proxy, "oracle", frames="all", overwrite=True)
    assert second.frames == list(range(phantom.n_frames))
    assert scene.GetNodeByID(first.sequence.sequence.GetID()) is None  # the old result is gone
    assert scene.GetNumberOfNodesByClass("vtkMRMLSequenceNode") == 2  # cine + the new segmentation
    volume = mrml_convert.cine_to_volume_node(phantom, scene, frame=2, name="vol")
    single = logic.segment(volume, "oracle", frames="all")
    assert single.sequence is None and single.segmentation.IsA("vtkMRMLSegmentationNode")
    np.testing.assert_array_equal(
        mrml_convert.label_from_segmentation(single.segmentation, phantom.geometry, phantom.frame_shape),
        phantom.label[0],
    )
    with pytest.raises(InputError, match="unknown frame choice"):
        logic.segment(volume, "oracle", frames="some", overwrite=True)
    with pytest.raises(InputError, match="no model"):
        logic.segment(volume, "", overwrite=True)


def test_predict_without_mrml_then_add_result(phantom, oracle, monkeypatch):
    from dataclasses import replace

    import CardiacSSLLib.inference as inference
    from CardiacSSLLib.metrics.clinical import clinical_metrics

    truth = clinical_metrics(phantom.label, phantom.geometry, phantom.trigger_times_ms)
    prediction = SegmentLogic.predict(phantom, "oracle", list(range(phantom.n_frames)), "ed-es", "cpu")  # no scene
    assert prediction.ed_es == (truth.ed_frame, truth.es_frame) and prediction.frames == list(prediction.ed_es)
    np.testing.assert_array_equal(prediction.label, phantom.label[prediction.frames])

    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(phantom, scene, name="ph")
    logic = SegmentLogic(scene)
    result = logic.add_result(nodes.proxy, prediction)
    assert result.frames == prediction.frames and result.ed_es == prediction.ed_es
    assert result.sequence.sequence.GetNumberOfDataNodes() == 2
    for t, label in logic.frame_labels(result.segmentation, nodes.proxy):
        np.testing.assert_array_equal(label, phantom.label[t])
    with pytest.raises(OutputExistsError, match="already has a segmentation"):
        logic.add_result(nodes.proxy, prediction)
    current = SegmentLogic.predict(phantom, "oracle", [1])
    again = logic.add_result(nodes.proxy, current, overwrite=True)
    assert again.frames == [1] and again.ed_es is None
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 1

    def no_inference(*args, **kwargs):
        raise AssertionError("inference ran although ED/ES cannot be found")

    monkeypatch.setattr(inference, "segment_cine", no_inference)
    no_spacing = replace(phantom, geometry=replace(phantom.geometry, spacing_known=False))
    with pytest.raises(InputError, match="no pixel spacing"):
        SegmentLogic.predict(no_spacing, "oracle", list(range(phantom.n_frames)), "ed-es")


def _metrics_nodes(scene) -> dict[str, int]:
    return {
        cls: scene.GetNumberOfNodesByClass(cls)
        for cls in ("vtkMRMLTableNode", "vtkMRMLPlotChartNode", "vtkMRMLPlotSeriesNode")
    }


def test_recomputing_metrics_reuses_table_chart_and_series(phantom, oracle):
    scene = slicer.vtkMRMLScene()
    nodes = mrml_convert.cine_to_sequence(phantom, scene, name="ph")
    result = SegmentLogic(scene).segment(nodes.proxy, "oracle", frames="all")
    logic = MetricsLogic(scene)
    first = logic.compute(result.segmentation, nodes.proxy)
    counts = _metrics_nodes(scene)  # the metrics table and the curve table, one chart, LV and RV series
    assert counts == {"vtkMRMLTableNode": 2, "vtkMRMLPlotChartNode": 1, "vtkMRMLPlotSeriesNode": 2}
    series = [first.chart.GetNthPlotSeriesNode(i).GetID() for i in range(2)]
    curve = first.chart.GetNthPlotSeriesNode(0).GetTableNode()
    lv_before = curve.GetTable().GetColumnByName("LV_ml").GetValue(0)

    # a correction on frame 0 (shown now), then the metrics again, without and with the earlier nodes
    nodes.browser.SetSelectedItemNumber(0)
    paint_block(
        result.segmentation, "LV", (slice(0, 3), slice(0, 10), slice(0, 10)), phantom.geometry, phantom.frame_shape
    )
    second = logic.compute(result.segmentation, nodes.proxy)
    third = logic.compute(result.segmentation, nodes.proxy, table=second.table, chart=second.chart)
    assert _metrics_nodes(scene) == counts
    for again in (second, third):
        assert again.table is first.table and again.chart is first.chart
        assert [again.chart.GetNthPlotSeriesNode(i).GetID() for i in range(2)] == series
    table = third.chart.GetNthPlotSeriesNode(0).GetTableNode()
    assert table is curve and table.GetNumberOfColumns() == 3 and table.GetNumberOfRows() == phantom.n_frames
    assert table.GetTable().GetColumnByName("LV_ml").GetValue(0) > lv_before  # the curve shows the edit
    assert third.table.GetNumberOfColumns() == 3


class FakeRunner:
    """A ProcessRunner that records the command instead of running it."""

    def __init__(self):
        self.progress, self.finished = Signal(), Signal()
        self.command = None
        self.running = False

    def start(self, command, env=None):
        self.command, self.running = command, True

    def poll(self):
        return None

    def cancel(self):
        self.running = False

    def is_running(self):
        return self.running

    def wait(self, timeout=None):
        return RunResult(RunState.CANCELLED, 130)


def test_finetune_logic_checks_inputs_before_starting(tmp_path, phantom):
    from CardiacSSLLib.io.trainingset import TrainingSet

    runner = FakeRunner()
    logic = FinetuneLogic(runner=runner, python="py")
    with user_home(tmp_path / "home"):
        with pytest.raises(InputError, match="no cases"):
            logic.start(tmp_path / "ts", "base", "mine", 10)
        TrainingSet(tmp_path / "ts").add(phantom.frame(0), phantom.label[0])
        with pytest.raises(InputError, match="start from"):
            logic.start(tmp_path / "ts", "", "mine", 10)
        with pytest.raises(InputError, match="a name"):
            logic.start(tmp_path / "ts", "base", "", 10)
        with pytest.raises(InputError, match="invalid model name"):
            logic.start(tmp_path / "ts", "base", "../evil", 10)
        job = logic.start(tmp_path / "ts", "base", "mine", 10, "cpu")
        assert runner.command[:4] == ["py", "-m", "CardiacSSLLib.cli.main", "finetune"]
        assert Path(runner.command[runner.command.index("--out") + 1]) == job.out
        assert job.out == tmp_path / "home" / "models" / "mine"  # where the registry finds user models
        with pytest.raises(InputError, match="already in progress"):
            logic.start(tmp_path / "ts", "base", "other", 10)
        logic.cancel()
        make_tiny_model(tmp_path / "home" / "models" / "taken" / "model")
        with pytest.raises(OutputExistsError, match="exists already"):
            logic.start(tmp_path / "ts", "base", "taken", 10)
    assert "cancelled" in FinetuneLogic.summary(RunResult(RunState.CANCELLED, 130))
    assert "0.812" in FinetuneLogic.summary(RunResult(RunState.SUCCEEDED, 0, {"val_dice": 0.8123}))


def _backbone(stem: Path, method: str) -> Path:
    """A tiny self-supervised backbone checkpoint (what ``cardiacssl pretrain`` writes)."""
    import torch

    from CardiacSSLLib.checkpoint import save_checkpoint
    from CardiacSSLLib.models.unet import UNetConfig, build_unet

    torch.manual_seed(0)
    net = build_unet(UNetConfig(features=(4, 8)))
    save_checkpoint(stem, net.state_dict(), {"kind": "backbone", "method": method, "network": net.config.to_dict()})
    return stem


def test_start_points_offer_backbones_with_fewshot_dice_and_scratch(tmp_path, phantom, monkeypatch):
    import json

    from CardiacSSLLib.cli.main import build_parser
    from CardiacSSLLib.io.trainingset import TrainingSet
    from CardiacSSLWorkflow.finetune_logic import START_SCRATCH, START_SELECTED, init_for, list_start_points

    bundled = tmp_path / "bundled"
    _backbone(bundled / "unet-mim-bb", "mim")
    fewshot = {"steps": 500, "mean_dice": {"5": 0.8, "1": 0.614}, "scratch_mean_dice": {"1": 0.446, "5": 0.7}}
    entries = [{"name": "unet-mim-bb", "kind": "backbone", "file": "unet-mim-bb.safetensors", "summary": {}}]
    entries[0]["summary"]["fewshot"] = fewshot
    (bundled / "models.json").write_text(json.dumps({"models": entries}))
    monkeypatch.setenv("CARDIACSSL_MODELS", str(bundled))
    with user_home(tmp_path / "home"):
        _backbone(tmp_path / "home" / "models" / "my-bb" / "model", "simclr")
        make_tiny_model(tmp_path / "home" / "models" / "site-a" / "model")  # a segmentation model: not listed
        choices = list_start_points()
        # measured best first (MIM beat scratch), then scratch, then the unmeasured user backbone
        assert [c.value for c in choices] == [START_SELECTED, "unet-mim-bb", START_SCRATCH, "my-bb"]
        labels = [c.label for c in choices]
        # the fewest and the most patients measured
        measured = "1 patient: Dice 0.61 vs scratch 0.45; 5 patients: Dice 0.80 vs scratch 0.70"
        assert labels[1] == f"unet-mim-bb (pretrained MIM; {measured})"
        assert labels[3] == "my-bb (user; pretrained SimCLR)"  # no few-shot numbers for a user backbone
        assert "selected" in labels[0] and labels[2] == "scratch (random init)"

        # a backbone measured below scratch is ranked after it, and both labels say so
        fewshot["mean_dice"]["1"] = 0.40
        (bundled / "models.json").write_text(json.dumps({"models": entries}))
        worse = list_start_points()
        assert [c.value for c in worse] == [START_SELECTED, START_SCRATCH, "unet-mim-bb", "my-bb"]
        assert worse[2].label.endswith("below scratch in few-shot tests")
        assert worse[1].label == "scratch (random init): better than every pretrained backbone in few-shot tests"
        fewshot["mean_dice"]["1"] = 0.614
        (bundled / "models.json").write_text(json.dumps({"models": entries}))

        TrainingSet(tmp_path / "ts").add(phantom.frame(0), phantom.label[0])
        commands = {}
        for start in (START_SELECTED, "unet-mim-bb", START_SCRATCH):
            runner = FakeRunner()
            job = FinetuneLogic(runner=runner, python="py").start(
                tmp_path / "ts", init_for(start, "site-a"), f"from{len(commands)}", 10, "cpu"
            )
            commands[start] = (job, build_parser().parse_args(runner.command[3:]))
        assert commands[START_SELECTED][1].init == "site-a"
        assert commands["unet-mim-bb"][1].init == "unet-mim-bb" and commands["unet-mim-bb"][0].init == "unet-mim-bb"
        assert commands[START_SCRATCH][1].init is None and "--init" not in commands[START_SCRATCH][0].command
        with pytest.raises(InputError, match="no segmentation model is selected"):
            init_for(START_SELECTED, "")
        assert init_for("unet-mim-bb", "") == "unet-mim-bb"  # a backbone needs no selected model


@pytest.mark.slow
def test_whole_workflow_with_the_real_worker(tmp_path):
    """Phantom -> sequence -> tiny model -> correction -> training set -> fine-tune -> cancel -> metrics."""
    pytest.importorskip("CardiacSSLLib.engine.finetune", reason="cardiacssl finetune is not installed yet")
    report = run_workflow_check(slicer.vtkMRMLScene(), tmp_path, python=sys.executable, finetune_steps=2)
    assert report["cases"] == 1
    assert report["cancelled_after_steps"] >= 1
    assert report["rows"] >= 9


@pytest.mark.slow
@pytest.mark.data
def test_whole_workflow_on_a_sunnybrook_dicom_cine(sunnybrook_dir, tmp_path):
    """The real DICOM cine through the library reader: exact geometry in MRML, then the same workflow."""
    pytest.importorskip("CardiacSSLLib.engine.finetune", reason="cardiacssl finetune is not installed yet")
    from CardiacSSLLib.io import load_cine

    cine = load_cine(sunnybrook_dir / "dicoms" / "SCD0000101")
    assert cine.n_frames == 20
    report = run_workflow_check(
        slicer.vtkMRMLScene(), tmp_path, cine=cine, python=sys.executable, finetune_steps=2, frames="current"
    )
    assert report["frames"] == [0]
    assert report["cases"] == 1 and report["rows"] >= 9


def test_model_list_shows_user_models_with_validation_dice(tmp_path):
    import torch

    from CardiacSSLLib.checkpoint import save_checkpoint
    from CardiacSSLLib.models.unet import UNetConfig, build_unet
    from CardiacSSLWorkflow.segment_logic import list_models

    config = UNetConfig(features=(4, 8))
    torch.manual_seed(0)
    with user_home(tmp_path):
        save_checkpoint(
            tmp_path / "models" / "site-a" / "model",
            build_unet(config).state_dict(),
            {"kind": "segmentation", "network": config.to_dict(), "validation": {"mean": 0.8125, "LV": 0.9}},
        )
        choices = {c.name: c for c in list_models()}
    assert choices["site-a"].origin == "user"
    assert choices["site-a"].label == "site-a (user, val Dice 0.812)"


def test_training_set_records_which_structures_were_annotated(phantom, oracle, tmp_path):
    from CardiacSSLWorkflow.trainingset_logic import TrainingSetLogic

    scene = slicer.vtkMRMLScene()
    volume = mrml_convert.cine_to_volume_node(phantom, scene, frame=0, name="vol")
    result = SegmentLogic(scene).segment(volume, "oracle", frames="current")
    segmentation = result.segmentation.GetSegmentation()
    segmentation.RemoveSegment(segmentation.GetSegmentIdBySegmentName("RV"))  # e.g. Sunnybrook: no RV drawn
    logic = TrainingSetLogic(tmp_path / "ts")
    (case_id,) = logic.add_segmentation(result.segmentation, volume)
    stored = logic.store.load(case_id)
    assert stored.structures == (1, 2)
    assert stored.meta["provenance"]["model"] == "oracle"
    assert stored.meta["provenance"]["frame"] == 0
    np.testing.assert_array_equal(stored.label[0], np.where(phantom.label[0] == 3, 0, phantom.label[0]))
