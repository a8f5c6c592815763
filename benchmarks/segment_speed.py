"""Seconds and slices/s to segment a 25-frame x 12-slice cine end to end, vs a naive baseline.

Ours: ``cardiacssl segment``'s path (read NIfTI -> batched inference over all slices of all
frames -> native-geometry label map written). Baseline, same network and preprocessing:
MONAI ``sliding_window_inference`` over 128 px windows, frame by frame (the usual MONAI
recipe). Prints one table; not a test.

    python benchmarks/segment_speed.py [--model default] [--device auto] [--size 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def naive_segment(net, cine, device, roi: int = 128) -> np.ndarray:
    from monai.inferers import sliding_window_inference

    from CardiacSSLLib.inference import channel_argmax
    from CardiacSSLLib.preprocess import from_network, normalize_intensity, plan_grid, to_network

    target = getattr(net, "cardiacssl_config", {}).get("preprocess", {}).get("target_spacing")
    g = cine.geometry
    grid = plan_grid(cine.image.shape[-2:], (g.spacing[1], g.spacing[0]), target, net.config.divisor, min_size=roi)
    out = np.empty(cine.image.shape, np.uint8)
    with torch.inference_mode():
        for t in range(cine.n_frames):
            x = to_network(torch.from_numpy(normalize_intensity(cine.image[t]))[:, None], grid).to(device)
            logits = sliding_window_inference(
                x, (roi, roi), sw_batch_size=4, predictor=net, overlap=0.5, mode="gaussian"
            )
            out[t] = channel_argmax(from_network(torch.softmax(logits, 1), grid)).cpu().numpy()
    return out


def main() -> None:
    from CardiacSSLLib.device import resolve_device
    from CardiacSSLLib.inference import load_model, segment_cine
    from CardiacSSLLib.io import load_cine, write_cine, write_segmentation
    from CardiacSSLLib.phantom import make_phantom

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--slices", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    device = resolve_device(args.device)
    net, cfg = load_model(args.model)
    net = net.to(device).eval()
    cine = make_phantom(n_frames=args.frames, n_slices=args.slices, size=args.size, spacing=(1.4, 1.4, 8.0))
    n_slices = args.frames * args.slices
    with tempfile.TemporaryDirectory() as tmp:
        src = write_cine(cine, Path(tmp) / "cine.nii.gz")
        segment_cine(net, load_cine(src), frames=[0], device=str(device))  # warm-up
        ours, naive = [], []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            c = load_cine(src)
            label = segment_cine(net, c, device=str(device))
            write_segmentation(label, c, Path(tmp) / f"seg{i}.nii.gz")
            if device.type == "cuda":
                torch.cuda.synchronize()
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            c = load_cine(src)
            base = naive_segment(net, c, device)
            write_segmentation(base, c, Path(tmp) / f"naive{i}.nii.gz")
            if device.type == "cuda":
                torch.cuda.synchronize()
            naive.append(time.perf_counter() - t0)
    hw = torch.cuda.get_device_name(0) if device.type == "cuda" else f"{platform.processor() or 'cpu'}"
    print(
        f"model {cfg.get('name', args.model)} ({sum(p.numel() for p in net.parameters()) / 1e6:.2f} M params), "
        f"device {device} [{hw}], torch threads {torch.get_num_threads()}, cores {os.cpu_count()}"
    )
    print(f"cine {args.frames} frames x {args.slices} slices x {args.size}^2 px at 1.4 mm, median of {args.repeat}")
    print(f"{'pipeline':<34} {'seconds':>8} {'slices/s':>9}")
    mo, mn = statistics.median(ours), statistics.median(naive)
    print(f"{'cardiacssl (batched, all frames)':<34} {mo:8.2f} {n_slices / mo:9.1f}")
    print(f"{'naive (MONAI sliding window/frame)':<34} {mn:8.2f} {n_slices / mn:9.1f}")
    print(f"speed-up {mn / mo:.1f}x")


if __name__ == "__main__":
    main()
