"""Transfer pretrained backbone weights into a segmentation U-Net.

A backbone checkpoint (``"kind": "backbone"``) stores the whole pretraining U-Net plus
``"transfer_prefixes"``: the key prefixes that carry over (encoder only, encoder + decoder,
or encoder + first l decoder blocks). The output convolution never transfers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from CardiacSSLLib.checkpoint import load_state, read_config
from CardiacSSLLib.errors import ModelError
from CardiacSSLLib.models.unet import UNet2D, UNetConfig

log = logging.getLogger(__name__)

NEVER_TRANSFER = ("head.", "deep_heads.")


def load_backbone_into(unet: UNet2D, path: str | Path, verify: bool = True) -> tuple[list[str], list[str]]:
    """Load the transferable weights of a backbone checkpoint into ``unet`` (in place).

    Returns ``(loaded_keys, fresh_keys)``: the keys of ``unet.state_dict()`` that came from the
    checkpoint and those left at their initialisation. Raises ``ModelError`` when the checkpoint
    is not a backbone or its encoder does not match ``unet``.
    """
    cfg = read_config(path)
    if cfg.get("kind") != "backbone":
        raise ModelError(f"{path} is a {cfg.get('kind', 'unknown')!r} checkpoint, not a pretrained backbone")
    net = UNetConfig.from_dict(cfg["network"])
    if tuple(net.features) != tuple(unet.config.features) or net.in_channels != unet.config.in_channels:
        raise ModelError(
            f"backbone {path} was pretrained with features {list(net.features)} and {net.in_channels} input "
            f"channel(s); the network has {list(unet.config.features)} and {unet.config.in_channels}"
        )
    prefixes = tuple(cfg.get("transfer_prefixes", ["encoder."]))
    state = load_state(path, cfg.get("sha256") if verify else None)
    own = unet.state_dict()
    take = {
        k: v.float()
        for k, v in state.items()
        if k.startswith(prefixes) and not k.startswith(NEVER_TRANSFER) and k in own and own[k].shape == v.shape
    }
    missing_prefix = [k for k in own if k.startswith(prefixes) and not k.startswith(NEVER_TRANSFER) and k not in take]
    if missing_prefix:
        raise ModelError(f"backbone {path} lacks {len(missing_prefix)} transferable weights, e.g. {missing_prefix[0]}")
    unet.load_state_dict(take, strict=False)
    loaded = sorted(take)
    fresh = sorted(k for k in own if k not in take)
    log.info("loaded %d pretrained tensors from %s (%s); %d fresh", len(loaded), path, cfg.get("method"), len(fresh))
    return loaded, fresh


def freeze_for_linear_probe(unet: UNet2D) -> list[nn.Parameter]:
    """Linear probing: freeze everything but the output conv(s); returns the trainable parameters."""
    for p in unet.parameters():
        p.requires_grad_(False)
    trainable = list(unet.head.parameters()) + list(unet.deep_heads.parameters())
    for p in trainable:
        p.requires_grad_(True)
    return trainable
