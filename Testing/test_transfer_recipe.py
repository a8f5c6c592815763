"""The front ends' "Recommended for this start" transfer recipe (CardiacSSLWorkflow.finetune_logic).

Checked: no options leave the recipe to the worker, which then records the backbone's values;
unchecked passes both values explicitly; the recipe shown for each kind of start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from CardiacSSLLib.errors import InputError
from CardiacSSLWorkflow.finetune_logic import (
    START_SCRATCH,
    START_SELECTED,
    recommended_recipe,
    transfer_options,
)

RECIPE = {"pretrained_lr_scale": 0.3, "freeze_pretrained_steps": 50}
ROOT = Path(__file__).resolve().parents[1]


def _write_backbone(stem: Path, recipe: dict | None, kind: str = "backbone") -> Path:
    """A tiny checkpoint as `cardiacssl pretrain` writes it, recording ``recipe`` under "finetune"."""
    from CardiacSSLLib.checkpoint import save_checkpoint
    from CardiacSSLLib.models.unet import UNetConfig, build_unet

    net = build_unet(UNetConfig(features=(4, 8)))
    config = {"kind": kind, "method": "chaitanya", "network": net.config.to_dict()}
    if recipe is not None:
        config["finetune"] = recipe
    save_checkpoint(stem, net.state_dict(), config)
    return stem


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    """A user model folder with backbones with, without and with a broken recipe, and a segmentation model."""
    monkeypatch.setenv("CARDIACSSL_MODELS", str(tmp_path / "no-bundled-models"))
    monkeypatch.setenv("CARDIACSSL_HOME", str(tmp_path / "home"))
    models = tmp_path / "home" / "models"
    _write_backbone(models / "rec-bb" / "model", RECIPE)
    _write_backbone(models / "plain-bb" / "model", None)
    _write_backbone(models / "wild-bb" / "model", {"pretrained_lr_scale": 50.0, "freeze_pretrained_steps": 5})
    _write_backbone(models / "seg" / "model", RECIPE, kind="segmentation")  # only a backbone's recipe applies
    return models


def test_recommended_means_no_options_and_unchecked_means_both_explicit():
    assert transfer_options(0.1, 25, recommended=True) == []
    assert transfer_options("x", -3, recommended=True) == []  # the fields only show the recipe then
    # explicit even at 1 and 0: leaving them out would let a backbone's recipe apply instead
    assert transfer_options(1.0, 0, recommended=False) == [
        "--pretrained-lr-scale",
        "1",
        "--freeze-pretrained-steps",
        "0",
    ]
    assert transfer_options("0.25", "40") == ["--pretrained-lr-scale", "0.25", "--freeze-pretrained-steps", "40"]
    with pytest.raises(InputError, match="learning-rate factor"):
        transfer_options(-1, 0)
    with pytest.raises(InputError, match="warm-up steps"):
        transfer_options(1, 2.5)


def test_recipe_shown_for_each_kind_of_start(registry):
    assert recommended_recipe("rec-bb") == (0.3, 50, "recorded by rec-bb (its card's few-shot numbers used it)")
    assert recommended_recipe(str(registry / "rec-bb" / "model"))[:2] == (0.3, 50)  # a checkpoint path
    for start, why in (
        (START_SCRATCH, "scratch"),
        (START_SELECTED, "continuing a segmentation model"),
        ("plain-bb", "plain-bb records no recipe"),
        ("seg", "seg records no recipe"),
        ("gone-bb", "gone-bb is not found"),
    ):
        scale, steps, source = recommended_recipe(start)
        assert (scale, steps) == (1.0, 0) and source.startswith("defaults") and why in source
    scale, steps, source = recommended_recipe("wild-bb")  # out of the fields' range: not shown as if usable
    assert (scale, steps) == (1.0, 0) and "out-of-range" in source and "uncheck" in source


def test_reading_the_recipe_needs_no_torch(registry, tmp_path):
    """The panel shows the recipe before torch is installed (the dependencies are asked for on first run)."""
    code = (
        "import sys; from CardiacSSLWorkflow.finetune_logic import recommended_recipe, list_start_points\n"
        "assert recommended_recipe('rec-bb')[:2] == (0.3, 50)\n"
        "assert [c.value for c in list_start_points()].count('rec-bb') == 1\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _run_worker(registry, tmp_path, name: str, extra: list[str]) -> dict:
    """The command FinetuneLogic builds from the backbone with recipe, run in-process for 2 steps; its record."""
    from CardiacSSLLib.cli.main import main
    from CardiacSSLLib.io.trainingset import TrainingSet
    from CardiacSSLLib.phantom import make_phantom
    from CardiacSSLWorkflow.finetune_logic import FinetuneLogic
    from helpers import RecordingRunner

    train_set = tmp_path / "ts"
    if not train_set.exists():
        cine = make_phantom(n_frames=2, n_slices=4, size=64, seed=4)
        TrainingSet(train_set).add(cine.frame(0), cine.label[0])
    runner = RecordingRunner()
    small = ["--batch-size", "2", "--patch-size", "32", "--features", "4,8"]
    job = FinetuneLogic(runner, python=sys.executable).start_from(
        "rec-bb", None, train_set, name, 2, "cpu", extra=[*extra, *small]
    )
    assert main(runner.command[3:]) == 0
    return json.loads((job.out / "model.json").read_text())["training"]


@pytest.mark.slow
def test_the_worker_applies_the_recipe_unless_the_values_are_explicit(registry, tmp_path):
    recorded = _run_worker(registry, tmp_path, "recommended", transfer_options(0.9, 7, recommended=True))
    assert (recorded["pretrained_lr_scale"], recorded["freeze_pretrained_steps"]) == (0.3, 50)
    explicit = _run_worker(registry, tmp_path, "by-hand", transfer_options(1.0, 0, recommended=False))
    assert (explicit["pretrained_lr_scale"], explicit["freeze_pretrained_steps"]) == (1.0, 0)
