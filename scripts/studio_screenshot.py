"""docs/studio.png: the studio editing a copy of scenes/spiral.yaml, as the README shows it.

Runs the real `cppn-anim studio` and headless Chromium (Playwright): waits for the whole
loop to be in the page, pauses on a frame, opens the editor's hover on a key, and saves the
page. Called by scripts/make_docs_images.sh (`make docs`); usage:

    python scripts/studio_screenshot.py [OUT.png]     # default docs/studio.png
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "studio.png").resolve()
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not exe:
        print("studio_screenshot.py: no chromium found (apt-get install chromium); docs/studio.png left as it was", file=sys.stderr)
        return 0  # the other pictures are made all the same
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="cppn-studio-shot-"))
    (folder / "scenes").mkdir()
    shutil.copy(ROOT / "scenes" / "spiral.yaml", folder / "scenes" / "spiral.yaml")
    proc = subprocess.Popen([sys.executable, "-m", "cppn_anim", "studio", "scenes/spiral.yaml", "--no-browser"],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        url = proc.stdout.readline().strip()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 820}, device_scale_factor=1)
            page.goto(url)
            page.wait_for_function("() => window.studioStats.window && window.studioStats.cached >= window.studioStats.window", timeout=600_000)
            page.get_by_test_id("play").click()  # pause on a frame
            page.get_by_test_id("time").fill("2.5")
            key = page.locator(".cm-line", has_text="activation: tanh")
            box = key.bounding_box()
            page.mouse.move(box["x"] + 40, box["y"] + box["height"] / 2)  # the schema's hover on network.activation
            page.get_by_test_id("editor-hover").wait_for(timeout=30_000)
            time.sleep(0.3)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"studio_screenshot.py: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
