"""The web app's "Recommended for this start": the real page and trame state, no browser.

The state changes of the start select and the checkbox reach the panel (app wiring), and the
page locks the two fields while the checkbox is checked.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow  # builds the whole app (trame-slicer views): ~30 s


@pytest.fixture()
def app(tmp_path, monkeypatch):
    pytest.importorskip("trame_slicer", reason="trame-slicer is needed for the web app")
    monkeypatch.setenv("CARDIACSSL_MODELS", str(tmp_path / "no-bundled-models"))
    monkeypatch.setenv("CARDIACSSL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")  # offscreen, as `cardiacssl web`
    backbone = tmp_path / "home" / "models" / "rec-bb" / "model.json"
    backbone.parent.mkdir(parents=True)
    recipe = {"pretrained_lr_scale": 0.3, "freeze_pretrained_steps": 50}
    backbone.write_text(json.dumps({"kind": "backbone", "method": "chaitanya", "network": {}, "finetune": recipe}))
    from CardiacSSLWeb.app import WebApp
    from CardiacSSLWeb.state import WebConfig

    web = WebApp(WebConfig(train_set=tmp_path / "ts"))
    web.server.state.ready()  # what serving does: from now on, state changes call their callbacks
    return web


def test_the_page_shows_the_starts_recipe_until_unchecked(app):
    from CardiacSSLWorkflow.finetune_logic import START_SCRATCH

    state = app.server.state
    assert state.c_ft_recommended is True and "rec-bb" in [i["value"] for i in state.c_ft_inits]
    state.c_ft_init = "rec-bb"
    state.flush()
    assert (state.c_ft_lr_scale, state.c_ft_freeze_steps) == (0.3, 50) and "rec-bb" in state.c_ft_recipe_text
    state.c_ft_recommended = False
    state.flush()
    state.c_ft_lr_scale = 0.7
    state.c_ft_init = START_SCRATCH
    state.flush()
    assert (state.c_ft_lr_scale, state.c_ft_freeze_steps) == (0.7, 50)  # unchecked: the user's values stay
    state.c_ft_recommended = True
    state.flush()
    assert (state.c_ft_lr_scale, state.c_ft_freeze_steps) == (1.0, 0) and "scratch" in state.c_ft_recipe_text
    assert app.status()["inputs"]["ft_recommended"] is True

    html = app.layout.html
    assert 'id="ft-recommended"' in html and 'v-model="c_ft_recommended"' in html
    for field in ("ft-lr-scale", "ft-freeze-steps"):
        tag = html[html.rindex("<VTextField", 0, html.index(f'id="{field}"')) :].split("/>", 1)[0]
        assert ':disabled="c_ft_recommended"' in tag, tag
