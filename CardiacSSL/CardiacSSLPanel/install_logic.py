"""Python dependencies of the module: asked for, never silently installed, never replacing what is there.

torch comes from the PyTorch extension (``PyTorchUtils``), which picks a build matching the
GPU driver; an installed torch that is too old is reported, not replaced. Everything else
comes from ``Resources/requirements.txt`` minus the packages Slicer bundles, installed with
a pip constraints file that pins torch and Slicer's own packages at their installed versions,
so a dependency of MONAI can never pull another torch or numpy over them. Slicer 5.12+
installs through ``slicer.packaging.pip_ensure``; 5.10-5.11 through ``slicer.util.pip_install``
with ``-c`` (Base/Python/slicer/packaging.py and util.py in Slicer's sources).
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

# Packages that Slicer ships itself (and torch, from the PyTorch extension): never installed from here.
SLICER_BUNDLED = frozenset(
    {"numpy", "simpleitk", "pydicom", "vtk", "scipy", "requests", "packaging", "pip", "setuptools", "wheel", "torch"}
)
TORCH_REQUIREMENT = ">=2.2"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0]


def read_requirements(path: str | Path) -> list[str]:
    lines = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def satisfies(version: str, specifier: str) -> bool:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(specifier).contains(version, prereleases=True)


def _satisfied(requirement: str) -> bool:
    from packaging.requirements import Requirement

    req = Requirement(requirement)
    installed = installed_version(req.name)
    return installed is not None and satisfies(installed, str(req.specifier))


def missing_requirements(path: str | Path) -> list[str]:
    """Requirements not satisfied now, excluding packages Slicer bundles."""
    return [r for r in read_requirements(path) if _normalise(_name(r)) not in SLICER_BUNDLED and not _satisfied(r)]


def torch_problem() -> str | None:
    """None when a torch satisfying :data:`TORCH_REQUIREMENT` is installed; else what is wrong, in a sentence."""
    version = installed_version("torch")
    if version is None:
        return "PyTorch is not installed"
    if not satisfies(version, TORCH_REQUIREMENT):
        return f"PyTorch {version} is installed, but CardiacSSL needs torch{TORCH_REQUIREMENT}"
    return None


def pinned_versions() -> dict[str, str]:
    """The installed version of each package that an install must not replace (torch and Slicer's own)."""
    pins = {}
    for name in sorted(SLICER_BUNDLED - {"pip", "setuptools", "wheel"}):
        version = installed_version(name)
        if version is not None:
            pins[name] = version
    return pins


@dataclass
class InstallPlan:
    """What an install would do: shown to the user before anything happens."""

    packages: list[str]  # requirements to install
    pinned: dict[str, str] = field(default_factory=dict)  # name -> installed version kept as is

    def message(self) -> str:
        kept = ", ".join(f"{name} {version}" for name, version in self.pinned.items())
        return (
            "CardiacSSL needs these Python packages, which will be downloaded and installed into Slicer's Python "
            "(with the packages they depend on):\n\n" + "\n".join(self.packages)
            + f"\n\nThese stay exactly as they are (pip constraints): {kept or 'none installed'}."
            + "\n\nThis may take a few minutes. Continue?"
        )  # fmt: skip

    def write_constraints(self, folder: str | Path) -> Path:
        path = Path(folder) / "cardiacssl-constraints.txt"
        path.write_text("".join(f"{name}=={version}\n" for name, version in self.pinned.items()))
        return path


def install_plan(requirements: str | Path) -> InstallPlan:
    return InstallPlan(missing_requirements(requirements), pinned_versions())


def _install(plan: InstallPlan, constraints: Path) -> None:
    """Install ``plan.packages`` under ``constraints`` through Slicer's installer for this version."""
    import slicer

    try:
        import slicer.packaging as packaging  # Slicer 5.12+
    except ImportError:
        packaging = None
    if packaging is not None and hasattr(packaging, "pip_ensure"):
        packaging.pip_ensure(plan.packages, constraints=constraints, prompt_install=False, requester="CardiacSSL")
    else:
        slicer.util.pip_install(["-c", str(constraints), *plan.packages])


def ensure_torch() -> bool:
    """A suitable torch, installed through PyTorchUtils when there is none; an old one is reported, not replaced."""
    problem = torch_problem()
    if problem is None:
        return True
    if installed_version("torch") is not None:
        raise RuntimeError(
            f"{problem}. Update it in the PyTorch Utils module (it picks the build for your GPU), restart "
            "Slicer, and try again; CardiacSSL does not replace an installed PyTorch."
        )
    try:
        import PyTorchUtils
    except ImportError as exc:
        raise RuntimeError(
            "CardiacSSL needs PyTorch: install the 'PyTorch' extension from the Extensions Manager and restart"
        ) from exc
    # installTorch(askConfirmation, forceComputationBackend, torchVersionRequirement, ...): PyTorchUtils/PyTorchUtils.py
    torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(
        askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT
    )
    return torch is not None


def ensure_dependencies(requirements: str | Path, confirm: Callable[[str], bool]) -> bool:
    """torch, then the other packages after ``confirm(plan message)`` says yes; False when the user declines.

    Only runs inside Slicer (``PyTorchUtils``, Slicer's pip installer).
    """
    if not ensure_torch():
        return False
    plan = install_plan(requirements)
    if not plan.packages:
        return True
    if not confirm(plan.message()):
        return False
    with tempfile.TemporaryDirectory(prefix="cardiacssl-pip-") as folder:
        _install(plan, plan.write_constraints(folder))
    still = missing_requirements(requirements)
    if still:
        raise RuntimeError(f"installing {', '.join(still)} failed; see the Python console for details")
    changed = {name for name, version in plan.pinned.items() if installed_version(name) != version}
    if changed:
        raise RuntimeError(f"installing changed {', '.join(sorted(changed))}: restart Slicer before going on")
    return True
