"""DINO (Caron et al.) in the CNN setting of de Mooij et al.: student/EMA-teacher self-distillation.

2 global crops (image size) + 6 local crops (half size): the teacher sees the global crops,
the student all crops; cross-entropy between centred/sharpened teacher and student outputs.
Encoder -> global pool -> DINO head (out 8192). The teacher's encoder is saved and transfers.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from CardiacSSLLib.methods import augment as A
from CardiacSSLLib.methods.base import Batch, OptimSettings, PretrainMethod
from CardiacSSLLib.methods.losses import dino_loss
from CardiacSSLLib.models.heads import DINOHead, GlobalPool
from CardiacSSLLib.models.unet import UNet2D, UNetConfig


class _Branch(nn.Module):
    def __init__(self, unet: UNet2D, head: DINOHead) -> None:
        super().__init__()
        self.unet, self.pool, self.head = unet, GlobalPool(), head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.unet.encode(x)[-1]))


class DINO(PretrainMethod):
    name = "dino"
    paper = "Caron et al. 2021 (CNN setting), as used by de Mooij et al."
    transfer = "encoder (teacher)"
    defaults = OptimSettings(  # AdamW: see SimCLR
        optimizer="adamw", lr=5e-4, weight_decay=1e-4, batch_size=64, epochs=100, clip_grad=3.0
    )

    def __init__(
        self,
        network: UNetConfig,
        out_dim: int = 8192,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        n_local: int = 6,
        global_scale: tuple[float, float] = (0.14, 1.0),
        local_scale: tuple[float, float] = (0.05, 0.14),
        student_temp: float = 0.1,
        teacher_temp: float = 0.04,
        momentum: float = 0.996,
        center_momentum: float = 0.9,
    ) -> None:
        super().__init__(network)
        c = self.backbone.config.features[-1]
        self.student = _Branch(self.backbone, DINOHead(c, out_dim, hidden_dim, bottleneck_dim))
        self.teacher = copy.deepcopy(self.student)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, out_dim))
        self.inten = A.IntensityAug()
        self.n_local, self.global_scale, self.local_scale = n_local, global_scale, local_scale
        self.student_temp, self.teacher_temp = student_temp, teacher_temp
        self.momentum, self.center_momentum = momentum, center_momentum
        self._hp = {
            "out_dim": out_dim,
            "hidden_dim": hidden_dim,
            "bottleneck_dim": bottleneck_dim,
            "n_local": n_local,
            "global_scale": list(global_scale),
            "local_scale": list(local_scale),
            "student_temp": student_temp,
            "teacher_temp": teacher_temp,
            "momentum": momentum,
            "center_momentum": center_momentum,
        }

    def hparams(self) -> dict:
        return dict(self._hp)

    def backbones(self) -> dict[str, UNet2D]:
        return {"backbone": self.teacher.unet}

    def _crops(
        self, x: torch.Tensor, n: int, scale: tuple[float, float], size: tuple[int, int], g
    ) -> list[torch.Tensor]:
        return [
            A.intensity(A.warp(x, A.random_crop_affine(x.shape[0], scale, g, x.device), size), self.inten, g)
            for _ in range(n)
        ]

    def forward(self, batch: Batch, step: int, total: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, g = batch.images, batch.generator
        h, w = x.shape[-2:]
        d = self.backbone.config.divisor
        local = (max(d, (h // 2) // d * d), max(d, (w // 2) // d * d))
        globals_ = self._crops(x, 2, self.global_scale, (h, w), g)
        locals_ = self._crops(x, self.n_local, self.local_scale, local, g)
        s_global = self.student(torch.cat(globals_)).chunk(2)
        s_local = self.student(torch.cat(locals_)).chunk(self.n_local) if self.n_local else ()
        with torch.no_grad():
            t_out = self.teacher(torch.cat(globals_))
        teacher = list(t_out.chunk(2))
        loss = dino_loss(list(s_global) + list(s_local), teacher, self.center, self.student_temp, self.teacher_temp)
        with torch.no_grad():
            batch_center = t_out.float().mean(dim=0, keepdim=True)
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(batch_center)
                batch_center /= torch.distributed.get_world_size()
            self.center.mul_(self.center_momentum).add_(batch_center * (1 - self.center_momentum))
        return loss, {"dino": loss.detach()}

    @torch.no_grad()
    def after_step(self, step: int, total: int) -> None:
        m = 1 - (1 - self.momentum) * (math.cos(math.pi * step / max(total, 1)) + 1) / 2
        for ps, pt in zip(self.student.parameters(), self.teacher.parameters(), strict=True):
            pt.mul_(m).add_(ps.detach(), alpha=1 - m)
