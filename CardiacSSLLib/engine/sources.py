"""Where labelled training and validation data come from, resolved into slices and cines."""

from __future__ import annotations

import random
from pathlib import Path

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError


def acdc_patients(root: str | Path, split: str = "train") -> list[str]:
    """Patient ids (``patientNNN``) of an SSL4MIS ACDC split, in list order."""
    from CardiacSSLLib.io.datasets import read_list

    seen: dict[str, None] = {}
    for name in read_list(root, split):
        seen.setdefault(name.split("_")[0], None)
    return list(seen)


def sample_patients(patients: list[str], n: int, seed: int) -> list[str]:
    """``n`` patients chosen by ``seed`` (the few-shot protocols vary which patients too)."""
    if n > len(patients):
        raise InputError(f"asked for {n} labelled patients but only {len(patients)} are available")
    return sorted(random.Random(seed).sample(sorted(patients), n))


def acdc_training_pairs(root: str | Path, patients: list[str]):
    """All labelled 2D slices (ED and ES) of ``patients`` from the SSL4MIS HDF5 layout.

    Items are ``(image2d, label2d, (sy, sx) or None)``: the in-plane spacing from the
    dataset's ``acdc_info.csv`` so training sees the physical resolution inference uses.
    """
    from CardiacSSLLib.io.datasets import load_acdc_h5_slices

    root = Path(root)
    wanted = set(patients)
    names = sorted(p.stem for p in (root / "data").glob("patient*_frame*_slice_*.h5") if p.stem.split("_")[0] in wanted)
    if not names:
        # val/test patients are stored as whole volumes: use their slices
        pairs = []
        for cine in acdc_volumes(root, [f"{p}_frame{f}" for p in patients for f in ("01", "02")]):
            g = cine.geometry
            spacing = (g.spacing[1], g.spacing[0]) if g.spacing_known else None
            pairs += [(cine.image[0, z], cine.label[0, z], spacing) for z in range(cine.n_slices)]
        return pairs
    return load_acdc_h5_slices(root, names, with_spacing=True)


def acdc_volumes(root: str | Path, names: list[str]) -> list[Cine]:
    """Whole labelled volumes (``patientNNN_frameNN``) as one-frame cines (spacing from ``acdc_info.csv``)."""
    from CardiacSSLLib.io.datasets import load_acdc_h5_volume

    root = Path(root)
    out = []
    for name in names:
        path = root / "data" / f"{name}.h5"
        if not path.exists():
            raise InputError(f"ACDC volume {path} not found (whole volumes exist for val/test patients only)")
        out.append(load_acdc_h5_volume(path))
    return out


def split_cases(cases: list[Cine], val_fraction: float, seed: int) -> tuple[list[Cine], list[Cine]]:
    """Hold out whole cases for validation (at least one when there are 3 or more)."""
    if len(cases) < 3 or val_fraction <= 0:
        return list(cases), []
    order = list(range(len(cases)))
    random.Random(seed).shuffle(order)
    n_val = max(1, int(round(len(cases) * val_fraction)))
    val = [cases[i] for i in sorted(order[:n_val])]
    train = [cases[i] for i in sorted(order[n_val:])]
    return train, val
