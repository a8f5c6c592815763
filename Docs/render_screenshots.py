"""Render the screenshots that the extension metadata points to (Docs/*.png) from the running web app.

The web app shows the same MRML scene in Slicer's own slice views (trame-slicer); this drives
it in Debian's chromium: load a Sunnybrook cine (CC0), segment every frame with the default
model, screenshot; compute the metrics, screenshot.

    python Docs/render_screenshots.py /path/to/sunnybrook [--out Docs]

Needs trame-slicer, playwright and /usr/bin/chromium (see README, "In the browser").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CINE = "SCD0000101"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> dict:
    with urllib.request.urlopen(url + "cardiacssl/status", timeout=10) as r:
        return json.loads(r.read())


def _wait(url: str, what: str, cond, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            s = _status(url)
            if cond(s):
                return s
        time.sleep(0.5)
    raise SystemExit(f"timed out {what}")


def render(sunnybrook: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    home = Path(tempfile.mkdtemp(prefix="cardiacssl-shots-"))
    env = {**os.environ, "CARDIACSSL_HOME": str(home)}
    command = [sys.executable, "-m", "CardiacSSLWeb", "--data", str(sunnybrook), "--port", str(port),
               "--train-set", str(home / "trainingset"), "--device", "cpu"]  # fmt: skip
    app = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shots = [out / "screenshot_segmentation.png", out / "screenshot_metrics.png"]
    try:
        _wait(url, "for the app", lambda s: True, 90)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])  # fmt: skip
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.locator(".cine-item", has_text=CINE).click()
            page.click("#load-btn")
            _wait(url, "loading", lambda s: s["cine"] == CINE and not s["busy"], 120)
            page.click("#segment-btn")
            _wait(url, "segmenting", lambda s: len(s["segmented_frames"]) > 1 and not s["busy"], 900)
            page.wait_for_timeout(2000)  # the views re-render
            page.screenshot(path=str(shots[0]))
            page.click("#metrics-btn")
            _wait(url, "metrics", lambda s: not s["busy"] and s["message"].startswith("metrics of"), 120)
            page.locator("#volume-curve").scroll_into_view_if_needed()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots[1]))
            browser.close()
    finally:
        app.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            app.wait(timeout=15)
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sunnybrook", type=Path, help="the Sunnybrook folder (dicoms/, contourfiles/)")
    parser.add_argument("--out", type=Path, default=ROOT / "Docs")
    args = parser.parse_args()
    for path in render(args.sunnybrook, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
