"""Model cards shown by the module and the web app: written cards, cards built from a config, refusals."""

from __future__ import annotations

import json
import sys

import pytest

from CardiacSSLLib.errors import InputError, ModelError
from CardiacSSLLib.registry import bundled_dir, resolve
from CardiacSSLWorkflow.model_card import model_card
from helpers import tiny_checkpoint

BUNDLED = "acdc-unet16-scratch"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty user model folder; the bundled models stay those of the checkout."""
    monkeypatch.setenv("CARDIACSSL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDIACSSL_MODELS", raising=False)
    return tmp_path / "home" / "models"


def _user_model(home, name: str, **config) -> None:
    stem = tiny_checkpoint(home / name / "model")
    path = stem.with_suffix(".json")
    path.write_text(json.dumps(json.loads(path.read_text()) | config))


def test_bundled_model_shows_its_written_card(home):
    card = model_card(BUNDLED)
    entry = resolve(BUNDLED)
    assert entry.card is not None and card == entry.card.read_text(encoding="utf-8")
    assert card.startswith(f"# {BUNDLED}") and "license" in card.lower()
    assert model_card("default") == model_card(json.loads((bundled_dir() / "models.json").read_text())["default"])


def test_user_model_without_card_gets_one_from_its_config(home, monkeypatch):
    _user_model(
        home,
        "mine",
        init=BUNDLED,
        init_kind="segmentation",
        validation={"LV": 0.91, "MYO": 0.8, "RV": 0.75, "mean": 0.82, "step": 40},
        training={"steps": 40, "batch_size": 4, "lr": 0.0005, "train_set": "/data/ts", "acdc_train": ["a", "b"]},
        commit="abc1234",
        created="2026-11-28T21:00:00Z",
    )
    monkeypatch.setitem(sys.modules, "torch", None)  # any torch import on the way fails: usable before install
    card = model_card("mine")
    assert card.startswith("# mine\n") and "No written model card" in card
    assert "kind: segmentation; origin: user" in card
    assert f"started from: `{BUNDLED}` (segmentation)" in card
    assert "validation Dice (step 40): LV 0.910, MYO 0.800, RV 0.750, mean 0.820" in card
    assert "commit abc1234; created 2026-11-28T21:00:00Z" in card
    assert "| steps | 40 |" in card and "| lr | 0.0005 |" in card and "| train_set | /data/ts |" in card
    assert "acdc_train" not in card  # only the settings worth a line


def test_user_model_card_file_and_a_bare_config(home):
    _user_model(home, "bare")
    bare = model_card("bare")
    assert "kind: segmentation" in bare and "Dice" not in bare and "## Training" not in bare
    assert "network: 2D U-Net, features [8, 16, 32, 64]" in bare
    _user_model(home, "written")
    (home / "written" / "model_card.md").write_text("# written\n\nmy notes\n", encoding="utf-8")
    assert model_card("written") == "# written\n\nmy notes\n"


def test_a_checkpoint_path_has_a_card_too(tmp_path, home):
    stem = tiny_checkpoint(tmp_path / "loose" / "model")
    assert model_card(str(stem.with_suffix(".safetensors"))).startswith("# model\n")


def test_refusals(home):
    with pytest.raises(InputError, match="no model selected"):
        model_card("")
    with pytest.raises(InputError, match=rf"unknown model 'nope'.*{BUNDLED}"):
        model_card("nope")
    _user_model(home, "broken")
    (home / "broken" / "model.json").write_text("{}")  # listed, but its config says nothing
    assert "kind: segmentation" in model_card("broken")
    (home / "broken" / "model.json").unlink()
    (home / "broken" / "model.safetensors").unlink()
    with pytest.raises(InputError, match="unknown model 'broken'"):
        model_card("broken")


def test_unreadable_config_is_a_model_error(tmp_path, home):
    stem = tiny_checkpoint(tmp_path / "loose" / "model")
    stem.with_suffix(".json").unlink()  # weights only: resolvable as a path, nothing to describe it
    with pytest.raises(ModelError, match="no card and its config .* is unreadable"):
        model_card(str(stem))
