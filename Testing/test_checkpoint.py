import json

import pytest
import torch

from CardiacSSLLib.checkpoint import load_unet, save_checkpoint, sha256_file
from CardiacSSLLib.errors import ModelError
from CardiacSSLLib.models.unet import UNetConfig, build_unet


def _save(tmp_path, half=False):
    net = build_unet(UNetConfig(features=(8, 16, 32)))
    w, c = save_checkpoint(
        tmp_path / "m", net.state_dict(), {"kind": "segmentation", "network": net.config.to_dict()}, half=half
    )
    return net, w, c


def test_round_trip_rebuilds_network(tmp_path):
    net, w, c = _save(tmp_path)
    loaded, cfg = load_unet(tmp_path / "m")
    assert cfg["sha256"] == sha256_file(w)
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_fp16_checkpoint_loads_as_float32(tmp_path):
    net, w, _ = _save(tmp_path, half=True)
    loaded, _ = load_unet(w)
    p = next(loaded.parameters())
    assert p.dtype == torch.float32
    ref = net.state_dict()["encoder.0.conv1.conv.weight"]
    assert torch.allclose(loaded.state_dict()["encoder.0.conv1.conv.weight"], ref, atol=1e-3)


def test_truncated_weights_refused(tmp_path):
    _, w, c = _save(tmp_path)
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(ModelError, match="corrupted|modified"):
        load_unet(w)
    with pytest.raises(ModelError, match="truncated|safetensors"):
        load_unet(w, verify=False)


def test_tampered_weights_refused(tmp_path):
    _, w, _ = _save(tmp_path)
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_unet(w)


def test_pickle_is_never_loaded(tmp_path):
    _, w, _ = _save(tmp_path)
    torch.save({"x": torch.zeros(3)}, w)  # a pickle under the safetensors name
    with pytest.raises(ModelError):
        load_unet(w, verify=False)


def test_config_without_network_refused(tmp_path):
    _, _, c = _save(tmp_path)
    c.write_text(json.dumps({"kind": "segmentation"}))
    with pytest.raises(ModelError, match="network"):
        load_unet(c)
    c.write_text("{not json")
    with pytest.raises(ModelError, match="JSON"):
        load_unet(c)
