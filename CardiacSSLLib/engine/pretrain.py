"""Self-supervised pretraining loop: unlabelled frames -> method -> backbone checkpoint.

Reads top to bottom: resolve device and process group, gather frames, build the method and
its paper's optimiser, precompute the learning-rate schedule, resume from the newest valid
training checkpoint, train (bf16 autocast and channels_last on CUDA), write periodic atomic
checkpoints and a JSON-lines log, and finally the backbone checkpoint(s)
(``<out>/backbone.safetensors`` + ``.json``, ``"kind": "backbone"``) that fine-tuning loads
with :func:`CardiacSSLLib.methods.transfer.load_backbone_into`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from CardiacSSLLib.checkpoint import load_state, read_config, save_checkpoint
from CardiacSSLLib.device import autocast, resolve_device
from CardiacSSLLib.engine import distributed as D
from CardiacSSLLib.engine.progress import CancelToken, Progress
from CardiacSSLLib.engine.run_record import RunRecord
from CardiacSSLLib.engine.unlabelled import UnlabelledFrames, load_unlabelled
from CardiacSSLLib.errors import InputError, ModelError, OutputExistsError
from CardiacSSLLib.methods import Batch, OptimSettings, PretrainMethod, build_method
from CardiacSSLLib.methods.transfer import load_backbone_into  # noqa: F401  (re-exported for fine-tuning)
from CardiacSSLLib.models.unet import UNetConfig

log = logging.getLogger(__name__)

BACKBONE = "backbone"
CHECKPOINTS = "checkpoints"
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


# --------------------------------------------------------------------------- batches


def random_crops(images: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 1, size, size) at random positions (the stored canvas is larger)."""
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    ys, xs = rng.integers(0, h - size + 1, len(images)), rng.integers(0, w - size + 1, len(images))
    return torch.stack([im[:, y : y + size, x : x + size] for im, y, x in zip(images, ys, xs, strict=True)])


class BatchStream:
    """Index batches per step: epochs of a rank's ``DistributedSampler`` shard, or the method's
    structured sampler (seeded by step, so a resumed run continues the same sequence)."""

    def __init__(self, frames: UnlabelledFrames, batch: int, size: int, info: D.DistInfo, seed: int) -> None:
        self.frames, self.batch, self.size, self.info, self.seed = frames, batch, size, info, seed
        if frames.images.shape[-1] < size or frames.images.shape[-2] < size:
            raise InputError(f"stored frames ({tuple(frames.images.shape[-2:])}) are smaller than the {size} crops")
        self.sampler = D.sampler(len(frames), info, seed)
        self.per_epoch = len(self.sampler) // batch
        self._epoch, self._order = -1, []

    def indices(self, step: int, method: PretrainMethod) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.info.rank, step])
        custom = method.sample_indices(self.frames.meta, self.batch, rng)
        if custom is not None:
            return custom
        if self.per_epoch == 0:  # fewer frames than a batch
            return rng.choice(len(self.frames), self.batch, replace=True)
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._epoch, self._order = epoch, list(self.sampler)
        return np.asarray(self._order[k * self.batch : (k + 1) * self.batch], dtype=np.int64)

    def batch_at(self, step: int, method: PretrainMethod, device: torch.device, channels_last: bool) -> Batch:
        idx = self.indices(step, method)
        rng = np.random.default_rng([self.seed, self.info.rank, step, 2])
        images = random_crops(self.frames.images[torch.from_numpy(idx)], self.size, rng)
        images = images.to(device, non_blocking=True).float()
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        g = torch.Generator().manual_seed(
            int(np.random.default_rng([self.seed, self.info.rank, step, 1]).integers(2**62))
        )
        return Batch(
            images=images,
            volume=torch.from_numpy(self.frames.volume[idx]).to(device),
            position=torch.from_numpy(self.frames.position[idx]).to(device),
            generator=g,
        )


# --------------------------------------------------------------------------- checkpoints


def _state_for_save(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # clone: shared submodules (DINO's student/backbone) would alias storages, refused by safetensors
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim/{idx}/{k}"] = v.detach().cpu().clone()
            else:
                scalars[f"{idx}/{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        _, idx, k = key.split("/", 2)
        state.setdefault(int(idx), {})[k] = v
    for key, v in meta.get("scalars", {}).items():
        idx, k = key.split("/", 1)
        state.setdefault(int(idx), {})[k] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_state(
    out: Path, method: PretrainMethod, opt: torch.optim.Optimizer, step: int, cfg: PretrainConfig, keep: int
) -> Path:
    """Atomic ``checkpoints/resume-<step>``; older ones beyond ``keep`` are removed afterwards."""
    opt_tensors, opt_meta = _flatten_optimizer(opt)
    state = {f"method/{k}": v for k, v in _state_for_save(method).items()} | opt_tensors
    path = out / CHECKPOINTS / f"resume-{step:08d}"
    config = {
        "kind": "resume",
        "step": step,
        "method": cfg.method,
        "stage": getattr(method, "stage", 0),
        "network": method.backbone.config.to_dict(),
        "config": cfg.to_dict(),
        "optimizer": opt_meta,
    }
    save_checkpoint(path, state, config)
    old = sorted((out / CHECKPOINTS).glob("resume-*.json"))[:-keep] if keep > 0 else []
    for j in old:
        j.with_suffix(".safetensors").unlink(missing_ok=True)
        j.unlink(missing_ok=True)
    return path


def latest_training_state(out: Path) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """The newest resume checkpoint whose weights verify (a torn write falls back to the previous one)."""
    for j in sorted((out / CHECKPOINTS).glob("resume-*.json"), reverse=True):
        try:
            cfg = read_config(j)
            return cfg, load_state(j, cfg.get("sha256"))
        except ModelError as exc:
            log.warning("ignoring unusable checkpoint %s: %s", j, exc)
    return None


def save_backbones(
    out: Path,
    method: PretrainMethod,
    cfg: PretrainConfig,
    settings: OptimSettings,
    frames: UnlabelledFrames,
    steps: int,
    info: D.DistInfo,
    extra: dict,
) -> dict[str, Path]:
    paths = {}
    nets = method.backbones()
    for name, net in nets.items():
        config = {
            "kind": "backbone",
            "method": method.name,
            "paper": method.paper,
            "network": net.config.to_dict(),
            "transfer": method.transfer,
            "transfer_prefixes": method.transfer_prefixes(),
            "hyperparameters": method.hparams(),
            "optimisation": settings.to_dict()
            | {
                "iterations": steps,
                "world_size": info.world_size,
                "global_batch": settings.batch_size * info.world_size,
            },
            "data": {
                "sources": list(cfg.sources),
                "summary": frames.sources,
                "n_frames": len(frames),
                "n_volumes": frames.n_volumes,
                "image_size": cfg.image_size,
                "target_spacing": cfg.target_spacing,
                "preprocess": "per-slice percentiles 0.5-99.5 to 0..1; resampled to target_spacing when "
                "known, native pixels otherwise; random image_size crops of a 1.5x centred canvas",
            },
            "seed": cfg.seed,
            **extra,  # the run record (commit, hardware, created, ...) and the run's speed
        }
        if len(nets) > 1:
            config["pair"] = sorted(n for n in nets if n != name)
        w, _ = save_checkpoint(out / name, _state_for_save(net), config)
        paths[name] = w
    return paths


# --------------------------------------------------------------------------- the loop


def _probe_root(cfg: PretrainConfig) -> str | None:
    if cfg.health_probe:
        return cfg.health_probe
    for spec in cfg.sources:
        kind, _, rest = spec.partition(":")
        if kind == "acdc" and rest:
            return rest.partition(":")[0]
    return None


def _health(cfg: PretrainConfig, method: PretrainMethod, network: UNetConfig, frames: UnlabelledFrames):
    """Health report of the main backbone, or None when switched off; never fails the run."""
    if not cfg.health:
        return None
    from CardiacSSLLib.engine.health import pretraining_health

    backbone = method.backbones()["backbone"]
    was_training = backbone.training
    try:
        report = pretraining_health(
            cfg.method,
            network,
            cfg.hparams,
            cfg.seed,
            copy.deepcopy(backbone).cpu().float(),
            method.transfer_prefixes(),
            frames.images,
            _probe_root(cfg),
        )
    finally:
        backbone.train(was_training)
    level = logging.INFO if report.passed else logging.WARNING
    log.log(level, "backbone health: %s", "passed" if report.passed else "; ".join(report.failures))
    return report


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


def pretrain(
    cfg: PretrainConfig,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    frames: UnlabelledFrames | None = None,
) -> PretrainResult:
    """Run a pretraining job; ``frames`` may be given directly (else read from ``cfg.sources``)."""
    device = resolve_device(cfg.device)
    info = D.init_from_env(device.type == "cuda")
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    run = RunRecord.begin(device)  # the commit of the code that trains, not whatever is checked out at the end
    out = _prepare_out(cfg, info)
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    channels_last = cfg.channels_last and device.type == "cuda"

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
    bounds = stage_bounds(total, method.n_stages)
    lrs = lr_schedule(settings, bounds)

    def stage_of(step: int) -> int:
        return max(k for k in range(method.n_stages) if bounds[k] <= step) if step < total else method.n_stages - 1

    start = 0
    resumed = latest_training_state(out) if cfg.resume else None
    method.set_stage(stage_of(resumed[0]["step"]) if resumed else 0)
    method.to(device)
    if channels_last:
        method.to(memory_format=torch.channels_last)
    opt = build_optimizer(method, settings)
    if resumed:
        rcfg, state = resumed
        if rcfg.get("method") != cfg.method:
            raise InputError(f"{out} holds a {rcfg.get('method')} run; cannot resume it as {cfg.method}")
        method.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("method/")})
        if int(rcfg.get("stage", 0)) == stage_of(int(rcfg["step"])):  # else a new stage starts: fresh optimiser
            opt.load_state_dict(
                _unflatten_optimizer({k: v for k, v in state.items() if k.startswith("optim/")}, rcfg["optimizer"])
            )
        start = int(rcfg["step"])
        log.info("resumed %s at step %d of %d", cfg.method, start, total)
    model = D.wrap(method, info, device)
    stream = BatchStream(frames, settings.batch_size, cfg.image_size, info, cfg.seed)

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
    t0, seen, metrics = time.monotonic(), 0, {}
    try:
        for step in range(start, total):
            if cancel is not None:
                cancel.check()
            stage = stage_of(step)
            if stage != getattr(method, "stage", 0):
                method.set_stage(stage)
                opt = build_optimizer(method, settings)
                model = D.wrap(method, info, device)
                record("stage", stage=stage, step=step)
            for group in opt.param_groups:
                group["lr"] = float(lrs[step])
            batch = stream.batch_at(step, method, device, channels_last)
            with autocast(device, cfg.amp):
                loss, step_metrics = model(batch, step, total)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if settings.clip_grad:
                torch.nn.utils.clip_grad_norm_([p for p in method.parameters() if p.requires_grad], settings.clip_grad)
            opt.step()
            method.after_step(step + 1, total)
            seen += batch.images.shape[0] * info.world_size
            done = step + 1
            checkpoint = done % cfg.checkpoint_every == 0 or done == total
            if done % cfg.log_every == 0 or checkpoint:  # reading the loss synchronises the GPU: not every step
                value = float(loss.detach())
                if not math.isfinite(value):  # before a checkpoint could keep diverged weights
                    raise ModelError(f"{cfg.method} loss became {value} by step {done}; lower the learning rate")
                elapsed = time.monotonic() - t0
                metrics = {
                    "loss": D.mean_across(value, info, device),
                    **{k: float(v) for k, v in step_metrics.items()},
                    "lr": float(lrs[step]),
                    "images_per_s": round(seen / max(elapsed, 1e-9), 2),
                }
                record("step", step=done, total=total, **metrics)
                if progress is not None:
                    progress.step(done, **metrics)
            if checkpoint:
                if info.is_main:
                    save_training_state(out, method, opt, done, cfg, cfg.keep_checkpoints)
                D.barrier(info)
        wall = time.monotonic() - t0
        ips = seen / max(wall, 1e-9)
        paths: dict[str, Path] = {}
        if info.is_main:
            health = _health(cfg, method, network, frames)
            if health is not None:
                record("health", passed=health.passed, failures=health.failures, probe_dice=health.probe_dice)
            paths = save_backbones(
                out,
                method,
                cfg,
                settings,
                frames,
                total,
                info,
                {"images_per_s": round(ips, 2), "wall_s": round(wall, 1), **run.fields()}
                | ({"health": health.to_dict()} if health is not None else {}),
            )
            record(
                "done",
                backbones={k: str(v) for k, v in paths.items()},
                wall_s=round(wall, 2),
                images_per_s=round(ips, 2),
            )
        D.barrier(info)
        return PretrainResult(
            backbones=paths, steps=total, wall_s=wall, images_per_s=ips, final_metrics=metrics, method=method
        )
    finally:
        if logf is not None:
            logf.close()
        if own_progress and progress is not None:
            progress.close()
