"""Backbone health checks: did pretraining train the network, and are its features useful?

Three measurements, run at the end of every pretraining and printed on backbone cards:

- **drift** per layer: ``1 - cos(w_trained, w_init)`` of each convolution's weights. With
  instance norm after every conv the weights are scale-invariant, so a layer whose
  direction did not change (cos ~ 1) did not learn, however large its gradient steps;
- **effective rank** (Roy & Vetterli 2007: ``exp`` of the entropy of the normalised
  singular values) of the bottleneck and last-decoder features over a sample of frames;
  a collapsed representation has a small rank;
- **frozen-feature probe**: a 1x1 convolution trained on the frozen hypercolumn features
  (every encoder level upsampled, plus the last decoder level when the decoder transfers)
  of a few labelled slices, scored by Dice on other slices, next to the same network
  with random weights.

A backbone *passes* when every transferred level moved (``min drift > MIN_DRIFT``), its
bottleneck rank is not collapsed relative to random weights, and its probe beats the
random network's probe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from CardiacSSLLib.models.unet import UNet2D

MIN_DRIFT = 0.01  # 1 - cos below this: the layer's direction did not change
MIN_RANK_RATIO = 0.5  # bottleneck effective rank vs the random network's


@dataclass
class HealthReport:
    drift: dict[str, float]  # transferred conv weight -> 1 - cos(trained, init)
    rank: dict[str, float]  # "bottleneck" / "decoder" -> effective rank
    rank_random: dict[str, float]
    probe_dice: float
    probe_dice_random: float
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}

    def markdown(self) -> str:
        lines = [
            f"Health checks: **{'passed' if self.passed else 'FAILED'}**",
            "",
            f"- frozen-feature probe Dice {self.probe_dice:.3f} (random weights {self.probe_dice_random:.3f})",
            "- effective rank "
            + ", ".join(f"{k} {v:.1f} (random {self.rank_random.get(k, math.nan):.1f})" for k, v in self.rank.items()),
            f"- layers moved from initialisation (1 - cos): min {min(self.drift.values(), default=math.nan):.3f}, "
            f"median {float(np.median(list(self.drift.values()))) if self.drift else math.nan:.3f}",
        ]
        lines += [f"- failed: {f}" for f in self.failures]
        return "\n".join(lines)


def layer_drift(trained: dict[str, torch.Tensor], init: dict[str, torch.Tensor], prefixes: Sequence[str]) -> dict:
    """``1 - cos`` between trained and initial conv weights (4D tensors) under ``prefixes``."""
    out = {}
    for key, w in trained.items():
        if w.ndim != 4 or not key.startswith(tuple(prefixes)) or key not in init:
            continue
        a, b = w.detach().float().flatten(), init[key].detach().float().flatten()
        out[key] = float(1 - F.cosine_similarity(a, b, dim=0))
    return out


def effective_rank(features: torch.Tensor) -> float:
    """``exp(H(p))`` with ``p`` the normalised singular values of (samples x channels) features."""
    x = features.detach().float()
    x = x - x.mean(0, keepdim=True)
    s = torch.linalg.svdvals(x)
    s = s[s > s.max() * 1e-7] if s.numel() else s
    if s.numel() == 0:
        return 0.0
    p = s / s.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def _pixels(feature_map: torch.Tensor, max_pixels: int, g: torch.Generator) -> torch.Tensor:
    """(B, C, H, W) -> (N, C) with at most ``max_pixels`` random pixels."""
    flat = feature_map.permute(0, 2, 3, 1).reshape(-1, feature_map.shape[1])
    if flat.shape[0] > max_pixels:
        flat = flat[torch.randperm(flat.shape[0], generator=g)[:max_pixels]]
    return flat


@torch.no_grad()
def feature_ranks(net: UNet2D, images: torch.Tensor, max_pixels: int = 4096) -> dict[str, float]:
    net.eval()
    g = torch.Generator().manual_seed(0)
    skips = net.encode(images)
    dec = net.decode(skips)
    return {
        "bottleneck": effective_rank(_pixels(skips[-1], max_pixels, g)),
        "decoder": effective_rank(_pixels(dec.features[-1], max_pixels, g)),
    }


@torch.no_grad()
def hypercolumns(net: UNet2D, images: torch.Tensor, use_decoder: bool) -> torch.Tensor:
    """Every encoder level (and the last decoder level) at half the input size, per pixel.

    Half size keeps ~500 channels x a few dozen slices within a laptop's memory.
    """
    net.eval()
    skips = net.encode(images)
    size = (images.shape[-2] // 2, images.shape[-1] // 2)
    maps = [F.interpolate(s, size=size, mode="bilinear", align_corners=False) for s in skips]
    if use_decoder:
        maps.append(F.interpolate(net.decode(skips).features[-1], size=size, mode="bilinear", align_corners=False))
    feats = torch.cat(maps, 1)
    # per-channel standardisation so the probe's learning rate fits any backbone
    mean = feats.mean((0, 2, 3), keepdim=True)
    std = feats.std((0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (feats - mean) / std


def probe_dice(
    net: UNet2D,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    use_decoder: bool = False,
    steps: int = 150,
    seed: int = 0,
) -> float:
    """Mean foreground Dice of a 1x1-conv probe on frozen hypercolumns (labels 0..3)."""
    torch.manual_seed(seed)
    x_train = hypercolumns(net, train[0], use_decoder)
    x_test = hypercolumns(net, test[0], use_decoder)
    probe = torch.nn.Conv2d(x_train.shape[1], 4, 1)
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    y = train[1][:, ::2, ::2].long()  # labels at the hypercolumns' half size (nearest)
    y_test = test[1][:, ::2, ::2]
    for _ in range(steps):
        loss = F.cross_entropy(probe(x_train), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = probe(x_test).argmax(1)
    dices = []
    for c in (1, 2, 3):
        p, t = pred == c, y_test == c
        denom = int(p.sum() + t.sum())
        if denom:
            dices.append(2 * float((p & t).sum()) / denom)
    return float(np.mean(dices)) if dices else math.nan


def check_backbone(
    net: UNet2D,
    init_state: dict[str, torch.Tensor],
    random_net: UNet2D,
    transfer_prefixes: Sequence[str],
    unlabelled: torch.Tensor,
    probe: tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None,
) -> HealthReport:
    """All three checks; ``random_net`` has the same architecture and fresh random weights.

    ``probe`` is ``((train images, labels), (test images, labels))``; without it (no
    labelled data at hand) the probe is not run and reported as NaN.
    """
    use_decoder = any(p.startswith("decoder") for p in transfer_prefixes)
    drift = layer_drift(net.state_dict(), init_state, transfer_prefixes)
    rank, rank_random = feature_ranks(net, unlabelled), feature_ranks(random_net, unlabelled)
    dice = dice_random = math.nan
    if probe is not None:
        dice = probe_dice(net, *probe, use_decoder)
        dice_random = probe_dice(random_net, *probe, use_decoder)
    failures = []
    stuck = [k for k, v in drift.items() if v < MIN_DRIFT]
    if stuck:
        failures.append(f"{len(stuck)} transferred conv layers barely moved from initialisation, e.g. {stuck[0]}")
    if rank["bottleneck"] < MIN_RANK_RATIO * rank_random["bottleneck"]:
        failures.append(
            f"bottleneck features collapsed (effective rank {rank['bottleneck']:.1f}, "
            f"random weights {rank_random['bottleneck']:.1f})"
        )
    if probe is not None and not dice > dice_random:
        failures.append(f"frozen features probe no better than random weights ({dice:.3f} vs {dice_random:.3f})")
    return HealthReport(drift, rank, rank_random, dice, dice_random, failures)


def _centre(arr: np.ndarray, size: int) -> np.ndarray:
    """Centre crop / zero pad a 2D array to ``size`` x ``size``."""
    out = np.zeros((size, size), arr.dtype)
    h, w = arr.shape
    sy, sx = max(0, (h - size) // 2), max(0, (w - size) // 2)
    dy, dx = max(0, (size - h) // 2), max(0, (size - w) // 2)
    ch, cw = min(h, size), min(w, size)
    out[dy : dy + ch, dx : dx + cw] = arr[sy : sy + ch, sx : sx + cw]
    return out


def acdc_probe_data(
    root: str,
    train_patients: Sequence[str] = ("patient070",),
    test_split: str = "val",
    n_test: int = 2,
    size: int = 128,
    target_spacing: float | None = 1.5,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Labelled probe slices: ACDC training patients to fit, the first validation patients to score.

    Never the test split: the probe steers which backbones are bundled.
    """
    from CardiacSSLLib.engine.data import slices_from_arrays
    from CardiacSSLLib.engine.sources import acdc_patients, acdc_training_pairs

    def tensors(patients):
        slices = slices_from_arrays(acdc_training_pairs(root, list(patients)), target_spacing=target_spacing)
        slices = [s for s in slices if s.label.any()]
        x = torch.from_numpy(np.stack([_centre(s.image, size) for s in slices]))[:, None]
        y = torch.from_numpy(np.stack([_centre(s.label, size) for s in slices]).astype(np.int64))
        return x, y

    return tensors(train_patients), tensors(acdc_patients(root, test_split)[:n_test])


def initial_backbones(method_name: str, network, hparams: dict, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """The backbones' weights before training: pretraining seeds torch, then builds the method."""
    from CardiacSSLLib.methods import build_method

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        method = build_method(method_name, network, **hparams)
        return {
            k: {n: v.detach().clone() for n, v in net.state_dict().items()} for k, net in method.backbones().items()
        }
    finally:
        torch.random.set_rng_state(state)


def sample_frames(images: torch.Tensor, size: int, n: int = 64, seed: int = 0) -> torch.Tensor:
    """``n`` frames (deterministic choice), centre-cropped to ``size``, as float32."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(images.shape[0], generator=g)[:n]
    h, w = images.shape[-2:]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return images[idx, :, y0 : y0 + size, x0 : x0 + size].float()


def pretraining_health(
    method_name: str,
    network,
    hparams: dict,
    seed: int,
    backbone: UNet2D,
    transfer_prefixes: Sequence[str],
    images: torch.Tensor,
    probe_root: str | None,
) -> HealthReport:
    """:func:`check_backbone` for the main backbone of a finished pretraining run."""
    from CardiacSSLLib.models.unet import build_unet

    init = initial_backbones(method_name, network, hparams, seed)["backbone"]
    random_net = build_unet(backbone.config.to_dict())
    random_net.load_state_dict(init)
    size = min(128, images.shape[-1] - images.shape[-1] % backbone.config.divisor)
    probe = acdc_probe_data(probe_root, size=size) if probe_root else None
    net = backbone.cpu()
    return check_backbone(net, init, random_net, transfer_prefixes, sample_frames(images, size), probe)
