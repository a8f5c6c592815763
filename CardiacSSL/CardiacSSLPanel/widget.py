"""The module panel: binds the .ui to the parameter node and calls the logic. No computation here.

Logic raises; this file shows the messages (``slicer.util.tryWithErrorDisplay``) and asks the
user before anything is replaced or installed. Imported only inside Slicer (needs qt/ctk).
"""

from __future__ import annotations

import logging
from pathlib import Path

import qt
import slicer

from CardiacSSLLib.errors import OutputExistsError
from CardiacSSLPanel.dialogs import showMarkdown
from CardiacSSLPanel.parameters import CardiacSSLParameterNode
from CardiacSSLPanel.quality_panel import QualityPanel
from CardiacSSLPanel.training_panel import TrainingPanel
from CardiacSSLWorkflow.finetune_runner import RunResult, SubprocessRunner, python_executable

logger = logging.getLogger(__name__)

POLL_MS = 250


class CardiacSSLWidgetController:
    """Everything behind the panel; ``CardiacSSLWidget`` (CardiacSSL.py) only forwards to it."""

    def __init__(self, module_widget, ui_widget) -> None:
        self.moduleWidget = module_widget
        self.ui = slicer.util.childWidgetVariables(ui_widget)
        self.parameterNode = None
        self._guiConnection = None
        self._segment = None
        self._fillingModels = False
        self._timer = qt.QTimer()
        self._timer.setInterval(POLL_MS)
        self._timer.connect("timeout()", self._poll)
        ui_widget.setMRMLScene(slicer.mrmlScene)
        self.ui.segmentButton.connect("clicked()", lambda: self.onSegment())
        self.ui.refreshModelsButton.connect("clicked()", self.refreshModels)
        self.ui.modelCardButton.connect("clicked()", lambda: self.onModelCard())
        self.ui.finetuneInitCardButton.connect("clicked()", lambda: self.onStartPointCard())
        self.ui.loadDicomFolderButton.connect("clicked()", self.onLoadDicomFolder)
        self.ui.loadCineFileButton.connect("clicked()", self.onLoadCineFile)
        self.ui.correctButton.connect("clicked()", self.onCorrect)
        self.ui.metricsButton.connect("clicked()", self.onMetrics)
        self.ui.exportCsvButton.connect("clicked()", self.onExportCsv)
        self.ui.modelSelector.connect("currentIndexChanged(int)", self._storeModel)
        self._metrics = None
        self.training = TrainingPanel(self)  # the "Training set" and "Fine-tune" sections
        self.quality = QualityPanel(self)  # the "Quality and propagation" section
        self.refreshModels()

    # --- parameter node ------------------------------------------------------------

    def setParameterNode(self, node) -> None:
        if self._guiConnection is not None and self.parameterNode is not None:
            self.parameterNode.disconnectGui(self._guiConnection)
            self._guiConnection = None
        self.parameterNode = CardiacSSLParameterNode(node) if node is not None else None
        if self.parameterNode is not None:
            self._guiConnection = self.parameterNode.connectGui(self.ui)
            if not str(self.parameterNode.trainingSetFolder) or str(self.parameterNode.trainingSetFolder) == ".":
                from CardiacSSLWorkflow.trainingset_logic import default_folder

                self.parameterNode.trainingSetFolder = default_folder()
            index = self.ui.modelSelector.findData(self.parameterNode.model)
            if index >= 0:
                self.ui.modelSelector.setCurrentIndex(index)
            self.training.refreshStartPoints()
            self.training.showRecipe()
        self.training.refreshCases()

    def cleanup(self) -> None:
        self._timer.stop()
        for job in self._running():
            job.cancel()
        self.setParameterNode(None)

    def _running(self) -> list:
        jobs = (self._segment, *self.training.jobs(), *self.quality.jobs())
        return [job for job in jobs if job is not None and job.runner.is_running()]

    def _poll(self) -> None:
        """Timer slot: dispatch the workers' progress and results here, on the GUI thread."""
        for job in self._running():
            job.runner.poll()
        if not self._running():
            self._timer.stop()

    # --- dependencies ------------------------------------------------------------

    def _dependenciesReady(self) -> bool:
        from CardiacSSLPanel.install_logic import ensure_dependencies

        requirements = self.moduleWidget.resourcePath("requirements.txt")
        ok, ready = self._attempt("Installing dependencies failed.", ensure_dependencies, requirements,
                                  slicer.util.confirmOkCancelDisplay)  # fmt: skip
        return bool(ok and ready)

    @staticmethod
    def _attempt(message: str, fn, *args) -> tuple[bool, object]:
        """``(True, fn(*args))``, or ``(False, None)`` after the error was shown to the user.

        ``tryWithErrorDisplay`` shows the error, then re-raises it (Base/Python/slicer/util.py,
        Slicer v5.10.0); a slot that must go on afterwards catches it here.
        """
        try:
            with slicer.util.tryWithErrorDisplay(message):
                return True, fn(*args)
        except Exception:  # noqa: BLE001 - already shown to the user
            logger.debug("%s", message, exc_info=True)
            return False, None

    # --- 1. input ----------------------------------------------------------------

    def onLoadDicomFolder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(None, "DICOM cine folder")
        if folder:
            self._loadCine(folder)

    def onLoadCineFile(self) -> None:
        from CardiacSSLLib.suffixes import file_dialog_filter

        path = qt.QFileDialog.getOpenFileName(None, "4D cine file", "", file_dialog_filter())
        if path:
            self._loadCine(path)

    def _loadCine(self, path: str) -> None:
        # Loading needs only what Slicer bundles (SimpleITK, pydicom): no torch, no installation.
        from CardiacSSLLib.io import load_cine
        from CardiacSSLWorkflow.mrml_convert import cine_to_sequence
        from CardiacSSLWorkflow.slice_view import orient_red_view

        with slicer.util.tryWithErrorDisplay(f"Could not load {path}.", waitCursor=True):
            cine = load_cine(path, allow_single_frame=True)
            nodes = cine_to_sequence(cine, slicer.mrmlScene, name=cine.name or Path(path).name)
            orient_red_view(slicer.mrmlScene, nodes.proxy)  # the stack's plane, RV on the left (display_axes)
            slicer.util.setSliceViewerLayers(background=nodes.proxy, fit=True)  # fitting keeps the orientation
            self.parameterNode.inputVolume = nodes.proxy
            self._status(f"Loaded {cine.n_frames} frames x {cine.n_slices} slices from {path}")

    # --- 2. segment --------------------------------------------------------------

    def refreshModels(self) -> None:
        """Refill the model list, keeping the chosen model (the parameter node's) when it still exists."""
        combo = self.ui.modelSelector
        wanted = self.parameterNode.model if self.parameterNode is not None else combo.currentData
        self._fillingModels = True  # clear() and addItem() change the index: not the user's choice
        try:
            combo.clear()
            try:
                from CardiacSSLWorkflow.segment_logic import list_models

                for choice in list_models():
                    combo.addItem(choice.label, choice.name)
            except Exception as exc:  # noqa: BLE001 - a broken models.json must not break the panel
                self._status(f"Models not listed: {exc}")
            if combo.count == 0:
                combo.addItem("(no model installed: fine-tune one)", "")
            index = combo.findData(wanted) if wanted else -1
            combo.setCurrentIndex(index if index >= 0 else 0)
        finally:
            self._fillingModels = False
        self._storeModel(combo.currentIndex)
        self.training.refreshStartPoints()

    def _storeModel(self, _index) -> None:
        if self.parameterNode is not None and not self._fillingModels:
            self.parameterNode.model = self.ui.modelSelector.currentData or ""

    def onModelCard(self, name: str | None = None) -> None:
        """Show the card of ``name`` (default: the model selected for segmenting)."""
        from CardiacSSLWorkflow.model_card import model_card

        name = name if name is not None else self.ui.modelSelector.currentData
        with slicer.util.tryWithErrorDisplay("Could not show the model card."):
            showMarkdown(f"Model card: {name}", model_card(name))

    def onStartPointCard(self) -> None:
        """Show the card of what fine-tuning starts from (the selected model or a backbone)."""
        from CardiacSSLWorkflow.finetune_logic import init_for

        ok, init = self._attempt(
            "Could not show the model card.", init_for, self.ui.finetuneInitSelector.currentData,
            self.ui.modelSelector.currentData,
        )  # fmt: skip
        if not ok:
            return
        if init is None:
            slicer.util.infoDisplay("Scratch: random initialisation, no pretrained weights and no card.")
        else:
            self.onModelCard(init)

    def _deviceCheck(self) -> tuple[bool, str]:
        """``(usable, note)``: an explicit GPU request without a usable GPU is an error shown here;
        'auto' falling back to the CPU is a note for the status line."""
        from CardiacSSLWorkflow.segment_logic import gpu_message

        device = self.parameterNode.device
        message = gpu_message(device) or ""
        if message and device == "gpu":
            slicer.util.errorDisplay(message)
            return False, message
        if message:
            self._status(message)
        return True, message

    def onSegment(self, overwrite: bool = False, model: str | None = None) -> None:
        """Segment in a separate process (the GUI stays responsive); while it runs the button stops it."""
        if self._segment is not None and self._segment.runner.is_running():
            self._segment.cancel()
            self._status("Stopping the segmentation...")
            return
        if not self._dependenciesReady() or not self._deviceCheck()[0]:
            return
        from CardiacSSLWorkflow.segment_logic import SegmentLogic
        from CardiacSSLWorkflow.segment_process import SegmentProcess

        p = self.parameterNode
        logic = SegmentLogic(slicer.mrmlScene)
        try:
            request = logic.prepare(p.inputVolume, model or p.model, p.frames, p.device, overwrite=overwrite)
            self._segment = SegmentProcess(logic, SubprocessRunner(), python=python_executable())
            self._segment.runner.progress.connect(self._onSegmentProgress)
            self._segment.runner.finished.connect(self._onSegmentFinished)
            self._segment.start(request)
        except OutputExistsError as exc:
            if not overwrite and slicer.util.confirmYesNoDisplay(f"{exc}.\n\nReplace it?"):
                self.onSegment(overwrite=True, model=model)
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, logged with traceback
            logger.exception("segmentation failed")
            slicer.util.errorDisplay(f"Segmentation failed: {exc}")
            return
        self.ui.segmentButton.text = "Stop"
        self.ui.segmentProgressBar.setValue(0)
        self._status(f"Segmenting {len(request.frames)} frame(s) with {request.model} in a separate process...")
        self._timer.start()

    def _onSegmentProgress(self, event: dict) -> None:
        if event.get("event") == "step" and event.get("total"):
            self.ui.segmentProgressBar.setValue(int(100 * event["step"] / event["total"]))

    def _onSegmentFinished(self, result: RunResult) -> None:
        from CardiacSSLWorkflow.segment_process import SegmentProcess
        from CardiacSSLWorkflow.slice_view import orient_red_view

        self.ui.segmentButton.text = "Segment"
        ok, segmentation = self._attempt("Could not add the segmentation to the scene.", self._segment.finish, result)
        if not ok:
            return
        if segmentation is None:  # stopped or failed: the scene is as it was
            self.ui.segmentProgressBar.setValue(0)
            self._status(SegmentProcess.summary(result))
            if result.state.value != "cancelled":
                slicer.util.errorDisplay(SegmentProcess.summary(result), detailedText=result.message)
            return
        self.ui.segmentProgressBar.setValue(100)
        self.parameterNode.segmentation = segmentation.segmentation
        self._attempt("Could not turn the red view to the stack.", orient_red_view, slicer.mrmlScene,
                      self.parameterNode.inputVolume)  # fmt: skip
        note = f" (ED {segmentation.ed_es[0]}, ES {segmentation.ed_es[1]})" if segmentation.ed_es else ""
        self._status(f"Segmented frames {segmentation.frames}{note} with {segmentation.model}")

    # --- 3. correct --------------------------------------------------------------

    def onCorrect(self) -> None:
        p = self.parameterNode
        if p.segmentation is None:
            slicer.util.errorDisplay("Segment first (or select a segmentation) to correct it.")
            return
        slicer.util.selectModule("SegmentEditor")
        editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
        editor.setSegmentationNode(p.segmentation)
        editor.setSourceVolumeNode(p.inputVolume)

    # --- 6. metrics --------------------------------------------------------------

    def onMetrics(self) -> None:
        from CardiacSSLWorkflow.metrics_logic import MetricsLogic

        p = self.parameterNode
        with slicer.util.tryWithErrorDisplay("Could not compute the metrics.", waitCursor=True):
            self._metrics = MetricsLogic(slicer.mrmlScene).compute(
                p.segmentation, p.inputVolume, table=p.metricsTable, chart=p.volumeChart
            )
            p.metricsTable = self._metrics.table
            self.ui.metricsTableView.setMRMLTableNode(self._metrics.table)
            if self._metrics.chart is not None:
                p.volumeChart = self._metrics.chart
                self.quality.markCurve()  # the quality table's flagged frames, on the new curve
                slicer.modules.plots.logic().ShowChartInLayout(self._metrics.chart)

    def onExportCsv(self) -> None:
        from CardiacSSLWorkflow.metrics_logic import MetricsLogic

        if self._metrics is None:
            slicer.util.errorDisplay("Compute the metrics first.")
            return
        path = qt.QFileDialog.getSaveFileName(None, "Export metrics", "metrics.csv", "CSV (*.csv)")
        if path:  # the save dialog has asked about replacing an existing file
            with slicer.util.tryWithErrorDisplay("Could not write the CSV file."):
                MetricsLogic.export_csv(self._metrics, path, overwrite=True)
                self._status(f"Metrics written to {path}")

    def _status(self, text: str) -> None:
        self.ui.statusLabel.text = text
        logger.info(text)
