"""bf16 vs fp32 inference on an ACDC split: mean Dice of each, and the share of voxels labelled alike.

    python benchmarks/precision_agreement.py [--split val] [--model default]

Prints numbers; not a test (``Testing/test_inference_real.py`` checks the agreement on a real cine).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from CardiacSSLLib.evaluation import acdc_split_studies, score_study, summarise
    from CardiacSSLLib.inference import load_model, segment_cine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--acdc", default=str(ROOT.parent / "shared" / "data" / "acdc"))
    ap.add_argument("--split", default="val")
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    net, _ = load_model(args.model)
    labels: dict[str, dict[str, np.ndarray]] = {}
    for precision in ("fp32", "bf16"):
        cases, patients = [], []
        for study in acdc_split_studies(args.acdc, args.split, None):
            frames = [study.ed, study.es]
            out = segment_cine(net, study.cine, frames=frames, precision=precision, device="cpu")
            labels.setdefault(study.name, {})[precision] = out
            c, p = score_study(study, dict(zip(frames, out, strict=True)))
            cases += c
            patients.append(p)
        summary = summarise("acdc", cases, patients)["summary"]
        per = {k: round(v["dice"]["mean"], 4) for k, v in summary["structures"].items()}
        print(f"{precision}: mean Dice {summary['mean']['dice']:.4f} {per}")
    same = [float((v["fp32"] == v["bf16"]).mean()) for v in labels.values()]
    print(f"voxels labelled alike: mean {100 * np.mean(same):.3f} %, worst study {100 * min(same):.3f} %")


if __name__ == "__main__":
    main()
