"""The few NIfTI header fields ITK does not hand over: time unit, sform matrix, codes.

ITK reads a NIfTI's voxels and geometry, but drops the time unit of ``pixdim[4]`` and
refuses an sform whose axes are off orthogonal by a rounding error. These fields are read
straight from the first bytes of the file (NIfTI-1 and NIfTI-2, either byte order).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# xyzt_units & 0x38: NIFTI_UNITS_SEC 8, MSEC 16, USEC 24 -> milliseconds per unit
_TIME_UNIT_MS = {8: 1000.0, 16: 1.0, 24: 1e-3}
_TIME_UNIT_NAME = {0: "unknown", 8: "s", 16: "ms", 24: "us"}
# a cine's frame step in ms: 4 ms (fast real-time) to 600 ms (a few frames over a slow beat, ED to ES)
PLAUSIBLE_STEP_MS = (4.0, 600.0)


@dataclass(frozen=True)
class NiftiHeader:
    dims: tuple[int, ...]  # dim[1..dim[0]]
    pixdim: tuple[float, ...]  # pixdim[1..7]
    toffset: float
    xyzt_units: int
    qform_code: int
    sform_code: int
    srow: np.ndarray  # (3, 4) sform rows, RAS

    @property
    def time_unit(self) -> str:
        return _TIME_UNIT_NAME.get(self.xyzt_units & 0x38, "unknown")

    def sform_axes_deviation(self) -> float:
        """Largest |cosine| between two sform axes (0 for orthogonal axes; nan when no sform)."""
        if self.sform_code <= 0:
            return float("nan")
        axes = self.srow[:, :3] / np.linalg.norm(self.srow[:, :3], axis=0)
        return float(np.max(np.abs(axes.T @ axes - np.eye(3))))

    def sform_direction_lps(self) -> np.ndarray:
        """Unit-length sform axes (columns) in LPS, as ITK's direction would hold them."""
        axes = self.srow[:, :3] / np.linalg.norm(self.srow[:, :3], axis=0)
        return np.diag([-1.0, -1.0, 1.0]) @ axes

    def sform_scales_match(self, tol: float = 1e-3) -> bool:
        """True when the sform axes carry the voxel sizes (ACDC writes unit-length axes instead)."""
        norms = np.linalg.norm(self.srow[:, :3], axis=0)
        return bool(np.allclose(norms, self.pixdim[:3], rtol=tol))


def read_nifti_header(path: Path) -> NiftiHeader | None:
    """The header of a ``.nii``/``.nii.gz`` file; None when it is not a NIfTI-1/2 file."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read(540)
    except (OSError, EOFError):
        return None
    for e in ("<", ">"):
        if len(raw) >= 348 and int(np.frombuffer(raw, e + "i4", 1)[0]) == 348:
            return _nifti1(raw, e)
        if len(raw) >= 540 and int(np.frombuffer(raw, e + "i4", 1)[0]) == 540:
            return _nifti2(raw, e)
    return None


def _nifti1(raw: bytes, e: str) -> NiftiHeader:
    dim = np.frombuffer(raw, e + "i2", 8, 40)
    return NiftiHeader(
        dims=tuple(int(d) for d in dim[1 : 1 + max(0, min(int(dim[0]), 7))]),
        pixdim=tuple(float(p) for p in np.frombuffer(raw, e + "f4", 7, 80)),
        toffset=float(np.frombuffer(raw, e + "f4", 1, 136)[0]),
        xyzt_units=int(raw[123]),
        qform_code=int(np.frombuffer(raw, e + "i2", 1, 252)[0]),
        sform_code=int(np.frombuffer(raw, e + "i2", 1, 254)[0]),
        srow=np.frombuffer(raw, e + "f4", 12, 280).astype(float).reshape(3, 4),
    )


def _nifti2(raw: bytes, e: str) -> NiftiHeader:
    dim = np.frombuffer(raw, e + "i8", 8, 16)
    return NiftiHeader(
        dims=tuple(int(d) for d in dim[1 : 1 + max(0, min(int(dim[0]), 7))]),
        pixdim=tuple(float(p) for p in np.frombuffer(raw, e + "f8", 7, 112)),
        toffset=float(np.frombuffer(raw, e + "f8", 1, 216)[0]),
        xyzt_units=int(np.frombuffer(raw, e + "i4", 1, 500)[0]),
        qform_code=int(np.frombuffer(raw, e + "i4", 1, 344)[0]),
        sform_code=int(np.frombuffer(raw, e + "i4", 1, 348)[0]),
        srow=np.frombuffer(raw, e + "f8", 12, 400).astype(float).reshape(3, 4),
    )


def frame_step_ms(header: NiftiHeader) -> tuple[float | None, str]:
    """Time between frames in ms from ``pixdim[4]`` and its unit, and how it was read.

    ITK writes every 4D NIfTI with the unit "seconds" whatever the step holds, and older
    CardiacSSL files hold milliseconds under that label, so a step in seconds that would
    be implausible for a cine (a frame every 30 s) is read as milliseconds. A step that is
    plausible in no unit (ACDC's 1.0) gives None: the frame times are unknown.
    """
    raw = header.pixdim[3] if len(header.pixdim) > 3 else 0.0
    if not np.isfinite(raw) or raw <= 0:
        return None, "no time step in the header"
    unit = header.xyzt_units & 0x38
    lo, hi = PLAUSIBLE_STEP_MS
    candidates = [(raw * _TIME_UNIT_MS[unit], header.time_unit)] if unit in _TIME_UNIT_MS else []
    if unit in (0, 8):  # unknown, or ITK's blanket "seconds"
        candidates.append((raw, "ms (the header's unit does not fit a cine)" if unit else "ms (no unit given)"))
    for step, how in candidates:
        if lo <= step <= hi:
            return float(f"{step:.6g}"), f"pixdim[4] = {raw:g} {how}"  # float32 noise off: 40.0, not 39.9999991
    return None, f"pixdim[4] = {raw:g} ({header.time_unit}) is not a plausible cine frame step"
