"""``cardiacssl models``: list bundled and user models, show a model card."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list models (bundled and your own) or show one model's card")
    p.add_argument("name", nargs="?", help="show this model's card")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.checkpoint import read_config
    from CardiacSSLLib.registry import default_model_name, list_models, resolve

    if args.name:
        entry = resolve(args.name)
        if args.json:
            print(json.dumps(read_config(entry.path), indent=2))
        elif entry.card and entry.card.exists():
            print(entry.card.read_text())
        else:
            print(json.dumps(read_config(entry.path), indent=2))
        return 0
    entries = list_models()
    if args.json:
        print(
            json.dumps(
                [
                    {"name": e.name, "kind": e.kind, "origin": e.origin, "path": str(e.path), "summary": e.summary}
                    for e in entries
                ],
                indent=2,
            )
        )
        return 0
    if not entries:
        print("no models installed")
        return 0
    default = default_model_name()
    names = [e.name + (" (default)" if e.name == default else "") for e in entries]
    wn, wk, wo = (
        max(len(h), *map(len, col))
        for h, col in (("name", names), ("kind", [e.kind for e in entries]), ("origin", [e.origin for e in entries]))
    )
    print(f"{'name':<{wn}}  {'kind':<{wk}}  {'origin':<{wo}}  accuracy")
    for e, name in zip(entries, names, strict=True):
        acc = e.summary.get("dice") or e.summary.get("validation") or {}
        acc_s = (
            ", ".join(f"{k} {v:.3f}" for k, v in acc.items() if isinstance(v, float)) if isinstance(acc, dict) else acc
        )
        if not acc_s and "fewshot" in e.summary:
            acc_s = _fewshot_summary(e.summary["fewshot"])
        print(f"{name:<{wn}}  {e.kind:<{wk}}  {e.origin:<{wo}}  {acc_s}")
    return 0


def _fewshot_summary(fewshot: dict) -> str:
    """'few-shot mean Dice n=1 0.668 (scratch 0.615, paired gain +0.053 +- 0.076), ...' for a backbone's line."""
    ours, scratch = fewshot.get("mean_dice", {}), fewshot.get("scratch_mean_dice", {})
    gains = fewshot.get("gain", {})
    cells = []
    for n, v in ours.items():
        notes = [f"scratch {scratch[n]:.3f}"] if n in scratch else []
        if n in gains:  # paired over draws (same patients and seed): the number to judge a start by
            notes.append(f"paired gain {gains[n]['mean']:+.3f} +- {gains[n]['sd']:.3f}")
        cells.append(f"n={n} {v:.3f}" + (f" ({', '.join(notes)})" if notes else ""))
    return "few-shot mean Dice " + ", ".join(cells)
