"""Pretraining loop: resume == uninterrupted run, cancel keeps the last checkpoint valid, torn
checkpoints are skipped, logs, schedules, refusals; unlabelled frame gathering (phantom, real data)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from CardiacSSLLib.engine.pretrain import (
    PretrainConfig,
    latest_training_state,
    lr_schedule,
    pretrain,
    stage_bounds,
)
from CardiacSSLLib.engine.unlabelled import (
    UnlabelledFrames,
    apex_first,
    canvas_size,
    frames_from_cines,
    load_unlabelled,
    to_canvas,
)
from CardiacSSLLib.errors import Cancelled, InputError, OutputExistsError
from CardiacSSLLib.methods import OptimSettings
from CardiacSSLLib.progress import CancelToken, Progress

FEATURES = (8, 16, 32, 64)
HP = {
    "chaitanya": {"g1_hidden": 32, "g1_dim": 16, "g2_dim": 8, "n_regions": 4},
    "mim": {},
    "dino": {"out_dim": 64, "hidden_dim": 32, "bottleneck_dim": 16, "n_local": 2},
}


def frames() -> UnlabelledFrames:
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.avg_pool2d(torch.rand(12, 1, 32, 32, generator=g), 3, 1, 1).half()
    return UnlabelledFrames(
        images=img, volume=np.repeat(np.arange(3), 4), position=np.tile(np.linspace(0, 1, 4, dtype=np.float32), 3)
    )


def config(tmp_path, name: str, method: str = "mim", **kw) -> PretrainConfig:
    base = dict(
        method=method,
        out=str(tmp_path / name),
        iterations=4,
        batch_size=4,
        image_size=32,
        features=FEATURES,
        hparams=HP[method],
        checkpoint_every=2,
        log_every=1,
    )
    return PretrainConfig(**(base | kw))


def weights(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.mark.parametrize("method", ["mim", "chaitanya", "dino"])
def test_cancel_then_resume_equals_uninterrupted_run(tmp_path, method):
    data = frames()
    straight = pretrain(config(tmp_path, "a", method), frames=data).backbones["backbone"]

    cancel = CancelToken()

    def on_event(record):
        if record.get("event") == "step" and record["step"] == 3:
            cancel.cancel()

    progress = Progress(total=1, show_bar=False, callback=on_event)
    with pytest.raises(Cancelled):
        pretrain(config(tmp_path, "b", method), progress=progress, cancel=cancel, frames=data)
    out = tmp_path / "b"
    assert not (out / "backbone.json").exists()
    state = latest_training_state(out)
    assert state is not None and state[0]["step"] == 2  # the last periodic checkpoint, intact

    resumed = pretrain(config(tmp_path, "b", method, resume=True), frames=data).backbones["backbone"]
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run diverged from the uninterrupted one"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log].count("start") == 2 and log[-1]["event"] == "done"
    assert log[1]["event"] == "step" and "loss" in log[1] and "images_per_s" in log[1]


def test_torn_checkpoint_falls_back_to_the_previous_one(tmp_path):
    pretrain(config(tmp_path, "t", checkpoint_every=1, keep_checkpoints=3), frames=frames())
    ckpts = sorted((tmp_path / "t" / "checkpoints").glob("resume-*.safetensors"))
    assert [p.stem for p in ckpts] == ["resume-00000002", "resume-00000003", "resume-00000004"]
    ckpts[-1].write_bytes(ckpts[-1].read_bytes()[:100])  # a write cut short
    cfg, _ = latest_training_state(tmp_path / "t")
    assert cfg["step"] == 3


def test_refusals(tmp_path):
    pretrain(config(tmp_path, "r", iterations=1), frames=frames())
    with pytest.raises(OutputExistsError):
        pretrain(config(tmp_path, "r", iterations=1), frames=frames())
    pretrain(config(tmp_path, "r", iterations=1, overwrite=True), frames=frames())
    with pytest.raises(InputError, match="multiple of 8"):
        pretrain(config(tmp_path, "s", image_size=36), frames=frames())
    with pytest.raises(InputError, match="batch size"):
        pretrain(config(tmp_path, "s", batch_size=1), frames=frames())
    with pytest.raises(InputError, match="source"):
        pretrain(config(tmp_path, "s"))  # no sources and no frames


def test_json_progress_and_paper_defaults(tmp_path):
    stream = io.StringIO()
    cfg = config(tmp_path, "j", iterations=None, epochs=1, batch_size=None)
    res = pretrain(cfg, progress=Progress(total=1, json_stream=stream), frames=frames())
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    # AdamW: SGD at MIM's paper settings leaves instance-normalised deep layers untrained
    assert events[0]["event"] == "start" and events[0]["optimisation"]["optimizer"] == "adamw"
    steps = [e for e in events if e["event"] == "step"]
    assert steps and steps[-1]["step"] == steps[-1]["total"] == res.steps == 1  # 12 frames / batch 128
    saved = json.loads(res.backbones["backbone"].with_suffix(".json").read_text())
    assert saved["optimisation"]["lr"] == 1e-3 and saved["hyperparameters"]["patch"] == 32
    assert saved["transfer_prefixes"] == ["encoder."]  # MIM's in-painting decoder does not transfer


def test_schedules():
    s = OptimSettings(lr=1.0, schedule="cosine")
    lrs = lr_schedule(s, stage_bounds(10, 2))
    assert lrs[0] == 1.0 and lrs[5] == 1.0 and lrs[4] < 0.2 and np.all(np.diff(lrs[:5]) < 0)
    assert np.all(lr_schedule(OptimSettings(lr=0.5, schedule="constant"), [0, 4]) == 0.5)
    warm = lr_schedule(OptimSettings(lr=1.0, warmup_fraction=0.5), [0, 4])
    assert warm[0] == 0.5 and warm[1] == 1.0


def test_canvas_resamples_known_spacing_and_centres():
    stack = np.zeros((2, 40, 80), np.float32)
    stack[:, 18:22, 38:42] = 1.0  # a bright 4x4 square in the centre
    out = to_canvas(stack, 48)  # unknown spacing: native pixels, cropped/padded to 48 x 48
    assert out.shape == (2, 1, 48, 48)
    assert float(out[0, 0, 4, 24]) == 0.0 and float(out[0, 0, 24, 24]) == pytest.approx(1.0)
    assert float(out.sum()) == pytest.approx(2 * 16)
    half = to_canvas(stack, 48, spacing_yx=(0.75, 0.75), target_spacing=1.5)  # 2x coarser: 2x2 square
    assert float(half[0].sum()) == pytest.approx(4, rel=0.3)
    assert canvas_size(64) == 96


def test_phantom_frames_carry_volume_and_position():
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom(n_frames=3, n_slices=5, size=64, seed=0)
    f = frames_from_cines([cine], 32)
    assert len(f) == 15 and f.n_volumes == 3 and f.images.dtype == torch.float16
    assert f.images.shape[-2:] == (48, 48)
    assert sorted(f.position[:5].tolist()) == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert 0.0 <= float(f.images.min()) and float(f.images.max()) <= 1.0
    g = load_unlabelled(["phantom:1"], 32)
    assert len(g) > 0 and g.sources


@pytest.mark.data
def test_real_acdc_and_sunnybrook_frames(acdc_dir, sunnybrook_dir):
    f = load_unlabelled([f"acdc:{acdc_dir}:val", f"sunnybrook:{sunnybrook_dir}"], 64)
    # 20 ACDC val volumes + 3 Sunnybrook cines x 20 phases
    assert f.n_volumes == 20 + 60
    assert len(f) > 20 * 6 + 60 * 10
    for v in np.unique(f.volume)[:5]:  # ACDC: stored base first
        pos = f.position[f.volume == v]
        assert pos[0] == 0 and pos[-1] == 1
    for v in np.unique(f.volume)[-3:]:  # Sunnybrook: stored apex first, so positions run 1 -> 0
        pos = f.position[f.volume == v]
        assert pos[0] == 1 and pos[-1] == 0


def test_positions_run_from_base_to_apex_using_the_geometry():
    from CardiacSSLLib.cine import Cine, Geometry

    image = np.random.default_rng(0).random((1, 4, 16, 16)).astype(np.float32)
    towards_base = (1, 0, 0, 0, 1, 0, -0.6, 0.6, 0.5)  # columns x, y, normal: normal right-posterior-superior
    towards_apex = (1, 0, 0, 0, 1, 0, 0.6, -0.6, -0.5)
    assert apex_first(Cine(image=image, geometry=Geometry(direction=towards_base)))
    assert not apex_first(Cine(image=image, geometry=Geometry(direction=towards_apex)))
    assert not apex_first(Cine(image=image, geometry=Geometry(direction=towards_base, spacing_known=False)))
    f = frames_from_cines([Cine(image=image, geometry=Geometry(direction=towards_base))], 16)
    assert f.position.tolist() == pytest.approx([1, 2 / 3, 1 / 3, 0])
    assert 0.05 < float(f.images.float().mean()) < 0.6


def test_backbone_feeds_engine_finetune(tmp_path, monkeypatch):
    """pretrain -> backbone checkpoint -> ``engine.finetune`` (init from the backbone) -> segmentation model."""
    from CardiacSSLLib.engine import finetune as ft
    from CardiacSSLLib.engine.data import slices_from_cines
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom(n_frames=2, n_slices=4, size=64, seed=4)
    monkeypatch.setattr(ft, "collect_data", lambda cfg: (slices_from_cines([cine], cfg.target_spacing), []))
    res = pretrain(config(tmp_path, "p", iterations=2), frames=frames())
    stem = ft.finetune(
        ft.FinetuneConfig(
            out=str(tmp_path / "ft"),
            init=str(res.backbones["backbone"]),
            steps=2,
            batch_size=2,
            patch_size=32,
            device="cpu",
        ),
        progress=Progress(total=2, show_bar=False),
    )
    saved = json.loads(stem.with_suffix(".json").read_text())
    assert saved["kind"] == "segmentation" and saved["init_kind"] == "backbone" and saved["init_method"] == "mim"
    assert saved["network"]["features"] == list(FEATURES) and saved["network"]["out_channels"] == 4


def test_finetune_uses_the_recipe_a_backbone_records_unless_told_otherwise(tmp_path, monkeypatch):
    """A bundled backbone's card numbers were measured with a recipe (lower LR, head-only warm-up):
    fine-tuning from it without transfer options uses that recipe; explicit options win."""
    import torch

    from CardiacSSLLib.checkpoint import load_state, load_unet
    from CardiacSSLLib.engine import finetune as ft
    from CardiacSSLLib.engine.data import slices_from_cines
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom(n_frames=2, n_slices=4, size=64, seed=4)
    monkeypatch.setattr(ft, "collect_data", lambda cfg: (slices_from_cines([cine], cfg.target_spacing), []))
    backbone = pretrain(config(tmp_path, "p", iterations=2), frames=frames()).backbones["backbone"]
    meta = json.loads(backbone.with_suffix(".json").read_text())
    meta["finetune"] = {"pretrained_lr_scale": 0.3, "freeze_pretrained_steps": 3}
    backbone.with_suffix(".json").write_text(json.dumps(meta))

    def run(name: str, **options) -> tuple[dict, dict]:
        stem = ft.finetune(
            ft.FinetuneConfig(
                out=str(tmp_path / name),
                init=str(backbone),
                steps=3,
                batch_size=2,
                patch_size=32,
                device="cpu",
                **options,
            ),
            progress=Progress(total=3, show_bar=False),
        )
        return json.loads(stem.with_suffix(".json").read_text())["training"], load_unet(stem)[0].state_dict()

    recorded, tuned = run("recorded")
    assert (recorded["pretrained_lr_scale"], recorded["freeze_pretrained_steps"]) == (0.3, 3)
    start = load_state(backbone)
    shared = [k for k in start if k in tuned and k.startswith("encoder")]
    # every step was a head-only warm-up step, so the transferred encoder is exactly the backbone's
    assert shared and all(torch.equal(start[k].float(), tuned[k].float()) for k in shared)

    explicit, moved = run("explicit", pretrained_lr_scale=1.0, freeze_pretrained_steps=0)
    assert (explicit["pretrained_lr_scale"], explicit["freeze_pretrained_steps"]) == (1.0, 0)
    assert any(not torch.equal(start[k].float(), moved[k].float()) for k in shared)
