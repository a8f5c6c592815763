"""Run CardiacSSL pretraining inside Slicer's Python, without the GUI.

    Slicer --no-main-window --python-script scripts/slicer_pretrain.py -- --method mim --data ... --out ...
    PythonSlicer scripts/slicer_pretrain.py -- --method mim ...        (plain python works the same)

No Slicer module is imported: this only makes ``CardiacSSLLib`` importable (when it is not
already) and calls the same ``main`` as ``cardiacssl pretrain``. The library is looked for in
``$CARDIACSSL_LIBRARY_DIR``, in the source checkout this script lives in (scripts are not
installed with the extension), and inside Slicer in the installed CardiacSSL extension: the
folder of the loaded module, else ``<extensionsInstallPath>/CardiacSSL/lib/Slicer-*/qt-scripted-modules``.
For ``PythonSlicer`` with an installed extension, set ``CARDIACSSL_LIBRARY_DIR`` to that folder.
The process exit code is that of the run (0, 1, 2, 3 or 130).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path


def _installed_extension_folders() -> list[Path]:
    """The installed extension's scripted-module folders, when running inside Slicer (else none).

    ``slicer.modules.<name>.path`` (what ``slicer.util.modulePath`` reads) and
    ``slicer.app.extensionsInstallPath`` (qSlicerCoreApplication, Slicer v5.10.0) name them.
    """
    slicer = sys.modules.get("slicer")
    app = getattr(slicer, "app", None)
    if app is None:
        return []
    found = []
    module = getattr(getattr(slicer, "modules", None), "cardiacssl", None)
    if module is not None:
        found.append(Path(module.path).parent)
    install_path = getattr(app, "extensionsInstallPath", "")
    if install_path:
        found += sorted(Path(install_path).glob("CardiacSSL/lib/Slicer-*/qt-scripted-modules"))
    return found


def _library_candidates() -> list[Path]:
    """Folders that may hold CardiacSSLLib, in the order they are tried."""
    found = [Path(os.environ["CARDIACSSL_LIBRARY_DIR"])] if os.environ.get("CARDIACSSL_LIBRARY_DIR") else []
    found.append(Path(__file__).resolve().parent.parent)  # the source checkout
    return found + _installed_extension_folders()


def _ensure_library() -> None:
    if importlib.util.find_spec("CardiacSSLLib") is not None:
        return
    for folder in _library_candidates():
        if (folder / "CardiacSSLLib" / "__init__.py").is_file():
            sys.path.insert(0, str(folder))
            return
    raise SystemExit(
        "CardiacSSLLib not found: run this inside Slicer with the CardiacSSL extension installed, install the "
        "CardiacSSLLib package, or set CARDIACSSL_LIBRARY_DIR to the folder that holds CardiacSSLLib"
    )


def _script_args(argv: list[str]) -> list[str]:
    """Arguments after ``--`` (Slicer passes its own options before it); all of them when absent."""
    return argv[argv.index("--") + 1 :] if "--" in argv else argv


if __name__ == "__main__":
    _ensure_library()
    from CardiacSSLLib.cli.pretrain import main

    code = main(_script_args(sys.argv[1:]))
    sys.exit(code)
