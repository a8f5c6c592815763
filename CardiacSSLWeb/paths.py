"""Make the Slicer module's ``CardiacSSLLogic`` package importable outside Slicer."""

from __future__ import annotations

import sys
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parents[1] / "CardiacSSL"


def ensure_logic_importable() -> None:
    """Put the module folder on ``sys.path``, as Slicer does for a scripted module."""
    if not (MODULE_DIR / "CardiacSSLLogic").is_dir():
        raise ImportError(f"CardiacSSLLogic not found in {MODULE_DIR}: the web app runs from a CardiacSSL checkout")
    if str(MODULE_DIR) not in sys.path:
        sys.path.insert(0, str(MODULE_DIR))
