"""Seconds to segment whole cines through the command line users run, split by stage, vs naive.

For each cine (a real Sunnybrook DICOM study from ../shared and a synthetic 25-frame x
12-slice NIfTI phantom) the benchmark runs, as fresh processes:
- ``cardiacssl segment CINE --json-progress``: wall time from process start to files written,
  split into start-up (interpreter, imports, model), read, preprocess, network, post-process,
  write and plots (the ``timings_s`` the command reports; start-up is the rest);
- the naive pipeline on the same network: a script that reads the cine with the library, then
  runs MONAI ``sliding_window_inference`` (128 px windows, overlap 0.5, fp32) frame by frame
  over the whole field of view and writes the label map (what a MONAI user writes first).
Median of ``--repeat`` runs each, interleaved. Prints one table; not a test. Time it on an
idle machine: anything else running changes the numbers.

    python benchmarks/segment_speed.py [--model default] [--repeat 3] [--cine PATH ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUNNYBROOK = ROOT.parent / "shared" / "data" / "sunnybrook" / "dicoms" / "SCD0000101"
STAGES = ("startup", "read", "preprocess", "network", "postprocess", "write", "plots")


def naive_main(cine_path: str, out: str, model: str) -> None:
    """The naive per-frame pipeline as its own process (``--naive``)."""
    import numpy as np
    import torch
    from monai.inferers import sliding_window_inference

    from CardiacSSLLib.inference import channel_argmax, load_model
    from CardiacSSLLib.io import load_cine, write_segmentation
    from CardiacSSLLib.preprocess import from_network, normalize_intensity, plan_grid, to_network

    net, cfg = load_model(model)
    net.eval()
    cine = load_cine(cine_path)
    target = cfg.get("preprocess", {}).get("target_spacing")
    g, roi = cine.geometry, 128
    grid = plan_grid(cine.image.shape[-2:], (g.spacing[1], g.spacing[0]), target, net.config.divisor, min_size=roi)
    label = np.empty(cine.image.shape, np.uint8)
    with torch.inference_mode():
        for t in range(cine.n_frames):
            x = to_network(torch.from_numpy(normalize_intensity(cine.image[t]))[:, None], grid)
            logits = sliding_window_inference(
                x, (roi, roi), sw_batch_size=4, predictor=net, overlap=0.5, mode="gaussian"
            )
            label[t] = channel_argmax(from_network(torch.softmax(logits, 1), grid)).numpy()
    write_segmentation(label, cine, Path(out) / "segmentation.nii.gz")


def run_ours(cine: Path, out: Path, model: str, precision: str) -> dict[str, float]:
    cmd = [sys.executable, "-m", "CardiacSSLLib.cli", "segment", str(cine), "--out", str(out), "--model", model]
    cmd += ["--precision", precision]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd + ["--json-progress", "--overwrite"], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"cardiacssl segment failed: {proc.stderr.strip()}")
    done = json.loads(proc.stdout.strip().splitlines()[-1])
    stages = dict(done["timings_s"])
    stages["startup"] = wall - sum(stages.values())
    stages["total"] = wall
    return stages


def run_naive(cine: Path, out: Path, model: str) -> float:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--naive", str(cine), str(out), "--model", model]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - t0


def phantom_cine(folder: Path) -> Path:
    from CardiacSSLLib.io import write_cine
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom(n_frames=25, n_slices=12, size=256, spacing=(1.4, 1.4, 8.0))
    return write_cine(cine, folder / "phantom.nii.gz")


def describe(path: Path) -> tuple[str, int]:
    from CardiacSSLLib.io import load_cine

    c = load_cine(path)
    h, w = c.image.shape[-2:]
    return f"{path.name}: {c.n_frames} frames x {c.n_slices} slices x {h}x{w}", c.n_frames * c.n_slices


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--naive":
        model = sys.argv[sys.argv.index("--model") + 1] if "--model" in sys.argv else "default"
        naive_main(sys.argv[2], sys.argv[3], model)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--precision", default="auto", help="ours: auto (bf16 where native), fp32 or bf16")
    ap.add_argument("--cine", nargs="*", help="cines to time (default: a Sunnybrook DICOM study and the phantom)")
    args = ap.parse_args()
    import torch

    print(
        f"cpu {platform.processor() or platform.machine()}, cores {os.cpu_count()}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, model {args.model}, precision {args.precision}, "
        f"median of {args.repeat} (fresh processes)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cines = [Path(c) for c in args.cine] if args.cine else [SUNNYBROOK, phantom_cine(Path(tmp))]
        print(f"{'cine':<44} {'pipeline':<8} {'total s':>7} " + " ".join(f"{s:>11}" for s in STAGES) + "  speed-up")
        for cine in cines:
            name, n_slices = describe(cine)
            ours, naive = [], []
            for i in range(args.repeat):
                ours.append(run_ours(cine, Path(tmp) / f"{cine.name}.out" / f"ours{i}", args.model, args.precision))
                naive.append(run_naive(cine, Path(tmp) / f"{cine.name}.out" / f"naive{i}", args.model))
            med = {s: statistics.median(r[s] for r in ours) for s in (*STAGES, "total")}
            mn = statistics.median(naive)
            stages = " ".join(f"{med[s]:11.2f}" for s in STAGES)
            print(f"{name:<44} {'ours':<8} {med['total']:7.2f} {stages}  {mn / med['total']:.1f}x")
            print(f"{'':<44} {'naive':<8} {mn:7.2f}   ({n_slices} slices)")


if __name__ == "__main__":
    main()
