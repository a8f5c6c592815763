"""What every pretraining method provides to the engine.

A method is an ``nn.Module`` built from a :class:`UNet2D` backbone (``self.backbone``) and
small heads. ``forward(batch, step, total)`` returns the loss and a dict of detached scalar tensors
(read by the engine only when it logs, so the GPU is not synchronised every step; DDP
wraps the module as is). The engine saves ``backbones()`` and records which weights transfer
to a segmentation network (``transfer_prefixes``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from CardiacSSLLib.models.unet import UNet2D, UNetConfig


@dataclass
class Batch:
    """A batch of unlabelled 2D frames scaled to about [0, 1]."""

    images: torch.Tensor  # (B, 1, H, W)
    volume: torch.Tensor  # (B,) int64: index of the 3D stack (one cine phase) the frame comes from
    position: torch.Tensor  # (B,) float: relative slice position in the stack, 0 (base) .. 1 (apex)
    generator: torch.Generator = field(default_factory=torch.Generator)  # CPU generator for augmentation


@dataclass
class FrameMeta:
    """Per-frame metadata the structured samplers need (numpy arrays, one entry per frame)."""

    volume: np.ndarray
    position: np.ndarray


@dataclass
class OptimSettings:
    """A paper's optimiser and schedule; the engine builds them from this."""

    optimizer: str = "adamw"  # "adamw" | "adam" | "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine" | "constant"
    batch_size: int = 32
    epochs: int = 100
    warmup_fraction: float = 0.0
    clip_grad: float | None = None  # max gradient norm (DINO: 3.0)

    def to_dict(self) -> dict:
        return asdict(self)


class PretrainMethod(nn.Module):
    """Base class: subclasses set the class attributes and implement ``forward``."""

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    transfer: ClassVar[str] = "encoder"  # human-readable: what transfers to a segmentation U-Net
    defaults: ClassVar[OptimSettings] = OptimSettings()
    backbone_out_channels: ClassVar[int] = 4  # output conv size of the backbone during pretraining

    def __init__(self, network: UNetConfig) -> None:
        super().__init__()
        cfg = UNetConfig.from_dict({**network.to_dict(), "deep_supervision": False})
        cfg.out_channels = self.backbone_out_channels
        self.backbone = UNet2D(cfg)

    # --- what the engine asks -------------------------------------------------------------
    @property
    def n_stages(self) -> int:
        return 1

    def set_stage(self, stage: int) -> None:
        """Switch training stage (Chaitanya: global then local); freezes/unfreezes parameters."""

    def hparams(self) -> dict:
        """Method hyperparameters recorded in the checkpoint config."""
        return {}

    def backbones(self) -> dict[str, UNet2D]:
        """Networks to save: ``{"backbone": unet}`` (CCM adds ``"backbone_b"``)."""
        return {"backbone": self.backbone}

    def transfer_prefixes(self) -> list[str]:
        """State-dict key prefixes of the backbone that transfer to a segmentation network."""
        return ["encoder."]

    def sample_indices(self, meta: FrameMeta, batch_size: int, rng: np.random.Generator) -> np.ndarray | None:
        """Structured batch composition (volumes x partitions); None means uniform sampling."""
        return None

    @torch.no_grad()
    def after_step(self, step: int, total: int) -> None:
        """Hook after the optimiser step (DINO's EMA teacher)."""

    def forward(self, batch: Batch, step: int, total: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError


def encoder_prefixes() -> list[str]:
    return ["encoder."]


def decoder_prefixes(n_stages: int | None = None, n_decoder: int = 0) -> list[str]:
    """Encoder + the first ``n_stages`` decoder stages (all when None); never the output conv."""
    if n_stages is None:
        return ["encoder.", "decoder."]
    return ["encoder."] + [f"decoder.{k}." for k in range(min(n_stages, n_decoder))]
