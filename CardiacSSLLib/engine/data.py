"""Labelled 2D slice datasets built from cines, the ACDC HDF5 slices and training sets."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.preprocess import normalize_intensity, resample_slice


@dataclass
class LabelledSlice:
    image: np.ndarray  # float32 (H, W), normalised to 0..1 per volume
    label: np.ndarray  # uint8 (H, W), canonical
    source: str = ""


def slices_from_cines(
    cines: Sequence[Cine],
    target_spacing: float | None = None,
    include_empty: bool = False,
) -> list[LabelledSlice]:
    """Every labelled (frame, slice) of every cine, normalised per volume and resampled in plane.

    Unlabelled slices are skipped; slices with only background are kept only on request
    (their absence of heart is real information but would dominate few-shot sets).
    """
    out: list[LabelledSlice] = []
    for cine in cines:
        if cine.label is None or cine.labelled is None:
            continue
        g = cine.geometry
        factor = (1.0, 1.0)
        if g.spacing_known and target_spacing:
            factor = (g.spacing[1] / target_spacing, g.spacing[0] / target_spacing)  # rows use sy
        for t in cine.labelled_frames():
            vol = normalize_intensity(cine.image[t])
            for z in np.flatnonzero(cine.labelled[t]):
                lab = cine.label[t, z]
                if not include_empty and not lab.any():
                    continue
                img, lab = resample_slice(vol[z], lab, factor)
                out.append(LabelledSlice(img, lab, f"{cine.name}:t{t}:z{z}"))
    return out


def slices_from_arrays(
    items: Sequence[tuple], source: str = "", target_spacing: float | None = None
) -> list[LabelledSlice]:
    """``(image2d, label2d[, (sy, sx)])`` items (e.g. the ACDC HDF5 slices), normalised like inference.

    With a known spacing and ``target_spacing`` each slice is resampled to the physical
    resolution the network will see at inference; without spacing it stays in pixels.
    """
    out = []
    for item in items:
        img, lab = normalize_intensity(item[0]), np.asarray(item[1]).astype(np.uint8)
        spacing = item[2] if len(item) > 2 else None
        if spacing is not None and target_spacing:
            img, lab = resample_slice(img, lab, (spacing[0] / target_spacing, spacing[1] / target_spacing))
        out.append(LabelledSlice(img, lab, source))
    return out


class LabelledSlices(Dataset):
    """Map-style dataset yielding ``{"image": (1,H,W), "label": (1,H,W)}`` after ``transform``."""

    def __init__(self, slices: Sequence[LabelledSlice], transform=None) -> None:
        if not slices:
            from CardiacSSLLib.errors import InputError

            raise InputError("no labelled slices to train on (are the label maps empty?)")
        self.slices = list(slices)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, i: int) -> dict:
        s = self.slices[i]
        item = {"image": s.image[None].astype(np.float32), "label": s.label[None].astype(np.float32)}
        if self.transform is not None:
            with warnings.catch_warnings():
                # background-only slices are valid samples; MONAI warns it cannot balance them
                warnings.filterwarnings("ignore", message="Num foregrounds 0")
                item = self.transform(item)
            if isinstance(item, list):  # RandCrop*d with num_samples returns a list
                item = item[0]
        return {"image": torch.as_tensor(item["image"]).float(), "label": torch.as_tensor(item["label"]).long()}
