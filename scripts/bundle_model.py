"""Bundle a trained checkpoint into ``Resources/Models``: fp16 weights, config, card, models.json entry.

Evaluates the model on the ACDC test split (and Sunnybrook when given) so the card and
``models.json`` state measured accuracy; ``Testing/test_bundled_models.py`` re-checks it.

    python scripts/bundle_model.py CHECKPOINT --name NAME --method scratch --acdc ../shared/data/acdc \
        --sunnybrook ../shared/data/sunnybrook --command "cardiacssl finetune ..." [--default]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "Resources" / "Models"
LICENSE_NOTE = (
    "Trained on the ACDC training set (O. Bernard et al., IEEE TMI 2018), licensed CC BY-NC-SA 4.0: "
    "this model inherits a non-commercial, research-only use note. Not a medical device."
)


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def write_card(path: Path, name: str, cfg: dict, acdc: dict, sunny: dict | None, extra: str) -> None:
    s = acdc["summary"]["structures"]
    lines = [
        f"# {name}",
        "",
        f"- kind: {cfg.get('kind')}; method: "
        f"{cfg.get('init_method') or cfg.get('method') or 'scratch (no pretraining)'}",
        f"- network: 2D U-Net (MONAI DynUNet blocks), features {cfg['network']['features']}, "
        f"target spacing {cfg.get('preprocess', {}).get('target_spacing')} mm (native pixels when unknown)",
        f"- data: ACDC SSL4MIS HDF5, train split ({cfg.get('training', {}).get('train_slices', '?')} labelled slices); "
        "validation on the val split",
        f"- license: {LICENSE_NOTE}",
        f"- commit {cfg.get('commit', '?')}, hardware {cfg.get('hardware', '?')}, wall time "
        f"{cfg.get('wall_time_s', '?')} s",
        "",
        "## Hyperparameters",
        "```json",
        json.dumps(
            {
                k: (f"{len(v)} items" if isinstance(v, list) and len(v) > 6 else v)
                for k, v in cfg.get("training", {}).items()
                if k not in ("out", "acdc_root", "train_set")
            },
            indent=1,
        ),
        "```",
        "",
        "## Accuracy (measured by scripts/bundle_model.py; re-checked in CI)",
        "",
        f"ACDC test split, {acdc['summary']['n_cases']} volumes (ED and ES of 20 patients), 3D, "
        f"distances in {acdc['summary']['distance_unit']} (the HDF5 layout has no spacing):",
        "",
        "| structure | Dice | HD95 | ASSD |",
        "|---|---|---|---|",
    ]
    for k, m in s.items():
        lines.append(f"| {k} | {_fmt(m['dice']['mean'])} | {_fmt(m['hd95']['mean'])} | {_fmt(m['assd']['mean'])} |")
    lines.append(f"| mean | {_fmt(acdc['summary']['mean']['dice'])} | | |")
    if sunny:
        ss = sunny["summary"]["structures"]
        lines += [
            "",
            f"Sunnybrook (3 GE cines, contoured frames, {sunny['summary']['n_cases']} frame volumes), mm:",
            "",
            "| structure | Dice | HD95 mm | ASSD mm |",
            "|---|---|---|---|",
        ]
        for k, m in ss.items():
            lines.append(f"| {k} | {_fmt(m['dice']['mean'])} | {_fmt(m['hd95']['mean'])} | {_fmt(m['assd']['mean'])} |")
    lines += ["", "## Reproduce", "", "```", extra, "```", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    from CardiacSSLLib.checkpoint import load_state, read_config, save_checkpoint, sha256_file
    from CardiacSSLLib.evaluation import evaluate_acdc, evaluate_sunnybrook

    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--name", required=True)
    ap.add_argument("--acdc", required=True)
    ap.add_argument("--sunnybrook")
    ap.add_argument("--command", default="", help="the exact command that trained it")
    ap.add_argument("--default", action="store_true")
    args = ap.parse_args()

    cfg = read_config(args.checkpoint)
    state = load_state(args.checkpoint, cfg.get("sha256"))
    stem = MODELS / args.name
    cfg = {**cfg, "name": args.name}
    cfg.pop("sha256", None)
    cfg.pop("format_version", None)
    save_checkpoint(stem, state, cfg, half=True)  # fp16 on disk, loaded as fp32
    acdc = evaluate_acdc(stem, args.acdc, "test", device="cpu")
    sunny = evaluate_sunnybrook(stem, args.sunnybrook, device="cpu") if args.sunnybrook else None
    cfg = read_config(stem)
    write_card(stem.with_suffix(".md"), args.name, cfg, acdc, sunny, args.command)
    index_path = MODELS / "models.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"models": []}
    index["models"] = [m for m in index["models"] if m["name"] != args.name]
    dice = {k: round(v["dice"]["mean"], 4) for k, v in acdc["summary"]["structures"].items()}
    dice["mean"] = round(acdc["summary"]["mean"]["dice"], 4)
    entry = {
        "name": args.name,
        "kind": cfg["kind"],
        "file": f"{args.name}.safetensors",
        "config": f"{args.name}.json",
        "card": f"{args.name}.md",
        "sha256": sha256_file(stem.with_suffix(".safetensors")),
        "summary": {"dice": dice, "dataset": "ACDC test (40 volumes)"},
    }
    if sunny:
        entry["summary"]["sunnybrook_dice"] = {
            k: round(v["dice"]["mean"], 4) for k, v in sunny["summary"]["structures"].items()
        }
    index["models"].append(entry)
    if args.default or "default" not in index:
        index["default"] = args.name
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
