"""One run record for every training loop: the same keys (one for the commit) in every checkpoint."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from CardiacSSLLib.checkpoint import read_config
from CardiacSSLLib.engine.run_record import COMMIT_KEY, RunRecord, git_commit, recorded_commit

ROOT = Path(__file__).resolve().parents[1]
RECORD_KEYS = {COMMIT_KEY, "hardware", "library_version", "wall_time_s", "created"}
FEATURES = (8, 16, 32, 64)


def test_recorded_commit_reads_old_and_new_keys():
    assert recorded_commit({"commit": "abc1234", "git_commit": "old"}) == "abc1234"
    assert recorded_commit({"git_commit": "9ec0ece"}) == "9ec0ece"  # backbones bundled before the record
    assert recorded_commit({"commit": ""}) == ""


def test_fields_and_resume_state():
    import torch

    run = RunRecord.begin(torch.device("cpu"))
    fields = run.fields()
    assert set(fields) == RECORD_KEYS
    assert fields["hardware"].startswith("CPU ") and fields["created"].endswith("Z")
    run.resumed_at(6)
    assert run.fields()["resumed_from_step"] == 6
    run.resumed_at(0)  # starting at step 0 is no resume
    assert "resumed_from_step" not in run.fields()


def test_commit_is_the_checkout_head():
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert git_commit() == head.stdout.strip()


@pytest.fixture(scope="module")
def phantom_data():
    from CardiacSSLLib.engine.data import slices_from_cines
    from CardiacSSLLib.engine.unlabelled import frames_from_cines
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom(n_frames=2, n_slices=5, size=48, seed=3)
    return [cine], slices_from_cines([cine]), frames_from_cines([cine], 32)


def test_every_training_loop_writes_the_same_record(tmp_path, phantom_data, monkeypatch):
    """Pretraining, fine-tuning and Mean Teacher, two steps each on a phantom."""
    from CardiacSSLLib.engine import finetune as ft
    from CardiacSSLLib.engine.pretrain import PretrainConfig, pretrain
    from CardiacSSLLib.engine.semisupervised import SemiSupervisedConfig, train_semisupervised

    _, labelled, unlabelled = phantom_data
    backbone = pretrain(
        PretrainConfig(
            method="mim", out=str(tmp_path / "mim"), iterations=1, batch_size=2, image_size=32, features=FEATURES
        ),
        frames=unlabelled,
    ).backbones["backbone"]
    monkeypatch.setattr(ft, "collect_data", lambda cfg: (labelled, []))
    tuned_cfg = ft.FinetuneConfig(
        out=str(tmp_path / "ft"), steps=2, batch_size=2, patch_size=32, features=FEATURES, device="cpu", val_every=0
    )
    tuned = ft.finetune(tuned_cfg)
    semi = train_semisupervised(
        SemiSupervisedConfig(
            out=str(tmp_path / "mt"),
            method="mean_teacher",
            steps=2,
            batch_size=2,
            unlabelled_batch_size=2,
            patch_size=32,
            features=FEATURES,
        ),
        labelled=labelled,
        unlabelled=unlabelled,
    )
    configs = {"pretrain": read_config(backbone), "finetune": read_config(tuned), "semi": read_config(semi)}
    for loop, config in configs.items():
        assert RECORD_KEYS <= set(config), f"{loop} lacks {RECORD_KEYS - set(config)}"
        assert "git_commit" not in config, f"{loop} writes the commit under the old key"
        assert config[COMMIT_KEY] == git_commit()
    assert configs["finetune"]["labels"] == configs["semi"]["labels"] == {"1": "LV", "2": "MYO", "3": "RV"}
    assert "resumed_from_step" not in configs["finetune"]
