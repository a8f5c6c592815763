"""How good are self-training's pseudo-labels? The teacher labels ACDC training volumes (whose
manual labels are known) as ``engine.pseudo_label`` does: the same 1.5 mm canvas, the flip
consensus and its agreement. Prints the slice Dice against the manual labels of the slices kept
at each agreement threshold and of those dropped. Prints numbers; not a test.

    python benchmarks/pseudo_label_quality.py --teacher runs/paired-val-500/n1/draw0/scratch/model.safetensors
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def canvas_pair(root: Path, volume: str, canvas: int, spacing_yx, target: float):
    """(image (Z, 1, C, C), label (Z, C, C)) of one training volume, brought to the canvas as the
    unlabelled frames are (labels one-hot, resampled, argmax)."""
    import torch

    from CardiacSSLLib.engine.unlabelled import to_canvas
    from CardiacSSLLib.io.datasets import load_acdc_h5_slices
    from CardiacSSLLib.preprocess import normalize_intensity

    names = sorted(
        (int(m.group(1)), p.stem) for p in (root / "data").glob(f"{volume}_slice_*.h5")
        if (m := re.search(r"_slice_(\d+)$", p.stem))
    )  # fmt: skip
    pairs = load_acdc_h5_slices(root, [n for _, n in names])
    image = np.stack([a for a, _ in pairs])
    label = np.stack([b for _, b in pairs])
    img = to_canvas(normalize_intensity(image), canvas, spacing_yx, target)
    onehot = np.eye(4, dtype=np.float32)[label]
    lab = torch.stack([to_canvas(onehot[..., k], canvas, spacing_yx, target)[:, 0] for k in range(4)], 1)
    return img.float(), lab.argmax(1).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", required=True, help="the model that pseudo-labels")
    ap.add_argument("--acdc", default=str(ROOT.parent / "shared" / "data" / "acdc"))
    ap.add_argument("--every", type=int, default=6, help="use every N-th training volume")
    ap.add_argument("--patch-size", type=int, default=128, help="the training crop (sets the canvas)")
    ap.add_argument("--thresholds", default="0.9,0.95,0.97")
    args = ap.parse_args()

    import torch

    from CardiacSSLLib.engine.pseudo_label import flip_consensus
    from CardiacSSLLib.engine.unlabelled import canvas_size
    from CardiacSSLLib.inference import load_model
    from CardiacSSLLib.io.datasets import read_acdc_info, read_list
    from CardiacSSLLib.quality.confidence import slice_dice

    root = Path(args.acdc)
    net, _ = load_model(args.teacher)
    net.eval()
    info = read_acdc_info(root)
    agreement, dice = [], []
    for volume in read_list(root, "train")[:: args.every]:
        row = info[volume.split("_")[0]]
        image, truth = canvas_pair(root, volume, canvas_size(args.patch_size), (row.spacing[1], row.spacing[0]), 1.5)
        with torch.no_grad():
            consensus, agree = flip_consensus(net, image)
        for z in range(consensus.shape[0]):
            if consensus[z].any():  # frames without heart are never pseudo-labelled
                agreement.append(float(agree[z]))
                dice.append(float(slice_dice(consensus[z].numpy(), truth[z])))
    agreement, dice = np.array(agreement), np.array(dice)
    print(f"{len(dice)} slices with heart in the consensus; mean slice Dice {np.nanmean(dice):.3f}")
    for t in (float(x) for x in args.thresholds.split(",")):
        kept = agreement >= t
        print(
            f"agreement >= {t:g}: kept {kept.sum():4d}, Dice {np.nanmean(dice[kept]):.3f}; "
            f"dropped {(~kept).sum():4d}, Dice {np.nanmean(dice[~kept]):.3f}"
        )


if __name__ == "__main__":
    main()
