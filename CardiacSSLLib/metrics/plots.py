"""Volume-curve figure of a :class:`ClinicalResult` (matplotlib, off-screen)."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

from CardiacSSLLib.labels import COLORS, LV, RV
from CardiacSSLLib.metrics.clinical import ClinicalResult
from CardiacSSLLib.metrics.output import prepare_output, write_atomic


def plot_volume_curve(
    result: ClinicalResult, path: str | os.PathLike, overwrite: bool = False, title: str | None = None
) -> Path:
    """Plot LV (and RV if present) volume against time with ED and ES marked; write a PNG.

    The x axis is the trigger time in ms when known, else the frame index. Drawn on an
    Agg canvas created here (no pyplot, so the caller's matplotlib backend is untouched).
    """
    prepare_output(path, overwrite)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if result.times_ms is not None:
        xs, xlabel = list(result.times_ms), "time (ms)"
    else:
        xs, xlabel = list(result.frames), "frame"
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    curves = [("LV", LV, result.lv_volume_ml)]
    if result.rv_present:
        curves.append(("RV", RV, result.rv_volume_ml))
    for name, value, vols in curves:
        ax.plot(xs, vols, "o-", color=COLORS[value], label=f"{name} blood pool", markersize=3)
    for frame, tag, style in ((result.ed_frame, "ED", "--"), (result.es_frame, "ES", ":")):
        if frame is None:
            continue
        x = xs[result.frames.index(frame)]
        ax.axvline(x, color="0.3", linestyle=style, linewidth=1)
        ax.annotate(tag, (x, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom")
    text = f"LV EF {result.lv_ef_percent:.1f}%" if math.isfinite(result.lv_ef_percent) else "LV EF n/a"
    if result.rv_present and math.isfinite(result.rv_ef_percent):
        text += f", RV EF {result.rv_ef_percent:.1f}%"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("volume (ml)")
    ax.set_title(f"{title}: {text}" if title else text, pad=14)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return write_atomic(path, buf.getvalue(), overwrite)
