"""Segment a cine: every slice of every requested frame in batches, native geometry out.

Flow: normalise the whole cine once -> find the heart on frame 0 and crop every slice to a
box around it -> resample in plane to the model's spacing -> pad to the network's divisor
-> forward in batches (bf16 on GPU and on CPUs with native bf16; 8-slice batches on CPU;
optional flip TTA) -> probabilities back to the native grid -> argmax -> the model's
anatomical clean-up per frame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.device import inference_autocast, resolve_device
from CardiacSSLLib.models.unet import UNet2D
from CardiacSSLLib.preprocess import InplaneGrid, from_network, normalize_intensity, plan_grid, to_network, with_roi
from CardiacSSLLib.progress import CancelToken, Progress
from CardiacSSLLib.stage_timer import timed

log = logging.getLogger(__name__)


def load_model(model: str | Path | torch.nn.Module, verify: bool = True) -> tuple[torch.nn.Module, dict]:
    """A ready model from a registry name, a checkpoint path, or an instance (config from it)."""
    if isinstance(model, torch.nn.Module):
        # any segmentation network with a U-Net ``config`` and ``forward -> logits``
        # (e.g. the CPS ensemble of two U-Nets)
        if not hasattr(model, "config"):
            raise TypeError("a network passed directly needs a UNetConfig `config` attribute")
        return model, getattr(model, "cardiacssl_config", {"network": model.config.to_dict()})
    from CardiacSSLLib.checkpoint import load_unet
    from CardiacSSLLib.errors import ModelError
    from CardiacSSLLib.registry import resolve

    entry = resolve(str(model))
    net, cfg = load_unet(entry.path, verify=verify)
    if entry.sha256 and cfg.get("sha256") != entry.sha256:
        raise ModelError(f"model {entry.name}: config sha256 does not match the registry")
    if cfg.get("kind", "segmentation") != "segmentation":
        raise ModelError(
            f"{entry.name} is a {cfg.get('kind')} checkpoint (pretrained backbone), not a segmentation model: "
            "fine-tune it first (cardiacssl finetune --init ...)"
        )
    net.cardiacssl_config = cfg
    return net, cfg


def keep_largest_components(label: np.ndarray, structures: Sequence[int] = (1, 2, 3)) -> np.ndarray:
    """Keep the largest 3D-connected component of each structure in a ``(Z, Y, X)`` label map."""
    from CardiacSSLLib.postprocess import largest_components

    return largest_components(label, structures)


def channel_argmax(maps: torch.Tensor) -> torch.Tensor:
    """``argmax`` over dim 1 of ``(N, C, H, W)``; channels-last first, ~10x faster on CPU."""
    return maps.permute(0, 2, 3, 1).contiguous().argmax(-1)


HEART_BOX_MIN_PX = 144  # 216 mm at 1.5 mm: a dilated heart with its RV fits with margin
HEART_BOX_MARGIN_PX = 16


def locate_heart(
    net: UNet2D, slices: torch.Tensor, grid: InplaneGrid, dev: torch.device, batch_size: int, precision: str = "auto"
) -> InplaneGrid:
    """Grid cropped to a box around the heart found by a first pass over ``slices`` (one frame).

    Cropping to the heart is what makes a whole cine fast on a CPU (most of a short-axis
    field of view is chest wall and lungs); the box is generous and stays the same for
    every frame. No heart found: the whole field of view is kept.
    """
    fg = torch.zeros(grid.resampled, dtype=torch.bool)
    left, right, top, bottom = grid.pad
    with torch.inference_mode():
        for b in range(0, slices.shape[0], batch_size):
            x = to_network(slices[b : b + batch_size], grid).to(dev)
            with inference_autocast(dev, precision):
                pred = channel_argmax(net(x).float().cpu())
            h, w = pred.shape[-2:]
            fg |= (pred[:, top : h - bottom, left : w - right] > 0).any(0)
    if not fg.any():
        return grid
    ys, xs = torch.nonzero(fg, as_tuple=True)
    m = HEART_BOX_MARGIN_PX
    box = (int(ys.min()) - m, int(ys.max()) + 1 + m, int(xs.min()) - m, int(xs.max()) + 1 + m)
    return with_roi(grid, box, net.config.divisor, HEART_BOX_MIN_PX)


def _forward(model: UNet2D, x: torch.Tensor, tta: bool) -> torch.Tensor:
    probs = torch.softmax(model(x).float(), dim=1)
    if tta:
        for dims in ((-1,), (-2,), (-2, -1)):
            probs += torch.softmax(model(torch.flip(x, dims)).float(), dim=1).flip(dims)
        probs /= 4
    return probs


def _segment_slices(
    net, flat, grid, dev, batch_size, precision, tta, class_weights, progress, cancel, timings, probabilities=False
) -> np.ndarray:
    """Labels ``(N, H, W)`` of normalised native slices ``flat`` ``(N, 1, H, W)``, in batches;
    ``probabilities``: the class probabilities ``(N, C, H, W)`` (float32) instead."""
    out = None
    n_batches = -(-flat.shape[0] // batch_size)
    if progress is not None:
        progress.total = n_batches
    with torch.inference_mode():
        for b in range(n_batches):
            if cancel is not None:
                cancel.check()
            chunk = flat[b * batch_size : (b + 1) * batch_size]
            with timed(timings, "preprocess"):
                x = to_network(chunk, grid).to(dev)
                if dev.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
            with timed(timings, "network"), inference_autocast(dev, precision):
                probs = _forward(net, x, tta)
            with timed(timings, "postprocess"):
                probs = from_network(probs.float(), grid)
                if class_weights is not None:
                    probs = probs * class_weights
                if probabilities:
                    result = probs.cpu().numpy()
                else:
                    result = channel_argmax(probs.cpu()).to(torch.uint8).numpy()
            if out is None:
                out = np.empty((flat.shape[0], *result.shape[1:]), dtype=result.dtype)
            out[b * batch_size : b * batch_size + chunk.shape[0]] = result
            if progress is not None:
                progress.step(b + 1, stage="segment")
    return out


def _prepare(model, cine: Cine, device, batch_size, precision, crop_to_heart, timings):
    """``(net, config, device, grid, batch_size, class_weights)`` for segmenting ``cine`` with ``model``."""
    net, cfg = load_model(model)
    dev = resolve_device(device)
    net = net.to(dev).eval()
    if batch_size is None:
        batch_size = 8 if dev.type == "cpu" else 32
    target = cfg.get("preprocess", {}).get("target_spacing")
    post = cfg.get("postprocess") or {}
    class_weights = None
    if post.get("class_weights"):
        class_weights = torch.tensor(post["class_weights"], dtype=torch.float32).view(1, -1, 1, 1)
    g = cine.geometry
    grid = plan_grid(
        cine.image.shape[-2:],
        (g.spacing[1], g.spacing[0]) if g.spacing_known else None,
        target,
        net.config.divisor,
    )
    if crop_to_heart:
        # localised on frame 0 of the cine whatever frames are asked for, so results never
        # depend on the selection
        with timed(timings, "network"):
            first = torch.from_numpy(normalize_intensity(cine.image[0])[:, None])
            grid = locate_heart(net, first, grid, dev, batch_size, precision)
    return net, cfg, dev, grid, batch_size, class_weights


def segment_cine(
    model: str | Path | torch.nn.Module,
    cine: Cine,
    frames: Sequence[int] | None = None,
    device: str = "auto",
    tta: bool = False,
    batch_size: int | None = None,
    precision: str = "auto",
    cleanup: bool | Sequence[str] = True,
    crop_to_heart: bool = True,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    timings: dict[str, float] | None = None,
    class_factors: Sequence[float] | None = None,
) -> np.ndarray:
    """Label map ``uint8 (len(frames), Z, Y, X)`` (canonical labels) on the cine's native grid.

    ``cleanup``: True applies the model's post-processing steps (its config's
    ``postprocess.steps``, else :data:`CardiacSSLLib.postprocess.DEFAULT_STEPS`); a list of
    step names applies those; False none. A model's ``postprocess.class_weights`` (one factor
    per class, chosen on validation data) scale the probabilities before the argmax.
    ``batch_size`` None: 8 slices on CPU (cache-sized batches run fastest there), 32 on GPU.
    ``precision``: ``auto`` (bf16 where the device computes it natively), ``fp32`` or ``bf16``.
    ``timings``: seconds per stage (preprocess, network, postprocess) are added to it.
    ``class_factors``: one more factor per class on top of the model's class weights (a
    calibration to one patient, :mod:`CardiacSSLLib.propagation.calibrate`).
    """
    net, cfg, dev, grid, batch_size, class_weights = _prepare(
        model, cine, device, batch_size, precision, crop_to_heart, timings
    )
    if class_factors is not None:
        factors = torch.tensor([float(f) for f in class_factors], dtype=torch.float32).view(1, -1, 1, 1)
        class_weights = factors if class_weights is None else class_weights * factors
    frames = list(range(cine.n_frames)) if frames is None else [int(f) for f in frames]
    post = cfg.get("postprocess") or {}
    with timed(timings, "preprocess"):
        image = normalize_intensity(cine.image[frames])
    flat = torch.from_numpy(image.reshape(-1, 1, *image.shape[-2:]))
    out = _segment_slices(net, flat, grid, dev, batch_size, precision, tta, class_weights, progress, cancel, timings)
    label = out.reshape(len(frames), cine.n_slices, *image.shape[-2:])
    if cleanup:
        from CardiacSSLLib.postprocess import DEFAULT_STEPS, clean_up

        steps = post.get("steps", DEFAULT_STEPS) if cleanup is True else list(cleanup)
        with timed(timings, "postprocess"):
            for t in range(label.shape[0]):
                label[t] = clean_up(label[t], steps)
    return label


def segment_probabilities(
    model: str | Path | torch.nn.Module,
    cine: Cine,
    frames: Sequence[int] | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    precision: str = "auto",
    crop_to_heart: bool = True,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, dict]:
    """Class probabilities ``float32 (len(frames), Z, C, Y, X)`` on the native grid, the model's
    class weights applied, and the model's config: what :func:`segment_cine` takes the argmax of
    (before its clean-up, ``config["postprocess"]``), for callers that re-weigh the classes."""
    net, cfg, dev, grid, batch_size, class_weights = _prepare(
        model, cine, device, batch_size, precision, crop_to_heart, None
    )
    frames = list(range(cine.n_frames)) if frames is None else [int(f) for f in frames]
    image = normalize_intensity(cine.image[frames])
    flat = torch.from_numpy(image.reshape(-1, 1, *image.shape[-2:]))
    out = _segment_slices(
        net, flat, grid, dev, batch_size, precision, False, class_weights, progress, cancel, None, True
    )
    return out.reshape(len(frames), cine.n_slices, *out.shape[1:]), cfg
