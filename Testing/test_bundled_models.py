"""Every bundled model loads, matches its sha256, and reaches the Dice its card states."""

from __future__ import annotations

import json

import pytest

from CardiacSSLLib.checkpoint import sha256_file
from CardiacSSLLib.registry import bundled_dir

INDEX = bundled_dir() / "models.json"
ENTRIES = json.loads(INDEX.read_text())["models"] if INDEX.exists() else []


def test_index_has_a_default_segmentation_model():
    index = json.loads(INDEX.read_text())
    kinds = {m["name"]: m["kind"] for m in index["models"]}
    assert kinds.get(index["default"]) == "segmentation"
    sizes = [(bundled_dir() / m["file"]).stat().st_size for m in index["models"]]
    assert max(sizes) <= 20e6 and sum(sizes) <= 100e6  # the extension's size budget


@pytest.mark.parametrize("entry", ENTRIES, ids=[m["name"] for m in ENTRIES])
def test_sha256_and_card(entry):
    weights = bundled_dir() / entry["file"]
    assert sha256_file(weights) == entry["sha256"]
    assert (bundled_dir() / entry["card"]).read_text().startswith(f"# {entry['name']}")
    from CardiacSSLLib.checkpoint import load_unet

    net, cfg = load_unet(weights)
    assert cfg["kind"] == entry["kind"]


BACKBONES = [m for m in ENTRIES if m["kind"] == "backbone"]


@pytest.mark.parametrize("entry", BACKBONES, ids=[m["name"] for m in BACKBONES])
def test_backbone_starts_fine_tuning_and_states_few_shot_accuracy(entry):
    from CardiacSSLLib.engine.finetune import FinetuneConfig, build_model

    net, info, pretrained = build_model(FinetuneConfig(out="unused", init=entry["name"]))
    assert info["init_kind"] == "backbone"
    # exactly the layers the method transfers come from the backbone (e.g. Chaitanya's encoder and
    # first decoder blocks); the rest, the output convolutions included, start fresh
    prefixes = tuple(json.loads((bundled_dir() / entry["config"]).read_text())["transfer_prefixes"])
    assert pretrained and pretrained == {k for k in net.state_dict() if k.startswith(prefixes)}
    assert not any(k.startswith(("head", "deep")) for k in pretrained)
    fewshot = entry["summary"]["fewshot"]
    assert set(fewshot["mean_dice"]) == set(fewshot["scratch_mean_dice"]) == {"1", "2", "5"}
    card = (bundled_dir() / entry["card"]).read_text()
    assert "## Few-shot accuracy" in card and f"{fewshot['mean_dice']['1']:.3f}" in card


@pytest.mark.parametrize("entry", ENTRIES, ids=[m["name"] for m in ENTRIES])
def test_no_backbone_is_bundled_that_fails_its_health_checks(entry):
    # a backbone that did not train, or whose features are no better than random, is not shipped
    config = json.loads((bundled_dir() / entry["config"]).read_text())
    if entry["kind"] == "backbone":
        assert config["health"]["passed"], config["health"]["failures"]
    else:
        assert config["kind"] == "segmentation"


def test_each_fine_tuned_model_names_a_bundled_backbone():
    names = {m["name"] for m in BACKBONES}
    inits = [m["summary"]["init"] for m in ENTRIES if "init" in m["summary"]]
    assert set(inits) <= names
    assert len(inits) >= len(BACKBONES)  # each backbone ships with a model fine-tuned from it


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize(
    "entry",
    [m for m in ENTRIES if m["kind"] == "segmentation"],
    ids=[m["name"] for m in ENTRIES if m["kind"] == "segmentation"],
)
def test_stated_acdc_dice_reproduces(entry, acdc_dir):
    from CardiacSSLLib.evaluation import evaluate_acdc

    result = evaluate_acdc(entry["name"], acdc_dir, "test", device="cpu")
    stated = entry["summary"]["dice"]
    measured = {k: v["dice"]["mean"] for k, v in result["summary"]["structures"].items()}
    for k, v in measured.items():
        assert v == pytest.approx(stated[k], abs=0.01), (k, v, stated[k])
    assert result["summary"]["mean"]["dice"] == pytest.approx(stated["mean"], abs=0.01)
    # clinical agreement as stated on the card: bias and MAE of volumes (ml), EF (points), mass (g)
    measured_clinical = {r["quantity"]: r for r in result["agreement"] if r["group"] == "all"}
    for quantity, want in entry["summary"]["clinical"].items():
        got = measured_clinical[quantity]
        assert got["bias"] == pytest.approx(want["bias"], abs=1.0), (quantity, got["bias"], want)
        assert got["mae"] == pytest.approx(want["mae"], abs=1.0), (quantity, got["mae"], want)
