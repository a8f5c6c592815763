"""The panel controller driven with stand-ins for Qt and Slicer's GUI helpers (slicer-core has no GUI).

Checks the wiring only: each button handler calls the logic with the parameters, asks
before replacing a segmentation, and reports progress; real MRML nodes are used throughout.
"""

from __future__ import annotations

import contextlib
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")


class FakeWidget:
    """Records connections; exposes the few properties and methods the controller uses."""

    def __init__(self) -> None:
        self.slots: dict[str, list] = {}
        self.text = ""
        self.checked = False
        self.items: list[tuple[str, object]] = []
        self.current = -1
        self.rows: dict[tuple[int, int], object] = {}
        self.row_count = 0
        self.value = 0
        self.selected: list[int] = []
        self.table_node = None

    def connect(self, signal, slot):
        self.slots.setdefault(signal, []).append(slot)

    def click(self):
        for slot in self.slots.get("clicked()", []):
            slot()

    def toggle(self, checked: bool):  # QCheckBox: the user (un)checks it
        self.checked = checked
        for slot in self.slots.get("toggled(bool)", []):
            slot(checked)

    # QComboBox
    def clear(self):
        self.items, self.current = [], -1

    def addItem(self, text, data=None):  # noqa: N802 - Qt API
        self.items.append((text, data))
        if self.current < 0:
            self.current = 0

    @property
    def count(self):
        return len(self.items)

    @property
    def currentData(self):  # noqa: N802 - Qt API
        return self.items[self.current][1] if self.current >= 0 else None

    def findData(self, data):  # noqa: N802 - Qt API
        return next((i for i, (_, d) in enumerate(self.items) if d == data), -1)

    def setCurrentIndex(self, index):  # noqa: N802 - Qt API
        self.current = index
        for slot in self.slots.get("currentIndexChanged(int)", []):
            slot(index)

    # QTableWidget / QProgressBar / qMRMLTableView
    def setRowCount(self, n):  # noqa: N802 - Qt API
        self.row_count = n
        self.rows = {k: v for k, v in self.rows.items() if k[0] < n}

    def setItem(self, row, col, item):  # noqa: N802 - Qt API
        self.rows[(row, col)] = item

    def item(self, row, col):
        return self.rows[(row, col)]

    @property
    def currentIndex(self):  # noqa: N802 - Qt API
        return self.current

    def selectionModel(self):  # noqa: N802 - Qt API
        rows = [SimpleNamespace(row=lambda r=r: r) for r in self.selected]
        return SimpleNamespace(selectedRows=lambda: rows)

    def setValue(self, value):  # noqa: N802 - Qt API
        self.value = value

    def setMRMLTableNode(self, node):  # noqa: N802 - Qt API
        self.table_node = node


class FakeUi(dict):
    def __getattr__(self, name):
        return self.setdefault(name, FakeWidget())


class FakeParameterNode(SimpleNamespace):
    def connectGui(self, ui):  # noqa: N802 - Slicer API
        return "connection"

    def disconnectGui(self, connection):  # noqa: N802 - Slicer API
        pass


@pytest.fixture()
def gui(monkeypatch, tmp_path):
    """A controller on a real scene, with recorded dialogs and scripted file choices."""
    from CardiacSSLPanel import install_logic

    scene = slicer.vtkMRMLScene()
    red = slicer.vtkMRMLSliceNode()
    red.SetLayoutName("Red")  # what Slicer's layout adds to the scene: vtkMRMLSliceNodeRed
    scene.AddNode(red)
    dialogs = SimpleNamespace(errors=[], questions=[], answer=True, files={})
    qt = types.ModuleType("qt")

    class QTimer:
        def setInterval(self, ms): ...  # noqa: N802, E704
        def connect(self, signal, slot): ...  # noqa: E704
        def start(self): ...  # noqa: E704
        def stop(self): ...  # noqa: E704

    class QFileDialog:
        getExistingDirectory = staticmethod(lambda *a: dialogs.files.get("dir", ""))
        getOpenFileName = staticmethod(lambda *a: dialogs.files.get("open", ""))
        getSaveFileName = staticmethod(lambda *a: dialogs.files.get("save", ""))

    qt.QTimer, qt.QFileDialog = QTimer, QFileDialog
    qt.QTableWidgetItem = lambda text: SimpleNamespace(text=lambda t=text: t)
    monkeypatch.setitem(sys.modules, "qt", qt)

    @contextlib.contextmanager
    def try_with_error_display(message=None, show=True, waitCursor=False):  # noqa: N803 - Slicer API
        try:
            yield
        except Exception as exc:
            dialogs.errors.append(f"{message} {exc}")
            raise

    def ask(text, *args, **kwargs):
        dialogs.questions.append(text)
        return dialogs.answer

    ui = FakeUi()
    util = SimpleNamespace(
        childWidgetVariables=lambda widget: ui,
        tryWithErrorDisplay=try_with_error_display,
        WaitCursor=contextlib.nullcontext,
        errorDisplay=lambda text, **kw: dialogs.errors.append(text),
        confirmYesNoDisplay=ask,
        confirmOkCancelDisplay=ask,
        setSliceViewerLayers=lambda **kw: None,
        selectModule=lambda name: None,
    )
    monkeypatch.setattr(slicer, "util", util, raising=False)
    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)
    plots = SimpleNamespace(logic=lambda: SimpleNamespace(ShowChartInLayout=lambda chart: None))
    monkeypatch.setattr(slicer, "modules", SimpleNamespace(plots=plots), raising=False)
    monkeypatch.setattr(install_logic, "ensure_dependencies", lambda requirements, confirm: True)
    monkeypatch.setenv("CARDIACSSL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARDIACSSL_MODELS", str(tmp_path / "no-bundled-models"))  # start with none installed
    sys.modules.pop("CardiacSSLPanel.widget", None)
    from CardiacSSLPanel import widget as widget_module

    monkeypatch.setattr(widget_module, "CardiacSSLParameterNode", lambda node: node)
    module_widget = SimpleNamespace(resourcePath=lambda p: str(tmp_path / p))
    ui_widget = SimpleNamespace(setMRMLScene=lambda s: None)
    controller = widget_module.CardiacSSLWidgetController(module_widget, ui_widget)
    params = FakeParameterNode(
        inputVolume=None, model="", frames="all", device="cpu", segmentation=None,
        trainingSetFolder=Path(), finetuneInit="", finetuneName="", finetuneSteps=3, finetuneRecommended=True,
        finetunePretrainedLrScale=1.0, finetuneFreezeSteps=0, metricsTable=None, volumeChart=None,
        propagateMethod="fused",
    )  # fmt: skip
    controller.setParameterNode(params)
    yield SimpleNamespace(controller=controller, ui=ui, params=params, dialogs=dialogs, scene=scene)
    monkeypatch.delitem(sys.modules, "CardiacSSLPanel.widget", raising=False)


def _slice_to_ras(node) -> np.ndarray:
    m = node.GetSliceToRAS()
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_panel_workflow(gui, tmp_path, monkeypatch):
    from CardiacSSLLib.display_axes import display_axes
    from CardiacSSLLib.io import write_cine
    from CardiacSSLLib.phantom import make_phantom
    from workflow_check import make_tiny_model

    ui, params, dialogs = gui.ui, gui.params, gui.dialogs
    assert str(params.trainingSetFolder) != "."  # a default folder was filled in
    params.trainingSetFolder = tmp_path / "ts"
    assert ui.modelSelector.count == 1 and ui.modelSelector.currentData == ""  # "no model installed"

    cine = make_phantom(n_frames=3, n_slices=3, size=40, seed=4)
    dialogs.files["open"] = str(write_cine(cine, tmp_path / "cine.nii.gz"))
    red = gui.scene.GetNodeByID("vtkMRMLSliceNodeRed")
    axial = _slice_to_ras(red)
    ui.loadCineFileButton.click()
    assert params.inputVolume is not None and params.inputVolume.IsA("vtkMRMLScalarVolumeNode")
    shown = _slice_to_ras(red)  # turned to the stack's plane: the RV on the viewer's left, anterior up
    axes = display_axes(cine.geometry.direction)
    assert not np.allclose(shown, axial)
    np.testing.assert_allclose(shown[:3, 0], np.multiply(axes.right_lps, (-1, -1, 1)), atol=1e-6)
    np.testing.assert_allclose(shown[:3, 1], np.multiply(axes.up_lps, (-1, -1, 1)), atol=1e-6)

    params.model = str(make_tiny_model(tmp_path / "tiny" / "model"))
    red.GetSliceToRAS().SetElement(2, 3, 4.0)  # the user scrolls: segmenting must not move the view back
    shown = _slice_to_ras(red)
    ui.segmentButton.click()  # starts the worker process and returns at once
    assert ui.segmentButton.text == "Stop" and params.segmentation is None
    gui.controller._segment.runner.wait(timeout=240)  # what the timer's polls do in Slicer
    assert ui.segmentButton.text == "Segment" and ui.segmentProgressBar.value == 100
    assert params.segmentation is not None and "Segmented frames [0, 1, 2]" in ui.statusLabel.text
    np.testing.assert_allclose(_slice_to_ras(red), shown)
    first = params.segmentation
    dialogs.answer = False
    ui.segmentButton.click()  # asks, user says no: nothing replaced
    assert dialogs.questions and "already has a segmentation" in dialogs.questions[-1]
    assert params.segmentation is first and gui.scene.GetNodeByID(first.GetID()) is not None
    dialogs.answer = True
    ui.segmentButton.click()  # asks, user says yes: runs, then replaces
    assert gui.scene.GetNodeByID(first.GetID()) is not None  # nothing replaced before the result exists
    gui.controller._segment.runner.wait(timeout=240)
    assert params.segmentation is not first and gui.scene.GetNodeByID(first.GetID()) is None

    ui.addToTrainingSetButton.click()
    assert ui.casesTable.row_count == 1 and ui.trainingSetCountLabel.text == "1 case(s)"
    assert ui.casesTable.item(0, 2).text() == "0"  # the frame shown

    ui.metricsButton.click()
    assert params.metricsTable is not None and ui.metricsTableView.table_node is params.metricsTable
    dialogs.files["save"] = str(tmp_path / "metrics.csv")
    ui.exportCsvButton.click()
    assert (tmp_path / "metrics.csv").is_file()

    class InstantRunner:
        def __init__(self):
            from CardiacSSLWorkflow.signals import Signal

            self.progress, self.finished, self.running = Signal(), Signal(), False

        def start(self, command, env=None):
            self.command, self.running = command, True

        def is_running(self):
            return self.running

        def cancel(self):
            self.cancelled = True

        def poll(self):
            from CardiacSSLWorkflow.finetune_runner import RunResult, RunState

            self.progress.emit({"event": "step", "step": 2, "total": 4, "loss": 0.5, "eta_s": 3.0})
            self.running = False
            result = RunResult(RunState.FAILED, 1, None, "worker: out of memory")
            self.finished.emit(result)
            return result

    from CardiacSSLPanel import training_panel

    monkeypatch.setattr(training_panel, "SubprocessRunner", InstantRunner)
    from CardiacSSLWorkflow.finetune_logic import START_SCRATCH, START_SELECTED

    starts = [value for _, value in ui.finetuneInitSelector.items]
    assert starts == [START_SELECTED, START_SCRATCH]  # no backbone installed here
    assert params.finetuneInit == START_SELECTED
    params.finetuneName = "mine"
    ui.finetuneButton.click()
    assert ui.finetuneButton.text == "Cancel fine-tuning"
    command = gui.controller.training.finetune.runner.command
    assert command[command.index("--init") + 1] == params.model  # default: continue the selected model
    # "Recommended for this start" (the default): no options, the worker applies the start's recipe
    assert "--pretrained-lr-scale" not in command and "--freeze-pretrained-steps" not in command
    gui.controller._poll()
    assert ui.finetuneProgressBar.value == 50
    assert ui.finetuneButton.text == "Fine-tune" and "out of memory" in ui.finetuneStatusLabel.text

    ui.finetuneInitSelector.setCurrentIndex(starts.index(START_SCRATCH))
    assert params.finetuneInit == START_SCRATCH
    ui.refreshModelsButton.click()  # refreshing the lists keeps the choice
    assert ui.finetuneInitSelector.currentData == START_SCRATCH
    uncheck(gui)
    params.finetunePretrainedLrScale, params.finetuneFreezeSteps = 0.1, 25  # the advanced options
    ui.finetuneButton.click()
    command = gui.controller.training.finetune.runner.command
    assert "--init" not in command and "scratch" in ui.statusLabel.text
    assert command[command.index("--pretrained-lr-scale") + 1] == "0.1"
    assert command[command.index("--freeze-pretrained-steps") + 1] == "25"
    gui.controller._poll()

    ui.casesTable.selected = [0]
    ui.removeCaseButton.click()
    assert ui.casesTable.row_count == 0


def uncheck(gui, checked: bool = False) -> None:
    """The user (un)checks "Recommended for this start"; the binding then stores it (after the panel's slot)."""
    gui.ui.finetuneRecommendedCheckBox.toggle(checked)
    gui.params.finetuneRecommended = checked


def test_recommended_recipe_follows_the_start_until_unchecked(gui, tmp_path, monkeypatch):
    """Checked (the default): the boxes are locked and show the start's recipe, and no option is sent;
    unchecked: the boxes keep the user's values, whatever the start, and both are sent."""
    import json

    from CardiacSSLLib.io.trainingset import TrainingSet
    from CardiacSSLLib.phantom import make_phantom
    from CardiacSSLPanel import training_panel
    from CardiacSSLWorkflow.finetune_logic import START_SCRATCH
    from helpers import tiny_checkpoint

    backbone = tiny_checkpoint(tmp_path / "home" / "models" / "rec-bb" / "model").with_suffix(".json")
    recipe = {"pretrained_lr_scale": 0.3, "freeze_pretrained_steps": 50}
    backbone.write_text(json.dumps(json.loads(backbone.read_text()) | {"kind": "backbone", "finetune": recipe}))
    ui, params = gui.ui, gui.params
    lr_box, steps_box, combo = (
        ui.finetunePretrainedLrScaleSpinBox,
        ui.finetuneFreezeStepsSpinBox,
        ui.finetuneInitSelector,
    )
    ui.refreshModelsButton.click()
    assert lr_box.enabled is False and steps_box.enabled is False  # checked by default: locked
    combo.setCurrentIndex(combo.findData("rec-bb"))
    assert (params.finetunePretrainedLrScale, params.finetuneFreezeSteps) == (0.3, 50)
    assert "recorded by rec-bb" in ui.finetuneRecipeLabel.text
    combo.setCurrentIndex(combo.findData(START_SCRATCH))
    assert (params.finetunePretrainedLrScale, params.finetuneFreezeSteps) == (1.0, 0)
    assert "defaults" in ui.finetuneRecipeLabel.text

    params.trainingSetFolder = tmp_path / "ts"
    cine = make_phantom(n_frames=2, n_slices=3, size=40, seed=4)
    TrainingSet(tmp_path / "ts").add(cine.frame(0), cine.label[0])
    commands = []

    class RecordingRunner:
        def __init__(self):
            from CardiacSSLWorkflow.signals import Signal

            self.progress, self.finished = Signal(), Signal()

        def start(self, command, env=None):
            commands.append(command)

        def is_running(self):
            return False

    monkeypatch.setattr(training_panel, "SubprocessRunner", RecordingRunner)
    combo.setCurrentIndex(combo.findData("rec-bb"))
    params.finetuneName = "recommended"
    ui.finetuneButton.click()
    assert commands[-1][commands[-1].index("--init") + 1] == "rec-bb"
    assert "--pretrained-lr-scale" not in commands[-1] and "--freeze-pretrained-steps" not in commands[-1]

    uncheck(gui)
    assert lr_box.enabled is True and steps_box.enabled is True
    assert (params.finetunePretrainedLrScale, params.finetuneFreezeSteps) == (0.3, 50)  # a start to edit from
    params.finetunePretrainedLrScale, params.finetuneFreezeSteps = 1.0, 0
    combo.setCurrentIndex(combo.findData(START_SCRATCH))
    combo.setCurrentIndex(combo.findData("rec-bb"))  # the user's values stay
    assert (params.finetunePretrainedLrScale, params.finetuneFreezeSteps) == (1.0, 0)
    params.finetuneName = "by-hand"
    ui.finetuneButton.click()
    command = commands[-1]  # explicit even at 1 and 0: otherwise the backbone's recipe would apply
    assert command[command.index("--pretrained-lr-scale") + 1] == "1"
    assert command[command.index("--freeze-pretrained-steps") + 1] == "0"

    uncheck(gui, checked=True)  # checked again: the start's recipe is shown again
    assert (params.finetunePretrainedLrScale, params.finetuneFreezeSteps) == (0.3, 50) and lr_box.enabled is False


def test_errors_are_shown_not_swallowed(gui):
    gui.params.model = "no-such-model"
    gui.ui.segmentButton.click()  # no input selected
    assert gui.dialogs.errors and "no input" in gui.dialogs.errors[-1]
    gui.params.segmentation = None
    gui.ui.correctButton.click()
    assert "Segment first" in gui.dialogs.errors[-1]
    with pytest.raises(Exception, match="select the input"):
        gui.ui.addToTrainingSetButton.click()
    assert "training set" in gui.dialogs.errors[-1]
    np.testing.assert_equal(gui.ui.casesTable.row_count, 0)


def test_model_card_buttons_show_the_cards(gui, monkeypatch, tmp_path):
    import json

    from CardiacSSLLib.registry import resolve
    from CardiacSSLPanel import widget as widget_module
    from CardiacSSLWorkflow.finetune_logic import START_SCRATCH, START_SELECTED
    from helpers import tiny_checkpoint

    shown, infos = [], []
    monkeypatch.setattr(widget_module, "showMarkdown", lambda title, text: shown.append((title, text)))
    monkeypatch.setattr(slicer.util, "infoDisplay", lambda text, **kw: infos.append(text), raising=False)
    with pytest.raises(Exception, match="no model selected"):
        gui.ui.modelCardButton.click()  # nothing installed: "(no model installed)" has no card
    assert "Could not show the model card" in gui.dialogs.errors[-1] and not shown

    monkeypatch.delenv("CARDIACSSL_MODELS")  # the bundled models of the checkout, and a user backbone
    backbone = tiny_checkpoint(tmp_path / "home" / "models" / "my-backbone" / "model").with_suffix(".json")
    backbone.write_text(json.dumps(json.loads(backbone.read_text()) | {"kind": "backbone", "method": "mim"}))
    gui.ui.refreshModelsButton.click()
    gui.ui.modelSelector.setCurrentIndex(gui.ui.modelSelector.findData("acdc-unet16-scratch"))
    gui.ui.modelCardButton.click()
    card = resolve("acdc-unet16-scratch").card.read_text(encoding="utf-8")
    assert shown[-1] == ("Model card: acdc-unet16-scratch", card)

    combo = gui.ui.finetuneInitSelector
    combo.setCurrentIndex(combo.findData(START_SELECTED))
    gui.ui.finetuneInitCardButton.click()  # continue training the selected model: its card
    assert shown[-1] == ("Model card: acdc-unet16-scratch", card) and len(shown) == 2
    combo.setCurrentIndex(combo.findData(START_SCRATCH))
    gui.ui.finetuneInitCardButton.click()
    assert len(shown) == 2 and "Scratch" in infos[-1]
    combo.setCurrentIndex(combo.findData("my-backbone"))
    gui.ui.finetuneInitCardButton.click()
    assert shown[-1][0] == "Model card: my-backbone" and "kind: backbone" in shown[-1][1]
    assert "pretraining method: mim" in shown[-1][1]


def test_reentering_keeps_the_chosen_model_and_card_errors_are_shown_once(gui, monkeypatch):
    from CardiacSSLWorkflow.finetune_logic import START_SELECTED

    monkeypatch.delenv("CARDIACSSL_MODELS")  # the bundled models of the checkout
    gui.ui.refreshModelsButton.click()
    names = [data for _, data in gui.ui.modelSelector.items]
    assert len(names) >= 2
    chosen = names[-1]  # not the first: refilling must not fall back to it
    gui.ui.modelSelector.setCurrentIndex(names.index(chosen))
    assert gui.params.model == chosen
    stored = []
    monkeypatch.setattr(gui.controller, "_storeModel", lambda i, f=gui.controller._storeModel: (stored.append(
        gui.ui.modelSelector.currentData), f(i)))  # fmt: skip
    gui.controller.refreshModels()  # what entering the module again does
    assert gui.params.model == chosen and gui.ui.modelSelector.currentData == chosen
    assert "" not in stored and gui.params.model == chosen

    gui.params.model = ""
    monkeypatch.setenv("CARDIACSSL_MODELS", "/nonexistent")
    gui.controller.refreshModels()  # nothing installed: the placeholder, whose data is ""
    gui.ui.finetuneInitSelector.setCurrentIndex(gui.ui.finetuneInitSelector.findData(START_SELECTED))
    errors = len(gui.dialogs.errors)
    gui.ui.finetuneInitCardButton.click()  # no model to continue: the error is shown, nothing raised
    assert len(gui.dialogs.errors) == errors + 1 and "no segmentation model is selected" in gui.dialogs.errors[-1]


def without_torch(monkeypatch) -> None:
    """As in a Slicer without the PyTorch extension: ``find_spec("torch")`` finds nothing."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a))


def test_quality_table_goes_to_slices_and_propagation_undoes(gui, monkeypatch, tmp_path):
    """A phantom result with one damaged slice: the table ranks it first, a row click shows it,
    propagation (a real worker process) repairs it from the corrected frame, Undo restores the scene."""
    import CardiacSSLLib.inference as inference
    from CardiacSSLLib.phantom import make_phantom
    from CardiacSSLWorkflow import mrml_convert, propagate_logic, qc_logic
    from CardiacSSLWorkflow.segment_logic import SegmentLogic

    phantom = make_phantom(n_frames=4, n_slices=3, size=64, seed=1)
    monkeypatch.setattr(inference, "segment_cine", lambda model, cine, frames=None, **kw: phantom.label[
        list(range(cine.n_frames)) if frames is None else list(frames)].copy())  # fmt: skip
    nodes = mrml_convert.cine_to_sequence(phantom, gui.scene, name="ph")
    logic = SegmentLogic(gui.scene)
    result = logic.segment(nodes.proxy, "oracle", frames="all")
    damaged = phantom.label[3].copy()
    damaged[1][damaged[1] == 2] = 0  # the myocardium of one slice lost: a "model error"
    propagate_logic.apply(logic, result.segmentation, nodes.proxy, [3], damaged[None])
    ui, params = gui.ui, gui.params
    params.inputVolume, params.segmentation = nodes.proxy, result.segmentation
    params.trainingSetFolder = tmp_path / "ts"

    without_torch(monkeypatch)  # the check then runs here, without the model-confidence flag
    ui.qualityButton.click()
    assert "PyTorch is not installed" in ui.statusLabel.text
    table = ui.qualityTable
    assert table.row_count == 4 * 3
    assert (table.item(0, 0).text(), table.item(0, 1).text()) == ("3", "1")
    assert table.item(0, 3).text()  # flagged, with its reasons
    assert ui.nextToCorrectButton.text == "Next to correct: frame 3, slice 1"
    visits = []
    monkeypatch.setattr(qc_logic, "go_to", lambda *a, f=qc_logic.go_to: (visits.append(a[2:]), f(*a))[1])
    red = gui.scene.GetNodeByID("vtkMRMLSliceNodeRed")
    row = next(r for r in range(table.row_count) if table.item(r, 0).text() == "1")
    for slot in table.slots["cellClicked(int,int)"]:
        slot(row, 2)
    frame, z = int(table.item(row, 0).text()), int(table.item(row, 1).text())
    assert visits[-1] == (frame, z) and nodes.browser.GetSelectedItemNumber() == frame
    r, a, s = qc_logic.go_to(logic, nodes.proxy, frame, z)
    assert red.GetSliceOffset() == pytest.approx(s)  # the axial red view jumped to the slice
    ui.nextToCorrectButton.click()
    assert visits[-1] == (3, 1) and nodes.browser.GetSelectedItemNumber() == 3

    nodes.browser.SetSelectedItemNumber(2)
    ui.addToTrainingSetButton.click()  # frame 2 marked corrected: the frame propagation starts from
    nodes.browser.SetSelectedItemNumber(0)
    before = dict(logic.frame_labels(result.segmentation, nodes.proxy))
    assert ui.undoPropagateButton.enabled is False
    ui.propagateButton.click()  # a worker process; the button now stops it
    assert ui.propagateButton.text == "Stop" and "corrected frame(s) [2]" in ui.statusLabel.text
    ui.propagateButton.click()
    gui.controller.quality.job.runner.wait(timeout=120)
    assert "stopped" in ui.statusLabel.text and ui.undoPropagateButton.enabled is False
    labels = dict(logic.frame_labels(result.segmentation, nodes.proxy))
    assert all(np.array_equal(labels[f], before[f]) for f in before)  # a stopped run changes nothing

    from CardiacSSLPanel import install_logic

    params.propagateMethod = "calibrate"  # runs the model: PyTorch is installed first, or nothing starts
    monkeypatch.setattr(install_logic, "ensure_dependencies", lambda requirements, confirm: False)
    ui.propagateButton.click()
    assert ui.propagateButton.text == "Propagate correction" and gui.controller.quality.job.runner.is_running() is False
    monkeypatch.setattr(install_logic, "ensure_dependencies", lambda requirements, confirm: True)
    params.propagateMethod = "registration"  # on the phantom "fused" keeps the damage: it lies within the band
    ui.propagateButton.click()
    gui.controller.quality.job.runner.wait(timeout=240)  # what the timer's polls do in Slicer
    assert ui.propagateButton.text == "Propagate correction" and ui.propagateProgressBar.value == 100
    labels = dict(logic.frame_labels(result.segmentation, nodes.proxy))
    assert (labels[3][1] == 2).sum() > 0.5 * (phantom.label[3][1] == 2).sum()  # the ring came back
    np.testing.assert_array_equal(labels[2], before[2])  # the corrected frame untouched
    assert ui.undoPropagateButton.enabled is True and ui.qualityTable.row_count == 0  # the table was stale
    ui.undoPropagateButton.click()
    labels = dict(logic.frame_labels(result.segmentation, nodes.proxy))
    assert all(np.array_equal(labels[f], before[f]) for f in before)
    assert ui.undoPropagateButton.enabled is False and "undone" in ui.statusLabel.text
    gui.controller.quality.undo = (slicer.vtkMRMLSegmentationNode(), nodes.proxy, [3], damaged[None])
    with pytest.raises(Exception, match="removed"):  # a segmentation no longer in the scene: refused, shown
        ui.undoPropagateButton.click()
    assert "removed" in gui.dialogs.errors[-1] and gui.controller.quality.undo is None


def test_quality_check_runs_the_model_in_a_worker_stops_and_marks_the_volume_curve(gui, monkeypatch, tmp_path):
    """Check quality runs the model-confidence flag in a real worker process (Stop keeps the previous
    table); the volume curve gets red markers at exactly the frames the table flags."""
    from mrml_scenes import column, flag_series, static_heart_with_an_erased_slice

    from CardiacSSLWorkflow import qc_logic
    from workflow_check import make_tiny_model

    logic, segmentation, input_node = static_heart_with_an_erased_slice(gui.scene)
    ui, params, quality = gui.ui, gui.params, gui.controller.quality
    params.inputVolume, params.segmentation = input_node, segmentation
    params.model, params.device = str(make_tiny_model(tmp_path / "tiny" / "model")), "cpu"
    ui.metricsButton.click()
    chart = gui.controller._metrics.chart

    with monkeypatch.context() as patched:
        without_torch(patched)
        ui.qualityButton.click()  # synchronous: anatomy and volume-curve flags only
    assert quality.job is None and quality.qcJob is None
    assert all(r["flip_disagreement"] == 0 for r in quality.rows)
    previous = list(quality.rows)
    (series,) = flag_series(chart)
    assert column(series, "frame") == qc_logic.flagged_frames(previous) == [2, 3, 4]

    ui.qualityButton.click()  # a worker process; the button now stops it
    assert ui.qualityButton.text == "Stop" and "separate process" in ui.statusLabel.text
    ui.qualityButton.click()
    quality.qcJob.runner.wait(timeout=120)
    assert ui.qualityButton.text == "Check quality" and "stopped" in ui.statusLabel.text
    assert quality.rows == previous and ui.qualityTable.row_count == len(previous)  # the previous table stays
    assert column(flag_series(chart)[0], "frame") == [2, 3, 4]

    steps = []
    ui.qualityButton.click()
    quality.qcJob.runner.progress.connect(steps.append)
    quality.qcJob.runner.wait(timeout=240)  # what the timer's polls do in Slicer
    assert ui.qualityButton.text == "Check quality" and ui.statusLabel.text.startswith("Quality: ")
    assert [e["stage"] for e in steps if e["event"] == "step"] == ["flipped pass 1/2", "flipped pass 2/2",
                                                                   "quality table"]  # fmt: skip
    assert ui.qualityTable.row_count == 6 * 3 and any(r["flip_disagreement"] > 0 for r in quality.rows)
    expected = qc_logic.rows(qc_logic.assess(logic, segmentation, input_node, params.model, device="cpu"))
    assert quality.rows == expected  # the worker's table is the in-process one
    (series,) = flag_series(chart)
    assert column(series, "frame") == qc_logic.flagged_frames(quality.rows)
    ui.metricsButton.click()  # recomputed metrics: the markers follow
    assert column(flag_series(gui.controller._metrics.chart)[0], "frame") == qc_logic.flagged_frames(quality.rows)
