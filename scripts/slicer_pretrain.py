"""Run CardiacSSL pretraining inside Slicer's Python, without the GUI.

    Slicer --no-main-window --python-script scripts/slicer_pretrain.py -- --method mim --data ... --out ...
    PythonSlicer scripts/slicer_pretrain.py -- --method mim ...        (plain python works the same)

No Slicer module is imported: this only makes ``CardiacSSLLib`` importable (when it is not
already: from ``$CARDIACSSL_LIBRARY_DIR``, this source checkout or the installed extension's
scripted-module folder) and calls the same ``main`` as
``cardiacssl pretrain``. The process exit code is that of the run (0, 1, 2, 3 or 130).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path


def _library_candidates() -> list[Path]:
    """Folders that may hold CardiacSSLLib: $CARDIACSSL_LIBRARY_DIR, the source checkout this script
    lives in, and an installed extension's scripted-module folder(s)."""
    here = Path(__file__).resolve().parent
    found = [Path(os.environ["CARDIACSSL_LIBRARY_DIR"])] if os.environ.get("CARDIACSSL_LIBRARY_DIR") else []
    found.append(here.parent)
    found += sorted(here.parent.glob("lib/Slicer-*/qt-scripted-modules"))
    return found


def _ensure_library() -> None:
    if importlib.util.find_spec("CardiacSSLLib") is not None:
        return
    for folder in _library_candidates():
        if (folder / "CardiacSSLLib" / "__init__.py").is_file():
            sys.path.insert(0, str(folder))
            return
    raise SystemExit("CardiacSSLLib not found: install the CardiacSSL extension or the CardiacSSLLib package")


def _script_args(argv: list[str]) -> list[str]:
    """Arguments after ``--`` (Slicer passes its own options before it); all of them when absent."""
    return argv[argv.index("--") + 1 :] if "--" in argv else argv


if __name__ == "__main__":
    _ensure_library()
    from CardiacSSLLib.cli.pretrain import main

    code = main(_script_args(sys.argv[1:]))
    sys.exit(code)
