"""The pretraining methods by registry key, as papers write them.

``CardiacSSLLib.methods.METHODS`` builds them but imports torch; front ends that only list
or label methods (the module's "Start from" list, benchmarks, model cards) read this one
instead. Testing/test_catalogs.py checks that both registries name the same methods.
"""

from __future__ import annotations

METHOD_NAMES: dict[str, str] = {
    "mim": "MIM",
    "pix2rep": "Pix2Rep",
    "pix2rep-v2": "Pix2Rep v2",
    "ccm": "CCM",
    "simclr": "SimCLR",
    "pcl": "PCL",
    "dino": "DINO",
    "chaitanya": "Chaitanya",
}


def method_title(key: str) -> str:
    """'MIM' for 'mim' (any case); an unknown key is returned as it is."""
    return METHOD_NAMES.get(str(key).lower(), str(key))
