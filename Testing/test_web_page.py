"""The page's shared plumbing: busy flag, and every failure turned into a message (the app keeps running)."""

from __future__ import annotations

import asyncio

import pytest

from CardiacSSLLib.errors import Cancelled, InputError  # noqa: E402
from CardiacSSLWeb.page import Page  # noqa: E402
from CardiacSSLWeb.state import DEFAULTS  # noqa: E402


class FakeState(dict):
    """The attribute access and flush() of a trame state."""

    def __getattr__(self, name):
        return self[name]

    def __setattr__(self, name, value):
        self[name] = value

    def flush(self):
        self.setdefault("_flushes", 0)
        self["_flushes"] += 1


def _run(page: Page, what: str, body) -> list[bool]:
    seen = []

    async def action():
        async with page.task(what) as ok:
            seen.append((ok, page.state.c_busy, page.state.c_busy_text))
            if ok:
                body()

    asyncio.run(action())
    return seen


@pytest.fixture
def page() -> Page:
    return Page(FakeState(DEFAULTS))


def test_success_sets_and_clears_busy(page):
    seen = _run(page, "loading", lambda: page.message("done", "success"))
    assert seen == [(True, True, "loading")]
    assert (page.state.c_busy, page.state.c_message, page.state.c_message_type) == (False, "done", "success")
    assert page.state._flushes >= 2  # the busy flag reached the page before and after


@pytest.mark.parametrize(
    ("error", "message", "kind"),
    [
        (InputError("not a folder: /x"), "not a folder: /x", "error"),
        (Cancelled("cancelled by the user"), "segmenting stopped", "info"),
        (ZeroDivisionError("boom"), "segmenting failed: ZeroDivisionError: boom", "error"),
    ],
)
def test_failures_become_messages(page, error, message, kind):
    def body():
        raise error

    _run(page, "segmenting", body)
    assert (page.state.c_message, page.state.c_message_type, page.state.c_busy) == (message, kind, False)


def test_second_action_while_busy_is_refused(page):
    page.state.c_busy = True
    ran = []
    seen = _run(page, "loading", lambda: ran.append(1))
    assert seen == [(False, True, "")] and not ran
    assert page.state.c_message_type == "warning" and page.state.c_busy  # the running action keeps its flag


def test_guarded_returns_none_and_reports(page):
    assert page.guarded("adding", lambda a, b: a + b, 1, 2) == 3
    assert page.guarded("adding", lambda: (_ for _ in ()).throw(InputError("no cases"))) is None
    assert page.state.c_message == "no cases"
    assert page.guarded("adding", lambda: 1 / 0) is None
    assert page.state.c_message.startswith("adding failed: ZeroDivisionError")


def test_background_keeps_a_reference_until_done(page):
    async def main():
        done = asyncio.Event()

        async def work():
            done.set()

        page.background(work())
        assert len(page._tasks) == 1
        await done.wait()
        await asyncio.sleep(0)
        return len(page._tasks)

    assert asyncio.run(main()) == 0


def test_model_card_dialog(page, tmp_path, monkeypatch):
    from CardiacSSLLib.registry import resolve
    from CardiacSSLWeb.card_panel import CardPanel
    from CardiacSSLWorkflow.finetune_logic import START_SCRATCH, START_SELECTED

    monkeypatch.setenv("CARDIACSSL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDIACSSL_MODELS", raising=False)
    cards, state = CardPanel(page), page.state
    state.c_model = None
    cards.on_model_card()
    assert not state.c_card_open and state.c_message_type == "error" and "no model selected" in state.c_message

    name = "acdc-unet16-scratch"
    state.c_model, state.c_message = name, ""
    cards.on_model_card()
    card = resolve(name).card.read_text(encoding="utf-8")
    assert (state.c_card_open, state.c_card_title, state.c_card_text) == (True, f"Model card: {name}", card)
    assert not state.c_message

    state.c_card_open, state.c_card_text, state.c_ft_init = False, "", START_SELECTED
    cards.on_start_card()  # continue training the selected model: its card
    assert state.c_card_open and state.c_card_text == card
    state.c_card_open, state.c_ft_init = False, START_SCRATCH
    cards.on_start_card()
    assert not state.c_card_open and "scratch" in state.c_message and state.c_message_type == "info"
    state.c_ft_init = "no-such-backbone"
    cards.on_start_card()
    assert not state.c_card_open and "unknown model 'no-such-backbone'" in state.c_message


def test_quality_panel_table_rows_propagate_stop_and_undo(page, tmp_path, monkeypatch):
    """The panel on a real session (slicer-core): the check (model confidence included, in a worker
    thread; Stop keeps the previous table), flagged frames marked on the volume curve, a row click,
    a stopped and a finished propagation (in a worker thread), and Undo restoring the scene."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the session")
    import time
    from types import SimpleNamespace

    import numpy as np

    import CardiacSSLLib.inference as inference
    from CardiacSSLLib.phantom import make_phantom
    from CardiacSSLWeb.quality_panel import QualityPanel
    from CardiacSSLWeb.results_panel import ResultsPanel
    from CardiacSSLWeb.session import Session
    from CardiacSSLWorkflow.qc_logic import flagged_frames
    from helpers import flip_aware_oracle

    cine = make_phantom(n_frames=3, n_slices=3, size=48, seed=2)
    calls = []
    monkeypatch.setattr(inference, "segment_cine", flip_aware_oracle(cine, calls))
    session = Session(slicer.vtkMRMLScene(), train_set=tmp_path / "ts")
    session.show_cine(cine)
    job = session.prepare_prediction("oracle", "all", "cpu", False)
    session.add_prediction(job, Session.predict(job))
    damaged = cine.label[2].copy()
    damaged[1][damaged[1] == 2] = 0
    session.set_labels([2], damaged[None])
    shown = []
    state = page.state
    results = ResultsPanel(page, session, SimpleNamespace(controller=SimpleNamespace(trigger_name=lambda fn: "t")))
    panel = QualityPanel(page, session, lambda: shown.append(session.current_frame()), results.redraw_curve)
    asyncio.run(results._metrics())
    assert state.c_curve_svg.count("<polyline") == 2 and 'class="point"' not in state.c_curve_svg

    calls.clear()
    asyncio.run(panel._quality())
    assert calls == [-1, -2]  # the model ran on the left-right and the up-down flipped cine
    assert state.c_has_qc and len(state.c_qc_rows) == 9
    assert (state.c_qc_rows[0]["frame"], state.c_qc_rows[0]["slice"]) == (2, 1)
    assert state.c_curve_svg.count('class="point"') == len(flagged_frames(state.c_qc_rows)) > 0
    previous = list(state.c_qc_rows)

    def waits_for_stop(model, c, frames=None, cancel=None, **kw):
        for _ in range(2000):
            if cancel.cancelled:
                break
            time.sleep(0.005)
        cancel.check()

    async def stopped_check():
        task = asyncio.ensure_future(panel._quality())
        while not state.c_can_stop:
            await asyncio.sleep(0.005)
        panel.on_stop()
        await task

    with monkeypatch.context() as patched:
        patched.setattr(inference, "segment_cine", waits_for_stop)
        asyncio.run(stopped_check())
    assert state.c_message == "checking quality stopped" and state.c_qc_rows == previous and state.c_has_qc
    panel.on_row(1, 0)
    assert session.current_frame() == 1 and state.c_frame == 1 and shown == [1]
    panel.on_next()
    assert session.current_frame() == 2 and shown == [1, 2]

    session.set_frame(0)  # no training case: the frame shown is the corrected one
    node = session.segmentation_node
    before = dict(session.segment_logic.frame_labels(node, session.input_node))
    state.c_prop_method, state.c_device = "registration", "cpu"

    async def stopped():
        task = asyncio.ensure_future(panel._propagate())
        while not state.c_can_stop:
            await asyncio.sleep(0.005)
        panel.on_stop()
        await task

    asyncio.run(stopped())
    assert state.c_message == "propagating stopped" and not state.c_can_undo
    labels = dict(session.segment_logic.frame_labels(node, session.input_node))
    assert all(np.array_equal(labels[f], before[f]) for f in before)

    asyncio.run(panel._propagate())
    assert state.c_can_undo and state.c_message.startswith("propagated from frame(s) [0] to frame(s) [")
    assert state.c_curve_svg == "" and not state.c_qc_rows  # both described the labels before
    labels = dict(session.segment_logic.frame_labels(node, session.input_node))
    assert (labels[2][1] == 2).sum() > 0.5 * (cine.label[2][1] == 2).sum()
    np.testing.assert_array_equal(labels[0], before[0])
    panel.on_undo()
    labels = dict(session.segment_logic.frame_labels(node, session.input_node))
    assert all(np.array_equal(labels[f], before[f]) for f in before)
    assert not state.c_can_undo and "undone" in state.c_message
