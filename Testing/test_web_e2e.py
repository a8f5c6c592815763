"""``cardiacssl web`` end to end in a real browser (Playwright driving Debian's chromium).

The app runs in a subprocess on 127.0.0.1; the test clicks through the whole loop on a
Sunnybrook cine (list, load, frame slider, segment, paint, undo/redo, training set,
fine-tune, model card, cancel, metrics, downloads) and reads the app's ``/cardiacssl/status`` endpoint
to check the MRML label map changed where the user painted.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.web, pytest.mark.data]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def _missing_requirement() -> str | None:
    for module, package in (("trame_slicer", "trame-slicer[standalone]"), ("playwright", "playwright")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def web_ready() -> None:
    reason = _missing_requirement()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the web end-to-end test: {reason}")
        pytest.skip(f"web end-to-end test needs it: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model(workdir: Path) -> str:
    """The registry's default model when it resolves, else a tiny random U-Net (fast on CPU)."""
    from CardiacSSLLib.errors import ModelError
    from CardiacSSLLib.registry import resolve

    try:
        return resolve("default").name
    except ModelError:
        from workflow_check import make_tiny_model

        return str(make_tiny_model(workdir / "tiny" / "model"))


class App:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path) -> None:
        self.url, self.proc, self.log = url, proc, log

    def status(self) -> dict:
        with urllib.request.urlopen(self.url + "cardiacssl/status", timeout=10) as r:
            return json.loads(r.read())

    def wait(self, what: str, cond, timeout: float = 90.0) -> dict:
        deadline = time.monotonic() + timeout
        s = {}
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the app died while {what}:\n{self.log.read_text()[-3000:]}"
            s = self.status()
            if cond(s):
                return s
            time.sleep(0.25)
        raise AssertionError(f"timed out {what}; last status {s}\n{self.log.read_text()[-2000:]}")


@pytest.fixture
def app(web_ready, tmp_path, sunnybrook_dir):
    port = _free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "CARDIACSSL_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_NUM_THREADS", "2")
    command = [
        sys.executable,
        "-m",
        "CardiacSSLWeb",
        "--data",
        str(sunnybrook_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--train-set",
        str(tmp_path / "trainingset"),
        "--model",
        _model(tmp_path),
        "--device",
        "cpu",
        "--steps",
        "3",
        "--finetune-args",
        "--batch-size 2 --patch-size 64 --val-every 1",
    ]
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    app = App(f"http://127.0.0.1:{port}/", proc, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"the app did not start:\n{log.read_text()[-3000:]}"
            with contextlib.suppress(OSError):
                app.status()
                break
            assert time.monotonic() < deadline, f"the app did not answer in 60 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / "screens" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path))
    return path


def _fill(page, app: App, selector: str, key: str, value) -> None:
    """Type into a field and wait until the server has the value (before clicking what uses it)."""
    page.fill(selector, str(value))
    app.wait(f"{key} reaching the server", lambda s: str(s["inputs"][key]) == str(value), 15)


def _list(page, app: App, folder: Path) -> dict:
    _fill(page, app, "#data-dir", "data_dir", folder)
    before = app.status()["message"]
    page.click("#list-btn")
    return app.wait("listing", lambda s: not s["busy"] and s["message"] and s["message"] != before, 30)


def test_web_annotate_then_finetune_loop(app: App, tmp_path: Path, sunnybrook_dir: Path):
    from playwright.sync_api import expect, sync_playwright

    from CardiacSSLLib.io import load_cine, load_label

    not_cine = tmp_path / "notes"
    not_cine.mkdir()
    (not_cine / "readme.txt").write_text("not an image")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "cine.nii.gz").write_bytes(b"\x1f\x8b this is not gzip data")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        page.set_default_timeout(30_000)
        page.goto(app.url)
        page.wait_for_selector(".cine-item")  # --data was listed at start

        # bad input through the page: a message, and the app keeps running
        s = _list(page, app, not_cine)
        assert s["message_type"] == "error" and "no cine found" in s["message"], s
        expect(page.locator("#message")).to_contain_text("no cine found")
        s = _list(page, app, broken)
        assert s["message_type"] == "info", s
        expect(page.locator(".cine-item")).to_have_count(1)
        page.click("#load-btn")
        s = app.wait("loading a broken file", lambda s: not s["busy"] and s["message_type"] == "error", 30)
        assert s["cine"] is None and "cine.nii.gz" in s["message"], s
        _shot(page, tmp_path, "01-bad-input")

        # list and load a Sunnybrook cine
        _list(page, app, sunnybrook_dir)
        page.locator(".cine-item", has_text="SCD0000101").click()
        page.click("#load-btn")
        s = app.wait("loading", lambda s: s["cine"] == "SCD0000101" and not s["busy"], 60)
        cine = load_cine(sunnybrook_dir / "dicoms" / "SCD0000101")
        for selector in ("#frames-all", "#frames-edes", "#frames-current"):  # labels not cut off
            assert page.eval_on_selector(
                selector,
                "e => { const c = e.querySelector('.v-btn__content'); return c.scrollWidth <= c.clientWidth "
                "&& e.getBoundingClientRect().right <= document.documentElement.clientWidth; }",
            ), selector
        for selector in ("#model", "#ft-init"):  # model names wrap instead of being cut off
            assert page.eval_on_selector(
                f".v-field:has({selector}) .v-select__selection-text", "e => e.scrollWidth <= e.clientWidth"
            ), selector
        assert s["n_frames"] == cine.n_frames == 20 and s["frame"] == 0

        # the frame slider browses the sequence
        thumb = page.locator("#frame-slider .v-slider-thumb")
        thumb.focus()
        page.keyboard.press("ArrowRight")
        app.wait("frame 1", lambda s: s["frame"] == 1, 15)
        page.keyboard.press("ArrowLeft")
        app.wait("frame 0", lambda s: s["frame"] == 0, 15)

        # segmenting runs off the event loop: the app answers meanwhile, and Stop stops it
        page.click("#segment-btn")
        app.wait("segmentation progress", lambda s: s["busy"] and "batch" in s["busy_text"], 60)
        for _ in range(3):
            t0 = time.monotonic()
            assert app.status()["busy"]
            assert time.monotonic() - t0 < 2.0, "the page's event loop is blocked by inference"
        thumb = page.locator("#frame-slider .v-slider-thumb")
        thumb.focus()
        page.keyboard.press("ArrowRight")  # the page stays usable meanwhile
        assert app.wait("frame 1 while segmenting", lambda s: s["frame"] == 1, 15)["busy"]
        page.keyboard.press("ArrowLeft")
        app.wait("frame 0 while segmenting", lambda s: s["frame"] == 0, 15)
        page.click("#stop-btn")
        s = app.wait("stopping", lambda s: not s["busy"], 30)
        assert s["message"] == "segmenting stopped" and s["segmented_frames"] == [], s

        # segment every frame with the model
        page.click("#segment-btn")
        s = app.wait("segmenting", lambda s: len(s["segmented_frames"]) == 20 and not s["busy"], 120)
        assert s["edited_voxels"] == 0 and s["message_type"] == "success", s
        _shot(page, tmp_path, "02-segmented")

        # paint an LV correction across the middle of the slice view
        page.click("#segment-LV")
        page.click("#tool-Paint")
        box = page.locator("img").first.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx - 80, cy)
        page.mouse.down()
        for i in range(1, 17):
            page.mouse.move(cx - 80 + 10 * i, cy, steps=2)
        page.mouse.up()
        painted = app.wait("painting", lambda s: s.get("edited_voxels", 0) > 0, 20)
        assert painted["edited_to"]["1"] == painted["edited_voxels"], painted  # every changed voxel is LV now
        assert painted["label_counts"]["1"] >= painted["edited_voxels"]
        slices = painted["edited_slices"]
        assert slices == list(range(slices[0], slices[-1] + 1)), slices  # one brush stroke: contiguous slices
        _shot(page, tmp_path, "03-painted")

        # undo / redo of the stroke
        page.click("#undo-btn")
        app.wait("undo", lambda s: s["edited_voxels"] == 0, 15)
        page.click("#redo-btn")
        app.wait("redo", lambda s: s["edited_voxels"] == painted["edited_voxels"], 15)
        page.click("#tool-Islands")  # its options open in trame-slicer's editor panel
        expect(page.get_by_role("button", name="Keep largest")).to_be_visible()
        page.click("#tool-Islands")  # no tool: browsing must not paint

        # the edit stays with its frame when browsing
        thumb.focus()
        page.keyboard.press("ArrowRight")
        s = app.wait("frame 1", lambda s: s["frame"] == 1, 15)
        assert s["edited_voxels"] == 0
        page.keyboard.press("ArrowLeft")
        s = app.wait("frame 0 again", lambda s: s["frame"] == 0, 15)
        assert s["edited_voxels"] == painted["edited_voxels"], s

        # add the corrected frame to the training set
        page.click("#add-case-btn")
        app.wait("adding a case", lambda s: s["training_cases"] == 1 and not s["busy"], 30)
        expect(page.locator("#cases-text")).to_contain_text("1 case")
        stored = sorted((tmp_path / "trainingset").rglob("label.nii.gz"))
        assert len(stored) == 1

        # a short fine-tune to completion: progress, loss plot, new model in the list
        _fill(page, app, "#ft-name", "ft_name", "web-ft1")
        _fill(page, app, "#ft-steps", "ft_steps", 3)
        page.click("#ft-start")
        s = app.wait("fine-tuning", lambda s: not s["finetune_running"] and s["message"].startswith("Fine-tuning"), 150)
        assert s["message_type"] == "success" and "finished" in s["message"], s
        assert s["finetune_percent"] == 100 and "web-ft1" in s["models"] and s["model"] == "web-ft1"
        expect(page.locator("#loss-plot polyline")).to_have_count(1)
        page.click("#model-card-btn")  # the new model has no written card: one built from its config
        expect(page.locator("#card-title")).to_contain_text("Model card: web-ft1")
        expect(page.locator("#card-text")).to_contain_text("origin: user")
        page.click("#card-close")
        expect(page.locator("#card-text")).to_be_hidden()
        weights = tmp_path / "home" / "models" / "web-ft1" / "model.safetensors"
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        _shot(page, tmp_path, "04-finetuned")

        # a second, long run cancelled after its first step; the first model is unchanged
        _fill(page, app, "#ft-name", "ft_name", "web-ft2")
        _fill(page, app, "#ft-steps", "ft_steps", 100000)
        page.click("#ft-start")
        app.wait("second run's first step", lambda s: s["finetune_running"] and s["finetune_step"] >= 1, 120)
        page.click("#ft-cancel")
        s = app.wait("cancelling", lambda s: not s["finetune_running"] and "cancelled" in s["message"], 60)
        assert "cancelled" in s["message"] and "web-ft2" not in s["models"], s
        assert hashlib.sha256(weights.read_bytes()).hexdigest() == digest

        # metrics table and volume curve
        page.click("#metrics-btn")
        app.wait("metrics", lambda s: not s["busy"] and s["message"].startswith("metrics of 20"), 60)
        expect(page.locator("#metrics-table tr").nth(8)).to_be_visible()  # at least 9 rows
        expect(page.locator("#metrics-table")).to_contain_text("LV EDV")
        expect(page.locator("#volume-curve polyline")).to_have_count(2)
        expect(page.locator("#volume-curve .x-tick")).not_to_have_count(0)  # ticked axes, ED/ES marked
        expect(page.locator("#volume-curve .y-tick")).not_to_have_count(0)
        expect(page.locator("#volume-curve .mark")).to_have_count(2)
        page.locator("#volume-curve").scroll_into_view_if_needed()
        _shot(page, tmp_path, "05-metrics")

        # downloads: the edited segmentation in the cine's geometry, and the CSV
        with page.expect_download() as info:
            page.click("#dl-seg")
        seg_path = tmp_path / info.value.suggested_filename
        info.value.save_as(seg_path)
        label = load_label(seg_path, cine)
        assert label.shape == cine.image.shape
        assert int((label[0] == 1).sum()) == painted["label_counts"]["1"]
        with page.expect_download() as info:
            page.click("#dl-csv")
        csv_path = tmp_path / "metrics.csv"
        info.value.save_as(csv_path)
        header = csv_path.read_text().splitlines()[0]
        assert "section" in header and len(csv_path.read_text().splitlines()) > 10

        # a second cine replaces the first; the editor works on the new one (one frame, RV paint)
        page.locator(".cine-item", has_text="SCD0000201").click()
        page.click("#load-btn")
        app.wait("loading a second cine", lambda s: s["cine"] == "SCD0000201" and not s["busy"], 60)
        page.click("#frames-current")
        page.click("#segment-btn")
        s = app.wait("segmenting one frame", lambda s: s["segmented_frames"] == [0] and not s["busy"], 60)
        page.click("#segment-RV")
        page.click("#tool-Paint")
        page.mouse.move(cx, cy - 60)
        page.mouse.down()
        page.mouse.move(cx, cy + 60, steps=12)
        page.mouse.up()
        s = app.wait("painting RV", lambda s: s.get("edited_voxels", 0) > 0, 20)
        assert s["edited_to"]["3"] == s["edited_voxels"], s
        _shot(page, tmp_path, "06-second-cine")
        assert app.proc.poll() is None
        browser.close()
    assert np.isfinite(label).all()
