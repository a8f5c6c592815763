"""Per method: shapes on odd sizes, two optimisation steps lower the loss on a fixed batch,
backbone save/load round trip, and transfer into a segmentation U-Net (which weights load)."""

from __future__ import annotations

import pytest
import torch

from CardiacSSLLib.checkpoint import load_unet
from CardiacSSLLib.engine.pretrain import PretrainConfig, pretrain
from CardiacSSLLib.engine.unlabelled import UnlabelledFrames
from CardiacSSLLib.errors import InputError, ModelError
from CardiacSSLLib.methods import METHODS, Batch, build_method
from CardiacSSLLib.methods.transfer import freeze_for_linear_probe, load_backbone_into
from CardiacSSLLib.models.unet import UNet2D, UNetConfig

NET = UNetConfig(features=(8, 16, 32, 64))
TINY = {  # small heads so the suite stays fast; the papers' sizes are the defaults
    "mim": {},
    "pix2rep": {"n_pixels": 64, "proj_hidden": 16, "proj_dim": 8},
    "pix2rep-v2": {"proj_hidden": 16, "proj_dim": 8},
    "ccm": {"proj_dim": 32},
    "simclr": {"proj_hidden": 32, "proj_dim": 16},
    "pcl": {"proj_hidden": 32, "proj_dim": 16},
    "dino": {"out_dim": 64, "hidden_dim": 32, "bottleneck_dim": 16, "n_local": 2, "center_momentum": 1.0},
    "chaitanya": {"g1_hidden": 32, "g1_dim": 16, "g2_dim": 8, "n_regions": 4},
}
# what transfers (besides the encoder) and what stays fresh in a 4-class segmentation U-Net
TRANSFERS_DECODER = {"pix2rep": 3, "pix2rep-v2": 3, "ccm": 3, "chaitanya": 3}


def method(name: str, **kw):
    torch.manual_seed(0)
    return build_method(name, NET, **(TINY[name] | kw))


def batch(b: int, h: int, w: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        images=torch.rand(b, 1, h, w, generator=g),
        volume=torch.tensor([i // 2 for i in range(b)]),
        position=torch.linspace(0, 1, b),
        generator=torch.Generator().manual_seed(seed + 1),
    )


def stages(name: str) -> list[int]:
    return [0, 1] if name == "chaitanya" else [0]


def test_registry_is_explicit_and_complete():
    assert set(METHODS) == {"mim", "pix2rep", "pix2rep-v2", "ccm", "simclr", "pcl", "dino", "chaitanya"}
    with pytest.raises(InputError, match="unknown pretraining method"):
        build_method("byol", NET)
    with pytest.raises(InputError, match="bad hyperparameters"):
        build_method("mim", NET, bogus=1)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_shapes_on_odd_sizes(name):
    m = method(name)
    for stage in stages(name):
        m.set_stage(stage)
        loss, metrics = m(batch(3, 80, 96), 0, 10)
        assert loss.ndim == 0 and torch.isfinite(loss) and metrics
    for net in m.backbones().values():
        out = net(torch.rand(1, 1, 80, 96))
        assert out.shape == (1, m.backbone_out_channels, 80, 96)
        skips = net.encode(torch.rand(3, 1, 80, 96))
        assert [s.shape[-2:] for s in skips] == [(80, 96), (40, 48), (20, 24), (10, 12)]


def test_embedding_shapes():
    p = method("pix2rep")
    assert p.pixel_embeddings(torch.rand(3, 1, 80, 96)).shape == (3, 8, 80, 96)
    s = method("simclr")
    assert s.embed(torch.rand(3, 1, 80, 96)).shape == (3, 16)
    d = method("dino")
    assert d.student(torch.rand(3, 1, 40, 48)).shape == (3, 64)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_two_steps_lower_the_loss_on_a_fixed_batch(name):
    m = method(name)
    for stage in stages(name):
        m.set_stage(stage)
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-3)
        b = batch(4, 32, 32, seed=stage)

        def loss_now(b=b):
            b.generator.manual_seed(123)  # the same augmentation and masks every time
            return m(b, 0, 10)[0]

        first = loss_now()
        for _ in range(2):
            opt.zero_grad()
            loss_now().backward()
            opt.step()
        with torch.no_grad():
            after = float(loss_now())
        assert after < float(first.detach()), f"{name} stage {stage}: {float(first.detach()):.4f} -> {after:.4f}"


def test_chaitanya_local_stage_freezes_the_encoder():
    m = method("chaitanya")
    m.set_stage(1)
    assert not any(p.requires_grad for p in m.backbone.encoder.parameters())
    assert all(p.requires_grad for p in m.backbone.decoder[0].parameters())
    assert not any(p.requires_grad for p in m.g1.parameters())
    before = {k: v.clone() for k, v in m.backbone.encoder.state_dict().items()}
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    m(batch(4, 64, 64), 0, 10)[0].backward()
    opt.step()
    assert all(torch.equal(v, m.backbone.encoder.state_dict()[k]) for k, v in before.items())


def _frames(n_vol: int = 3, z: int = 4, size: int = 64) -> UnlabelledFrames:
    g = torch.Generator().manual_seed(5)
    img = torch.rand(n_vol * z, 1, size, size, generator=g)
    img = torch.nn.functional.avg_pool2d(img, 5, 1, 2).half()  # some spatial structure
    import numpy as np

    return UnlabelledFrames(
        images=img,
        volume=np.repeat(np.arange(n_vol), z),
        position=np.tile(np.linspace(0, 1, z, dtype=np.float32), n_vol),
    )


@pytest.mark.parametrize("name", sorted(METHODS))
def test_backbone_round_trip_and_transfer(name, tmp_path):
    cfg = PretrainConfig(
        method=name,
        out=str(tmp_path / name),
        iterations=2,
        batch_size=4,
        image_size=64,
        features=NET.features,
        hparams=TINY[name],
        log_every=1,
        checkpoint_every=100,
    )
    res = pretrain(cfg, frames=_frames())
    m = res.method
    for key, path in res.backbones.items():
        unet, bcfg = load_unet(path)
        assert bcfg["kind"] == "backbone" and bcfg["method"] == name
        assert bcfg["network"]["features"] == list(NET.features)
        want = m.backbones()[key].state_dict()
        assert all(torch.equal(unet.state_dict()[k], want[k].cpu()) for k in want)

        seg = UNet2D(UNetConfig(features=NET.features, out_channels=4, deep_supervision=True))
        loaded, fresh = load_backbone_into(seg, path)
        enc = [k for k in seg.state_dict() if k.startswith("encoder.")]
        assert set(enc) <= set(loaded)
        assert all(k.startswith(("head.", "deep_heads.", "decoder.")) for k in fresh)
        assert any(k.startswith("head.") for k in fresh) and any(k.startswith("deep_heads.") for k in fresh)
        dec_loaded = {int(k.split(".")[1]) for k in loaded if k.startswith("decoder.")}
        assert len(dec_loaded) == TRANSFERS_DECODER.get(name, 0), dec_loaded
        assert all(torch.equal(seg.state_dict()[k], want[k].cpu()) for k in loaded)
    if name == "ccm":
        assert set(res.backbones) == {"backbone", "backbone_b"}


def test_chaitanya_partial_decoder_and_global_only(tmp_path):
    frames = _frames()
    cfg = PretrainConfig(
        method="chaitanya",
        out=str(tmp_path / "c"),
        iterations=2,
        batch_size=4,
        image_size=64,
        features=(8, 16, 32, 64, 128),
        hparams=TINY["chaitanya"] | {"decoder_blocks": 2},
    )
    path = pretrain(cfg, frames=frames).backbones["backbone"]
    seg = UNet2D(UNetConfig(features=(8, 16, 32, 64, 128)))
    loaded, fresh = load_backbone_into(seg, path)
    assert {int(k.split(".")[1]) for k in loaded if k.startswith("decoder.")} == {0, 1}
    assert any(k.startswith("decoder.2.") for k in fresh) and any(k.startswith("decoder.3.") for k in fresh)
    cfg = PretrainConfig(
        method="chaitanya",
        out=str(tmp_path / "g"),
        iterations=2,
        batch_size=4,
        image_size=64,
        features=NET.features,
        hparams=TINY["chaitanya"] | {"local_strategy": None, "global_strategy": "GD-"},
    )
    path = pretrain(cfg, frames=frames).backbones["backbone"]
    loaded, _ = load_backbone_into(UNet2D(UNetConfig(features=NET.features)), path)
    assert loaded and all(k.startswith("encoder.") for k in loaded)


def test_transfer_refuses_mismatched_network_and_non_backbones(tmp_path):
    cfg = PretrainConfig(
        method="simclr",
        out=str(tmp_path / "s"),
        iterations=1,
        batch_size=2,
        image_size=64,
        features=NET.features,
        hparams=TINY["simclr"],
    )
    path = pretrain(cfg, frames=_frames()).backbones["backbone"]
    with pytest.raises(ModelError, match="features"):
        load_backbone_into(UNet2D(UNetConfig(features=(16, 32, 64, 128))), path)
    from CardiacSSLLib.checkpoint import save_checkpoint

    seg = UNet2D(UNetConfig(features=NET.features))
    save_checkpoint(tmp_path / "seg", seg.state_dict(), {"kind": "segmentation", "network": seg.config.to_dict()})
    with pytest.raises(ModelError, match="not a pretrained backbone"):
        load_backbone_into(seg, tmp_path / "seg")


def test_linear_probe_freezes_all_but_the_output_conv():
    seg = UNet2D(UNetConfig(features=NET.features, deep_supervision=True))
    trainable = freeze_for_linear_probe(seg)
    names = {n for n, p in seg.named_parameters() if p.requires_grad}
    assert names and all(n.startswith(("head.", "deep_heads.")) for n in names)
    assert len(trainable) == len(names)
