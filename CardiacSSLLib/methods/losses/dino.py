"""DINO's self-distillation loss (cross-entropy between sharpened teacher and student outputs)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dino_loss(
    student: list[torch.Tensor],
    teacher: list[torch.Tensor],
    center: torch.Tensor,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
) -> torch.Tensor:
    """student: one (B, K) output per crop (global crops first); teacher: one per global crop.

    Mean over all (teacher crop t, student crop s != t) pairs of
    sum_k -softmax((teacher_t - center) / teacher_temp)_k * log_softmax(student_s / student_temp)_k.
    """
    targets = [F.softmax((t.float() - center) / teacher_temp, dim=-1).detach() for t in teacher]
    logps = [F.log_softmax(s.float() / student_temp, dim=-1) for s in student]
    total, n = 0.0, 0
    for ti, q in enumerate(targets):
        for si, logp in enumerate(logps):
            if si == ti:
                continue
            total = total + (-q * logp).sum(dim=-1).mean()
            n += 1
    return total / n
