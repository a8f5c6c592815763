"""``qc.csv``: one row per slice and frame, its flags, score and correction rank.

``flags`` names the evidence flags above :data:`~CardiacSSLLib.quality.score.FLAG_THRESHOLD`;
every flag's value, the stack-end priors included, has its own column.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from CardiacSSLLib.errors import OutputExistsError
from CardiacSSLLib.quality.score import FLAG_THRESHOLD, FLAGS, PRIOR_FLAGS, QualityTable

COLUMNS = ("frame", "slice", "rank", "score", "benefit", "flags", *FLAGS)


def qc_rows(table: QualityTable) -> list[dict]:
    """Rows in ranking order (rank 1 = correct this first)."""
    index = {f: i for i, f in enumerate(table.frames)}
    rows = []
    for rank, (frame, z) in enumerate(table.ranking(), start=1):
        t = index[frame]
        values = {name: float(table.flags[name][t, z]) for name in FLAGS}
        rows.append(
            {
                "frame": frame,
                "slice": z,
                "rank": rank,
                "score": round(float(table.score[t, z]), 4),
                "benefit": round(float(table.benefit[t, z]), 4),
                # priors (stack ends) raise the score; only evidence names a flag
                "flags": " ".join(n for n, v in values.items() if v > FLAG_THRESHOLD and n not in PRIOR_FLAGS),
                **{n: round(v, 4) for n, v in values.items()},
            }
        )
    return rows


def write_qc_csv(table: QualityTable, path: str | os.PathLike, overwrite: bool = False) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists: choose another output or pass --overwrite")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(qc_rows(table))
    tmp.replace(path)
    return path
