"""Text tables and report files of an evaluation result (:mod:`CardiacSSLLib.evaluation`).

``write_report`` writes, per dataset, ``<dataset>_cases.csv`` (Dice/HD95/ASSD per case,
phase and structure), ``<dataset>_clinical.csv`` (model and manual quantities per
patient), ``<dataset>_agreement.csv`` (bias, limits of agreement, MAE, r; overall and
per group) and ``<dataset>_bland_altman.png``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

from CardiacSSLLib.metrics.agreement import QUANTITIES
from CardiacSSLLib.metrics.output import write_atomic

AGREEMENT_COLUMNS = ("quantity", "unit", "group", "n", "bias", "loa_low", "loa_high", "mae", "r", "manual_mean")


def _fmt(value, digits: int = 4):
    """CSV cells: 4 significant decimals, empty for missing (no 15-digit noise)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return value


def _csv(rows: list[dict], columns: tuple[str, ...] | list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in columns})
    return buf.getvalue()


def _dice_rows(result: dict) -> list[dict]:
    rows = []
    for case in result["cases"]:
        for name, m in case["structures"].items():
            rows.append(
                {
                    "case": case["case"],
                    "group": case.get("group", ""),
                    "phase": case.get("phase", ""),
                    "structure": name,
                    "dice": m["dice"],
                    "hd95": m["hd95"],
                    "assd": m["assd"],
                    "distance_unit": case.get("distance_unit", ""),
                }
            )
    return rows


def _clinical_rows(result: dict) -> list[dict]:
    rows = []
    for p in result.get("patients", []):
        for q in QUANTITIES:
            model, manual = p["model"][q.key], p["manual"][q.key]
            if math.isfinite(model) or math.isfinite(manual):
                rows.append(
                    {
                        "case": p["case"],
                        "group": p.get("group", ""),
                        "quantity": q.key,
                        "unit": q.unit,
                        "model": model,
                        "manual": manual,
                        "difference": model - manual,
                    }
                )
    return rows


def write_report(result: dict, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """The CSV and PNG files of one dataset's result in ``out_dir``; returns the paths written."""
    from CardiacSSLLib.metrics.bland_altman import plot_bland_altman

    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", result["dataset"])
    out = Path(out_dir)
    written = [
        write_atomic(
            out / f"{stem}_cases.csv",
            _csv(_dice_rows(result), ("case", "group", "phase", "structure", "dice", "hd95", "assd", "distance_unit")),
            overwrite,
        )
    ]
    if result.get("patients"):
        columns = ("case", "group", "quantity", "unit", "model", "manual", "difference")
        written.append(write_atomic(out / f"{stem}_clinical.csv", _csv(_clinical_rows(result), columns), overwrite))
        written.append(
            write_atomic(out / f"{stem}_agreement.csv", _csv(result["agreement"], AGREEMENT_COLUMNS), overwrite)
        )
        png = plot_bland_altman(
            result["patients"], out / f"{stem}_bland_altman.png", f"{result['dataset']}: model vs manual", overwrite
        )
        if png is not None:
            written.append(png)
    return written


def _dice_table(summary: dict, title: str) -> list[str]:
    lines = [f"{title:10} {'Dice':>7} {'HD95':>7} {'ASSD':>7}"]
    for name, metrics in summary["structures"].items():
        vals = [metrics[m]["mean"] for m in ("dice", "hd95", "assd")]
        lines.append(f"  {name:8} {vals[0]:7.3f} {vals[1]:7.2f} {vals[2]:7.2f}")
    mean = summary["mean"]
    lines.append(f"  {'mean':8} {mean['dice']:7.3f} {mean['hd95']:7.2f} {mean['assd']:7.2f}")
    return lines


def format_summary(result: dict) -> str:
    """Dice per phase and the clinical agreement table (overall; groups in the CSV)."""
    summ = result["summary"]
    n_patients = len({c["case"] for c in result["cases"]})
    ran = f", {result['precision']} inference" if result.get("precision") else ""
    lines = [f"{result['dataset']}: {n_patients} studies (distances in {summ.get('distance_unit', '?')}{ran})"]
    phases = result.get("summary_by_phase") or {"all": summ}
    for phase, s in phases.items():
        lines += _dice_table(s, phase)
    lines.append(f"mean Dice over phases and structures: {summ['mean']['dice']:.3f}")
    rows = [r for r in result.get("agreement", []) if r["group"] == "all"]
    if rows:
        lines.append(f"{'vs manual':12} {'n':>3} {'bias':>7} {'95% limits':>17} {'MAE':>6} {'r':>6}")
        for r in rows:
            limits = f"[{r['loa_low']:+.1f}, {r['loa_high']:+.1f}]" if math.isfinite(r["sd"]) else "n/a"
            lines.append(
                f"  {r['label'] + ' (' + r['unit'] + ')':12} {r['n']:3d} {r['bias']:+7.1f} {limits:>17} "
                f"{r['mae']:6.1f} {r['r']:6.3f}"
            )
    lines += [f"note: {n}" for n in result.get("notes", [])]
    return "\n".join(lines)
