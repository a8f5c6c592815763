"""nnU-Net-like 2D U-Net built from MONAI's DynUNet blocks, with encoder and decoder exposed.

The pretraining methods need the pieces separately (Chaitanya's global loss uses the
encoder's bottleneck, its local loss the first decoder blocks, MIM/Pix2Rep the whole
network's last decoder features), so the network is an explicit list of encoder stages
and decoder stages rather than MONAI's recursive DynUNet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from monai.networks.blocks.dynunet_block import UnetBasicBlock, UnetOutBlock, UnetUpBlock
from torch import nn


@dataclass
class UNetConfig:
    """Everything needed to rebuild the network (stored next to the weights)."""

    in_channels: int = 1
    out_channels: int = 4  # background, LV, MYO, RV
    features: tuple[int, ...] = (16, 32, 64, 128, 256)
    norm: str = "instance"
    deep_supervision: bool = False
    deep_supervision_heads: int = 2  # extra outputs at the 2 coarser decoder levels

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> UNetConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "features" in known:
            known["features"] = tuple(int(f) for f in known["features"])
        return cls(**known)

    @property
    def divisor(self) -> int:
        """Spatial sizes must be multiples of this (one stride-2 per stage after the first)."""
        return 2 ** (len(self.features) - 1)


@dataclass
class DecoderOutput:
    logits: torch.Tensor  # (B, out_channels, H, W)
    features: list[torch.Tensor] = field(default_factory=list)  # decoder stages, coarse->fine
    deep: list[torch.Tensor] = field(default_factory=list)  # extra logits, fine->coarse


class UNet2D(nn.Module):
    """``encode(x) -> skips``, ``decode(skips) -> DecoderOutput``, ``forward(x) -> logits``.

    In training mode with deep supervision, ``forward`` returns ``[logits, *deep]``
    (each upsampled to full size) for MONAI's ``DeepSupervisionLoss``.
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or UNetConfig()
        f = self.config.features
        if len(f) < 2:
            raise ValueError("a U-Net needs at least two feature levels")
        norm = self.config.norm
        self.encoder = nn.ModuleList(
            UnetBasicBlock(2, self.config.in_channels if i == 0 else f[i - 1], f[i], 3, 1 if i == 0 else 2, norm)
            for i in range(len(f))
        )
        self.decoder = nn.ModuleList(UnetUpBlock(2, f[i + 1], f[i], 3, 1, 2, norm) for i in reversed(range(len(f) - 1)))
        self.head = UnetOutBlock(2, f[0], self.config.out_channels)
        n_deep = min(self.config.deep_supervision_heads, len(f) - 2) if self.config.deep_supervision else 0
        # decoder stage k (0 = coarsest) has f[-2-k] channels; heads on stages just above the finest
        self.deep_heads = nn.ModuleList(UnetOutBlock(2, f[1 + j], self.config.out_channels) for j in range(n_deep))

    @property
    def encoder_channels(self) -> tuple[int, ...]:
        return self.config.features

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        return skips  # fine -> coarse; skips[-1] is the bottleneck

    def decode(self, skips: list[torch.Tensor], n_stages: int | None = None) -> DecoderOutput:
        """Run the decoder; ``n_stages`` stops early (Chaitanya's local loss uses the first l)."""
        x = skips[-1]
        feats = []
        for k, stage in enumerate(self.decoder):
            if n_stages is not None and k >= n_stages:
                return DecoderOutput(logits=torch.empty(0), features=feats)
            x = stage(x, skips[-2 - k])
            feats.append(x)
        deep = [head(feats[-2 - j]) for j, head in enumerate(self.deep_heads)]
        return DecoderOutput(logits=self.head(x), features=feats, deep=deep)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        out = self.decode(self.encode(x))
        if self.training and out.deep:
            size = out.logits.shape[-2:]
            return [out.logits] + [nn.functional.interpolate(d, size=size, mode="bilinear") for d in out.deep]
        return out.logits

    def reset_head(self, out_channels: int | None = None) -> None:
        """Fresh output convolution(s), e.g. after pretraining with another output size."""
        if out_channels is not None:
            self.config.out_channels = out_channels
        self.head = UnetOutBlock(2, self.config.features[0], self.config.out_channels)
        self.deep_heads = nn.ModuleList(
            UnetOutBlock(2, self.config.features[1 + j], self.config.out_channels) for j in range(len(self.deep_heads))
        )


def build_unet(config: UNetConfig | dict | None = None) -> UNet2D:
    if isinstance(config, dict):
        config = UNetConfig.from_dict(config)
    return UNet2D(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
