"""Semi-supervised fine-tuning: cross pseudo supervision (CPS) and Mean Teacher.

CPS (Chen et al. 2021; Zhou et al.'s CCM + CPS): two U-Nets, each initialised from one of
the two CCM backbones, trained with the supervised loss on labelled slices plus
``alpha`` x cross-entropy against the *other* network's argmax on unlabelled frames
(alpha 0.1). Inference with network a, b or the ensemble (mean of the softmaxes).
Mean Teacher (Tarvainen & Valpola 2017): an EMA teacher; the student is trained with the
supervised loss plus a ramped-up MSE between student and teacher softmaxes on differently
perturbed unlabelled frames; the teacher is saved.

The supervised loss is MONAI's Dice + CE (as in ``engine.finetune``); labelled slices come
from ``engine.data`` with ``engine.augment``'s MONAI transforms; unlabelled frames from
``engine.unlabelled`` with the pretraining augmentations.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from CardiacSSLLib import labels
from CardiacSSLLib.checkpoint import load_unet, read_config, save_checkpoint
from CardiacSSLLib.device import autocast, resolve_device
from CardiacSSLLib.engine.pretrain_batches import random_crops
from CardiacSSLLib.engine.run_record import RunRecord
from CardiacSSLLib.errors import InputError, ModelError, OutputExistsError
from CardiacSSLLib.methods import augment as A
from CardiacSSLLib.methods.transfer import load_backbone_into
from CardiacSSLLib.models.unet import UNet2D, UNetConfig
from CardiacSSLLib.progress import CancelToken, Progress

log = logging.getLogger(__name__)

SEMI_METHODS = ("cps", "mean_teacher")
INFERENCE_MODES = ("a", "b", "ensemble")


@dataclass
class SemiSupervisedConfig:
    out: str
    method: str = "cps"  # "cps" | "mean_teacher"
    init: str | None = None  # backbone checkpoint (CCM's backbone for CPS); None = random
    init_b: str | None = None  # CPS second network; default: the CCM pair of ``init``
    acdc_root: str | None = None
    acdc_train: list[str] = field(default_factory=list)  # labelled patients
    unlabelled: list[str] = field(default_factory=list)  # sources (default: acdc:<root>:train)
    steps: int = 1000
    batch_size: int = 8  # labelled
    unlabelled_batch_size: int = 8
    patch_size: int = 128
    target_spacing: float | None = 1.5  # mm/pixel of labelled and unlabelled slices, as fine-tuning and inference
    lr: float = 1e-3
    weight_decay: float = 1e-5
    alpha: float = 0.1  # CPS weight
    consistency: float = 0.1  # Mean Teacher weight (after ramp-up)
    rampup_fraction: float = 0.4
    ema: float = 0.99
    inference: str = "ensemble"  # CPS: which network(s) the saved model uses
    features: tuple[int, ...] = (16, 32, 64, 128, 256)
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    overwrite: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["features"] = list(self.features)
        return d


# --------------------------------------------------------------------------- losses (pure)


def cps_loss(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """Cross pseudo supervision: CE(a, argmax b) + CE(b, argmax a), averaged (Zhou et al. eq. 5)."""
    pseudo_a = logits_a.detach().argmax(dim=1)
    pseudo_b = logits_b.detach().argmax(dim=1)
    return 0.5 * (F.cross_entropy(logits_a.float(), pseudo_b) + F.cross_entropy(logits_b.float(), pseudo_a))


def consistency_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean Teacher: MSE between class probabilities (teacher detached)."""
    return F.mse_loss(student_logits.float().softmax(1), teacher_logits.detach().float().softmax(1))


def sigmoid_rampup(step: int, length: int) -> float:
    if length <= 0:
        return 1.0
    t = np.clip(step / length, 0.0, 1.0)
    return float(np.exp(-5.0 * (1.0 - t) ** 2))


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float) -> None:
    for pt, ps in zip(teacher.parameters(), student.parameters(), strict=True):
        pt.mul_(decay).add_(ps.detach(), alpha=1 - decay)


# --------------------------------------------------------------------------- inference


class EnsembleUNet(nn.Module):
    """Two segmentation U-Nets averaged: ``forward`` returns log of the mean softmax (argmax-compatible)."""

    def __init__(self, net_a: UNet2D, net_b: UNet2D) -> None:
        super().__init__()
        self.net_a, self.net_b = net_a, net_b
        self.config = net_a.config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = 0.5 * (self.net_a(x).float().softmax(1) + self.net_b(x).float().softmax(1))
        return p.clamp_min(1e-8).log()


def load_semisupervised(path: str | Path, mode: str | None = None) -> nn.Module:
    """Load a semi-supervised result; for CPS pick network ``a``, ``b`` or the ``ensemble``."""
    cfg = read_config(path)
    mode = mode or cfg.get("inference", "a")
    if mode not in INFERENCE_MODES:
        raise InputError(f"inference mode must be one of {INFERENCE_MODES}, got {mode!r}")
    net_a, _ = load_unet(path)
    if mode == "a" or not cfg.get("pair"):
        return net_a
    net_b, _ = load_unet(Path(path).with_name(cfg["pair"]))
    return net_b if mode == "b" else EnsembleUNet(net_a, net_b)


# --------------------------------------------------------------------------- training


def _network(cfg: SemiSupervisedConfig, init: str | None) -> tuple[UNet2D, int]:
    if init:
        backbone_net = UNetConfig.from_dict(read_config(init)["network"])
        net = UNet2D(UNetConfig(features=backbone_net.features, norm=backbone_net.norm))
        loaded, _ = load_backbone_into(net, init)
        return net, len(loaded)
    return UNet2D(UNetConfig(features=tuple(cfg.features))), 0


def _pair_of(init: str) -> str:
    cfg = read_config(init)
    pair = cfg.get("pair")
    if not pair:
        raise ModelError(f"{init} has no paired network: CPS needs a CCM backbone or --init-b")
    return str(Path(init).with_name(pair[0]))


def _labelled_loader(cfg: SemiSupervisedConfig, labelled):
    from torch.utils.data import DataLoader, RandomSampler

    from CardiacSSLLib.engine.augment import training_transforms
    from CardiacSSLLib.engine.data import LabelledSlices, slices_from_arrays

    if labelled is None:
        if not (cfg.acdc_root and cfg.acdc_train):
            raise InputError("no labelled data: give acdc_root and acdc_train patients")
        from CardiacSSLLib.engine.sources import acdc_training_pairs

        pairs = acdc_training_pairs(cfg.acdc_root, cfg.acdc_train)
        labelled = slices_from_arrays(pairs, source="acdc", target_spacing=cfg.target_spacing)
    transform = training_transforms(cfg.patch_size)
    transform.set_random_state(seed=cfg.seed)  # MONAI's random transforms are unseeded otherwise
    ds = LabelledSlices(labelled, transform)
    g = torch.Generator().manual_seed(cfg.seed)
    sampler = RandomSampler(ds, replacement=True, num_samples=cfg.steps * cfg.batch_size, generator=g)
    return DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, drop_last=True), len(ds)


def _networks(cfg: SemiSupervisedConfig, device) -> tuple[list[UNet2D], UNet2D | None, int]:
    """CPS: two students (b from ``init_b`` or the CCM pair of ``init``); Mean Teacher: one and its EMA."""
    net_a, n_loaded = _network(cfg, cfg.init)
    nets, teacher = [net_a], None
    if cfg.method == "cps":
        init_b = cfg.init_b or (_pair_of(cfg.init) if cfg.init else None)
        net_b, _ = _network(cfg, init_b)  # random init differs from net_a's (the RNG moved on)
        nets.append(net_b)
    else:
        teacher = copy.deepcopy(net_a)
        for p in teacher.parameters():
            p.requires_grad_(False)
        teacher.to(device)
    for n in nets:
        n.to(device).train()
    return nets, teacher, n_loaded


def _step_loss(cfg, nets, teacher, sup, x, y, u, inten, gen, step: int, rampup: int):
    """(total, supervised, unsupervised, weight) of one step."""
    n = x.shape[0]
    if cfg.method == "cps":
        la, lb = nets[0](torch.cat([x, u])), nets[1](torch.cat([x, u]))
        l_sup = 0.5 * (sup(la[:n], y) + sup(lb[:n], y))
        l_unsup = cps_loss(la, lb)  # pseudo labels on labelled and unlabelled images
        weight = cfg.alpha
    else:
        ls = nets[0](torch.cat([x, A.intensity(u, inten, gen)]))
        with torch.no_grad():
            lt = teacher(A.intensity(u, inten, gen))
        l_sup = sup(ls[:n], y)
        l_unsup = consistency_loss(ls[n:], lt)
        weight = cfg.consistency * sigmoid_rampup(step, rampup)
    return l_sup + weight * l_unsup, l_sup, l_unsup, weight


def _save(cfg: SemiSupervisedConfig, run, nets, teacher, n_labelled: int, n_unlabelled: int) -> tuple[Path, float]:
    """``<out>/model`` (and ``model_b`` for a CPS pair used as an ensemble); returns it and the wall time."""
    out = Path(cfg.out)
    base = {
        "kind": "segmentation",
        "preprocess": {"target_spacing": cfg.target_spacing, "normalize_percentiles": [0.5, 99.5]},
        "labels": labels.names_record(),
        "semi_supervised": cfg.method,
        "init": cfg.init,
        "training": cfg.to_dict() | {"labelled_slices": n_labelled, "unlabelled_frames": n_unlabelled},
        **run.fields(),
    }
    final = [teacher] if teacher is not None else nets
    if len(final) == 2:
        save_checkpoint(
            out / "model_b", _cpu_state(final[1]), base | {"network": final[1].config.to_dict(), "pair": "model"}
        )
        base |= {"pair": "model_b", "inference": cfg.inference}
    save_checkpoint(out / "model", _cpu_state(final[0]), base | {"network": final[0].config.to_dict()})
    return out / "model", base["wall_time_s"]


def _check(cfg: SemiSupervisedConfig) -> None:
    """Refuse unknown choices and an existing model before anything is computed; create ``out``."""
    if cfg.method not in SEMI_METHODS:
        raise InputError(f"unknown semi-supervised method {cfg.method!r}; choose from {SEMI_METHODS}")
    if cfg.inference not in INFERENCE_MODES:
        raise InputError(f"inference must be one of {INFERENCE_MODES}, got {cfg.inference!r}")
    out = Path(cfg.out)
    if (out / "model.json").exists() and not cfg.overwrite:
        raise OutputExistsError(f"{out}/model.json exists: choose another output or overwrite")
    out.mkdir(parents=True, exist_ok=True)


def train_semisupervised(
    cfg: SemiSupervisedConfig,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    labelled=None,
    unlabelled=None,
) -> Path:
    """Train CPS or Mean Teacher; returns ``<out>/model`` (the stem of the saved checkpoint).

    ``labelled``: optional list of ``engine.data.LabelledSlice``; ``unlabelled``: optional
    ``engine.unlabelled.UnlabelledFrames`` (else read from the configured sources).
    """
    from monai.losses import DiceCELoss

    from CardiacSSLLib.engine.unlabelled import load_unlabelled

    _check(cfg)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    run = RunRecord.begin(device)  # the commit of the code that trains, not whatever is checked out at the end

    nets, teacher, n_loaded = _networks(cfg, device)
    params = [p for n in nets for p in n.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sup = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)

    loader, n_labelled = _labelled_loader(cfg, labelled)
    if unlabelled is None:
        sources = cfg.unlabelled or ([f"acdc:{cfg.acdc_root}:train"] if cfg.acdc_root else [])
        unlabelled = load_unlabelled(sources, cfg.patch_size, cfg.target_spacing)
    gen = torch.Generator().manual_seed(cfg.seed)
    crop_rng = np.random.default_rng(cfg.seed)
    spatial, inten = A.SpatialAug(rotation_deg=180, scale=(0.85, 1.15)), A.IntensityAug(noise_std=0.02)
    rampup = int(cfg.rampup_fraction * cfg.steps)

    progress = progress or Progress(total=cfg.steps, description=f"semi-supervised {cfg.method}")
    progress.total = cfg.steps
    progress.event(
        "start",
        method=cfg.method,
        labelled_slices=n_labelled,
        unlabelled_frames=len(unlabelled),
        pretrained_tensors=n_loaded,
        device=str(device),
    )
    try:
        for step, batch in enumerate(loader):
            if cancel is not None:
                cancel.check()
            for group in opt.param_groups:
                group["lr"] = cfg.lr * (1 - step / cfg.steps) ** 0.9
            x, y = batch["image"].to(device), batch["label"].to(device)
            idx = torch.randint(len(unlabelled), (cfg.unlabelled_batch_size,), generator=gen)
            u = random_crops(unlabelled.images[idx], cfg.patch_size, crop_rng)
            u = A.view(u.float().to(device), spatial, inten, gen)
            with autocast(device, cfg.amp):
                loss, l_sup, l_unsup, weight = _step_loss(cfg, nets, teacher, sup, x, y, u, inten, gen, step, rampup)
            if not torch.isfinite(loss):
                raise ModelError(f"loss became {float(loss)} at step {step}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 12.0)
            opt.step()
            if teacher is not None:
                ema_update(teacher, nets[0], min(cfg.ema, 1 - 1 / (step + 2)))
            progress.step(
                step + 1,
                loss=float(loss.detach()),
                supervised=float(l_sup.detach()),
                unsupervised=float(l_unsup.detach()),
                weight=weight,
            )
    finally:
        progress.close()
    stem, wall = _save(cfg, run, nets, teacher, n_labelled, len(unlabelled))
    progress.event("done", model=str(stem), wall_time_s=wall)
    return stem


def _cpu_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
