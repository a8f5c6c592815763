"""CPS on the two CCM backbones and Mean Teacher: a few steps on phantom slices, saved and reloaded."""

from __future__ import annotations

import pytest
import torch

from CardiacSSLLib.checkpoint import read_config
from CardiacSSLLib.engine.pretrain import PretrainConfig, pretrain
from CardiacSSLLib.engine.semisupervised import (
    EnsembleUNet,
    SemiSupervisedConfig,
    ema_update,
    load_semisupervised,
    train_semisupervised,
)
from CardiacSSLLib.errors import InputError, ModelError
from CardiacSSLLib.models.unet import UNet2D, UNetConfig

FEATURES = (8, 16, 32, 64)


@pytest.fixture(scope="module")
def data():
    from CardiacSSLLib.engine.data import slices_from_cines
    from CardiacSSLLib.engine.unlabelled import frames_from_cines
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom(n_frames=2, n_slices=5, size=48, seed=3)
    return slices_from_cines([cine]), frames_from_cines([cine], 32)


def semi(tmp_path, name, **kw) -> SemiSupervisedConfig:
    return SemiSupervisedConfig(
        out=str(tmp_path / name), steps=2, batch_size=2, unlabelled_batch_size=2, patch_size=32, features=FEATURES, **kw
    )


def test_cps_from_ccm_backbones_and_inference_modes(tmp_path, data):
    labelled, unlabelled = data
    res = pretrain(
        PretrainConfig(
            method="ccm",
            out=str(tmp_path / "ccm"),
            iterations=1,
            batch_size=2,
            image_size=32,
            features=FEATURES,
            hparams={"proj_dim": 16},
        ),
        frames=unlabelled,
    )
    stem = train_semisupervised(
        semi(tmp_path, "cps", init=str(res.backbones["backbone"])), labelled=labelled, unlabelled=unlabelled
    )
    cfg = read_config(stem)
    assert cfg["semi_supervised"] == "cps" and cfg["pair"] == "model_b" and cfg["inference"] == "ensemble"
    x = torch.rand(1, 1, 32, 32)
    ens = load_semisupervised(stem).eval()
    a, b = load_semisupervised(stem, "a").eval(), load_semisupervised(stem, "b").eval()
    assert isinstance(ens, EnsembleUNet) and isinstance(a, UNet2D)
    with torch.no_grad():
        pa, pb, pe = a(x).softmax(1), b(x).softmax(1), ens(x).softmax(1)
    assert torch.allclose(pe, (pa + pb) / 2, atol=1e-5) and not torch.allclose(pa, pb)
    with pytest.raises(InputError):
        load_semisupervised(stem, "c")


def test_cps_refuses_a_backbone_without_pair(tmp_path, data):
    labelled, unlabelled = data
    res = pretrain(
        PretrainConfig(
            method="mim", out=str(tmp_path / "mim"), iterations=1, batch_size=2, image_size=32, features=FEATURES
        ),
        frames=unlabelled,
    )
    with pytest.raises(ModelError, match="paired"):
        train_semisupervised(
            semi(tmp_path, "x", init=str(res.backbones["backbone"])), labelled=labelled, unlabelled=unlabelled
        )


def test_mean_teacher_saves_the_ema_teacher(tmp_path, data):
    labelled, unlabelled = data
    stem = train_semisupervised(semi(tmp_path, "mt", method="mean_teacher"), labelled=labelled, unlabelled=unlabelled)
    net = load_semisupervised(stem)
    assert isinstance(net, UNet2D) and read_config(stem)["semi_supervised"] == "mean_teacher"
    assert net(torch.rand(2, 1, 32, 32)).shape == (2, 4, 32, 32)


def test_ema_update():
    s, t = UNet2D(UNetConfig(features=FEATURES)), UNet2D(UNetConfig(features=FEATURES))
    before = next(t.parameters()).detach().clone()
    ema_update(t, s, 0.9)
    assert torch.allclose(next(t.parameters()), 0.9 * before + 0.1 * next(s.parameters()))
