"""The panel's "Training set" and "Fine-tune" sections: the cases table, the start point and recipe,
and the fine-tuning worker process.

Logic lives in CardiacSSLWorkflow (trainingset_logic, finetune_logic, finetune_runner); this file
binds it to the widgets of CardiacSSL.ui. Fine-tuning runs in a separate process polled by the
controller's timer; when it ends the model list is refreshed and the user is asked before the input
is re-segmented with the new model. Imported only inside Slicer (needs qt).
"""

from __future__ import annotations

from pathlib import Path

import qt
import slicer

from CardiacSSLWorkflow.finetune_runner import RunResult, SubprocessRunner, python_executable


class TrainingPanel:
    """Owned by ``CardiacSSLWidgetController``; reads its parameter node, reports on its status line."""

    def __init__(self, controller) -> None:
        self.controller = controller
        self.ui = controller.ui
        self.finetune = None  # the running FinetuneLogic
        self.ui.addToTrainingSetButton.connect("clicked()", self.onAddToTrainingSet)
        self.ui.removeCaseButton.connect("clicked()", self.onRemoveCase)
        self.ui.trainingSetPathEdit.connect("currentPathChanged(QString)", lambda _: self.refreshCases())
        self.ui.finetuneButton.connect("clicked()", self.onFinetune)
        self.ui.finetuneInitSelector.connect("currentIndexChanged(int)", self._storeFinetuneInit)
        self.ui.finetuneRecommendedCheckBox.connect("toggled(bool)", self.showRecipe)

    def jobs(self) -> list:
        return [self.finetune]

    # --- training set ------------------------------------------------------------

    def trainingSet(self):
        from CardiacSSLWorkflow.trainingset_logic import TrainingSetLogic

        return TrainingSetLogic(Path(str(self.controller.parameterNode.trainingSetFolder)))

    def onAddToTrainingSet(self) -> None:
        p = self.controller.parameterNode
        which = "all" if self.ui.addAllFramesCheckBox.checked else "current"
        with slicer.util.tryWithErrorDisplay("Could not add to the training set.", waitCursor=True):
            ids = self.trainingSet().add_segmentation(p.segmentation, p.inputVolume, which=which)
            self.controller._status(f"Added {len(ids)} case(s) to {p.trainingSetFolder}")
        self.refreshCases()

    def refreshCases(self) -> None:
        table = self.ui.casesTable
        table.setRowCount(0)
        if self.controller.parameterNode is None:
            return
        try:
            cases = self.trainingSet().cases()
        except Exception as exc:  # noqa: BLE001 - a damaged folder must not break the panel
            self.controller._status(f"Training set unreadable: {exc}")
            return
        table.setRowCount(len(cases))
        for row, case in enumerate(cases):
            prov = case.provenance
            values = (case.case_id, prov.source, str(prov.frame), prov.model, prov.created[:19])
            for col, value in enumerate(values):
                table.setItem(row, col, qt.QTableWidgetItem(value))
        self.ui.trainingSetCountLabel.text = f"{len(cases)} case(s)"

    def onRemoveCase(self) -> None:
        rows = sorted(index.row() for index in self.ui.casesTable.selectionModel().selectedRows())
        ids = [self.ui.casesTable.item(r, 0).text() for r in rows]
        if not ids or not slicer.util.confirmYesNoDisplay(f"Remove {len(ids)} case(s) from the training set?"):
            return
        with slicer.util.tryWithErrorDisplay("Could not remove the case.", waitCursor=True):
            logic = self.trainingSet()
            for case_id in ids:
                logic.remove(case_id)
        self.refreshCases()

    # --- fine-tune ---------------------------------------------------------------

    def refreshStartPoints(self) -> None:
        """Fill "Start from" (selected model, backbones, scratch), keeping the parameter node's choice."""
        from CardiacSSLWorkflow.finetune_logic import START_SELECTED, list_start_points

        p = self.controller.parameterNode
        wanted = p.finetuneInit if p is not None else START_SELECTED
        combo = self.ui.finetuneInitSelector
        combo.clear()
        try:
            for choice in list_start_points():
                combo.addItem(choice.label, choice.value)
        except Exception as exc:  # noqa: BLE001 - a broken models.json must not break the panel
            self.controller._status(f"Backbones not listed: {exc}")
        if combo.count == 0:
            combo.addItem("the selected segmentation model (continue training it)", START_SELECTED)
        index = combo.findData(wanted)
        combo.setCurrentIndex(index if index >= 0 else 0)

    def _storeFinetuneInit(self, _index) -> None:
        if self.controller.parameterNode is not None and self.ui.finetuneInitSelector.currentData is not None:
            self.controller.parameterNode.finetuneInit = self.ui.finetuneInitSelector.currentData
            self.showRecipe()

    def showRecipe(self, recommended: bool | None = None) -> None:
        """While "Recommended for this start" is checked, the LR-factor and warm-up boxes show the
        start's recipe and are locked; unchecked, they keep their values for the user to edit.

        ``recommended``: the checkbox's new state (its toggled slot runs before the binding stores it).
        """
        from CardiacSSLWorkflow.finetune_logic import recommended_recipe

        p = self.controller.parameterNode
        if p is None:
            return
        recommended = p.finetuneRecommended if recommended is None else recommended
        self.ui.finetunePretrainedLrScaleSpinBox.enabled = not recommended
        self.ui.finetuneFreezeStepsSpinBox.enabled = not recommended
        if not recommended:
            self.ui.finetuneRecipeLabel.text = "Values set by hand."
            return
        recipe = recommended_recipe(p.finetuneInit)
        p.finetunePretrainedLrScale, p.finetuneFreezeSteps = recipe.pretrained_lr_scale, recipe.freeze_pretrained_steps
        self.ui.finetuneRecipeLabel.text = f"Recipe: {recipe.source}."

    def onFinetune(self) -> None:
        if self.finetune is not None and self.finetune.runner.is_running():
            self.finetune.cancel()
            self.controller._status("Cancelling fine-tuning...")
            return
        if not self.controller._dependenciesReady():
            return
        usable, message = self.controller._deviceCheck()
        if not usable:
            return
        from CardiacSSLWorkflow.finetune_logic import FinetuneLogic, describe_init, transfer_options

        p = self.controller.parameterNode
        self.finetune = FinetuneLogic(SubprocessRunner(), python=python_executable())
        self.finetune.runner.progress.connect(self._onProgress)
        self.finetune.runner.finished.connect(self._onFinished)
        with slicer.util.tryWithErrorDisplay("Could not start fine-tuning."):
            # recommended: no options, the worker applies the start's recipe
            extra = transfer_options(
                p.finetunePretrainedLrScale, p.finetuneFreezeSteps, recommended=p.finetuneRecommended
            )
            job = self.finetune.start_from(
                p.finetuneInit, p.model, p.trainingSetFolder, p.finetuneName, p.finetuneSteps, p.device, extra=extra
            )
            self.ui.finetuneButton.text = "Cancel fine-tuning"
            self.ui.finetuneProgressBar.setValue(0)
            started = f"Fine-tuning from {describe_init(job.init)} started in a separate process."
            self.controller._status(f"{message} {started}" if message else started)
            self.controller._timer.start()

    def _onProgress(self, event: dict) -> None:
        if event.get("event") == "step" and event.get("total"):
            self.ui.finetuneProgressBar.setValue(int(100 * event["step"] / event["total"]))
            loss = event.get("loss")
            eta = event.get("eta_s")
            self.ui.finetuneStatusLabel.text = (
                f"step {event['step']}/{event['total']}"
                + (f", loss {loss:.4f}" if isinstance(loss, float) else "")
                + (f", {eta:.0f} s left" if isinstance(eta, (int, float)) else "")
            )

    def _onFinished(self, result: RunResult) -> None:
        from CardiacSSLWorkflow.finetune_logic import FinetuneLogic

        self.ui.finetuneButton.text = "Fine-tune"
        summary = FinetuneLogic.summary(result)
        self.ui.finetuneStatusLabel.text = summary
        self.controller.refreshModels()
        if result.ok:
            name = self.finetune.job.name
            index = self.ui.modelSelector.findData(name)
            if index >= 0:
                self.ui.modelSelector.setCurrentIndex(index)
            if self.controller.parameterNode.inputVolume is not None and slicer.util.confirmYesNoDisplay(
                f"{summary}\n\nRe-segment the input with the new model {name!r}?"
            ):
                self.controller.onSegment(model=name)
        elif result.state.value != "cancelled":
            slicer.util.errorDisplay(summary, detailedText=result.message)
