"""Does carrying a corrected ED to ES help? ACDC: ED replaced by its manual label, ES scored.

For every patient of a split: the model segments ED and ES (cached, ``acdc_cache.py``); the
user's correction is simulated by the manual ED label; ED is registered to ES directly (the
SSL4MIS ACDC copy has only these two phases, no cine between them to chain through) and the
manual ED label is carried to ES and fused with the model's ES prediction by each fusion rule;
``calibrate`` re-segments ES with the model's classes weighed to agree with the manual ED.
Prints ES mean Dice (LV, MYO, RV) and LV ESV / EF error per patient and on average:
``model`` (uncorrected), ``ed-only`` (ED corrected, ES left to the model) and each propagation.
Deterministic (demons registration, fixed settings). Tune on ``val``; ``test`` is reported once.

    PYTHONPATH=. python benchmarks/propagation.py --split val
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from acdc_cache import AcdcCase, inference_note, load_case, patients

STRUCTURES = (1, 2, 3)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(
        np.mean([2 * ((a == s) & (b == s)).sum() / max((a == s).sum() + (b == s).sum(), 1) for s in STRUCTURES])
    )


def lv_ef(ed: np.ndarray, es: np.ndarray, voxel_ml: float) -> tuple[float, float]:
    edv, esv = (ed == 1).sum() * voxel_ml, (es == 1).sum() * voxel_ml
    return float(esv), float(100 * (edv - esv) / max(edv, 1e-6))


def warped_es(case: AcdcCase, cache: Path, config) -> np.ndarray:
    """Manual ED carried to ES by registration only (cached per settings)."""
    from CardiacSSLLib.propagation.propagate import propagate

    path = cache / "warped" / f"{case.patient}.npy"
    if path.is_file():
        return np.load(path)
    labels = case.pred.copy()
    labels[0] = case.manual[0]
    out = propagate(case.image, labels, [0], (case.spacing[1], case.spacing[0]), config)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def adapted_es(case: AcdcCase, acdc: str, model: str) -> np.ndarray:
    """ES re-segmented by the model fine-tuned on the manual ED (:mod:`CardiacSSLLib.propagation.adapt`)."""
    from acdc_cache import two_frame_cine

    from CardiacSSLLib.propagation.adapt import propagate_by_adaptation

    labels = case.pred.copy()
    labels[0] = case.manual[0]
    cine = two_frame_cine(acdc, case.patient)
    return propagate_by_adaptation(model, cine, labels, [0], [1], device="cpu")[1]


def calibrated_es(case: AcdcCase, acdc: str, model: str) -> np.ndarray:
    """ES re-segmented with the model's classes weighed to agree with the manual ED (:mod:`.calibrate`)."""
    from acdc_cache import two_frame_cine

    from CardiacSSLLib.propagation.calibrate import propagate_by_calibration

    labels = case.pred.copy()
    labels[0] = case.manual[0]
    cine = two_frame_cine(acdc, case.patient)
    return propagate_by_calibration(model, cine, labels, [0], [1], device="cpu")[1]


def ceilings(case: AcdcCase, acdc: str, model: str) -> dict[str, np.ndarray]:
    """ES labels built with the manual ES itself, which no user has: upper bounds on what a
    method of each kind could gain from any correction.

    ``ceiling-calibrate``: the class factors fitted on the true ES (the best class balance);
    ``ceiling-extent``: the model's ES with every structure removed from the slices where the
    annotator drew none (perfect stack ends, no new drawing); ``ceiling-extent+missing``: also
    the annotator's label pasted on slices the model left without a structure.
    """
    from acdc_cache import two_frame_cine

    from CardiacSSLLib.inference import segment_cine, segment_probabilities
    from CardiacSSLLib.postprocess import DEFAULT_STEPS
    from CardiacSSLLib.propagation.calibrate import fit_factors

    cine = two_frame_cine(acdc, case.patient)
    probabilities, cfg = segment_probabilities(model, cine, [1], device="cpu")
    steps = (cfg.get("postprocess") or {}).get("steps", DEFAULT_STEPS)
    factors = fit_factors(probabilities, case.manual[1:2], steps)
    out = {"ceiling-calibrate": segment_cine(model, cine, [1], device="cpu", class_factors=(1.0, *factors))[0]}
    from CardiacSSLLib.propagation.fusion import fuse_extent

    # fuse_extent with the true ES as the "corrected frame": its slices decide, nothing is warped
    model_es, manual = case.pred[1], case.manual[1]
    extent, missing = fuse_extent(manual, np.zeros_like(manual), model_es), fuse_extent(manual, manual, model_es)
    out["ceiling-extent"], out["ceiling-extent+missing"] = extent, missing
    return out


def variants(case: AcdcCase, warped: np.ndarray, bands: list[float], offsets_mm: list[float]) -> dict[str, np.ndarray]:
    from CardiacSSLLib.propagation.fusion import fuse_band, fuse_extent

    source, model = case.manual[0], case.pred[1]
    band_px = [b / min(case.spacing[:2]) for b in bands]
    from CardiacSSLLib.propagation.offsets import transfer_offsets

    out = {"model": model, "registration": warped, "extent": fuse_extent(source, warped, model)}
    for mm in offsets_mm:
        shifted = transfer_offsets(case.pred[0], source, model, mm / min(case.spacing[:2]))
        out[f"offset{mm:g}mm"] = shifted
        out[f"offset{mm:g}mm+extent"] = fuse_extent(source, warped, shifted)
    for b, px in zip(bands, band_px, strict=True):
        out[f"band{b:g}mm"] = fuse_band(warped, model, px)
        out[f"extent+band{b:g}mm"] = fuse_extent(source, warped, fuse_band(warped, model, px))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--acdc", default="../shared/data/acdc")
    ap.add_argument("--split", default="val")
    ap.add_argument("--model", default="acdc-unet16-v2")
    ap.add_argument("--cache", default="/work/runs/qc-cache")
    ap.add_argument("--bands", default="3,8", help="fusion band widths (mm) to compare")
    ap.add_argument("--offsets", default="2,4", help="largest edge shifts (mm) carried by the offset rule")
    ap.add_argument("--patients", default="", help="comma list of patients instead of the whole split")
    ap.add_argument("--adapt", action="store_true", help="also fast adaptation (about 2 min per patient on 1 CPU)")
    ap.add_argument("--no-calibrate", action="store_true", help="leave out calibration (it runs the model twice)")
    ap.add_argument("--ceilings", action="store_true", help="also the upper bounds built from the true ES labels")
    ap.add_argument("--limit", type=int, default=0, help="first N patients only (a quick look)")
    ap.add_argument("--per-patient", default="extent", help="variant printed per patient next to the model")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from CardiacSSLLib.propagation.propagate import PropagationConfig

    config = PropagationConfig(fusion="registration", chain=False)
    cache = Path(args.cache) / args.model / "propagation"
    bands = [float(b) for b in args.bands.split(",") if b]
    offsets = [float(b) for b in args.offsets.split(",") if b]
    rows: dict[str, list[tuple[float, float, float]]] = {}
    print(
        f"{'patient':<11} {'group':<5} {'ES Dice model':>13} {args.per_patient:>9} "
        f"{'EF err model':>12} {'ED-only':>8} {args.per_patient:>9}"
    )
    chosen = args.patients.split(",") if args.patients else patients(args.acdc, args.split)[: args.limit or None]
    for p in chosen:
        case = load_case(args.acdc, p, args.model, args.cache)
        _, ef_true = lv_ef(case.manual[0], case.manual[1], case.voxel_ml)
        esv_true, _ = lv_ef(case.manual[0], case.manual[1], case.voxel_ml)
        results = variants(case, warped_es(case, cache, config), bands, offsets)
        if not args.no_calibrate:
            results["calibrate"] = calibrated_es(case, args.acdc, args.model)
        if args.ceilings:
            results.update(ceilings(case, args.acdc, args.model))
        if args.adapt:
            results["adapt"] = adapted_es(case, args.acdc, args.model)
        uncorrected = lv_ef(case.pred[0], case.pred[1], case.voxel_ml)
        for name, es in results.items():
            esv, ef = lv_ef(case.manual[0], es, case.voxel_ml)
            rows.setdefault(name, []).append((dice(es, case.manual[1]), esv - esv_true, ef - ef_true))
        rows.setdefault("uncorrected", []).append(
            (dice(case.pred[1], case.manual[1]), uncorrected[0] - esv_true, uncorrected[1] - ef_true)
        )
        m, u, v = rows["model"][-1], rows["uncorrected"][-1], rows[args.per_patient][-1]
        print(f"{p:<11} {case.group:<5} {m[0]:13.3f} {v[0]:9.3f} {abs(u[2]):12.1f} {abs(m[2]):8.1f} {abs(v[2]):9.1f}")
    big = [i for i, r in enumerate(rows["uncorrected"]) if abs(r[2]) > 5]
    print(
        f"\n{args.split}: {len(rows['model'])} patients, {inference_note()}; "
        f"EF error > 5 points uncorrected: {len(big)}"
    )
    print(f"{'ES from':<22} {'ES Dice':>8} {'ESV MAE ml':>11} {'EF MAE':>7} {'EF MAE (>5 group)':>18}")
    for name, vals in rows.items():
        arr = np.array(vals)
        grp = f"{np.abs(arr[big, 2]).mean():.2f}" if big else "-"
        label = {"uncorrected": "uncorrected (ED too)", "model": "model, ED corrected"}.get(name, name)
        mae = np.abs(arr[:, 1:]).mean(0)
        print(f"{label:<22} {arr[:, 0].mean():8.4f} {mae[0]:11.2f} {mae[1]:7.2f} {grp:>18}")


if __name__ == "__main__":
    main()
