"""ctest entry inside Slicer: the workflow check (``workflow_check.py`` beside this file) on the phantom."""

import unittest

import slicer


class CardiacSSLWorkflowTest(unittest.TestCase):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def test_workflow_on_phantom(self):
        import tempfile

        from CardiacSSLWorkflow.finetune_runner import python_executable
        from workflow_check import run_workflow_check

        with tempfile.TemporaryDirectory() as workdir:
            report = run_workflow_check(slicer.mrmlScene, workdir, python=python_executable())
        self.assertGreaterEqual(report["rows"], 9)
        self.assertEqual(report["cases"], 1)
