"""Evaluate a segmentation model on labelled datasets: ACDC (SSL4MIS HDF5) and Sunnybrook.

3D Dice / HD95 / ASSD per structure through :mod:`CardiacSSLLib.metrics.segmentation`.
ACDC HDF5 volumes have no spacing, so their distances are in pixels; Sunnybrook is
scored on its contoured images only (LV and MYO; it has no RV labels).
"""

from __future__ import annotations

import logging
from pathlib import Path

from CardiacSSLLib.engine.progress import CancelToken, Progress

log = logging.getLogger(__name__)


def evaluate_acdc(
    model,
    root: str | Path,
    split: str = "test",
    device: str = "auto",
    tta: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """``{"cases": [...], "summary": ...}`` over the whole volumes of an ACDC split."""
    from CardiacSSLLib.engine.sources import acdc_volumes
    from CardiacSSLLib.inference import load_model, segment_cine
    from CardiacSSLLib.io.datasets import read_list
    from CardiacSSLLib.metrics.segmentation import score_cases, score_volume

    net, _ = load_model(model)
    names = read_list(root, split)[:limit]
    cases = []
    if progress is not None:
        progress.total = len(names)
    for i, name in enumerate(names):
        if cancel is not None:
            cancel.check()
        (cine,) = acdc_volumes(root, [name])
        pred = segment_cine(net, cine, device=device, tta=tta)
        cases.append({"case": name, **score_volume(pred[0], cine.label[0])})
        if progress is not None:
            progress.step(i + 1, case=name, dice={k: v["dice"] for k, v in cases[-1]["structures"].items()})
    return {"dataset": f"acdc:{split}", "cases": cases, "summary": score_cases(cases)}


def evaluate_sunnybrook(
    model,
    root: str | Path,
    device: str = "auto",
    tta: bool = False,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """LV/MYO 3D Dice per contoured frame of each Sunnybrook cine (spacing known: mm distances)."""
    from CardiacSSLLib.inference import load_model, segment_cine
    from CardiacSSLLib.io.datasets import list_sunnybrook, load_sunnybrook
    from CardiacSSLLib.metrics.segmentation import score_cases, score_frames

    net, _ = load_model(model)
    ids = list_sunnybrook(root)
    cases = []
    if progress is not None:
        progress.total = len(ids)
    for i, scd in enumerate(ids):
        if cancel is not None:
            cancel.check()
        cine = load_sunnybrook(root, scd)
        frames = cine.labelled_frames()
        pred = segment_cine(net, cine, frames=frames, device=device, tta=tta)
        gt = cine.label[frames]
        # Sunnybrook has no RV: RV predictions are not errors there
        pred[pred == 3] = 0
        for res in score_frames(pred, gt, cine.geometry, structures=(1, 2), mask=cine.labelled[frames]):
            cases.append({"case": f"{scd}:frame{frames[res['frame']]}", **res})
        if progress is not None:
            progress.step(i + 1, case=scd)
    return {"dataset": "sunnybrook", "cases": cases, "summary": score_cases(cases)}


def format_summary(result: dict) -> str:
    """A small text table: structure x (Dice, HD95, ASSD) means."""
    summ = result["summary"]
    structures = summ.get("structures", summ)
    lines = [f"{result['dataset']}: {len(result['cases'])} cases", f"{'':6} {'Dice':>7} {'HD95':>7} {'ASSD':>7}"]
    for name, metrics in structures.items():
        if not isinstance(metrics, dict):
            continue
        vals = [
            metrics.get(m, {}).get("mean", float("nan")) if isinstance(metrics.get(m), dict) else float("nan")
            for m in ("dice", "hd95", "assd")
        ]
        lines.append(f"{name:6} {vals[0]:7.3f} {vals[1]:7.2f} {vals[2]:7.2f}")
    mean = summ.get("mean", {})
    if mean:
        lines.append(
            f"{'mean':6} {mean.get('dice', float('nan')):7.3f} {mean.get('hd95', float('nan')):7.2f} "
            f"{mean.get('assd', float('nan')):7.2f}   (distances in {summ.get('distance_unit', '?')})"
        )
    return "\n".join(lines)
