"""What the front ends' quality check costs on a real cine, and that the worker gives the in-process table.

For each chosen Sunnybrook cine (20 phases; the model's segmentation, cached with
``propagation_sunnybrook.py``): the anatomy and volume-curve flags alone in-process (what the
module did on its GUI thread before), the whole check with the model-confidence flag through the
module's worker process (:class:`CardiacSSLWorkflow.qc_process.QualityProcess`, process start
included), and whether its rows equal :func:`CardiacSSLWorkflow.qc_logic.compute` in-process.

    PYTHONPATH=. python benchmarks/qc_worker.py --sunnybrook ../shared/data/sunnybrook --cines 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from propagation_sunnybrook import predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sunnybrook", default="../shared/data/sunnybrook")
    ap.add_argument("--model", default="acdc-unet16-v2")
    ap.add_argument("--cache", default="/work/runs/qc-cache")
    ap.add_argument("--cines", type=int, default=1, help="how many of the Sunnybrook cines (in listing order)")
    args = ap.parse_args()
    from CardiacSSLLib.io.datasets import list_sunnybrook, load_sunnybrook
    from CardiacSSLWorkflow import qc_logic
    from CardiacSSLWorkflow.finetune_runner import SubprocessRunner
    from CardiacSSLWorkflow.qc_process import QualityProcess

    print("cine | frames x slices | flags without the model, in-process (s) | worker with confidence (s) | same rows")
    for scd in list_sunnybrook(args.sunnybrook)[: args.cines]:
        cine = load_sunnybrook(args.sunnybrook, scd)
        labels = predict(cine, args.model, Path(args.cache))
        request = qc_logic.QualityRequest(cine, list(range(cine.n_frames)), labels, args.model, "cpu")
        start = time.perf_counter()
        qc_logic.compute(request, confidence=False)
        quick = time.perf_counter() - start
        start = time.perf_counter()
        result, rows = QualityProcess(SubprocessRunner(), python=sys.executable).run(request, timeout=600)
        worker = time.perf_counter() - start
        if not result.ok:
            raise SystemExit(QualityProcess.summary(result))
        same = rows == qc_logic.rows(qc_logic.compute(request, confidence=True))
        flagged = sum(1 for r in rows if r["flags"])
        print(f"{cine.name} | {cine.n_frames} x {cine.n_slices} | {quick:.2f} | {worker:.1f} | {same} "
              f"({flagged} of {len(rows)} slices flagged)")  # fmt: skip


if __name__ == "__main__":
    main()
