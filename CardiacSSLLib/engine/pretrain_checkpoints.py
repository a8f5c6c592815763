"""Pretraining checkpoints: resumable training states and the final backbone checkpoint(s)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from CardiacSSLLib.checkpoint import load_state, read_config, save_checkpoint
from CardiacSSLLib.engine import distributed as D
from CardiacSSLLib.engine.unlabelled import UnlabelledFrames
from CardiacSSLLib.errors import ModelError
from CardiacSSLLib.methods import OptimSettings, PretrainMethod

# ``cfg`` below is the run's ``engine.pretrain.PretrainConfig``; typed loosely so this module
# does not import the loop that imports it
PretrainConfig = Any

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


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
