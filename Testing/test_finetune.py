"""Training engine: learns, selects on validation, cancels without harm, resumes."""

import json
from dataclasses import replace

import numpy as np
import pytest

from CardiacSSLLib.checkpoint import sha256_file
from CardiacSSLLib.engine import finetune as ft
from CardiacSSLLib.errors import Cancelled, OutputExistsError
from CardiacSSLLib.progress import CancelToken, Progress


@pytest.fixture
def phantom_sources(monkeypatch):
    """Phantom cines as train and validation data (no real data needed)."""
    from CardiacSSLLib.engine.data import slices_from_cines
    from helpers import small_phantom

    train = [small_phantom(n_frames=4, n_slices=4, size=80, seed=s) for s in (1, 2)]
    val = [small_phantom(n_frames=2, n_slices=4, size=80, seed=9)]

    def collect(cfg):
        return slices_from_cines(train, cfg.target_spacing), val

    monkeypatch.setattr(ft, "collect_data", collect)


def _cfg(tmp_path, **kw):
    base = dict(
        out=str(tmp_path / "run"),
        steps=40,
        batch_size=4,
        patch_size=64,
        features=(8, 16, 32),
        val_every=20,
        device="cpu",
        lr=3e-3,
        seed=0,
    )
    base.update(kw)
    return ft.FinetuneConfig(**base)


def test_training_lowers_loss_and_writes_model(tmp_path, phantom_sources):
    events = []
    stem = ft.finetune(_cfg(tmp_path), progress=Progress(total=40, callback=events.append, show_bar=False))
    cfg = json.loads(stem.with_suffix(".json").read_text())
    losses = [e["loss"] for e in events if e["event"] == "step"]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    assert cfg["kind"] == "segmentation" and cfg["validation"]["step"] in (20, 40)
    assert [e["event"] for e in events][-1] == "done"
    with pytest.raises(OutputExistsError):
        ft.finetune(_cfg(tmp_path))


def test_cancel_keeps_previous_model_and_resume_finishes(tmp_path, phantom_sources):
    stem = ft.finetune(_cfg(tmp_path, steps=10, val_every=10))
    digest = sha256_file(stem.with_suffix(".safetensors"))
    cancel = CancelToken()

    def on_event(e):
        if e["event"] == "step" and e["step"] == 5:
            cancel.cancel()

    cfg = _cfg(tmp_path, steps=30, overwrite=True)
    with pytest.raises(Cancelled):
        ft.finetune(cfg, progress=Progress(total=30, callback=on_event, show_bar=False), cancel=cancel)
    assert sha256_file(stem.with_suffix(".safetensors")) == digest  # the earlier model is intact
    assert (tmp_path / "run" / ".resume" / "state.json").exists()
    events = []
    ft.finetune(replace(cfg, resume=True), progress=Progress(total=30, callback=events.append, show_bar=False))
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps[0] == 6 and steps[-1] == 30  # resumed, not restarted
    assert not (tmp_path / "run" / ".resume").exists()
    assert sha256_file(stem.with_suffix(".safetensors")) != digest


def test_same_seed_same_weights_and_a_killed_run_leaves_a_resume_point(tmp_path, phantom_sources):
    """Same command, same seed -> bit-identical model (MONAI's random transforms are seeded too)."""
    a = ft.finetune(_cfg(tmp_path / "a", steps=12, val_every=6))
    b = ft.finetune(_cfg(tmp_path / "b", steps=12, val_every=6))
    assert sha256_file(a.with_suffix(".safetensors")) == sha256_file(b.with_suffix(".safetensors"))
    c = ft.finetune(_cfg(tmp_path / "c", steps=12, val_every=6, seed=1))
    assert sha256_file(c.with_suffix(".safetensors")) != sha256_file(a.with_suffix(".safetensors"))

    # every validation also writes the resume state, so a run killed without warning
    # (session end, power cut) can continue from its last validation
    seen = []

    def on_event(e):
        if e["event"] == "validation":
            seen.append(json.loads((tmp_path / "d" / "run" / ".resume" / "state.json").read_text())["step"])

    ft.finetune(_cfg(tmp_path / "d", steps=12, val_every=4), progress=Progress(12, callback=on_event, show_bar=False))
    assert seen[:2] == [4, 8]


@pytest.mark.slow
@pytest.mark.data
def test_small_model_on_few_acdc_patients_beats_chance(tmp_path, acdc_dir):
    """A few minutes of CPU training on 4 ACDC patients, scored on held-out test volumes."""
    from CardiacSSLLib.engine.sources import acdc_patients, acdc_volumes
    from CardiacSSLLib.inference import segment_cine

    train = acdc_patients(acdc_dir, "train")[:4]
    cfg = ft.FinetuneConfig(
        out=str(tmp_path / "acdc"),
        acdc_root=str(acdc_dir),
        acdc_train=train,
        acdc_val=["patient028_frame01"],
        steps=350,
        batch_size=8,
        patch_size=128,
        features=(16, 32, 64, 128, 256),
        val_every=350,
        device="cpu",
        seed=0,
    )
    stem = ft.finetune(cfg)
    from CardiacSSLLib.io.datasets import read_list

    tests = acdc_volumes(acdc_dir, read_list(acdc_dir, "test")[:4])
    scores = []
    for cine in tests:
        pred = segment_cine(stem, cine, device="cpu")
        scores.append(ft.dice_per_structure(pred, cine.label))
    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    print("held-out ACDC Dice after 350 CPU steps:", mean)
    # chance level (random or constant labels) is below 0.1 for every structure
    assert mean["LV"] > 0.5 and mean["MYO"] > 0.3 and np.mean(list(mean.values())) > 0.4


def test_linear_probe_trains_only_the_head(tmp_path, phantom_sources):
    import torch

    from CardiacSSLLib.checkpoint import load_unet
    from helpers import tiny_checkpoint

    init = tiny_checkpoint(tmp_path / "init")
    stem = ft.finetune(
        _cfg(
            tmp_path,
            init=str(init),
            features=(8, 16, 32, 64),
            steps=6,
            val_every=6,
            linear_probe=True,
            deep_supervision=False,
        )
    )
    before, _ = load_unet(init)
    after, _ = load_unet(stem)
    changed = {k for k, v in after.state_dict().items() if not torch.equal(v, before.state_dict()[k])}
    assert changed and all(k.startswith("head.") for k in changed)
