"""List the cines of a folder: DICOM series folders and 4D volume files (no pixel data is read)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from CardiacSSLLib.errors import InputError
from CardiacSSLLib.suffixes import CINE_FILE_SUFFIXES, DICOM_SUFFIXES, has_suffix

MAX_DEPTH = 3
MAX_ENTRIES = 2000


@dataclass(frozen=True)
class CineEntry:
    path: Path
    kind: str  # "dicom" | "volume"

    @property
    def title(self) -> str:
        return f"{self.path.name} ({self.kind})"


def list_cines(folder: str | os.PathLike) -> list[CineEntry]:
    """Cine candidates under ``folder`` (depth <= 3), sorted by path; InputError if none or unreadable."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InputError(f"not a folder: {root}")
    found: list[CineEntry] = []
    seen = 0
    for current, dirs, files in os.walk(root):
        depth = len(Path(current).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < MAX_DEPTH else []
        seen += len(files)
        if seen > MAX_ENTRIES * 50:
            break
        if any(has_suffix(f, DICOM_SUFFIXES) for f in files):
            found.append(CineEntry(Path(current), "dicom"))
        found.extend(CineEntry(Path(current) / f, "volume") for f in files if has_suffix(f, CINE_FILE_SUFFIXES))
        if len(found) >= MAX_ENTRIES:
            break
    if not found:
        raise InputError(f"no cine found in {root}: expected DICOM series folders (*.dcm) or NIfTI/NRRD/HDF5 files")
    return sorted(found, key=lambda e: str(e.path))
