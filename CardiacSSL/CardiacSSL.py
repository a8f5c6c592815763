"""CardiacSSL: segment cardiac short-axis cine MRI, correct, collect a training set, fine-tune.

This file holds the module metadata, a thin widget shell and the self-test. The panel's
behaviour is in ``CardiacSSLPanel.widget``; the GUI-free workflow it drives in the
``CardiacSSLWorkflow`` package and all learning and predicting in the ``CardiacSSLLib``
library, both shipped with the extension.
"""

import logging
import sys
import tempfile
import unittest

import qt
import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

MINIMUM_SLICER = (5, 10)  # sequence missing-item modes, vtkSegment terminology strings, Python 3.12
RELOADED_PACKAGES = ("CardiacSSLPanel", "CardiacSSLWorkflow", "CardiacSSLLib")


class CardiacSSL(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Cardiac SSL"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = ["Sequences", "Segmentations"]
        self.parent.contributors = ["CardiacSSL developers"]
        self.parent.helpText = """
Segment the LV blood pool, LV myocardium and RV in short-axis cine MRI with U-Nets pretrained by
self-supervised learning; correct the result in the Segment Editor, collect corrected frames in a
training set, fine-tune a model on them (in a separate process) and compute EDV, ESV, SV, EF and
LV mass. Results are for research, not for clinical use.
"""
        self.parent.acknowledgementText = """
Uses PyTorch, MONAI and SimpleITK. The code is Apache-2.0. The bundled models are trained on
ACDC (CC BY-NC-SA 4.0): those weights are for non-commercial research use only; see each
model card for its licence. Needs Slicer 5.10 or later.
"""


class CardiacSSLWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Shell: loads the .ui, hands it to the controller, keeps the parameter node across scene events."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.controller = None
        self.logic = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        version = (slicer.app.majorVersion, slicer.app.minorVersion)
        if version < MINIMUM_SLICER:
            self.layout.addWidget(qt.QLabel(
                f"CardiacSSL needs Slicer {MINIMUM_SLICER[0]}.{MINIMUM_SLICER[1]} or later "
                f"(this is {version[0]}.{version[1]}): install a current Slicer."))  # fmt: skip
            return
        from CardiacSSLPanel.widget import CardiacSSLWidgetController

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CardiacSSL.ui"))
        self.layout.addWidget(uiWidget)
        self.logic = ScriptedLoadableModuleLogic()
        self.logic.moduleName = self.moduleName  # parameter node of this module, not of the base class
        self.controller = CardiacSSLWidgetController(self, uiWidget)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.controller.setParameterNode(self.logic.getParameterNode())

    def enter(self) -> None:
        if self.controller is not None:
            self.initializeParameterNode()
            self.controller.refreshModels()

    def onReload(self) -> None:
        """Reload the packages too: Slicer's reload re-reads only this file."""
        for name in [n for n in sys.modules if n.split(".")[0] in RELOADED_PACKAGES]:
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)

    def exit(self) -> None:
        pass  # keep the GUI bound: a running fine-tuning keeps reporting

    def onSceneStartClose(self, caller, event) -> None:
        self.controller.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.controller is not None and self.parent.isEntered:
            self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()
        if self.controller is not None:
            self.controller.cleanup()


class CardiacSSLTest(ScriptedLoadableModuleTest):
    """Whole workflow on the phantom, in Slicer's scene: the check pytest runs on slicer-core.

    The one ctest of the module (``py_CardiacSSL``). The check is test code
    (``Testing/Python/workflow_check.py`` beside this file in a source tree or build tree);
    without it, or without PyTorch (extension build machines), the test says so and skips.
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        try:
            self.test_workflow_on_phantom()
        except unittest.SkipTest as exc:
            self.delayDisplay(f"CardiacSSL self-test skipped: {exc}")
            logging.warning(f"CardiacSSL self-test skipped: {exc}")

    def test_workflow_on_phantom(self):
        import importlib.util

        from CardiacSSLWorkflow.finetune_runner import python_executable

        if importlib.util.find_spec("torch") is None:
            self.skipTest("PyTorch is not installed (install the PyTorch extension to run the workflow check)")
        check = _workflow_check_module()
        if check is None:
            self.skipTest("the workflow check runs from a source or build tree, not from an installed extension")
        self.delayDisplay("CardiacSSL workflow: load, segment, correct, training set, fine-tune, cancel, metrics")
        with tempfile.TemporaryDirectory() as workdir:
            report = check.run_workflow_check(slicer.mrmlScene, workdir, python=python_executable())
        logging.info(f"CardiacSSL self-test: {report}")
        self.delayDisplay("Test passed")


def _workflow_check_module():
    """``Testing/Python/workflow_check.py`` loaded from its file (the import path stays as it is), or None."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "Testing" / "Python" / "workflow_check.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("workflow_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
