"""Checkpoints: safetensors weights + a JSON config that rebuilds the network.

Never ``torch.load``: unpickling an untrusted file is code execution. A checkpoint is
``<name>.safetensors`` plus ``<name>.json`` (``{"kind", "network", ...}``); writes are
atomic (temp file + rename) so a cancelled run never leaves a half-written model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from CardiacSSLLib.errors import ModelError
from CardiacSSLLib.filemode import set_umask_mode

if TYPE_CHECKING:  # torch and the network are imported where weights are used: `models` only reads configs
    import torch

    from CardiacSSLLib.models.unet import UNet2D

FORMAT_VERSION = 1


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        set_umask_mode(tmp)  # mkstemp makes 0600; models are shared files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def paths_for(path: str | Path) -> tuple[Path, Path]:
    """``(weights, config)`` paths for a checkpoint given either file or the stem."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_suffix(".safetensors"), p.with_suffix(".json")


def save_checkpoint(
    path: str | Path,
    state: dict[str, torch.Tensor],
    config: dict,
    half: bool = False,
) -> tuple[Path, Path]:
    """Write weights (optionally fp16) then config. ``config`` must be JSON-serialisable."""
    from safetensors.torch import save_file

    weights_path, config_path = paths_for(path)
    tensors = {}
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        tensors[k] = v
    cfg = {"format_version": FORMAT_VERSION, **config}
    _atomic_write(weights_path, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    cfg["sha256"] = sha256_file(weights_path)
    _atomic_write(config_path, lambda tmp: Path(tmp).write_text(json.dumps(cfg, indent=2, sort_keys=True)))
    return weights_path, config_path


def read_config(path: str | Path) -> dict:
    _, config_path = paths_for(path)
    if not config_path.is_file():
        raise ModelError(f"checkpoint config {config_path} not found (a checkpoint is a .safetensors + .json pair)")
    try:
        cfg = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"checkpoint config {config_path} is not valid JSON: {exc}") from exc
    if not isinstance(cfg, dict) or "network" not in cfg:
        raise ModelError(f"checkpoint config {config_path} has no 'network' section: cannot rebuild the model")
    return cfg


def load_state(path: str | Path, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Load safetensors weights, checking sha256 when given (registry models always are)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_path, _ = paths_for(path)
    if not weights_path.is_file():
        raise ModelError(f"weights file {weights_path} not found")
    if expected_sha256 is not None:
        actual = sha256_file(weights_path)
        if actual != expected_sha256:
            raise ModelError(
                f"weights file {weights_path} is corrupted or was modified (sha256 {actual[:12]}..., "
                f"expected {expected_sha256[:12]}...); reinstall or re-download it"
            )
    try:
        return load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"weights file {weights_path} is truncated or not a safetensors file: {exc}") from exc


def load_unet(path: str | Path, verify: bool = True, strict: bool = True) -> tuple[UNet2D, dict]:
    """Rebuild a U-Net from its config and load its weights (as float32)."""
    from CardiacSSLLib.models.unet import UNetConfig, build_unet

    cfg = read_config(path)
    try:
        model = build_unet(UNetConfig.from_dict(cfg["network"]))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"cannot rebuild the network from {paths_for(path)[1]}: {exc}") from exc
    state = load_state(path, cfg.get("sha256") if verify else None)
    state = {k: v.float() for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise ModelError(f"weights in {paths_for(path)[0]} do not match the network in its config: {exc}") from exc
    return model, cfg
