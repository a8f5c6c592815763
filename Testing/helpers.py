"""Small builders shared by tests: a tiny U-Net checkpoint and a small phantom."""

from __future__ import annotations

from pathlib import Path

import torch

from CardiacSSLLib.checkpoint import save_checkpoint
from CardiacSSLLib.models.unet import UNetConfig, build_unet

TINY = (8, 16, 32, 64)


def tiny_checkpoint(path: Path, seed: int = 0, target_spacing: float | None = 1.5) -> Path:
    torch.manual_seed(seed)
    net = build_unet(UNetConfig(features=TINY))
    save_checkpoint(
        path,
        net.state_dict(),
        {"kind": "segmentation", "network": net.config.to_dict(), "preprocess": {"target_spacing": target_spacing}},
    )
    return path


def small_phantom(n_frames: int = 4, n_slices: int = 5, size: int = 96, seed: int = 0):
    from CardiacSSLLib.phantom import make_phantom

    return make_phantom(n_frames=n_frames, n_slices=n_slices, size=size, seed=seed)


def flip_aware_oracle(cine, calls: list | None = None):
    """A stand-in for ``CardiacSSLLib.inference.segment_cine`` that knows ``cine``'s true labels, also for
    its left-right and up-down flipped copies (the quality check's confidence runs): they agree exactly.
    Each call's flip axis (None: not flipped) is appended to ``calls``."""
    import numpy as np

    def segment_cine(model, c, frames=None, cancel=None, **kwargs):
        if cancel is not None:
            cancel.check()
        frames = list(range(c.n_frames)) if frames is None else list(frames)
        for axis in (None, -1, -2):
            if np.array_equal(c.image, cine.image if axis is None else np.flip(cine.image, axis)):
                if calls is not None:
                    calls.append(axis)
                return (cine.label if axis is None else np.flip(cine.label, axis))[frames].copy()
        raise AssertionError("the oracle knows only its own cine")

    return segment_cine


class RecordingRunner:
    """A fine-tune ProcessRunner that records the command it is given instead of running it."""

    def __init__(self):
        from CardiacSSLWorkflow.signals import Signal

        self.progress, self.finished, self.command = Signal(), Signal(), None

    def start(self, command, env=None):
        self.command = command

    def is_running(self):
        return False
