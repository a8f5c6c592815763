"""Health checks of pretrained backbones (bundled ones by default): drift, feature rank, probe.

For each backbone, its initial weights are rebuilt from its recorded method, hyperparameters
and seed (pretraining seeds torch, then builds the method), and
:func:`CardiacSSLLib.engine.health.check_backbone` compares it with those random weights:
how far each transferred conv moved, the effective rank of its features, and a frozen-feature
probe fitted on one ACDC training patient and scored on two validation patients.
Prints numbers; not a test.

    python benchmarks/backbone_health.py [--acdc ../shared/data/acdc] [BACKBONE ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("backbones", nargs="*", help="names or paths (default: every bundled backbone)")
    ap.add_argument("--acdc", default=str(ROOT.parent / "shared" / "data" / "acdc"))
    args = ap.parse_args()

    from CardiacSSLLib.checkpoint import load_unet, read_config
    from CardiacSSLLib.engine.health import acdc_probe_data, check_backbone, initial_backbones, sample_frames
    from CardiacSSLLib.models.unet import UNetConfig, build_unet
    from CardiacSSLLib.registry import list_models, resolve

    names = args.backbones or [e.name for e in list_models() if e.kind == "backbone"]
    probe = acdc_probe_data(args.acdc)
    frames = probe[1][0][:64]
    for name in names:
        entry = resolve(name)
        cfg = read_config(entry.path)
        net, _ = load_unet(entry.path)
        net = net.float()
        # the main backbone is built first from the seed alone (heads come after it), so the
        # recorded hyperparameters (whose names can differ from the constructor's) are not needed
        init = initial_backbones(cfg["method"], UNetConfig.from_dict(cfg["network"]), {}, cfg.get("seed", 0))[
            "backbone"
        ]
        random_net = build_unet(cfg["network"])
        random_net.load_state_dict(init)
        r = check_backbone(net, init, random_net, cfg["transfer_prefixes"], sample_frames(frames, 128), probe)
        drift = r.drift
        deep = {k: v for k, v in drift.items() if k.startswith(("encoder.4", "decoder.0", "decoder.1"))}
        print(f"\n{name} ({cfg['method']}, transfers {cfg['transfer_prefixes']}): {'passed' if r.passed else 'FAILED'}")
        print(f"  probe Dice {r.probe_dice:.3f} vs random weights {r.probe_dice_random:.3f}")
        print(
            "  effective rank " + ", ".join(f"{k} {v:.1f} (random {r.rank_random[k]:.1f})" for k, v in r.rank.items())
        )
        deep_median = float(np.median(list(deep.values()))) if deep else float("nan")
        print(
            f"  drift 1-cos: min {min(drift.values()):.4f}, median {np.median(list(drift.values())):.4f}; "
            f"deep layers (encoder.4, decoder.0/1) median {deep_median:.4f}"
        )
        for failure in r.failures:
            print(f"  - {failure}")


if __name__ == "__main__":
    main()
