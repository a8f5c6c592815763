"""Bundle a trained checkpoint into ``Resources/Models``: fp16 weights, config, card, models.json entry.

Evaluates the model on the ACDC test split (and Sunnybrook when given) so the card and
``models.json`` state measured accuracy; ``Testing/test_bundled_models.py`` re-checks it.

    python scripts/bundle_model.py CHECKPOINT --name NAME --acdc ../shared/data/acdc \
        --sunnybrook ../shared/data/sunnybrook --command "cardiacssl finetune ..." [--default]
    python scripts/bundle_model.py BACKBONE --name NAME --paired runs/fewshot-paired --paired-start CELL \
        --paired-command "python benchmarks/fewshot_paired.py ..." --command "cardiacssl pretrain ..."
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from paired_fewshot import card_lines, read_cells
from paired_fewshot import summary as fewshot_summary

from CardiacSSLLib.engine.run_record import COMMIT_KEY, recorded_commit

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "Resources" / "Models"
LICENSE_NOTE = (
    "Trained on the ACDC training set (O. Bernard et al., IEEE TMI 2018), licensed CC BY-NC-SA 4.0: "
    "this model inherits a non-commercial, research-only use note. Not a medical device."
)


def backbone_license_note(cfg: dict) -> str:
    """The use note of a backbone, naming the data it was actually pretrained on."""
    sources = " ".join(cfg.get("data", {}).get("sources", []))
    sunnybrook = " and Sunnybrook cines (CC0)" if "sunnybrook" in sources.lower() else ""
    return (
        "Pretrained on ACDC images (O. Bernard et al., IEEE TMI 2018; CC BY-NC-SA 4.0, so non-commercial, "
        f"research-only use){sunnybrook}. Not a medical device."
    )


def portable(value):
    """Machine paths out of configs and cards: data beside the project becomes ``../shared/...``,
    any other absolute path keeps only its last two parts (no build machine's folders)."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str):
        value = value.replace(str(ROOT.parent / "shared") + "/", "../shared/")
        return re.sub(r"(^|\s)/(?:[\w.+-]+/)+([\w.+-]+/[\w.+-]+)", r"\1\2", value)
    return value


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _hyperparameters(cfg: dict) -> dict:
    if cfg.get("kind") == "backbone":
        return {
            "method": cfg.get("method"),
            "hyperparameters": cfg.get("hyperparameters"),
            "optimisation": cfg.get("optimisation"),
            "image_size": cfg.get("data", {}).get("image_size"),
            "target_spacing": cfg.get("data", {}).get("target_spacing"),
            "seed": cfg.get("seed"),
        }
    return {
        k: (f"{len(v)} items" if isinstance(v, list) and len(v) > 6 else v)
        for k, v in cfg.get("training", {}).items()
        if k not in ("out", "acdc_root", "train_set", "init")
    }


def _data_line(cfg: dict) -> str:
    if cfg.get("kind") == "backbone":
        d = cfg.get("data", {})
        return (
            f"- data: {d.get('n_frames', '?')} unlabelled 2D frames ({d.get('n_volumes', '?')} volumes; labels never "
            f"read): {'; '.join(d.get('summary', []))}"
        )
    return (
        f"- data: ACDC SSL4MIS HDF5, train split ({cfg.get('training', {}).get('train_slices', '?')} labelled "
        "slices); validation on the val split"
    )


def fewshot_lines(fewshot: dict, label: str) -> list[str]:
    """The few-shot table of a card: scratch vs this method, mean 3D Dice on ACDC test per n."""
    p, res = fewshot["protocol"], fewshot["results"]
    shots = [str(n) for n in p["shots"]]
    lines = [
        "## Few-shot accuracy",
        "",
        f"Fine-tuned on n ACDC training patients (their labelled ED/ES slices; drawn by seed {p['seed']}), "
        f"{p['steps']} steps, patch {p['patch_size']}, no validation set; 3D Dice on the 40 ACDC test volumes "
        "(`benchmarks/bundled_models.py --fewshot` re-runs it):",
        "",
        "| init | " + " | ".join(f"n={n} mean (LV / MYO / RV)" for n in shots) + " |",
        "|---|" + "---|" * len(shots),
    ]
    for name in dict.fromkeys(["scratch", label]):
        if name not in res:
            continue
        cells = [
            f"{_fmt(res[name][n]['mean'])} ({' / '.join(_fmt(res[name][n][k]) for k in ('LV', 'MYO', 'RV'))})"
            for n in shots
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def health_lines(cfg: dict) -> list[str]:
    """The backbone's health checks (``engine/health.py``), as measured at the end of its pretraining."""
    h = cfg.get("health")
    if not h:
        return []
    drift = h.get("drift", {})
    least = min(drift, key=drift.get) if drift else None
    verdict = "passes" if h.get("passed") else "fails: " + "; ".join(h.get("failures", []))
    return [
        "## Health checks",
        "",
        "| check | this backbone | same network, random weights |",
        "|---|---|---|",
        f"| frozen-feature probe Dice | {_fmt(h.get('probe_dice'))} | {_fmt(h.get('probe_dice_random'))} |",
        f"| bottleneck effective rank | {h['rank']['bottleneck']:.0f} | {h['rank_random']['bottleneck']:.0f} |",
        f"| least-moved transferred convolution (1 - cos) | {_fmt(drift.get(least))} (`{least}`) | 0 |",
        "",
        f"Verdict: **{verdict}**.",
        "",
    ]


def phase_table(result: dict) -> list[str]:
    """Dice / HD95 / ASSD per structure at ED and ES (mean over patients)."""
    rows = ["| phase | structure | Dice | HD95 | ASSD |", "|---|---|---|---|---|"]
    for phase, summ in result.get("summary_by_phase", {"all": result["summary"]}).items():
        for k, m in summ["structures"].items():
            rows.append(
                f"| {phase} | {k} | {_fmt(m['dice']['mean'])} | {_fmt(m['hd95']['mean'])} | {_fmt(m['assd']['mean'])} |"
            )
    rows.append(f"| both | mean | {_fmt(result['summary']['mean']['dice'])} | | |")
    return rows


def agreement_lines(result: dict) -> list[str]:
    rows = ["| quantity | n | bias | 95 % limits | MAE | r |", "|---|---|---|---|---|---|"]
    for r in result.get("agreement", []):
        if r["group"] == "all":
            rows.append(
                f"| {r['label']} ({r['unit']}) | {r['n']} | {r['bias']:+.1f} | {r['loa_low']:+.1f} to "
                f"{r['loa_high']:+.1f} | {r['mae']:.1f} | {_fmt(r['r'])} |"
            )
    return rows


def clinical_summary(result: dict) -> dict:
    """The agreement numbers models.json states (and CI re-checks)."""
    out = {}
    for r in result.get("agreement", []):
        if r["group"] == "all":
            out[r["quantity"]] = {"bias": round(r["bias"], 2), "mae": round(r["mae"], 2)}
    return out


def write_card(
    path: Path,
    name: str,
    cfg: dict,
    acdc: dict | None,
    sunny: dict | None,
    command: str,
    fewshot: dict | None = None,
    label: str = "",
    note: str = "",
    init_name: str = "",
    paired_lines: list[str] = (),
) -> None:
    method = cfg.get("method") or cfg.get("init_method") or "scratch (no pretraining)"
    paper = f" ({cfg['paper']})" if cfg.get("paper") else ""
    lines = [
        f"# {name}",
        "",
        f"- kind: {cfg.get('kind')}; method: {method}{paper}"
        + (f"; fine-tuned from the bundled backbone `{init_name}`" if init_name else ""),
        f"- network: 2D U-Net (MONAI DynUNet blocks), features {cfg['network']['features']}, "
        f"target spacing {cfg.get('preprocess', {}).get('target_spacing', cfg.get('data', {}).get('target_spacing'))}"
        " mm (native pixels when unknown)",
        _data_line(cfg),
        f"- license: {LICENSE_NOTE if cfg.get('kind') != 'backbone' else backbone_license_note(cfg)}",
        f"- commit {(recorded_commit(cfg) or '?')[:7]}, hardware {cfg.get('hardware', '?')}, "
        f"wall time {cfg.get('wall_time_s', cfg.get('wall_s', '?'))} s",
    ]
    if cfg.get("kind") == "backbone":
        lines.append(f"- transfer: {cfg.get('transfer', 'encoder + decoder')}")
    if note:
        lines.append(f"- note: {note}")
    lines += ["", "## Hyperparameters", "```json", json.dumps(_hyperparameters(cfg), indent=1), "```", ""]
    if acdc is not None:
        lines += [
            "## Accuracy (measured by scripts/bundle_model.py; re-checked in CI)",
            "",
            f"ACDC test split: ED and ES of {len(acdc.get('patients', [])) or 20} patients, 3D, at the "
            f"pixel spacing of `acdc_info.csv`, distances in {acdc['summary']['distance_unit']}:",
            "",
        ]
        lines += phase_table(acdc)
        lines += ["", "Clinical agreement with the manual labels (model - manual) on the same patients:", ""]
        lines += agreement_lines(acdc)
    if sunny:
        lines += [
            "",
            "Sunnybrook (3 GE cines; LV and MYO; ES frames carry the endocardial contour only), mm:",
            "",
        ]
        lines += phase_table(sunny)
        lines += ["", "Clinical agreement (LV only; contoured slices):", ""]
        lines += agreement_lines(sunny)
    if acdc is not None or sunny:
        lines.append("")
    if cfg.get("kind") == "backbone":
        lines += health_lines(cfg)
    if fewshot:
        lines += fewshot_lines(fewshot, label)
    lines += list(paired_lines)
    lines += ["## Reproduce", "", "```", command, "```", ""]
    path.write_text("\n".join(lines))


def _dice(result: dict) -> dict:
    d = {k: round(v["dice"]["mean"], 4) for k, v in result["summary"]["structures"].items()}
    d["mean"] = round(result["summary"]["mean"]["dice"], 4)
    return d


def _cached(folder: Path | None, key: str, compute):
    """``compute()``, or its earlier result for the same weights when ``folder`` keeps one."""
    path = folder / f"{key}.json" if folder else None
    if path is not None and path.exists():
        return json.loads(path.read_text())
    result = compute()
    if path is not None:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, default=float))
    return result


def main() -> None:
    from CardiacSSLLib.checkpoint import load_state, read_config, save_checkpoint, sha256_file
    from CardiacSSLLib.evaluation import evaluate_acdc, evaluate_sunnybrook

    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--name", required=True)
    ap.add_argument("--acdc", help="ACDC root: evaluate a segmentation model on its test split")
    ap.add_argument("--sunnybrook")
    ap.add_argument("--command", default="", help="the exact command(s) that trained it")
    ap.add_argument("--fewshot", help="fewshot.json from benchmarks/bundled_models.py --fewshot")
    ap.add_argument("--label", default="", help="this method's row in --fewshot (default: the method)")
    ap.add_argument("--paired", type=Path, help="a backbone: the --out folder of benchmarks/fewshot_paired.py")
    ap.add_argument("--paired-start", default="", help="this backbone's cell folder name under --paired")
    ap.add_argument("--paired-split", default="test", help="the split --paired scored (the card states it)")
    ap.add_argument("--paired-command", default="", help="the fewshot_paired.py command(s) behind --paired")
    ap.add_argument("--init-name", default="", help="the bundled backbone a segmentation model was fine-tuned from")
    ap.add_argument("--hardware", default="", help="where it was trained, when the config does not say")
    ap.add_argument("--commit", default="", help="the commit that trained it, when the config records another")
    ap.add_argument("--note", default="", help="one line for the card, e.g. why the configuration is small")
    ap.add_argument("--eval-cache", type=Path, help="folder keeping evaluations by weights sha256 (re-bundling)")
    ap.add_argument("--default", action="store_true")
    ap.add_argument(
        "--postprocess",
        help='JSON stored as the model\'s "postprocess" (steps, class_weights), chosen on the validation split',
    )
    args = ap.parse_args()

    cfg = read_config(args.checkpoint)
    state = load_state(args.checkpoint, cfg.get("sha256"))
    paired = read_cells(args.paired, args.paired_start, args.paired_split) if args.paired else None
    if paired:  # fine-tuning from it defaults to the recipe its card's numbers were measured with
        cfg["finetune"] = paired["recipe"]
    stem = MODELS / args.name
    cfg = portable({**cfg, "name": args.name})
    if args.postprocess:
        cfg["postprocess"] = json.loads(args.postprocess)
    if args.hardware:
        cfg["hardware"] = args.hardware
    if args.commit:
        cfg = {k: v for k, v in cfg.items() if k != "git_commit"} | {COMMIT_KEY: args.commit}
    cfg.pop("sha256", None)
    cfg.pop("format_version", None)
    save_checkpoint(stem, state, cfg, half=True)  # fp16 on disk, loaded as fp32
    segmentation = cfg["kind"] == "segmentation"
    if segmentation and not args.acdc:
        raise SystemExit("a segmentation model needs --acdc: its card states measured accuracy")
    sha = sha256_file(stem.with_suffix(".safetensors"))
    acdc = sunny = None
    if segmentation:
        acdc = _cached(args.eval_cache, f"{sha}-acdc", lambda: evaluate_acdc(stem, args.acdc, "test", device="cpu"))
    if segmentation and args.sunnybrook:
        sunny = _cached(
            args.eval_cache, f"{sha}-sunnybrook", lambda: evaluate_sunnybrook(stem, args.sunnybrook, device="cpu")
        )
    fewshot = json.loads(Path(args.fewshot).read_text()) if args.fewshot else None
    cfg = read_config(stem)
    label = args.label or cfg.get("method") or cfg.get("init_method") or "scratch"
    write_card(
        stem.with_suffix(".md"),
        args.name,
        cfg,
        acdc,
        sunny,
        args.command,
        fewshot,
        label,
        args.note,
        args.init_name,
        card_lines(paired, args.paired_command) if paired else [],
    )
    index_path = MODELS / "models.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"models": []}
    index["models"] = [m for m in index["models"] if m["name"] != args.name]
    entry = {
        "name": args.name,
        "kind": cfg["kind"],
        "file": f"{args.name}.safetensors",
        "config": f"{args.name}.json",
        "card": f"{args.name}.md",
        "sha256": sha256_file(stem.with_suffix(".safetensors")),
        "summary": {},
    }
    if acdc is not None:
        entry["summary"] = {
            "dice": _dice(acdc),
            "dice_by_phase": {ph: round(s["mean"]["dice"], 4) for ph, s in acdc["summary_by_phase"].items()},
            "clinical": clinical_summary(acdc),
            "dataset": "ACDC test (ED and ES of 20 patients, acdc_info.csv spacing)",
        }
    if sunny:
        entry["summary"]["sunnybrook_dice"] = {
            k: round(v["dice"]["mean"], 4) for k, v in sunny["summary"]["structures"].items()
        }
    if args.init_name:
        entry["summary"]["init"] = args.init_name
    if fewshot and label in fewshot["results"]:
        entry["summary"]["fewshot"] = {
            "steps": fewshot["protocol"]["steps"],
            "mean_dice": {n: round(d["mean"], 4) for n, d in fewshot["results"][label].items()},
            "scratch_mean_dice": {n: round(d["mean"], 4) for n, d in fewshot["results"].get("scratch", {}).items()},
        }
    if paired:
        entry["summary"]["fewshot"] = fewshot_summary(paired)
    index["models"].append(entry)
    if args.default or "default" not in index:
        index["default"] = args.name
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
