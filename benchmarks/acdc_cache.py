"""Model predictions of ACDC ED + ES, cached per patient (shared by the propagation and QC benchmarks).

Each patient's ED and ES volumes are stacked into a two-frame cine (same slices, the spacing of
``acdc_info.csv``) and segmented with the model, plainly and flipped along each in-plane axis.
The cache (``.npz`` per model and patient) lives outside the repository (``--cache``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class AcdcCase:
    patient: str
    image: np.ndarray  # (2, Z, Y, X) float32: ED, ES
    manual: np.ndarray  # (2, Z, Y, X) canonical labels
    pred: np.ndarray  # (2, Z, Y, X) model labels
    flips: list[np.ndarray]  # flipped predictions, flipped back
    spacing: tuple[float, float, float]  # (sx, sy, sz) mm
    group: str

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0


def patients(acdc: str | Path, split: str) -> list[str]:
    from CardiacSSLLib.io.datasets import read_list

    return sorted({n.split("_")[0] for n in read_list(acdc, split)})


def two_frame_cine(acdc: str | Path, patient: str):
    from dataclasses import replace

    from CardiacSSLLib.io.datasets import load_acdc_h5_volume

    ed = load_acdc_h5_volume(Path(acdc) / "data" / f"{patient}_frame01.h5")
    es = load_acdc_h5_volume(Path(acdc) / "data" / f"{patient}_frame02.h5")
    return replace(
        ed,
        image=np.concatenate([ed.image, es.image]),
        label=np.concatenate([ed.label, es.label]),
        labelled=np.ones((2, ed.n_slices), dtype=bool),
        name=patient,
    )


def inference_note() -> str:
    """Which precision ``auto`` runs on this CPU: the labels of bf16 (CPUs with AMX) and fp32
    inference differ in a few voxels, so every benchmark prints it next to its numbers."""
    import torch

    from CardiacSSLLib.device import cpu_has_bf16, inference_precision

    ran = inference_precision(torch.device("cpu"), "auto")
    return f"{ran} inference (auto on this CPU: {'native' if cpu_has_bf16() else 'no native'} bf16)"


def load_case(acdc: str | Path, patient: str, model: str, cache: str | Path) -> AcdcCase:
    """The patient's case, segmenting and caching it on first use (one cache per inference precision)."""
    import torch

    from CardiacSSLLib.device import inference_precision

    cine = two_frame_cine(acdc, patient)
    ran = inference_precision(torch.device("cpu"), "auto")
    path = Path(cache) / model.replace("/", "_") / ran / f"{patient}.npz"
    if path.is_file():
        stored = np.load(path)
        pred, flips = stored["pred"], [stored[k] for k in sorted(stored.files) if k.startswith("flip")]
    else:
        from CardiacSSLLib.inference import segment_cine
        from CardiacSSLLib.quality.confidence import flipped_predictions

        log.info("segmenting %s", patient)
        pred = segment_cine(model, cine, device="cpu")
        flips = flipped_predictions(model, cine, device="cpu")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, pred=pred, **{f"flip{i}": f for i, f in enumerate(flips)})
        tmp.replace(path)
    return AcdcCase(
        patient, cine.image, cine.label, pred, flips, tuple(cine.geometry.spacing), cine.meta.get("group", "")
    )


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="fill the prediction cache")
    ap.add_argument("--acdc", default="../shared/data/acdc")
    ap.add_argument("--model", default="default")
    ap.add_argument("--cache", default="/work/runs/qc-cache")
    ap.add_argument("--splits", default="val,test")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    for split in args.splits.split(","):
        for p in patients(args.acdc, split):
            load_case(args.acdc, p, args.model, args.cache)
