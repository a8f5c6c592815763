"""Which anatomical clean-up steps help? Measured on a labelled split (tune on val, never test).

Segments the ED and ES frames of every patient once without clean-up, then applies each
variant of :mod:`CardiacSSLLib.postprocess` and prints mean Dice (ED, ES, all), LV-mass
bias and MAE, LV and RV EF MAE, and the seconds the variant's clean-up took over the split.
Then, with ``--steps``, sweeps a weight on the myocardium
probability before the argmax (``--myo-weights``; a model's ``postprocess.class_weights``).
A step or weight goes into a model's config only when Dice does not drop and mass bias
improves. Deterministic; prints numbers; not a test.

    python benchmarks/postprocess_ablation.py --model MODEL --acdc ../shared/data/acdc --split val \
        --steps largest_components,papillary_to_cavity --myo-weights 1,0.8,0.7,0.65,0.5
"""

from __future__ import annotations

import argparse
import time

VARIANTS = {
    "none": [],
    "largest": ["largest_components"],
    "largest+papillary": ["largest_components", "papillary_to_cavity"],
    "anchored": ["anchored_components"],
    "anchored+papillary": ["anchored_components", "papillary_to_cavity"],
    "largest+holes": ["largest_components", "fill_cavity_holes"],
    "largest+myo_touch": ["myo_touching_cavity", "largest_components"],
    "largest+rv_touch": ["rv_touching_septum", "largest_components"],
    "largest+touch(myo,rv)": ["myo_touching_cavity", "rv_touching_septum", "largest_components"],
    "all": [
        "myo_touching_cavity",
        "rv_touching_septum",
        "largest_components",
        "fill_cavity_holes",
        "papillary_to_cavity",
    ],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--acdc", default="../shared/data/acdc")
    ap.add_argument("--split", default="val")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tta", action="store_true")
    ap.add_argument("--steps", default="largest_components,papillary_to_cavity", help="steps for the weight sweep")
    ap.add_argument("--myo-weights", default="", help="comma list of myocardium probability weights to sweep")
    args = ap.parse_args()

    from CardiacSSLLib.evaluation import acdc_split_studies, predict_study, score_study, summarise
    from CardiacSSLLib.inference import load_model
    from CardiacSSLLib.postprocess import clean_up

    net, _ = load_model(args.model)
    raw = [
        (s, predict_study(net, s, args.device, args.tta, cleanup=False))
        for s in acdc_split_studies(args.acdc, args.split)
    ]
    print(f"model {args.model}, ACDC {args.split}: {len(raw)} patients")
    print(
        f"{'variant':24} {'Dice':>6} {'ED':>6} {'ES':>6} {'MYO':>6} {'mass bias':>9} {'mass MAE':>8} "
        f"{'LVEF MAE':>8} {'RVEF MAE':>8} {'clean-up s':>10}"
    )

    def report(name: str, scored, seconds: float | None = None) -> None:
        cases, patients = [], []
        for c, p in scored:
            cases += c
            patients += [p] if p else []
        r = summarise(f"acdc:{args.split}", cases, patients)
        agree = {row["quantity"]: row for row in r["agreement"] if row["group"] == "all"}
        print(
            f"{name:24} {r['summary']['mean']['dice']:6.4f} {r['summary_by_phase']['ED']['mean']['dice']:6.4f} "
            f"{r['summary_by_phase']['ES']['mean']['dice']:6.4f} "
            f"{r['summary']['structures']['MYO']['dice']['mean']:6.4f} "
            f"{agree['lv_mass']['bias']:+9.2f} {agree['lv_mass']['mae']:8.2f} "
            f"{agree['lv_ef']['mae']:8.2f} {agree['rv_ef']['mae']:8.2f} "
            f"{'' if seconds is None else f'{seconds:10.2f}'}",
            flush=True,
        )

    for name, steps in VARIANTS.items():
        start = time.perf_counter()
        cleaned = [(s, {t: clean_up(m, steps) for t, m in pred.items()}) for s, pred in raw]
        seconds = time.perf_counter() - start
        report(name, [score_study(s, pred) for s, pred in cleaned], seconds)
    steps = [s for s in args.steps.split(",") if s]
    base = dict(getattr(net, "cardiacssl_config", {}))
    for w in [float(x) for x in args.myo_weights.split(",") if x]:
        net.cardiacssl_config = {**base, "postprocess": {"class_weights": [1.0, 1.0, w, 1.0]}}
        scored = [score_study(s, predict_study(net, s, args.device, args.tta, cleanup=steps)) for s, _ in raw]
        report(f"steps + MYO weight {w:g}", scored)


if __name__ == "__main__":
    main()
