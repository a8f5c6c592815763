"""Quality flags on whole cines: Sunnybrook (20 phases), scored where the manual contours are.

The model segments every phase (cached, shared with ``propagation_sunnybrook.py``) and its flipped
images; flags and score come from the whole cine, so the volume-curve flags (``time_jump``,
``ed_not_max``) are measured here, which ACDC's two frames cannot do. Slices scored: LV and MYO on
the ED slices with both contours, LV on the ES slices with an LV contour. Prints each flag's ROC AUC
for slices with Dice < 0.8. Three patients: a check, not a tuning set.

    PYTHONPATH=. python benchmarks/qc_sunnybrook.py --sunnybrook ../shared/data/sunnybrook
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from propagation_sunnybrook import predict
from qc_ranking import BAD_DICE, roc_auc


def flips(cine, model: str, cache: Path) -> list[np.ndarray]:
    path = cache / model / "sunnybrook" / f"{cine.name}_flips.npz"
    if path.is_file():
        stored = np.load(path)
        return [stored[k] for k in sorted(stored.files)]
    from CardiacSSLLib.quality.confidence import flipped_predictions

    out = flipped_predictions(model, cine, device="cpu")
    np.savez_compressed(path, **{f"flip{i}": f for i, f in enumerate(out)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sunnybrook", default="../shared/data/sunnybrook")
    ap.add_argument("--model", default="acdc-unet16-v2")
    ap.add_argument("--cache", default="/work/runs/qc-cache")
    args = ap.parse_args()
    from CardiacSSLLib.io.datasets import list_sunnybrook, load_sunnybrook
    from CardiacSSLLib.quality.confidence import flip_disagreement, slice_dice
    from CardiacSSLLib.quality.score import FLAGS, quality_table

    values: dict[str, list] = {n: [] for n in (*FLAGS, "score")}
    dice: list[float] = []
    for scd in list_sunnybrook(args.sunnybrook):
        cine = load_sunnybrook(args.sunnybrook, scd)
        pred = predict(cine, args.model, Path(args.cache))
        lv_rows = cine.meta["lv_labelled"]
        frames = [int(t) for t in np.flatnonzero(lv_rows.any(1))]
        ed = max(frames, key=lambda t: (cine.label[t] == 1).sum())
        es = min(frames, key=lambda t: (cine.label[t] == 1).sum())
        table = quality_table(pred, flip_disagreement(pred, flips(cine, args.model, Path(args.cache))), ed_frame=ed)
        picks = [(ed, z, (1, 2)) for z in np.flatnonzero(cine.labelled[ed])]
        picks += [(es, z, (1,)) for z in np.flatnonzero(lv_rows[es])]
        for t, z, structures in picks:
            d = float(slice_dice(pred[t, z], cine.label[t, z], structures))
            if np.isnan(d):
                continue
            dice.append(d)
            for name in FLAGS:
                values[name].append(table.flags[name][t, z])
            values["score"].append(table.score[t, z])
    bad = np.array(dice) < BAD_DICE
    print(f"sunnybrook: {len(dice)} contoured slices, {bad.sum()} with Dice < {BAD_DICE}")
    for name, v in values.items():
        print(f"{name:<18} {roc_auc(np.array(v), bad):7.3f}")


if __name__ == "__main__":
    main()
