"""Supervised training and few-shot fine-tuning of the segmentation U-Net.

Reads top to bottom: resolve data -> build / initialise the network -> train with
Dice + CE (deep supervision optional) and strong MONAI augmentation -> validate on
held-out volumes, keep the best -> write ``<out>/model.safetensors`` + ``model.json``
atomically at the very end. A cancel saves resumable state in ``<out>/.resume`` and
never touches an existing model.
"""

from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from CardiacSSLLib import labels
from CardiacSSLLib.cine import Cine
from CardiacSSLLib.engine.run_record import RunRecord
from CardiacSSLLib.errors import Cancelled, InputError, OutputExistsError
from CardiacSSLLib.models.unet import UNet2D, UNetConfig, build_unet
from CardiacSSLLib.progress import CancelToken, Progress

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    out: str
    init: str | None = None  # segmentation model or pretrained backbone (name or path); None = scratch
    train_set: str | None = None  # a TrainingSet folder (the Slicer module's corrections)
    acdc_root: str | None = None
    acdc_train: list[str] = field(default_factory=list)  # patient ids, e.g. ["patient001"]
    acdc_val: list[str] = field(default_factory=list)  # volumes, e.g. ["patient028_frame01"]
    val_fraction: float = 0.2  # of train_set cases held out when no explicit validation data
    steps: int = 1000
    batch_size: int = 8
    patch_size: int = 160
    lr: float = 1e-3
    # lr factor for weights loaded from a backbone, and staged fine-tuning (train fresh weights
    # first); None: the recipe the backbone records under "finetune" (the one its card's few-shot
    # numbers were measured with), else 1.0 and 0
    pretrained_lr_scale: float | None = None
    freeze_pretrained_steps: int | None = None
    linear_probe: bool = False  # train only the output convolution(s) on a frozen backbone
    weight_decay: float = 1e-5
    features: tuple[int, ...] = (16, 32, 64, 128, 256)
    deep_supervision: bool = True
    target_spacing: float | None = 1.5
    strong_augmentation: bool = True
    val_every: int = 200
    seed: int = 0
    device: str = "auto"
    name: str = ""
    overwrite: bool = False
    resume: bool = False
    num_workers: int = 0
    amp: bool = True
    labelled_share: float = 0.5  # of sampled slices when extra (pseudo-labelled) slices are given


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    from monai.utils import set_determinism

    set_determinism(seed=seed)


def collect_data(cfg: FinetuneConfig) -> tuple[list, list[Cine]]:
    """Training slices and validation cines from every configured source."""
    from CardiacSSLLib.engine import sources
    from CardiacSSLLib.engine.data import slices_from_arrays, slices_from_cines

    train_slices: list = []
    val: list[Cine] = []
    if cfg.train_set:
        from CardiacSSLLib.io.trainingset import TrainingSet

        cases = TrainingSet(cfg.train_set).load_all()
        if not cases:
            raise InputError(f"training set {cfg.train_set} has no cases yet: add corrected frames first")
        train_cases, val_cases = sources.split_cases(cases, cfg.val_fraction, cfg.seed)
        train_slices += slices_from_cines(train_cases, cfg.target_spacing)
        val += val_cases
    if cfg.acdc_root and cfg.acdc_train:
        pairs = sources.acdc_training_pairs(cfg.acdc_root, cfg.acdc_train)
        train_slices += slices_from_arrays(pairs, source="acdc", target_spacing=cfg.target_spacing)
    if cfg.acdc_root and cfg.acdc_val:
        val += sources.acdc_volumes(cfg.acdc_root, cfg.acdc_val)
    if not train_slices:
        raise InputError("no labelled training data: give a training set or ACDC patients")
    return train_slices, val


def build_model(cfg: FinetuneConfig) -> tuple[UNet2D, dict, set[str]]:
    """Network initialised from scratch, a segmentation model, or a backbone; returns pretrained keys."""
    if not cfg.init:
        net = build_unet(UNetConfig(features=tuple(cfg.features), deep_supervision=cfg.deep_supervision))
        return net, {"init": "scratch"}, set()
    from CardiacSSLLib.checkpoint import load_state, read_config
    from CardiacSSLLib.registry import resolve

    entry = resolve(cfg.init)
    init_cfg = read_config(entry.path)
    net_cfg = UNetConfig.from_dict(init_cfg["network"])
    net_cfg.out_channels = 4
    net_cfg.deep_supervision = cfg.deep_supervision
    net = build_unet(net_cfg)
    if init_cfg.get("kind") == "backbone":
        from CardiacSSLLib.methods.transfer import load_backbone_into

        loaded, _fresh = load_backbone_into(net, entry.path)
    else:
        state = {k: v.float() for k, v in load_state(entry.path, entry.sha256 or init_cfg.get("sha256")).items()}
        own = net.state_dict()
        compatible = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        net.load_state_dict(compatible, strict=False)
        loaded = list(compatible)
    info = {
        "init": entry.name,
        "init_kind": init_cfg.get("kind", "segmentation"),
        "init_method": init_cfg.get("method", init_cfg.get("init_method", "")),
        "loaded_keys": len(loaded),
    }
    if init_cfg.get("kind") == "backbone" and isinstance(init_cfg.get("finetune"), dict):
        info["recipe"] = init_cfg["finetune"]
    return net, info, set(loaded)


def with_transfer_recipe(cfg: FinetuneConfig, init_info: dict) -> FinetuneConfig:
    """``cfg`` with the transfer options it leaves open (None) set: the start's recorded recipe, else 1.0 and 0."""
    recipe = init_info.get("recipe") or {}
    scale = cfg.pretrained_lr_scale
    steps = cfg.freeze_pretrained_steps
    return replace(
        cfg,
        pretrained_lr_scale=float(recipe.get("pretrained_lr_scale", 1.0) if scale is None else scale),
        freeze_pretrained_steps=int(recipe.get("freeze_pretrained_steps", 0) if steps is None else steps),
    )


def dice_per_structure(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """3D Dice of LV, MYO, RV over the labelled slices (``mask`` (Z,) or (T,Z)); NaN if absent in both."""
    from CardiacSSLLib.labels import NAMES

    if mask is not None:
        pred, gt = pred[mask], gt[mask]
    out = {}
    for value, name in NAMES.items():
        p, g = pred == value, gt == value
        denom = p.sum() + g.sum()
        out[name] = float(2 * (p & g).sum() / denom) if denom else float("nan")
    return out


def validate(net: UNet2D, cines: list[Cine], cfg: dict, device: str) -> dict:
    from CardiacSSLLib.inference import segment_cine

    net.eval()
    net.cardiacssl_config = cfg
    scores = []
    for cine in cines:
        frames = cine.labelled_frames()
        pred = segment_cine(net, cine, frames=frames, device=device)
        scores.append(dice_per_structure(pred, cine.label[frames], cine.labelled[frames]))
    net.train()
    summary = {k: float(np.nanmean([s[k] for s in scores])) for k in scores[0]} if scores else {}
    vals = [v for v in summary.values() if not math.isnan(v)]
    summary["mean"] = float(np.mean(vals)) if vals else float("nan")
    return summary


def _poly_lr(step: int, total: int, warmup: int = 50) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return (1 - (step - warmup) / max(1, total - warmup)) ** 0.9


def _save_resume(resume_dir: Path, net: UNet2D, opt: torch.optim.Optimizer, step: int, best: dict, best_state) -> None:
    from CardiacSSLLib.checkpoint import save_checkpoint

    tensors = {f"model.{k}": v for k, v in net.state_dict().items()}
    opt_state = opt.state_dict()
    for pid, st in opt_state["state"].items():
        for name, val in st.items():
            if torch.is_tensor(val):
                tensors[f"opt.{pid}.{name}"] = val if val.ndim else val.reshape(1)
    if best_state is not None:
        tensors.update({f"best.{k}": v for k, v in best_state.items()})
    save_checkpoint(
        resume_dir / "state", tensors, {"kind": "resume", "network": net.config.to_dict(), "step": step, "best": best}
    )


def _load_resume(resume_dir: Path, net: UNet2D, opt: torch.optim.Optimizer):
    from CardiacSSLLib.checkpoint import load_state, read_config

    cfg = read_config(resume_dir / "state")
    tensors = load_state(resume_dir / "state", cfg.get("sha256"))
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state = opt.state_dict()
    for key, val in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            opt_state["state"].setdefault(int(pid), {})[name] = val.reshape(()) if name == "step" else val
    opt.load_state_dict(opt_state)
    best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} or None
    return int(cfg["step"]), cfg.get("best", {}), best_state


def _optimizer(cfg: FinetuneConfig, net: UNet2D, pretrained: set[str]) -> torch.optim.Optimizer:
    """AdamW; weights loaded from a backbone form a second group at ``lr * pretrained_lr_scale``."""
    if cfg.linear_probe:
        from CardiacSSLLib.methods.transfer import freeze_for_linear_probe

        freeze_for_linear_probe(net)
    pre = [p for n, p in net.named_parameters() if n in pretrained and p.requires_grad]
    fresh = [p for n, p in net.named_parameters() if n not in pretrained and p.requires_grad]
    groups = [{"params": fresh, "lr": cfg.lr}]
    if pre:
        groups.append({"params": pre, "lr": cfg.lr * cfg.pretrained_lr_scale})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def _loss(cfg: FinetuneConfig):
    from monai.losses import DeepSupervisionLoss, DiceCELoss

    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    return DeepSupervisionLoss(loss_fn, weight_mode="exp") if cfg.deep_supervision else loss_fn


def _sampler(cfg: FinetuneConfig, n_labelled: int, n_extra: int, gen: torch.Generator):
    """Uniform draws over the labelled slices; with extra slices, ``labelled_share`` of the draws
    are labelled (a few manual slices would otherwise drown among many pseudo-labelled ones)."""
    from torch.utils.data import RandomSampler, WeightedRandomSampler

    n = cfg.steps * cfg.batch_size
    if not n_extra:
        return RandomSampler(range(n_labelled), replacement=True, num_samples=n, generator=gen)
    if not 0.0 < cfg.labelled_share <= 1.0:
        raise InputError(f"labelled_share must be in (0, 1], got {cfg.labelled_share}")
    weights = [cfg.labelled_share / n_labelled] * n_labelled + [(1 - cfg.labelled_share) / n_extra] * n_extra
    return WeightedRandomSampler(weights, num_samples=n, replacement=True, generator=gen)


def _loader(cfg: FinetuneConfig, train_slices: list, extra_slices: list | None = None):
    """The augmented training slices (labelled first, then ``extra_slices``) and a seeded sampler
    of ``steps x batch_size`` draws."""
    from torch.utils.data import DataLoader

    from CardiacSSLLib.engine.augment import training_transforms
    from CardiacSSLLib.engine.data import LabelledSlices

    transform = training_transforms(cfg.patch_size, cfg.strong_augmentation)
    # MONAI's random transforms share one class-level RandomState seeded from the OS
    # unless told otherwise: without this the same seed gives different runs
    transform.set_random_state(seed=cfg.seed)
    extra = list(extra_slices or [])
    dataset = LabelledSlices(list(train_slices) + extra, transform)
    gen = torch.Generator().manual_seed(cfg.seed)
    sampler = _sampler(cfg, len(train_slices), len(extra), gen)
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.num_workers,
        drop_last=True,
        persistent_workers=cfg.num_workers > 0,
    )
    return dataset, loader


@dataclass
class _Best:
    """The best validation score so far and the weights that reached it (resumable state)."""

    score: dict = field(default_factory=lambda: {"mean": -1.0})
    state: dict | None = None


def _train(cfg, net, opt, loader, val_cines, model_cfg, device, start, best: _Best, resume_dir, progress, cancel):
    """The optimisation steps from ``start``; validates, keeps the best, saves resume points."""
    from CardiacSSLLib.device import autocast

    loss_fn = _loss(cfg)
    base_lrs = [g["lr"] for g in opt.param_groups]
    step, running = start, None
    try:
        it = iter(loader)
        for step in range(start, cfg.steps):
            if cancel is not None:
                cancel.check()
            batch = next(it)
            for g, base in zip(opt.param_groups, base_lrs, strict=True):
                g["lr"] = base * _poly_lr(step, cfg.steps)
            if len(opt.param_groups) > 1 and step < cfg.freeze_pretrained_steps:
                opt.param_groups[1]["lr"] = 0.0  # staged fine-tuning: the fresh head first
            x, y = batch["image"].to(device), batch["label"].to(device)
            with autocast(device, cfg.amp):
                loss = loss_fn(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 12.0)
            opt.step()
            lv = float(loss.detach())
            running = lv if running is None else 0.95 * running + 0.05 * lv
            progress.step(step + 1, loss=lv, smooth_loss=running, lr=opt.param_groups[0]["lr"])
            last = step + 1 == cfg.steps
            if val_cines and ((step + 1) % cfg.val_every == 0 or last):
                score = validate(net, val_cines, model_cfg, str(device))
                if score["mean"] > best.score.get("mean", -1.0):
                    best.score = {**score, "step": step + 1}
                    best.state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
                if not last:
                    # a killed run (session end, power cut) resumes from here with --resume
                    _save_resume(resume_dir, net, opt, step + 1, best.score, best.state)
                progress.event("validation", step=step + 1, dice=score)
    except Cancelled:
        _save_resume(resume_dir, net, opt, step, best.score, best.state)
        progress.event("cancelled", step=step, resume=str(resume_dir))
        raise
    finally:
        progress.close()


def finetune(
    cfg: FinetuneConfig,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    extra_slices: list | None = None,
    extra_info: dict | None = None,
) -> Path:
    """Train; returns the model checkpoint stem ``<out>/model``. Raises Cancelled on cancel.

    ``extra_slices``: more training slices (e.g. pseudo-labelled ones from ``engine.self_training``),
    drawn for ``1 - labelled_share`` of the samples; ``extra_info`` is recorded in the model card.
    """
    from CardiacSSLLib.checkpoint import save_checkpoint
    from CardiacSSLLib.device import resolve_device
    from CardiacSSLLib.metrics.output import ensure_writable_dir

    out = Path(cfg.out)
    model_stem = out / "model"
    if model_stem.with_suffix(".json").exists() and not cfg.overwrite and not cfg.resume:
        raise OutputExistsError(f"{model_stem.with_suffix('.json')} exists: choose another --out or pass --overwrite")
    ensure_writable_dir(out)

    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    run = RunRecord.begin(device)  # the commit of the code that trains, not whatever is checked out at the end
    train_slices, val_cines = collect_data(cfg)
    net, init_info, pretrained = build_model(cfg)
    cfg = with_transfer_recipe(cfg, init_info)
    net.to(device).train()
    model_cfg = {
        "kind": "segmentation",
        "network": net.config.to_dict(),
        "preprocess": {"target_spacing": cfg.target_spacing, "normalize_percentiles": [0.5, 99.5]},
        "labels": labels.names_record(),
        **{k: v for k, v in init_info.items() if k not in ("loaded_keys", "recipe")},
    }
    opt = _optimizer(cfg, net, pretrained)
    dataset, loader = _loader(cfg, train_slices, extra_slices)

    resume_dir = out / ".resume"
    start, best = 0, _Best()
    if cfg.resume and (resume_dir / "state.json").exists():
        start, best.score, best.state = _load_resume(resume_dir, net, opt)
        log.info("resumed at step %d", start)
        run.resumed_at(start)
    progress = progress or Progress(total=cfg.steps, description="fine-tune")
    progress.total = cfg.steps
    progress.event(
        "start",
        steps=cfg.steps,
        train_slices=len(train_slices),
        extra_slices=len(extra_slices or []),
        val_cases=len(val_cines),
        device=str(device),
        init=init_info.get("init"),
    )
    _train(cfg, net, opt, loader, val_cines, model_cfg, device, start, best, resume_dir, progress, cancel)

    validation = best.score if val_cines else {}
    model_cfg.update(
        {
            "name": cfg.name or out.name,
            "validation": validation,
            "training": {
                **asdict(cfg),
                "features": list(cfg.features),
                "train_slices": len(train_slices),
                "extra_slices": len(extra_slices or []),
                "val_cases": len(val_cines),
            },
            **(extra_info or {}),
            **run.fields(),
        }
    )
    save_checkpoint(model_stem, best.state if best.state is not None else net.state_dict(), model_cfg)
    if resume_dir.exists():
        for f in resume_dir.iterdir():
            f.unlink()
        resume_dir.rmdir()
    progress.event(
        "done",
        model=str(model_stem),
        val_dice=validation.get("mean") if val_cines else None,
        validation=validation,
        wall_time_s=model_cfg["wall_time_s"],
    )
    log.info("wrote %s", json.dumps({"model": str(model_stem), "validation": validation}))
    return model_stem
