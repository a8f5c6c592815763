"""Fast adaptation: fine-tune a copy of the model on the corrected frame, then re-segment the others.

The user's correction says how this patient's heart looks and where this annotator draws
the edges; a few steps of training on it make the model's other phases agree with it
(consistent edges at ED and ES are what EF depends on). The caller's model is never changed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.progress import CancelToken, Progress


@dataclass(frozen=True)
class AdaptConfig:
    """Chosen on the ACDC validation split (``benchmarks/propagation.py``)."""

    steps: int = 40
    lr: float = 1e-4
    batch_size: int = 8
    patch_size: int = 128
    seed: int = 0


def _training_slices(cine: Cine, labels: np.ndarray, corrected: Sequence[int], target_spacing: float | None):
    from CardiacSSLLib.engine.data import slices_from_cines

    labelled = np.zeros(cine.image.shape[:2], dtype=bool)
    labelled[list(corrected)] = True
    source = replace(cine, label=labels, labelled=labelled)
    return slices_from_cines([source], target_spacing, include_empty=True)


def adapt_model(
    model,
    cine: Cine,
    labels: np.ndarray,
    corrected_frames: Sequence[int],
    config: AdaptConfig | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
):
    """A fine-tuned copy of ``model`` (name, path or network) trained on the corrected frames' slices."""
    import torch
    from monai.losses import DiceCELoss
    from torch.utils.data import DataLoader, RandomSampler

    from CardiacSSLLib.device import resolve_device
    from CardiacSSLLib.engine.augment import training_transforms
    from CardiacSSLLib.engine.data import LabelledSlices
    from CardiacSSLLib.inference import load_model

    config = config or AdaptConfig()
    base, cfg = load_model(model)
    net = copy.deepcopy(base)
    net.cardiacssl_config = cfg
    dev = resolve_device(device)
    target = cfg.get("preprocess", {}).get("target_spacing") if cine.geometry.spacing_known else None
    transform = training_transforms(config.patch_size, strong=False)
    transform.set_random_state(seed=config.seed)
    dataset = LabelledSlices(_training_slices(cine, labels, corrected_frames, target), transform)
    gen = torch.Generator().manual_seed(config.seed)
    sampler = RandomSampler(dataset, replacement=True, num_samples=config.steps * config.batch_size, generator=gen)
    loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=True)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-5)
    torch.manual_seed(config.seed)
    net = net.to(dev).train()
    for step, batch in enumerate(loader, start=1):
        if cancel is not None:
            cancel.check()
        out = net(batch["image"].to(dev))
        logits = out[0] if isinstance(out, list) else out  # the full-resolution output only
        loss = loss_fn(logits, batch["label"].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress.step(step, stage="adapt", loss=float(loss.detach()))
    return net.eval()


def propagate_by_adaptation(
    model,
    cine: Cine,
    labels: np.ndarray,
    corrected_frames: Sequence[int],
    targets: Sequence[int] | None = None,
    config: AdaptConfig | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """A new label array: ``targets`` (default all but the corrected) re-segmented by the adapted model."""
    from CardiacSSLLib.inference import segment_cine
    from CardiacSSLLib.propagation.propagate import target_frames

    corrected, frames = target_frames(cine.image, labels, corrected_frames, targets)
    out = labels.copy()
    if not frames:
        return out
    net = adapt_model(model, cine, labels, corrected, config, device, progress, cancel)
    out[frames] = segment_cine(net, cine, frames, device=device, cancel=cancel)
    return out
