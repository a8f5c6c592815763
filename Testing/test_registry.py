import json

import pytest

from CardiacSSLLib import registry
from CardiacSSLLib.checkpoint import sha256_file
from CardiacSSLLib.errors import ModelError
from CardiacSSLLib.inference import load_model
from helpers import tiny_checkpoint


@pytest.fixture
def model_dirs(tmp_path, monkeypatch):
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    tiny_checkpoint(bundled / "tiny")
    (bundled / "models.json").write_text(
        json.dumps(
            {
                "default": "tiny",
                "models": [
                    {
                        "name": "tiny",
                        "file": "tiny.safetensors",
                        "kind": "segmentation",
                        "sha256": sha256_file(bundled / "tiny.safetensors"),
                    }
                ],
            }
        )
    )
    monkeypatch.setenv(registry.MODELS_ENV, str(bundled))
    monkeypatch.setenv(registry.HOME_ENV, str(tmp_path / "home"))
    return bundled


def test_resolves_bundled_default_and_user_models(model_dirs, tmp_path):
    assert registry.resolve("default").name == "tiny"
    user = registry.user_model_dir("mine")
    tiny_checkpoint(user / "model")
    names = {e.name: e.origin for e in registry.list_models()}
    assert names == {"tiny": "bundled", "mine": "user"}
    net, cfg = load_model("mine")
    assert cfg["kind"] == "segmentation"


def test_unknown_model_lists_known_names(model_dirs):
    with pytest.raises(ModelError, match="unknown model 'nope'.*tiny"):
        registry.resolve("nope")


def test_bundled_sha_mismatch_refused(model_dirs):
    index = json.loads((model_dirs / "models.json").read_text())
    index["models"][0]["sha256"] = "0" * 64
    (model_dirs / "models.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="sha256"):
        load_model("tiny")


def test_invalid_user_model_name(model_dirs):
    with pytest.raises(ModelError, match="invalid model name"):
        registry.user_model_dir("../escape")
