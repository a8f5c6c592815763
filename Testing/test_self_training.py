"""Self-training: pseudo-labels kept only where the teacher agrees with itself under flips, a
student trained on both, and a given teacher standing in exactly for training one."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")


class _Threshold(torch.nn.Module):
    """A flip-equivariant 'teacher': the class follows the intensity alone (1x1 convolution)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 1)
        with torch.no_grad():
            self.conv.weight[:] = torch.tensor([0.0, 10.0, 20.0, 30.0]).view(4, 1, 1, 1)
            self.conv.bias[:] = torch.tensor([0.0, -2.0, -7.0, -15.0])

    def forward(self, x):
        return self.conv(x)


class _LeftBiased(_Threshold):
    """The same, plus a bias towards LV on the left half of the image: flipped predictions disagree."""

    def forward(self, x):
        logits = self.conv(x)
        bias = torch.zeros_like(logits)
        bias[:, 1, :, : x.shape[-1] // 2] = 50.0
        return logits + bias


def _frames(n: int = 4, size: int = 48):
    from CardiacSSLLib.engine.unlabelled import UnlabelledFrames

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    images = []
    for i in range(n):
        r = np.hypot(yy - size / 2 - i, xx - size / 2)
        img = np.where(r < 6, 0.9, np.where(r < 10, 0.45, 0.05)) + rng.normal(0, 0.01, (size, size))
        images.append(img)
    images.append(np.full((size, size), 0.02))  # a frame without heart
    t = torch.tensor(np.stack(images), dtype=torch.float16)[:, None]
    zeros = np.zeros(len(images))
    return UnlabelledFrames(images=t, volume=zeros.astype(np.int64), position=zeros.astype(np.float32))


def test_consistent_teacher_frames_are_kept_with_their_labels():
    from CardiacSSLLib.engine.pseudo_label import pseudo_label

    frames = _frames()
    net = _Threshold()
    slices, stats = pseudo_label(net, frames, min_agreement=0.9)
    assert (stats.frames, stats.kept, stats.empty) == (5, 4, 1)  # the empty frame is never a training slice
    direct = net(frames.images[:4].float()).argmax(1).numpy()
    for s, expected in zip(slices, direct, strict=True):
        assert s.label.dtype == np.uint8
        assert set(np.unique(s.label)) >= {1, 3}  # cavity and ring, as the image has
        np.testing.assert_array_equal(s.label, expected)


def test_inconsistent_teacher_frames_are_dropped():
    from CardiacSSLLib.engine.pseudo_label import pseudo_label

    slices, stats = pseudo_label(_LeftBiased(), _frames(), min_agreement=0.9)
    assert stats.kept == 0 and slices == []
    slices, stats = pseudo_label(_LeftBiased(), _frames(), min_agreement=0.0)
    assert stats.kept == 5  # the threshold decides (the bias puts 'LV' even in the empty frame)


def test_labelled_share_of_the_draws():
    from CardiacSSLLib.engine.finetune import FinetuneConfig, _sampler

    cfg = FinetuneConfig(out="unused", steps=500, batch_size=8, labelled_share=0.3)
    draws = np.array(list(_sampler(cfg, 10, 990, torch.Generator().manual_seed(0))))
    assert abs((draws < 10).mean() - 0.3) < 0.03  # 10 labelled slices among 1000 still make 30 % of draws
    cfg.labelled_share = 0.0
    with pytest.raises(Exception, match="labelled_share"):
        _sampler(cfg, 10, 990, torch.Generator())


def _run(tmp_path, acdc_dir, name: str, *extra: str) -> tuple[dict, dict]:
    from safetensors.numpy import load_file

    from CardiacSSLLib.cli.main import main

    out = tmp_path / name
    argv = ["finetune", "--acdc", str(acdc_dir), "--acdc-patients", "patient001", "--acdc-val", "none"]
    argv += ["--unlabelled", "phantom:1", "--steps", "3", "--batch-size", "2", "--patch-size", "64"]
    argv += ["--device", "cpu", "--seed", "4", "--out", str(out), "--json-progress", *extra]
    assert main(argv) == 0
    return json.loads((out / "model.json").read_text()), load_file(str(out / "model.safetensors"))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_given_teacher_stands_in_exactly_for_training_one(tmp_path, acdc_dir):
    """The benchmark reuses the plain fine-tuning cell as the teacher: that must change nothing."""
    from safetensors.numpy import load_file

    st = ["--semi", "self_training", "--min-agreement", "0"]
    cfg_a, student_a = _run(tmp_path, acdc_dir, "a", *st)
    assert cfg_a["semi_supervised"] == "self_training"
    assert cfg_a["self_training"]["pseudo_labelled"] == cfg_a["training"]["extra_slices"] > 0
    assert cfg_a["training"]["train_slices"] > 0
    teacher_a = load_file(str(tmp_path / "a" / "teacher" / "model.safetensors"))

    _, plain = _run(tmp_path, acdc_dir, "plain")
    assert _same(plain, teacher_a)  # the internal teacher is plain fine-tuning, same seed
    assert not _same(plain, student_a)  # the pseudo-labelled frames changed the student

    cfg_b, student_b = _run(tmp_path, acdc_dir, "b", *st, "--teacher", str(tmp_path / "plain" / "model.safetensors"))
    assert not (tmp_path / "b" / "teacher").exists()
    assert cfg_b["self_training"]["pseudo_labelled"] == cfg_a["self_training"]["pseudo_labelled"]
    assert _same(student_a, student_b)


def test_teacher_without_self_training_is_refused(tmp_path, acdc_dir, capsys):
    from CardiacSSLLib.cli.main import main

    argv = ["finetune", "--acdc", str(acdc_dir), "--acdc-patients", "patient001", "--teacher", "x"]
    assert main([*argv, "--out", str(tmp_path / "m")]) == 2
    assert "--semi self_training" in capsys.readouterr().err
