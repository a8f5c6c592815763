"""Propagation through a real cine: Sunnybrook, ED corrected (manual LV + MYO), carried to ES, LV scored.

The three Sunnybrook GE cines have 20 phases and manual contours at ED and ES only, without RV.
The model segments every phase (cached outside the repository); on the ED slices with both
contours its LV and MYO are replaced by the manual ones (its RV kept); then the correction is carried
to ES chained through the phases in between, or directly, or by re-segmenting ES with the model's
classes weighed to agree with the corrected ED (``calibrate``), and the ES LV is scored on the slices
contoured at ES. EF uses the LV volume of the slices contoured at ED and at ES. Deterministic.

    PYTHONPATH=. python benchmarks/propagation_sunnybrook.py --sunnybrook ../shared/data/sunnybrook
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def lv_dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * ((a == 1) & (b == 1)).sum() / max((a == 1).sum() + (b == 1).sum(), 1))


def predict(cine, model: str, cache: Path) -> np.ndarray:
    path = cache / model / "sunnybrook" / f"{cine.name}.npy"
    if path.is_file():
        return np.load(path)
    from CardiacSSLLib.inference import segment_cine

    pred = segment_cine(model, cine, device="cpu")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, pred)
    return pred


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sunnybrook", default="../shared/data/sunnybrook")
    ap.add_argument("--model", default="acdc-unet16-v2")
    ap.add_argument("--cache", default="/work/runs/qc-cache")
    args = ap.parse_args()
    from CardiacSSLLib.io.datasets import list_sunnybrook, load_sunnybrook
    from CardiacSSLLib.propagation.calibrate import propagate_by_calibration
    from CardiacSSLLib.propagation.propagate import PropagationConfig, propagate

    variants = {
        "chained fused": PropagationConfig(),
        "chained registration": PropagationConfig(fusion="registration"),
        "direct fused": PropagationConfig(chain=False),
        "direct registration": PropagationConfig(fusion="registration", chain=False),
    }
    rows: dict[str, list] = {}
    for scd in list_sunnybrook(args.sunnybrook):
        cine = load_sunnybrook(args.sunnybrook, scd)
        pred = predict(cine, args.model, Path(args.cache))
        lv_rows = cine.meta["lv_labelled"]
        frames = [int(t) for t in np.flatnonzero(lv_rows.any(1))]  # ES frames carry the LV contour only
        ed = max(frames, key=lambda t: (cine.label[t] == 1).sum())
        es = min(frames, key=lambda t: (cine.label[t] == 1).sum())
        ml = cine.geometry.voxel_volume_ml()
        ed_z, es_z = np.flatnonzero(lv_rows[ed]), np.flatnonzero(lv_rows[es])
        labels = pred.copy()
        for z in np.flatnonzero(cine.labelled[ed]):
            sl = labels[ed, z]
            sl[(sl == 1) | (sl == 2)] = 0
            manual = cine.label[ed, z]
            sl[manual > 0] = manual[manual > 0]
        edv = (labels[ed, ed_z] == 1).sum() * ml
        true_ef = 100 * (1 - (cine.label[es, es_z] == 1).sum() / max((cine.label[ed, ed_z] == 1).sum(), 1))
        spacing = (cine.geometry.spacing[1], cine.geometry.spacing[0])
        results = {"uncorrected": (pred[es], (pred[ed, ed_z] == 1).sum() * ml), "model, ED corrected": (pred[es], edv)}
        for name, config in variants.items():
            out = propagate(cine.image, labels, [ed], spacing, config, targets=[es])
            results[name] = (out[es], edv)
        out = propagate_by_calibration(args.model, cine, labels, [ed], [es], device="cpu")
        results["calibrate"] = (out[es], edv)
        print(f"{scd}: {cine.n_frames} phases, ED {ed}, ES {es} ({(es - ed) % cine.n_frames} phases apart)")
        for name, (es_label, ed_volume) in results.items():
            esv = (es_label[es_z] == 1).sum() * ml
            ef = 100 * (1 - esv / max(ed_volume, 1e-6))
            dice = lv_dice(es_label[es_z], cine.label[es, es_z])
            rows.setdefault(name, []).append((dice, ef - true_ef))
            print(f"  {name:<22} ES LV Dice {dice:.3f}  EF error {ef - true_ef:+.1f}")
    print(f"\n{'ES from':<22} {'ES LV Dice':>10} {'EF MAE':>7}")
    for name, vals in rows.items():
        arr = np.array(vals)
        print(f"{name:<22} {arr[:, 0].mean():10.3f} {np.abs(arr[:, 1]).mean():7.2f}")


if __name__ == "__main__":
    main()
