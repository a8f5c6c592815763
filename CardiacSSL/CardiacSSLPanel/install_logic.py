"""Python dependencies of the module: asked for, never silently installed, never replacing Slicer's own.

torch comes from the PyTorch extension (``PyTorchUtils``), which picks a build matching the
GPU driver; everything else from ``Resources/requirements.txt``, minus the packages that
Slicer bundles (replacing those breaks Slicer: SimpleITK, numpy, pydicom, vtk, ...).
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

# Packages that Slicer ships itself: never reinstalled or upgraded from here.
SLICER_BUNDLED = frozenset(
    {"numpy", "simpleitk", "pydicom", "vtk", "scipy", "requests", "packaging", "pip", "setuptools", "wheel", "torch"}
)
TORCH_REQUIREMENT = ">=2.2"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: str | Path) -> list[str]:
    lines = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def _satisfied(requirement: str) -> bool:
    try:
        from packaging.requirements import Requirement
    except ImportError:  # no packaging: presence only
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
            return True
        except importlib.metadata.PackageNotFoundError:
            return False
    req = Requirement(requirement)
    try:
        installed = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return req.specifier.contains(installed, prereleases=True)


def missing_requirements(path: str | Path) -> list[str]:
    """Requirements not satisfied now, excluding packages Slicer bundles."""
    missing = []
    for requirement in read_requirements(path):
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        if _normalise(name) in SLICER_BUNDLED:
            continue
        if not _satisfied(requirement):
            missing.append(requirement)
    return missing


def torch_available() -> bool:
    try:
        importlib.metadata.version("torch")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def ensure_dependencies(requirements: str | Path, confirm: Callable[[str], bool]) -> bool:
    """Install what is missing after ``confirm(message)`` says yes; False when the user declines.

    Only runs inside Slicer (uses ``PyTorchUtils`` and ``slicer.util.pip_install``).
    """
    import slicer

    if not torch_available():
        try:
            import PyTorchUtils
        except ImportError as exc:
            raise RuntimeError(
                "CardiacSSL needs PyTorch: install the 'PyTorch' extension from the Extensions Manager and restart"
            ) from exc
        torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(
            askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT
        )
        if torch is None:
            return False
    missing = missing_requirements(requirements)
    if missing:
        if not confirm(
            "CardiacSSL needs these Python packages, which will be downloaded and installed into Slicer's Python:\n\n"
            + "\n".join(missing)
            + "\n\nThis may take a few minutes. Continue?"
        ):
            return False
        slicer.util.pip_install(missing)
        still = missing_requirements(requirements)
        if still:
            raise RuntimeError(f"installing {', '.join(still)} failed; see the Python console for details")
    return True
