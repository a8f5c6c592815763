"""Paired comparison of two training starts over the same draws (same patients, same seed).

The draws differ far more than the starts do (one patient can give Dice 0.4 or 0.8), so a
start is judged by its gain over scratch on each draw, not by two unpaired means.
"""

from __future__ import annotations

import numpy as np

STRUCTURES = ("LV", "MYO", "RV", "mean")


def paired_gain(start: list[dict], base: list[dict], structures: tuple[str, ...] = STRUCTURES) -> dict[str, dict]:
    """Per structure: mean and SD (over draws, ddof 1; NaN for one draw) of ``start - base``, the gains
    per draw and how many draws the start is above ``base``. ``start[i]`` and ``base[i]`` share draw i."""
    if len(start) != len(base) or not start:
        raise ValueError(f"need the same non-zero number of draws for both starts, got {len(start)} and {len(base)}")
    out = {}
    for s in structures:
        gains = np.array([float(a[s]) - float(b[s]) for a, b in zip(start, base, strict=True)])
        out[s] = {
            "mean": float(gains.mean()),
            "sd": float(gains.std(ddof=1)) if len(gains) > 1 else float("nan"),
            "per_draw": [float(g) for g in gains],
            "above": int((gains > 0).sum()),
        }
    return out


def mean_and_sd(runs: list[dict], structure: str) -> tuple[float, float]:
    """Mean and SD (ddof 1; NaN for one run) of one structure's Dice over ``runs``."""
    values = np.array([float(r[structure]) for r in runs])
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")
