"""Pseudo-labels for self-training: a teacher model labels unlabelled frames, and only the
frames it labels consistently are kept.

Consistency is the agreement of the teacher with itself under flips (the same signal as the
quality flag ``flip_disagreement``): the frame is predicted as is, flipped left-right and
flipped up-down; the pseudo-label is the argmax of the mean softmax, and a frame is kept when
every flipped prediction overlaps it with a foreground Dice of at least ``min_agreement``.
Frames with no heart in the consensus are dropped, as fine-tuning drops empty slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from CardiacSSLLib.engine.data import LabelledSlice
from CardiacSSLLib.engine.unlabelled import UnlabelledFrames
from CardiacSSLLib.progress import CancelToken, Progress


@dataclass
class PseudoLabelStats:
    frames: int  # frames the teacher labelled
    kept: int  # frames kept as pseudo-labelled slices
    empty: int  # frames without heart in the consensus
    min_agreement: float


def foreground_dice(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-frame Dice of the multi-class foreground overlap of two (N, H, W) label maps (1 when both empty)."""
    same = ((a == b) & (a > 0)).flatten(1).sum(1).float()
    total = ((a > 0).flatten(1).sum(1) + (b > 0).flatten(1).sum(1)).float()
    return torch.where(total > 0, 2 * same / total.clamp_min(1), torch.ones_like(total))


@torch.no_grad()
def flip_consensus(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels (N, H, W), agreement (N,)): argmax of the mean softmax over identity and two flips,
    and the lowest foreground Dice between it and any one of the three predictions."""
    probs = []
    for dims in ((), (-1,), (-2,)):
        xi = x.flip(dims) if dims else x
        p = net(xi).float().softmax(1)
        probs.append(p.flip(dims) if dims else p)
    consensus = torch.stack(probs).mean(0).argmax(1)
    agreement = torch.stack([foreground_dice(p.argmax(1), consensus) for p in probs]).min(0).values
    return consensus, agreement


def pseudo_label(
    net: torch.nn.Module,
    frames: UnlabelledFrames,
    device: torch.device | str = "cpu",
    min_agreement: float = 0.9,
    batch_size: int = 16,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> tuple[list[LabelledSlice], PseudoLabelStats]:
    """Label ``frames`` with ``net`` (eval mode) and keep the consistent ones as training slices."""
    net.eval().to(device)
    kept: list[LabelledSlice] = []
    empty = 0
    n = len(frames)
    for start in range(0, n, batch_size):
        if cancel is not None:
            cancel.check()
        x = frames.images[start : start + batch_size].float().to(device)
        labels, agreement = flip_consensus(net, x)
        labels, agreement = labels.cpu().numpy().astype(np.uint8), agreement.cpu().numpy()
        for i in range(labels.shape[0]):
            if not labels[i].any():
                empty += 1
                continue
            if agreement[i] >= min_agreement:
                image = frames.images[start + i, 0].float().numpy()
                kept.append(LabelledSlice(image, labels[i], f"pseudo:{start + i}"))
        if progress is not None:
            progress.step(min(start + batch_size, n), kept=len(kept))
    return kept, PseudoLabelStats(frames=n, kept=len(kept), empty=empty, min_agreement=min_agreement)
