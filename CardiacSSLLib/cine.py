"""The one in-memory cine every reader returns and every writer consumes.

Arrays are indexed ``(frame, slice, row, column)`` = ``(t, z, y, x)``, the numpy order
SimpleITK uses. Geometry follows ITK/DICOM conventions in LPS millimetres: ``spacing``
is ``(sx, sy, sz)``, ``direction`` is a 3x3 matrix whose *columns* are the world
directions of the x, y and z index axes, ``origin`` is the centre of voxel (0, 0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from CardiacSSLLib.errors import InputError


@dataclass(frozen=True)
class Geometry:
    """Voxel-to-world mapping of one 3D frame.

    ``spacing_known`` is False when the source discarded it (the SSL4MIS ACDC HDF5):
    spacing then holds 1.0 placeholders that must never be turned into millimetres.
    """

    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    spacing_known: bool = True

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def index_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """World LPS coordinates of continuous indices ``(..., 3)`` in (x, y, z) order."""
        ijk = np.asarray(ijk, dtype=float)
        return np.asarray(self.origin) + (ijk * np.asarray(self.spacing)) @ self.direction_matrix.T

    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres; refuses when spacing is unknown."""
        if not self.spacing_known:
            raise InputError(
                "pixel spacing of this image is unknown (e.g. the ACDC HDF5 layout discards it): "
                "volumes in millilitres cannot be computed"
            )
        return float(np.prod(self.spacing)) / 1000.0

    def isclose(self, other: Geometry, tol: float = 1e-4) -> bool:
        return (
            self.spacing_known == other.spacing_known
            and np.allclose(self.spacing, other.spacing, atol=tol)
            and np.allclose(self.origin, other.origin, atol=tol * 100)
            and np.allclose(self.direction, other.direction, atol=tol)
        )


@dataclass
class Cine:
    """A short-axis cine: ``image`` float32 ``(T, Z, Y, X)`` plus optional labels.

    ``label`` (uint8, same shape) uses the canonical convention of
    :mod:`CardiacSSLLib.labels` (0 background, 1 LV, 2 MYO, 3 RV). ``labelled`` is a
    boolean ``(T, Z)`` mask of the slices that carry a manual annotation (others are
    unlabelled, not background); ``structures`` names the labels annotated at all
    (Sunnybrook has no RV).
    """

    image: np.ndarray
    geometry: Geometry = field(default_factory=Geometry)
    trigger_times_ms: np.ndarray | None = None
    label: np.ndarray | None = None
    labelled: np.ndarray | None = None
    structures: tuple[int, ...] = (1, 2, 3)
    source: str = ""
    name: str = ""
    frame_names: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.ndim != 4:
            raise InputError(f"a cine needs 4 dimensions (frame, slice, row, column), got shape {self.image.shape}")
        if self.label is not None:
            if self.label.shape != self.image.shape:
                raise InputError(f"label shape {self.label.shape} differs from image shape {self.image.shape}")
            if self.labelled is None:
                self.labelled = np.ones(self.image.shape[:2], dtype=bool)
        if self.trigger_times_ms is not None and len(self.trigger_times_ms) != self.n_frames:
            raise InputError("one trigger time per frame is required")

    @property
    def n_frames(self) -> int:
        return int(self.image.shape[0])

    @property
    def n_slices(self) -> int:
        return int(self.image.shape[1])

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.image.shape[1:])  # type: ignore[return-value]

    def frame(self, t: int) -> Cine:
        """A one-frame cine (keeps geometry, label and timing of frame ``t``)."""
        if not -self.n_frames <= t < self.n_frames:
            raise InputError(f"frame {t} out of range: this cine has {self.n_frames} frames")
        sl = slice(t, t + 1) if t >= 0 else slice(self.n_frames + t, self.n_frames + t + 1)
        return replace(
            self,
            image=self.image[sl],
            label=None if self.label is None else self.label[sl],
            labelled=None if self.labelled is None else self.labelled[sl],
            trigger_times_ms=None if self.trigger_times_ms is None else self.trigger_times_ms[sl],
            frame_names=None if self.frame_names is None else self.frame_names[sl],
        )

    def labelled_frames(self) -> list[int]:
        if self.label is None or self.labelled is None:
            return []
        return [int(t) for t in np.flatnonzero(self.labelled.any(axis=1))]
