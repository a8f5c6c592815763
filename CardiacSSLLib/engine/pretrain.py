"""Self-supervised pretraining loop: unlabelled frames -> method -> backbone checkpoint.

Reads top to bottom: resolve device and process group, gather frames, build the method and
its paper's optimiser, precompute the learning-rate schedule, resume from the newest valid
training checkpoint, train (bf16 autocast and channels_last on CUDA), write periodic atomic
checkpoints and a JSON-lines log, and finally the backbone checkpoint(s)
(``<out>/backbone.safetensors`` + ``.json``, ``"kind": "backbone"``) that fine-tuning loads
with :func:`CardiacSSLLib.methods.transfer.load_backbone_into`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from CardiacSSLLib.device import autocast, resolve_device
from CardiacSSLLib.engine import distributed as D
from CardiacSSLLib.engine.pretrain_batches import BatchStream, random_crops  # noqa: F401  (re-exported)
from CardiacSSLLib.engine.pretrain_checkpoints import (  # noqa: F401  (re-exported)
    CHECKPOINTS,
    _unflatten_optimizer,
    latest_training_state,
    save_backbones,
    save_training_state,
)
from CardiacSSLLib.engine.pretrain_health import healthy_stop, run_health
from CardiacSSLLib.engine.run_record import RunRecord
from CardiacSSLLib.engine.unlabelled import UnlabelledFrames, load_unlabelled
from CardiacSSLLib.errors import InputError, ModelError, OutputExistsError
from CardiacSSLLib.methods import OptimSettings, PretrainMethod, build_method
from CardiacSSLLib.methods.transfer import load_backbone_into  # noqa: F401  (re-exported for fine-tuning)
from CardiacSSLLib.models.unet import UNetConfig
from CardiacSSLLib.progress import CancelToken, Progress

log = logging.getLogger(__name__)

BACKBONE = "backbone"
LOG_FILE = "log.jsonl"


@dataclass
class PretrainConfig:
    """Everything a pretraining run needs; ``None`` fields take the method paper's default."""

    method: str = "mim"
    sources: list[str] = field(default_factory=list)  # see engine/unlabelled.py
    out: str = "pretrain-out"
    iterations: int | None = None  # optimiser steps (overrides epochs)
    epochs: float | None = None
    batch_size: int | None = None  # per process
    lr: float | None = None
    optimizer: str | None = None  # "adam" | "sgd"
    weight_decay: float | None = None
    image_size: int = 128  # training crop; frames are stored 1.5x larger
    target_spacing: float | None = 1.5  # mm, for sources with known spacing (as fine-tuning/inference)
    features: tuple[int, ...] = (16, 32, 64, 128, 256)
    norm: str = "instance"
    hparams: dict = field(default_factory=dict)  # method-specific, e.g. {"global_strategy": "GD"}
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA
    channels_last: bool = True  # on CUDA
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    resume: bool = False
    overwrite: bool = False
    health: bool = True  # backbone health checks at the end (engine/health.py)
    health_probe: str | None = None  # ACDC root for the probe; default: the root of an acdc: source
    stop_when_healthy: bool = False  # check at each checkpoint of the last stage; stop once they pass

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PretrainConfig:
        known = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        if "features" in known:
            known["features"] = tuple(known["features"])
        return cls(**known)


@dataclass
class PretrainResult:
    backbones: dict[str, Path]  # "backbone" (and "backbone_b" for CCM) -> .safetensors
    steps: int
    wall_s: float
    images_per_s: float
    final_metrics: dict
    method: PretrainMethod = field(repr=False)


# --------------------------------------------------------------------------- optimisation


def resolve_settings(cfg: PretrainConfig, defaults: OptimSettings) -> OptimSettings:
    s = OptimSettings(**defaults.to_dict())
    for name in ("batch_size", "lr", "optimizer", "weight_decay", "epochs"):
        value = getattr(cfg, name)
        if value is not None:
            setattr(s, name, value)
    if s.optimizer not in ("adamw", "adam", "sgd"):
        raise InputError(f"unknown optimizer {s.optimizer!r}: use adamw, adam or sgd")
    if s.batch_size < 2:
        raise InputError("batch size must be at least 2 (contrastive losses need negatives)")
    return s


def build_optimizer(method: PretrainMethod, s: OptimSettings) -> torch.optim.Optimizer:
    params = [p for p in method.parameters() if p.requires_grad]
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov, weight_decay=s.weight_decay)
    if s.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    return torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)


def lr_schedule(s: OptimSettings, stage_bounds: list[int]) -> np.ndarray:
    """Learning rate of every step: per stage, linear warm-up then cosine (or constant)."""
    total = stage_bounds[-1]
    lrs = np.empty(total, dtype=np.float64)
    for a, b in zip(stage_bounds[:-1], stage_bounds[1:], strict=True):
        n = b - a
        warm = int(round(s.warmup_fraction * n))
        t = np.arange(n)
        after = np.clip(t - warm, 0, None) / max(n - warm, 1)
        base = 0.5 * (1 + np.cos(np.pi * after)) if s.schedule == "cosine" else np.ones(n)
        if warm:
            base = np.where(t < warm, (t + 1) / warm, base)
        lrs[a:b] = s.lr * base
    return lrs


def stage_bounds(total: int, n_stages: int) -> list[int]:
    return [round(total * k / n_stages) for k in range(n_stages + 1)]


# --------------------------------------------------------------------------- the loop


def _prepare_out(cfg: PretrainConfig, info: D.DistInfo) -> Path:
    out = Path(cfg.out).expanduser()
    if info.is_main:
        if (out / f"{BACKBONE}.json").exists() and not (cfg.overwrite or cfg.resume):
            raise OutputExistsError(f"{out} already holds a pretrained backbone; pass --overwrite or --resume")
        if cfg.overwrite and not cfg.resume:
            for j in (out / CHECKPOINTS).glob("resume-*"):
                j.unlink()
            (out / LOG_FILE).unlink(missing_ok=True)
        (out / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class _Loop:
    """What the step loop reads and changes (a new stage rebuilds the optimiser and the DDP wrapper)."""

    cfg: PretrainConfig
    method: PretrainMethod
    settings: OptimSettings
    opt: torch.optim.Optimizer
    model: torch.nn.Module
    stream: BatchStream
    lrs: np.ndarray
    bounds: list[int]
    info: D.DistInfo
    device: torch.device
    channels_last: bool
    out: Path
    network: UNetConfig | None = None
    frames: UnlabelledFrames | None = None
    health: object | None = None  # the HealthReport that stopped the run early
    stopped_at: int | None = None

    @property
    def total(self) -> int:
        return self.bounds[-1]

    def stage_of(self, step: int) -> int:
        n = self.method.n_stages
        return max(k for k in range(n) if self.bounds[k] <= step) if step < self.total else n - 1


def _resume(loop: _Loop, resumed) -> int:
    """Load a resume checkpoint into the method (and the optimiser, within the same stage)."""
    cfg, (rcfg, state) = loop.cfg, resumed
    if rcfg.get("method") != cfg.method:
        raise InputError(f"{loop.out} holds a {rcfg.get('method')} run; cannot resume it as {cfg.method}")
    loop.method.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("method/")})
    if int(rcfg.get("stage", 0)) == loop.stage_of(int(rcfg["step"])):  # else a new stage starts: fresh optimiser
        loop.opt.load_state_dict(
            _unflatten_optimizer({k: v for k, v in state.items() if k.startswith("optim/")}, rcfg["optimizer"])
        )
    log.info("resumed %s at step %d of %d", cfg.method, int(rcfg["step"]), loop.total)
    return int(rcfg["step"])


def _steps(loop: _Loop, start: int, record, progress, cancel) -> tuple[dict, int, float]:
    """Steps ``start..total``: schedule, stages, logging, checkpoints. Returns (metrics, images, seconds)."""
    cfg, method, info, total = loop.cfg, loop.method, loop.info, loop.total
    t0, seen, metrics = time.monotonic(), 0, {}
    for step in range(start, total):
        if cancel is not None:
            cancel.check()
        stage = loop.stage_of(step)
        if stage != getattr(method, "stage", 0):
            method.set_stage(stage)
            loop.opt = build_optimizer(method, loop.settings)
            loop.model = D.wrap(method, info, loop.device)
            record("stage", stage=stage, step=step)
        for group in loop.opt.param_groups:
            group["lr"] = float(loop.lrs[step])
        batch = loop.stream.batch_at(step, method, loop.device, loop.channels_last)
        with autocast(loop.device, cfg.amp):
            loss, step_metrics = loop.model(batch, step, total)
        loop.opt.zero_grad(set_to_none=True)
        loss.backward()
        if loop.settings.clip_grad:
            params = [p for p in method.parameters() if p.requires_grad]
            torch.nn.utils.clip_grad_norm_(params, loop.settings.clip_grad)
        loop.opt.step()
        method.after_step(step + 1, total)
        seen += batch.images.shape[0] * info.world_size
        done = step + 1
        checkpoint = done % cfg.checkpoint_every == 0 or done == total
        if done % cfg.log_every == 0 or checkpoint:  # reading the loss synchronises the GPU: not every step
            value = float(loss.detach())
            if not math.isfinite(value):  # before a checkpoint could keep diverged weights
                raise ModelError(f"{cfg.method} loss became {value} by step {done}; lower the learning rate")
            metrics = {
                "loss": D.mean_across(value, info, loop.device),
                **{k: float(v) for k, v in step_metrics.items()},
                "lr": float(loop.lrs[step]),
                "images_per_s": round(seen / max(time.monotonic() - t0, 1e-9), 2),
            }
            record("step", step=done, total=total, **metrics)
            if progress is not None:
                progress.step(done, **metrics)
        if checkpoint:
            if info.is_main:
                save_training_state(loop.out, method, loop.opt, done, cfg, cfg.keep_checkpoints)
            D.barrier(info)
            if done < total and healthy_stop(loop, done, record):
                break
    return metrics, seen, time.monotonic() - t0


def _setup(cfg: PretrainConfig, frames: UnlabelledFrames | None):
    """Device, process group, output folder, method, settings, frames, schedule; seeds torch first."""
    device = resolve_device(cfg.device)
    info = D.init_from_env(device.type == "cuda")
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    run = RunRecord.begin(device)  # the commit of the code that trains, not whatever is checked out at the end
    out = _prepare_out(cfg, info)
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    network = UNetConfig(features=tuple(cfg.features), norm=cfg.norm)
    if cfg.image_size % network.divisor:
        raise InputError(
            f"image size {cfg.image_size} must be a multiple of {network.divisor} for {len(cfg.features)} levels"
        )
    method = build_method(cfg.method, network, **cfg.hparams)
    settings = resolve_settings(cfg, method.defaults)
    if frames is None:
        frames = load_unlabelled(cfg.sources, cfg.image_size, cfg.target_spacing)
    total = cfg.iterations or max(1, math.ceil(settings.epochs * len(frames) / (settings.batch_size * info.world_size)))
    return device, info, run, out, network, method, settings, frames, stage_bounds(total, method.n_stages)


def pretrain(
    cfg: PretrainConfig,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    frames: UnlabelledFrames | None = None,
) -> PretrainResult:
    """Run a pretraining job; ``frames`` may be given directly (else read from ``cfg.sources``)."""
    device, info, run, out, network, method, settings, frames, bounds = _setup(cfg, frames)
    channels_last = cfg.channels_last and device.type == "cuda"
    loop = _Loop(cfg, method, settings, None, None, None, lr_schedule(settings, bounds), bounds, info, device,
                 channels_last, out, network, frames)  # fmt: skip
    resumed = latest_training_state(out) if cfg.resume else None
    method.set_stage(loop.stage_of(resumed[0]["step"]) if resumed else 0)
    method.to(device)
    if channels_last:
        method.to(memory_format=torch.channels_last)
    loop.opt = build_optimizer(method, settings)
    start = _resume(loop, resumed) if resumed else 0
    loop.model = D.wrap(method, info, device)
    loop.stream = BatchStream(frames, settings.batch_size, cfg.image_size, info, cfg.seed)
    total = loop.total

    logf = open(out / LOG_FILE, "a") if info.is_main else None  # noqa: SIM115  (closed in finally)
    own_progress = progress is None and info.is_main
    if own_progress:
        progress = Progress(total=total, description=f"pretrain {cfg.method}")
    elif progress is not None:
        progress.total = total  # known only now (epochs x frames / batch)
        if not info.is_main:
            progress = None

    def record(kind: str, **data) -> None:
        if logf is not None:
            logf.write(json.dumps({"event": kind, "time": round(time.time(), 3), **data}, default=float) + "\n")
            logf.flush()
        if progress is not None and kind != "step":
            progress.event(kind, **data)

    run.resumed_at(start)
    record(
        "start",
        method=cfg.method,
        config=cfg.to_dict(),
        optimisation=settings.to_dict(),
        total=total,
        start_step=start,
        frames=len(frames),
        volumes=frames.n_volumes,
        world_size=info.world_size,
        device=str(device),
        commit=run.commit,
    )
    try:
        metrics, seen, wall = _steps(loop, start, record, progress, cancel)
        ips = seen / max(wall, 1e-9)
        paths: dict[str, Path] = {}
        if info.is_main:
            health = loop.health or run_health(cfg, method, network, frames)
            if health is not None:
                record("health", passed=health.passed, failures=health.failures, probe_dice=health.probe_dice)
            extra = {"images_per_s": round(ips, 2), "wall_s": round(wall, 1), **run.fields()}
            if health is not None:
                extra["health"] = health.to_dict()
            paths = save_backbones(out, method, cfg, settings, frames, loop.stopped_at or total, info, extra)
            record(
                "done",
                backbones={k: str(v) for k, v in paths.items()},
                wall_s=round(wall, 2),
                images_per_s=round(ips, 2),
            )
        D.barrier(info)
        return PretrainResult(
            backbones=paths,
            steps=loop.stopped_at or total,
            wall_s=wall,
            images_per_s=ips,
            final_metrics=metrics,
            method=method,
        )
    finally:
        if logf is not None:
            logf.close()
        if own_progress and progress is not None:
            progress.close()
