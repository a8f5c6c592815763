"""DICOM series of a folder: which one (or which stack of one-slice series) is the short-axis cine.

Rule 2 of :mod:`.dicom`: series are grouped by SeriesInstanceUID and the cine is chosen
explicitly (``series=``), or found when only one reading of the folder is possible.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io.dicom_headers import (
    ORIENTATION_TOL,
    POSITION_TOL_MM,
    SPACING_TOL,
    DicomHeader,
    cluster_positions,
)

log = logging.getLogger(__name__)

MIN_STACK_POSITIONS = 3  # a short-axis stack covers the ventricles; long-axis cines are 1 slice


@dataclass
class SeriesSummary:
    """One DICOM series and how it looks as a cine candidate."""

    uid: str
    headers: list[DicomHeader]

    @property
    def first(self) -> DicomHeader:
        return self.headers[0]

    @property
    def has_geometry(self) -> bool:
        return all(h.position is not None and h.orientation is not None for h in self.headers)

    @property
    def n_positions(self) -> int:
        if not self.has_geometry:
            return 0
        return len(cluster_positions(self.headers, self.first.normal))

    @property
    def max_images_per_position(self) -> int:
        if not self.has_geometry:
            return 0
        return max(len(c) for c in cluster_positions(self.headers, self.first.normal))

    @property
    def is_mr(self) -> bool:
        return all(h.modality == "MR" for h in self.headers)

    @property
    def single_orientation(self) -> bool:
        ref = self.first.orientation
        return all(np.allclose(h.orientation, ref, atol=ORIENTATION_TOL) for h in self.headers)

    @property
    def cine_like(self) -> bool:
        """MR, one orientation (not a tri-plane localizer), several images at one position."""
        return self.is_mr and self.has_geometry and self.single_orientation and self.max_images_per_position > 1

    def describe(self) -> str:
        desc = self.first.description or "no description"
        return (
            f"series number {self.first.series_number or '?'} ({desc}, {self.first.modality or '?'}): "
            f"{len(self.headers)} images, UID {self.uid}"
        )


def group_series(headers: list[DicomHeader]) -> list[SeriesSummary]:
    groups: dict[str, list[DicomHeader]] = defaultdict(list)
    for h in headers:
        groups[h.series_uid].append(h)
    return [SeriesSummary(uid, hs) for uid, hs in groups.items()]


def select_series(series: list[SeriesSummary], selector: str | int | None, folder: Path) -> list[SeriesSummary]:
    listing = "\n  ".join(s.describe() for s in series)
    if selector is not None:
        key = str(selector).strip()
        chosen = [s for s in series if key in (s.uid, s.first.series_number, s.first.description)]
        if not chosen:
            raise InputError(f"no series matches {selector!r} in {folder}; available:\n  {listing}")
        if len(chosen) > 1:
            raise InputError(f"{len(chosen)} series match {selector!r} in {folder}; use the UID:\n  {listing}")
        return chosen

    mr = [s for s in series if s.is_mr]
    if not mr:
        modalities = sorted({h.modality or "unknown" for s in series for h in s.headers})
        raise InputError(
            f"{folder} holds no MR images (modality {', '.join(modalities)}): CardiacSSL segments cardiac cine MRI"
        )
    cine_like = [s for s in mr if s.cine_like]
    if len(cine_like) == 1:
        return cine_like
    if len(cine_like) > 1:
        if _one_series_per_slice(cine_like):
            log.info("stacking %d single-slice cine series into one cine", len(cine_like))
            return cine_like
        stack = _the_short_axis_stack(cine_like)
        if stack is not None:
            ignored = [s for s in cine_like if s not in stack]
            log.warning(
                "%s: using the only multi-slice cine stack (%d series) and ignoring %d other cine series: %s",
                folder,
                len(stack),
                len(ignored),
                "; ".join(s.describe() for s in ignored),
            )
            return stack
        listing = "\n  ".join(s.describe() for s in cine_like)
        raise InputError(
            f"{folder} holds {len(cine_like)} cine series; choose one with series= (series number, "
            f"description or UID):\n  {listing}"
        )
    usable = [s for s in mr if s.has_geometry]
    if len(usable) == 1:
        return usable
    if not usable:
        if any(h.n_frames > 1 for s in mr for h in s.headers):
            raise InputError(
                f"{folder} holds multi-frame DICOM images without per-frame positions (not enhanced MR "
                "images): export the series as classic single-frame DICOM"
            )
        raise InputError(f"the MR images in {folder} lack ImagePositionPatient/ImageOrientationPatient")
    raise InputError(f"{folder} holds {len(usable)} series and none is a cine; choose one with series=:\n  {listing}")


def _the_short_axis_stack(cine_like: list[SeriesSummary]) -> list[SeriesSummary] | None:
    """In a whole-exam export, the one cine stack with >= 3 slice positions, if exactly one exists.

    Candidates are each multi-position cine series, and each group of single-slice cine
    series that stack (:func:`_one_series_per_slice`). Long-axis cines (2/3/4-chamber) are
    single slices in other orientations and never form such a stack; when two stacks
    qualify the choice is left to the user.
    """
    candidates: list[list[SeriesSummary]] = [[s] for s in cine_like if s.n_positions >= MIN_STACK_POSITIONS]
    singles = [s for s in cine_like if s.n_positions == 1]
    groups: list[list[SeriesSummary]] = []
    for s in singles:
        for g in groups:
            if _one_series_per_slice([*g, s]):
                g.append(s)
                break
        else:
            groups.append([s])
    candidates += [g for g in groups if len(g) >= MIN_STACK_POSITIONS]
    return candidates[0] if len(candidates) == 1 else None


def _one_series_per_slice(cine_like: list[SeriesSummary]) -> bool:
    """True when every cine-like series is one slice of one stack (see the module docstring)."""
    if any(s.n_positions != 1 for s in cine_like):
        return False
    ref = cine_like[0].first
    for s in cine_like:
        h = s.first
        if (
            not np.allclose(h.orientation, ref.orientation, atol=ORIENTATION_TOL)
            or (h.rows, h.columns) != (ref.rows, ref.columns)
            or not np.allclose(h.pixel_spacing, ref.pixel_spacing, rtol=SPACING_TOL)
            or h.frame_of_reference != ref.frame_of_reference
            or len(s.headers) != len(cine_like[0].headers)
        ):
            return False
    depths = sorted(float(s.first.position @ ref.normal) for s in cine_like)
    return bool(np.all(np.diff(depths) > POSITION_TOL_MM))
