"""Unlabelled 2D frames for pretraining, gathered from every source the library reads.

Every phase of every slice of a cine becomes one frame; each (cine, phase) stack is one
"volume" and each frame keeps its relative slice position, 0 at the base and 1 at the apex, for
the position-aware methods (PCL, Chaitanya's partitions): with a real geometry the apex is the
end the slice normal points to along the heart's long axis (towards patient left, anterior,
inferior); without one (the ACDC HDF5) the stored order, base first, is kept. Frames are normalised
per slice with ``preprocess.normalize_intensity`` (robust percentiles to 0..1) and brought to
the scale fine-tuning and inference use: resampled to ``target_spacing`` mm when the pixel
spacing is known (the ACDC HDF5 takes it from its ``acdc_info.csv``), native pixels
otherwise. Each frame is then centre-cropped
or zero-padded to a ``canvas`` x ``canvas`` square (``canvas_size(size)``, larger than the
training crop so the engine can take random ``size`` x ``size`` crops) and kept in memory as
float16.

Source specifications (command line and :class:`PretrainConfig`):
  ``acdc:<root>[:split,split]``  SSL4MIS ACDC HDF5 (default every split; labels never read)
  ``sunnybrook:<root>``          every Sunnybrook cine (all phases)
  ``phantom[:n]``                ``n`` synthetic cines (tests, demos)
  ``<path>``                     anything ``CardiacSSLLib.io.load_cine`` reads
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.methods.base import FrameMeta

log = logging.getLogger(__name__)

ACDC_SPLITS = ("train", "val", "test")


@dataclass
class UnlabelledFrames:
    images: torch.Tensor  # (N, 1, canvas, canvas) float16 in [0, 1]
    volume: np.ndarray  # (N,) int64
    position: np.ndarray  # (N,) float32 in [0, 1]
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def meta(self) -> FrameMeta:
        return FrameMeta(volume=self.volume, position=self.position)

    @property
    def n_volumes(self) -> int:
        return int(np.unique(self.volume).size)


def canvas_size(size: int) -> int:
    """Stored frame size for training crops of ``size`` (room for random translations)."""
    return size + size // 2


def to_canvas(
    stack: np.ndarray, canvas: int, spacing_yx: tuple[float, float] | None = None, target_spacing: float | None = None
) -> torch.Tensor:
    """(n, H, W) normalised slices -> (n, 1, canvas, canvas): resample to ``target_spacing`` when the
    spacing is known, then centre-crop / zero-pad."""
    from CardiacSSLLib.preprocess import plan_grid, to_network

    t = torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32))[:, None]
    grid = plan_grid(tuple(t.shape[-2:]), spacing_yx, target_spacing, divisor=1)
    t = to_network(t, grid)
    h, w = t.shape[-2:]
    top, left = (h - canvas) // 2, (w - canvas) // 2
    t = t[..., max(top, 0) : max(top, 0) + canvas, max(left, 0) : max(left, 0) + canvas]
    h, w = t.shape[-2:]
    pad = ((canvas - w) // 2, canvas - w - (canvas - w) // 2, (canvas - h) // 2, canvas - h - (canvas - h) // 2)
    return F.pad(t, pad).clamp(0, 1)


# base -> apex points to the patient's left, anterior and inferior: +x, -y, -z in LPS
APEX_DIRECTION_LPS = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)


def _positions(n_slices: int, apex_first: bool = False) -> np.ndarray:
    pos = np.linspace(0.0, 1.0, n_slices, dtype=np.float32) if n_slices > 1 else np.zeros(1, np.float32)
    return pos[::-1].copy() if apex_first else pos


def apex_first(cine: Cine) -> bool:
    """True when slice index 0 is the apex (the slice normal points towards the base)."""
    if not cine.geometry.spacing_known:
        return False  # no geometry (SSL4MIS ACDC): stored base first
    normal = cine.geometry.direction_matrix[:, 2]
    return float(normal @ APEX_DIRECTION_LPS) < 0


def _normalise(stack: np.ndarray) -> np.ndarray:
    from CardiacSSLLib.preprocess import normalize_intensity

    return normalize_intensity(stack)


class _Builder:
    def __init__(self, size: int, target_spacing: float | None) -> None:
        self.canvas, self.target_spacing = canvas_size(size), target_spacing
        self.images: list[torch.Tensor] = []
        self.volume: list[np.ndarray] = []
        self.position: list[np.ndarray] = []
        self.n_volumes = 0
        self.sources: list[str] = []

    def add_stack(
        self, stack: np.ndarray, spacing_yx: tuple[float, float] | None = None, reverse: bool = False
    ) -> None:
        """One 3D stack (Z, H, W) of raw intensities; ``spacing_yx`` in mm when known."""
        try:
            norm = _normalise(stack)
        except InputError as exc:
            log.warning("skipping a stack: %s", exc)
            return
        self.images.append(to_canvas(norm, self.canvas, spacing_yx, self.target_spacing).half())
        self.volume.append(np.full(stack.shape[0], self.n_volumes, dtype=np.int64))
        self.position.append(_positions(stack.shape[0], reverse))
        self.n_volumes += 1

    def add_cine(self, cine: Cine) -> None:
        g = cine.geometry
        spacing = (float(g.spacing[1]), float(g.spacing[0])) if g.spacing_known else None
        reverse = apex_first(cine)
        for t in range(cine.image.shape[0]):
            self.add_stack(cine.image[t], spacing, reverse)
        self.sources.append(f"{cine.name or cine.source} ({cine.image.shape[0]}x{cine.image.shape[1]} frames)")

    def build(self) -> UnlabelledFrames:
        if not self.images:
            raise InputError("no unlabelled frames found in the given sources")
        return UnlabelledFrames(
            images=torch.cat(self.images),
            volume=np.concatenate(self.volume),
            position=np.concatenate(self.position),
            sources=self.sources,
        )


_SLICE = re.compile(r"^(patient\d+_frame\d+)_slice_(\d+)$")


def add_acdc(builder: _Builder, root: Path, splits: tuple[str, ...] = ACDC_SPLITS) -> None:
    """SSL4MIS ACDC: training slices regrouped into their volumes, val/test whole volumes."""
    from CardiacSSLLib.io.datasets import load_acdc_h5_slices, load_acdc_h5_volume, read_acdc_info, read_list

    n0 = builder.n_volumes
    info = read_acdc_info(root)  # spacing (when the dataset has acdc_info.csv): frames at the model's mm scale
    for split in splits:
        for vol in read_list(root, split):
            row = info.get(vol.split("_")[0])
            spacing = (row.spacing[1], row.spacing[0]) if row else None
            path = root / "data" / f"{vol}.h5"
            if path.is_file():
                builder.add_stack(load_acdc_h5_volume(path).image[0], spacing)
                continue
            slices = sorted(
                (int(m.group(2)), p.stem)
                for p in (root / "data").glob(f"{vol}_slice_*.h5")
                if (m := _SLICE.match(p.stem))
            )
            if not slices:
                raise InputError(f"ACDC volume {vol} of {split}.list has neither a volume nor slice files in {root}")
            images = [img for img, _ in load_acdc_h5_slices(root, [name for _, name in slices])]
            builder.add_stack(np.stack(images), spacing)
    builder.sources.append(f"ACDC {root} {'+'.join(splits)}: {builder.n_volumes - n0} volumes")


def add_sunnybrook(builder: _Builder, root: Path) -> None:
    from CardiacSSLLib.io.datasets import list_sunnybrook, load_sunnybrook

    for scd in list_sunnybrook(root):
        builder.add_cine(load_sunnybrook(root, scd))


def add_phantom(builder: _Builder, n: int) -> None:
    from CardiacSSLLib.phantom import make_phantom

    for seed in range(n):
        builder.add_cine(make_phantom(n_frames=4, n_slices=8, size=128, seed=seed))


def load_unlabelled(specs: list[str], size: int, target_spacing: float | None = 1.5) -> UnlabelledFrames:
    """Gather frames from source specifications (see the module docstring) for ``size`` crops."""
    if not specs:
        raise InputError("give at least one unlabelled data source (e.g. acdc:/data/acdc, sunnybrook:/data/sb)")
    builder = _Builder(size, target_spacing)
    for spec in specs:
        kind, _, rest = spec.partition(":")
        if kind == "acdc" and rest:
            root, _, splits = rest.partition(":")
            chosen = tuple(s for s in splits.split(",") if s) or ACDC_SPLITS
            add_acdc(builder, _existing(root), chosen)
        elif kind == "sunnybrook" and rest:
            add_sunnybrook(builder, _existing(rest))
        elif kind == "phantom":
            add_phantom(builder, int(rest) if rest else 2)
        else:
            from CardiacSSLLib.io import load_cine

            builder.add_cine(load_cine(_existing(spec)))
    frames = builder.build()
    log.info("%d unlabelled frames from %d volumes", len(frames), frames.n_volumes)
    return frames


def frames_from_cines(cines: list[Cine], size: int, target_spacing: float | None = 1.5) -> UnlabelledFrames:
    """In-memory cines (e.g. from the Slicer scene or tests) as unlabelled frames."""
    builder = _Builder(size, target_spacing)
    for cine in cines:
        builder.add_cine(cine)
    return builder.build()


def _existing(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"unlabelled data source {path} does not exist")
    return p
