"""Self-supervised pretraining methods: an explicit registry, one module per method.

``METHODS[name](network_config, **hyperparameters)`` builds a :class:`PretrainMethod`.
"""

from __future__ import annotations

from CardiacSSLLib.methods.base import Batch, FrameMeta, OptimSettings, PretrainMethod
from CardiacSSLLib.methods.ccm import CCM
from CardiacSSLLib.methods.chaitanya import Chaitanya
from CardiacSSLLib.methods.dino import DINO
from CardiacSSLLib.methods.mim import MIM
from CardiacSSLLib.methods.pcl import PCL
from CardiacSSLLib.methods.pix2rep import Pix2Rep, Pix2RepV2
from CardiacSSLLib.methods.simclr import SimCLR

METHODS: dict[str, type[PretrainMethod]] = {
    "mim": MIM,
    "pix2rep": Pix2Rep,
    "pix2rep-v2": Pix2RepV2,
    "ccm": CCM,
    "simclr": SimCLR,
    "pcl": PCL,
    "dino": DINO,
    "chaitanya": Chaitanya,
}

__all__ = ["METHODS", "Batch", "FrameMeta", "OptimSettings", "PretrainMethod", "build_method"]


def build_method(name: str, network, **hparams) -> PretrainMethod:
    """Instantiate a registered method; unknown names raise ``InputError`` listing the choices."""
    from CardiacSSLLib.errors import InputError

    try:
        cls = METHODS[name]
    except KeyError:
        raise InputError(f"unknown pretraining method {name!r}; choose from {', '.join(METHODS)}") from None
    try:
        return cls(network, **hparams)
    except TypeError as exc:
        raise InputError(f"bad hyperparameters for {name}: {exc}") from exc
