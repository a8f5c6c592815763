import pytest
import torch

from CardiacSSLLib.models.unet import UNetConfig, build_unet, count_parameters


@pytest.mark.parametrize("shape", [(1, 1, 64, 64), (3, 1, 80, 96), (2, 1, 48, 112)])
@pytest.mark.parametrize("deep", [False, True])
def test_unet_shapes(shape, deep):
    net = build_unet(UNetConfig(features=(8, 16, 32, 64), deep_supervision=deep))
    x = torch.randn(shape)
    net.eval()
    assert net(x).shape == (shape[0], 4, *shape[2:])
    net.train()
    out = net(x)
    if deep:
        assert isinstance(out, list) and len(out) == 3
        assert all(o.shape == (shape[0], 4, *shape[2:]) for o in out)
    else:
        assert out.shape == (shape[0], 4, *shape[2:])


def test_encoder_decoder_exposed():
    net = build_unet(UNetConfig(features=(8, 16, 32, 64, 128)))
    skips = net.encode(torch.randn(2, 1, 64, 80))
    assert [s.shape[1] for s in skips] == [8, 16, 32, 64, 128]
    assert skips[-1].shape[-2:] == (4, 5)
    partial = net.decode(skips, n_stages=2)
    assert [f.shape[1] for f in partial.features] == [64, 32]
    full = net.decode(skips)
    assert full.logits.shape == (2, 4, 64, 80)


def test_reference_width_matches_papers_size():
    # the 7.8 M-parameter U-Net of the reference runs is the width-32 configuration
    assert 7.5e6 < count_parameters(build_unet(UNetConfig(features=(32, 64, 128, 256, 512)))) < 8.1e6


def test_reset_head_changes_only_head():
    net = build_unet(UNetConfig(features=(8, 16, 32)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.reset_head(out_channels=1)
    after = net.state_dict()
    assert after["head.conv.conv.weight"].shape[0] == 1
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("head"))
