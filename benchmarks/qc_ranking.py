"""How well do the quality flags find bad slices, and does "correct this next" pay off? ACDC.

For every patient of a split, the model's ED and ES predictions (cached, ``acdc_cache.py``)
get their flags and score (:mod:`CardiacSSLLib.quality`). Printed:

- ROC AUC of each flag and of the combined score for telling slices with Dice < 0.8 (mean
  over the structures present in prediction or manual label) from the rest;
- the share of the Dice gap (1 - 3D mean Dice of each ED / ES volume) closed when the top-k
  slices of the ranking are replaced by their manual labels, versus k random slices (mean of
  ``--draws`` seeded draws), k = 1, 2, 3.

Deterministic. Weights are tuned on ``val``; ``test`` is reported once.

    PYTHONPATH=. python benchmarks/qc_ranking.py --split val
"""

from __future__ import annotations

import argparse

import numpy as np
from acdc_cache import inference_note, load_case, patients
from scipy.stats import rankdata

BAD_DICE = 0.8


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney form of the ROC AUC (ties count half)."""
    ranks = rankdata(score)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def volume_dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(
        np.mean([2 * ((a == s) & (b == s)).sum() / max((a == s).sum() + (b == s).sum(), 1) for s in (1, 2, 3)])
    )


def gap_closed(volumes: list[dict], order_key: str, k: int, draws: int) -> tuple[float, float]:
    """Share of the summed Dice gap closed by correcting the top-k slices by ``order_key``, and by k random ones."""
    rng = np.random.default_rng(0)
    gap = gained_top = gained_random = 0.0
    for v in volumes:
        pred, manual = v["pred"], v["manual"]
        before = volume_dice(pred, manual)
        gap += 1 - before
        top = np.argsort(-v[order_key], kind="stable")[:k]
        fixed = pred.copy()
        fixed[top] = manual[top]
        gained_top += volume_dice(fixed, manual) - before
        for _ in range(draws):
            pick = rng.choice(len(pred), size=min(k, len(pred)), replace=False)
            fixed = pred.copy()
            fixed[pick] = manual[pick]
            gained_random += (volume_dice(fixed, manual) - before) / draws
    return gained_top / gap, gained_random / gap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--acdc", default="../shared/data/acdc")
    ap.add_argument("--split", default="val")
    ap.add_argument("--model", default="acdc-unet16-v2")
    ap.add_argument("--cache", default="/work/runs/qc-cache")
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--weights", default="", help="override score weights, e.g. stack_jump=0.5,open_ring=0.25")
    ap.add_argument("--limit", type=int, default=0, help="first N patients only (a quick look)")
    args = ap.parse_args()
    from dataclasses import replace

    from CardiacSSLLib.quality.confidence import flip_disagreement, slice_dice
    from CardiacSSLLib.quality.score import FLAGS, QualityWeights, quality_table

    weights = replace(
        QualityWeights(), **{k: float(v) for k, v in (w.split("=") for w in args.weights.split(",") if w)}
    )

    flags: dict[str, list] = {n: [] for n in (*FLAGS, "score")}
    dice: list[np.ndarray] = []
    volumes = []
    for p in patients(args.acdc, args.split)[: args.limit or None]:
        case = load_case(args.acdc, p, args.model, args.cache)
        table = quality_table(case.pred, flip_disagreement(case.pred, case.flips), ed_frame=0, weights=weights)
        d = slice_dice(case.pred, case.manual)
        for name in FLAGS:
            flags[name].append(table.flags[name].ravel())
        flags["score"].append(table.score.ravel())
        dice.append(d.ravel())
        for t in range(2):
            volumes.append(
                {"pred": case.pred[t], "manual": case.manual[t], "benefit": table.benefit[t], "score": table.score[t]}
            )
    d = np.concatenate(dice)
    keep = ~np.isnan(d)
    bad = d[keep] < BAD_DICE
    print(
        f"{args.split}: {len(volumes)} volumes, {keep.sum()} slices with a structure, "
        f"{bad.sum()} with Dice < {BAD_DICE}; {inference_note()}"
    )
    print(f"{'flag':<18} {'ROC AUC':>7}")
    for name, values in flags.items():
        print(f"{name:<18} {roc_auc(np.concatenate(values)[keep], bad):7.3f}")
    print(f"\n{'k':>2} {'gap closed: ranking':>20} {'by score only':>14} {'random k':>9}")
    for k in (1, 2, 3):
        top, rand = gap_closed(volumes, "benefit", k, args.draws)
        by_score, _ = gap_closed(volumes, "score", k, 0)
        print(f"{k:>2} {top:20.3f} {by_score:14.3f} {rand:9.3f}")


if __name__ == "__main__":
    main()
