"""Bland-Altman plots of model vs manual clinical quantities (matplotlib, off-screen)."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from CardiacSSLLib.metrics.agreement import QUANTITIES, agreement
from CardiacSSLLib.metrics.output import prepare_output, write_atomic


def plot_bland_altman(
    patients: Sequence[dict], path: str | os.PathLike, title: str = "", overwrite: bool = False
) -> Path | None:
    """One panel per quantity with data: difference vs mean, bias and 95 % limits; write a PNG.

    ``patients`` as for :func:`agreement_table`. Points are coloured by diagnostic group
    when known. Returns None (and writes nothing) when no quantity has a pair.
    """
    panels = []
    for q in QUANTITIES:
        pairs = [(p["model"][q.key], p["manual"][q.key], p.get("group") or "") for p in patients]
        pairs = [x for x in pairs if math.isfinite(x[0]) and math.isfinite(x[1])]
        if pairs:
            panels.append((q, pairs))
    if not panels:
        return None
    prepare_output(path, overwrite)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.6 * cols, 3.2 * rows), dpi=100)
    FigureCanvasAgg(fig)
    groups = sorted({g for _, pairs in panels for *_, g in pairs})
    palette = dict(zip(groups, ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7"), strict=False))
    for i, (q, pairs) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        model = np.array([m for m, _, _ in pairs])
        manual = np.array([r for _, r, _ in pairs])
        mean, diff = (model + manual) / 2, model - manual
        for group in groups:
            sel = np.array([g == group for *_, g in pairs])
            if sel.any():
                ax.scatter(mean[sel], diff[sel], s=14, color=palette.get(group, "C0"), label=group or None)
        stats = agreement(model, manual)
        ax.axhline(stats.bias, color="k", linewidth=1)
        if math.isfinite(stats.sd):
            for y in (stats.loa_low, stats.loa_high):
                ax.axhline(y, color="0.4", linestyle="--", linewidth=1)
        ax.axhline(0, color="0.75", linewidth=0.8)
        ax.set_title(f"{q.label}: bias {stats.bias:+.1f} {q.unit}", fontsize=9)
        ax.set_xlabel(f"mean of model and manual ({q.unit})", fontsize=8)
        ax.set_ylabel(f"model - manual ({q.unit})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        if i == 0 and any(groups):
            ax.legend(fontsize=6, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return write_atomic(path, buf.getvalue(), overwrite)
