"""The studio as people use it: the real command, a real browser (Debian's chromium via Playwright).

Slow tier. Polls generously and never asserts a duration: the machine is shared.
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT

pytestmark = pytest.mark.slow

SCENE = """\
# a small scene, so the browser test stays light
seed: 4
duration: 2
fps: 12
size: [160, 90]
network: {latent_dim: 3, width: 8, depth: 3}
trajectory:
  loop: true
  keyframes:
    - {at: 0, z: random}
    - {at: 1, z: random}
output:
  format: gif
"""
POLL_S = 60  # generous: five engineers share two cores


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def start(folder: Path, *args) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cppn_anim", "studio", *args, "--no-browser"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(folder)},
    )  # fmt: skip
    url = proc.stdout.readline().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{20,}", url), url
    return proc, url


def stop(proc: subprocess.Popen, sig=signal.SIGINT) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.fixture
def scene_file(tmp_path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SCENE)
    return path


def get(url: str, headers=None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=120) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


# ------------------------------------------------------------------ the process


def test_ctrl_c_exits_0_and_the_token_is_never_logged(tmp_path, scene_file):
    proc, url = start(tmp_path, scene_file.name)
    token = url.split("token=")[1]
    base = url.split("/?")[0]
    assert get(url) == 200
    assert get(f"{base}/frame.png?t=0.5&token={token}") == 200
    assert get(f"{base}/frame.png?t=0.5&token={token}", {"Host": "evil.example"}) == 403
    assert get(f"{base}/frame.png?t=0.5&token=wrong{token}") == 403
    assert get(f"{base}/nothing-here?token={token}") == 404
    code, out, err = stop(proc)
    assert code == 0, err
    assert out == "" and token not in err  # stdout held only the address line, read above
    assert list(tmp_path.iterdir()) == [scene_file]  # nothing written


def test_sigterm_exits_143(tmp_path, scene_file):
    proc, url = start(tmp_path, scene_file.name)
    assert get(url) == 200
    code, _, err = stop(proc, signal.SIGTERM)
    assert code == 143 and url.split("token=")[1] not in err


def test_missing_scene_is_exit_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cppn_anim", "studio", "nope.yaml", "--no-browser"], cwd=tmp_path,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip() == "nope.yaml: no such file" and proc.stdout == ""


# ------------------------------------------------------------------ the browser

PIXELS_VARY = """() => {
  const c = document.querySelector('[data-testid=preview]');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let lo = 255, hi = 0;
  for (let i = 0; i < d.length; i += 4) { const v = d[i] + d[i + 1] + d[i + 2]; lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return hi - lo > 60 && !c.classList.contains('stale');
}"""


@pytest.fixture
def browser():
    if not chromium():
        pytest.fail("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_edit_play_save_render_in_a_real_browser(tmp_path, scene_file, browser):
    from playwright.sync_api import expect

    proc, url = start(tmp_path, scene_file.name)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        timeout = POLL_S * 1000
        page.wait_for_function(PIXELS_VARY, timeout=timeout)  # a preview, not a blank canvas

        # pause (space), then move the time: the frame number follows
        page.locator("body").press(" ")
        expect(page.get_by_test_id("play")).to_have_text("play", timeout=timeout)
        page.get_by_test_id("time").fill("1.5")
        expect(page.locator("#frame")).to_contain_text("frame 18 / 23", timeout=timeout)
        page.locator("body").press("ArrowRight")
        expect(page.locator("#frame")).to_contain_text("frame 19 / 23", timeout=timeout)

        # a typo: the error names FILE:LINE:COL and the line is marked
        editor = page.get_by_test_id("editor")
        at = SCENE.index("depth")
        editor.evaluate(f"e => {{ e.focus(); e.setSelectionRange({at}, {at}); }}")
        page.keyboard.type("x")
        error = page.get_by_test_id("error")
        expect(error).to_have_text(re.compile(r"^small\.yaml:6:\d+: network\.xdepth: unknown key 'xdepth'"), timeout=timeout)
        expect(page.locator("#gutter .bad")).to_have_text("6", timeout=timeout)

        # fixed: no error, the preview is back
        page.keyboard.press("Backspace")
        expect(error).to_have_text("", timeout=timeout)
        page.wait_for_function(PIXELS_VARY, timeout=timeout)

        # a slider writes into the text
        page.locator('input[data-key="seed"]').fill("42")
        expect(editor).to_have_value(re.compile(r"^seed: 42$", re.M), timeout=timeout)

        # another editor changes the file: the page shows it
        scene_file.write_text(SCENE.replace("fps: 12", "fps: 10"))
        expect(editor).to_have_value(re.compile(r"^fps: 10$", re.M), timeout=timeout)

        # save: the file on disk is what the editor holds
        editor.evaluate("e => { e.focus(); e.setSelectionRange(e.value.length, e.value.length); }")
        page.keyboard.type("# saved from the studio\n")
        page.get_by_test_id("save").click()
        deadline = time.monotonic() + POLL_S
        while scene_file.read_text() != editor.input_value() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scene_file.read_text() == editor.input_value() and "# saved from the studio" in scene_file.read_text()

        # render: progress, then a link to the output, which exists
        page.get_by_test_id("render").click()
        link = page.locator("#result")
        expect(link).to_have_text("out/small.gif", timeout=timeout)
        gif = tmp_path / "out" / "small.gif"
        with Image.open(gif) as im:
            assert im.format == "GIF" and im.n_frames == 20 and im.size == (160, 90)
        assert not errors, errors
    finally:
        code, _, err = stop(proc)
    assert code == 0, err


def test_picker_opens_a_scene_in_a_real_browser(tmp_path, browser):
    from playwright.sync_api import expect

    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "small.yaml").write_text(SCENE)
    proc, url = start(tmp_path)
    try:
        page = browser.new_page()
        page.goto(url)
        timeout = POLL_S * 1000
        expect(page.get_by_test_id("error")).to_have_text("no scene is open: pick one above", timeout=timeout)
        page.locator("#picker").select_option("small.yaml")
        expect(page.locator("#path")).to_have_text("scenes/small.yaml", timeout=timeout)
        expect(page.get_by_test_id("editor")).to_have_value(SCENE, timeout=timeout)
        expect(page.get_by_test_id("error")).to_have_text("", timeout=timeout)
        page.wait_for_function(PIXELS_VARY, timeout=timeout)
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
