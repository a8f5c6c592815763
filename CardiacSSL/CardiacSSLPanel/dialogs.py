"""Dialogs of the panel that are more than a message box."""

from __future__ import annotations

import qt
import slicer


def showMarkdown(title: str, markdown: str) -> None:
    """A modal dialog that renders ``markdown`` (tables, code blocks) with a Close button."""
    dialog = qt.QDialog(slicer.util.mainWindow())
    dialog.setWindowTitle(title)
    layout = qt.QVBoxLayout(dialog)
    browser = qt.QTextBrowser()
    browser.setOpenExternalLinks(True)
    browser.setMarkdown(markdown)
    layout.addWidget(browser)
    buttons = qt.QDialogButtonBox(qt.QDialogButtonBox.Close)
    buttons.connect("rejected()", dialog.reject)
    layout.addWidget(buttons)
    dialog.resize(760, 640)
    dialog.exec_()
