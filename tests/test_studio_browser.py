"""The studio as people use it: the real command, a real browser (Debian's chromium via Playwright).

Slow tier. Polls generously and never asserts a duration: the machine is shared. Each test
is one of the ways the studio used to lose work or fail silently (issue 19): a change on
disk under unsaved edits, typing while a slider moves, rendering what the page shows,
cancel, a device that is not there and memory, saving through a symlink with its mode and
line ends, a file name that is not ASCII, junk on the WebSocket, keys on a focused slider,
a restart of the server, a portrait scene.
"""
from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
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
# notes:"""
POLL_S = 90  # generous: five engineers share two cores
TIMEOUT = POLL_S * 1000


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def start(folder: Path, *args) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cppn_anim", "studio", *args, "--no-browser"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(folder), "TMPDIR": str(folder),
             "XDG_CACHE_HOME": str(folder.parent / f"{folder.name}.cache")},  # compiled kernels: a user cache, not the scene's folder
    )  # fmt: skip
    url = proc.stdout.readline().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{20,}", url), (url, proc.poll())
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


def until(test, what: str, timeout: float = POLL_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


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
        # sound without a click first (the page plays a scene's soundtrack with the preview)
        b = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


class Studio:
    """A studio process and a page on it, with what the tests ask of them."""

    def __init__(self, browser, folder: Path, *args, viewport=(1400, 820)):
        self.folder, self.args = folder, args
        self.proc, self.url = start(folder, *args)
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(self.url)
        self.editor = self.page.get_by_test_id("editor")
        self.error = self.page.get_by_test_id("error")

    def text(self) -> str:
        return self.editor.evaluate("e => e.value")

    def set_text(self, text: str) -> None:
        """As if typed: one change of the editor's text (its `value` setter is setText)."""
        self.editor.evaluate("(e, t) => { e.value = t; }", text)

    def wait_text(self, pattern) -> None:
        from playwright.sync_api import expect

        if isinstance(pattern, str):  # the whole text
            expect(self.editor).to_have_js_property("value", pattern, timeout=TIMEOUT)
        else:
            until(lambda: pattern.search(self.text()), f"the editor to match {pattern.pattern}")

    def wait_preview(self) -> None:
        self.page.wait_for_function(PIXELS_VARY, timeout=TIMEOUT)

    def type_at_end(self, text: str) -> None:
        self.editor.click()
        self.page.keyboard.press("Control+End")
        self.page.keyboard.type(text)

    def close(self) -> tuple[int, str]:
        code, _, err = stop(self.proc)
        assert not self.errors, self.errors
        return code, err


@pytest.fixture
def studio(browser, tmp_path, scene_file):
    made = []

    def make(*args, folder=tmp_path, viewport=(1400, 820)):
        s = Studio(browser, folder, *(args or (scene_file.name,)), viewport=viewport)
        made.append(s)
        return s

    yield make
    for s in made:
        if s.proc.poll() is None:
            code, err = s.close()
            assert code == 0 and "Traceback" not in err, err


def test_edit_play_save_render_in_a_real_browser(tmp_path, scene_file, studio):
    from playwright.sync_api import expect

    s = studio()
    page = s.page
    s.wait_preview()  # a preview, not a blank canvas
    assert page.get_by_test_id("editor").get_attribute("contenteditable") == "true"  # the real editor, typed into below
    assert page.locator(".cm-lineNumbers").count() == 1

    # pause (space), then move the time: the frame number follows
    page.locator("body").press(" ")
    expect(page.get_by_test_id("play")).to_have_text("play", timeout=TIMEOUT)
    page.get_by_test_id("time").fill("1.5")
    expect(page.locator("#frame")).to_contain_text("frame 18 / 23", timeout=TIMEOUT)
    page.locator("body").press("ArrowRight")
    expect(page.locator("#frame")).to_contain_text("frame 19 / 23", timeout=TIMEOUT)

    # a typo: the error names FILE:LINE:COL and the line is marked at its number
    s.editor.click()
    at = SCENE.index("depth")
    page.evaluate(f"studioEditor.setSelection({at})")
    page.keyboard.type("x")
    expect(s.error).to_have_text(re.compile(r"^small\.yaml:6:\d+: network\.xdepth: unknown key 'xdepth'"), timeout=TIMEOUT)
    expect(page.locator(".cm-lineNumbers .cppn-error-line")).to_have_text("6", timeout=TIMEOUT)
    # keys in the editor never reach the page's shortcuts: a space typed is text, not pause/play
    page.keyboard.press("Backspace")
    expect(s.error).to_have_text("", timeout=TIMEOUT)
    expect(page.locator(".cm-lineNumbers .cppn-error-line")).to_have_count(0, timeout=TIMEOUT)
    s.wait_preview()
    page.keyboard.press("Control+End")
    page.keyboard.type(" ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("play")).to_have_text("play")
    expect(page.locator("#frame")).to_contain_text("frame 19 / 23")
    s.wait_text(re.compile(r"^# notes: ArrowLeft$", re.M))

    # a slider writes into the text
    page.locator('[data-testid=slider][data-key="seed"]').fill("42")
    s.wait_text(re.compile(r"^seed: 42$", re.M))

    # save: the file on disk is what the editor holds
    page.get_by_test_id("save").click()
    until(lambda: scene_file.read_text() == s.text(), "the file to hold the editor's text")
    assert "seed: 42" in scene_file.read_text() and "# notes: ArrowLeft" in scene_file.read_text()

    # another editor changes the file, and the page holds no unsaved edits: it loads the change
    scene_file.write_text(scene_file.read_text().replace("fps: 12", "fps: 10"))
    s.wait_text(re.compile(r"^fps: 10$", re.M))
    expect(page.get_by_test_id("conflict")).to_be_hidden()

    # render: progress, then the written path in `result`, which exists
    page.get_by_test_id("render").click()
    expect(page.get_by_test_id("result")).to_have_text("out/small.gif", timeout=TIMEOUT)
    with Image.open(tmp_path / "out" / "small.gif") as im:
        assert im.format == "GIF" and im.n_frames == 20 and im.size == (160, 90)
    assert 0 < page.evaluate("window.studioStats.cached") <= page.evaluate("window.studioStats.window")


def test_a_change_on_disk_under_unsaved_edits_is_a_conflict(scene_file, studio):
    from playwright.sync_api import expect

    s = studio()
    page = s.page
    s.wait_text(SCENE)
    conflict = page.get_by_test_id("conflict")
    s.type_at_end(" mine")
    s.wait_text(re.compile(r"^# notes: mine$", re.M))

    # changed on disk: the page keeps its text and asks; keep mine, then save writes mine
    scene_file.write_text(SCENE.replace("seed: 4", "seed: 5"))
    expect(conflict).to_be_visible(timeout=TIMEOUT)
    assert conflict.inner_text().strip()
    assert s.text() == SCENE + " mine"
    page.get_by_test_id("save").click()  # before choosing: refused
    expect(s.error).to_contain_text("not saved", timeout=TIMEOUT)
    page.get_by_test_id("conflict-keep").click()
    expect(conflict).to_be_hidden(timeout=TIMEOUT)
    assert s.text() == SCENE + " mine"
    page.get_by_test_id("save").click()
    until(lambda: scene_file.read_text() == SCENE + " mine", "the page's text on disk")
    expect(s.error).to_have_text("", timeout=TIMEOUT)  # the save that worked clears the save that did not

    # again, and this time load the file from disk
    s.type_at_end(" more")
    s.wait_text(re.compile(r"mine more$", re.M))
    scene_file.write_text(SCENE.replace("seed: 4", "seed: 6"))
    expect(conflict).to_be_visible(timeout=TIMEOUT)
    page.get_by_test_id("conflict-load").click()
    s.wait_text(SCENE.replace("seed: 4", "seed: 6"))
    expect(conflict).to_be_hidden()
    expect(page.locator("#dirty")).to_be_hidden()

    # no unsaved edits now: a change on disk simply loads
    scene_file.write_text(SCENE.replace("seed: 4", "seed: 7"))
    s.wait_text(SCENE.replace("seed: 4", "seed: 7"))
    expect(conflict).to_be_hidden()


def test_typing_while_sliders_move_never_garbles_the_text(scene_file, studio):
    s = studio()
    page = s.page
    s.wait_text(SCENE)
    s.wait_preview()
    s.type_at_end("")
    words = []
    for k in range(12):  # the zoom is not in the text: each move asks the server, whose answer lands mid-typing
        page.evaluate(
            """([zoom, seed]) => {
                for (const [key, v] of [["view.zoom", zoom], ["seed", seed]]) {
                    const input = document.querySelector(`[data-testid=slider][data-key="${key}"]`);
                    input.value = String(v);
                    input.dispatchEvent(new Event("input"));
                }
            }""",
            [300 + 20 * k, 100 + k],
        )
        word = f" w{k}{{z: random}}"
        words.append(word)
        page.keyboard.type(word)
    expected_tail = "# notes:" + "".join(words)
    until(lambda: s.text().endswith(expected_tail), "every keystroke in place")
    from ruamel.yaml import YAML

    until(lambda: "zoom:" in s.text(), "the zoom added to the text")
    text = s.text()
    data = YAML(typ="safe").load(text)
    assert data["seed"] == 111 and data["view"]["zoom"] > 0 and text.count("zoom:") == 1
    rest = re.sub(r"(?m)^view:\n  zoom: [0-9.e-]+\n", "", text)
    assert rest == SCENE.replace("seed: 4", "seed: 111") + "".join(words)  # the rest exactly as it was and as typed


def test_render_renders_the_page_text_then_cancel_and_refusal(tmp_path, browser, studio):
    from playwright.sync_api import expect

    named = tmp_path / "螺旋.yaml"  # a name that is not ASCII: downloads and results too
    named.write_text(SCENE)
    s = studio(named.name)
    page = s.page
    s.wait_text(SCENE)
    s.wait_preview()

    # the page's text, unsaved: another format and size; the render writes that
    s.set_text(SCENE.replace("format: gif", "format: mp4").replace("[160, 90]", "[96, 54]"))
    page.get_by_test_id("render").click()
    result = page.get_by_test_id("result")
    expect(result).to_have_text("out/螺旋.mp4", timeout=TIMEOUT)
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(tmp_path / "out" / "螺旋.mp4"))
    assert next(reader)["size"] == (96, 54)
    reader.close()
    assert not (tmp_path / "out" / "螺旋.gif").exists()
    with page.expect_download(timeout=TIMEOUT) as got:  # the result downloads under its name
        page.evaluate("""() => { const a = document.createElement('a'); a.href = document.querySelector('[data-testid=result]').href;
                                 a.download = ''; document.body.append(a); a.click(); }""")
    assert got.value.suggested_filename == "螺旋.mp4"

    # a still of the frame shown, named after the scene
    page.get_by_test_id("play").click()  # pause
    expect(page.get_by_test_id("play")).to_have_text("play", timeout=TIMEOUT)
    page.get_by_test_id("time").fill("0.5")
    page.locator("#still-w").fill("40")
    page.locator("#still-h").fill("24")
    with page.expect_download(timeout=TIMEOUT) as got:  # one click: the PNG downloads
        page.locator("#still").click()
    assert got.value.suggested_filename == "螺旋_frame6_40x24.png"
    with Image.open(got.value.path()) as im:
        assert im.size == (40, 24)
    expect(page.locator("#still-link")).to_have_text("螺旋_frame6_40x24.png", timeout=TIMEOUT)

    # a long render: a second one is refused with a message, cancel stops it and leaves nothing
    s.set_text(SCENE.replace("duration: 2", "duration: 600"))
    expect(s.error).to_have_text("", timeout=TIMEOUT)
    page.get_by_test_id("render").click()
    expect(page.get_by_test_id("cancel")).to_be_visible(timeout=TIMEOUT)
    until(lambda: page.locator("#progress").evaluate("p => p.value") > 0, "the render under way")
    page.get_by_test_id("render").click()
    expect(s.error).to_contain_text("already running", timeout=TIMEOUT)
    page.get_by_test_id("cancel").click()
    expect(page.locator("#status")).to_contain_text("cancelled", timeout=TIMEOUT)
    expect(page.get_by_test_id("cancel")).to_be_hidden()
    expect(s.error).to_have_text("")  # "already running" is no longer true
    assert not (tmp_path / "out" / "螺旋.gif").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["螺旋.mp4"]  # no temporary file left


def test_a_missing_device_and_out_of_memory_are_shown_then_the_fix_recovers(studio):
    from playwright.sync_api import expect

    s = studio()
    page = s.page
    s.wait_preview()
    s.set_text(SCENE.replace("output:", "render: {device: 'cuda:9'}\noutput:"))
    expect(s.error).to_contain_text("cuda:9 is not available", timeout=TIMEOUT)
    expect(page.locator(".cm-lineNumbers .cppn-error-line")).to_have_text("12", timeout=TIMEOUT)
    s.set_text(SCENE.replace("seed: 4", "seed: 5"))
    expect(s.error).to_have_text("", timeout=TIMEOUT)
    s.wait_preview()

    # memory: the studio may map only a little more than it has; a network within the studio's
    # own budget (512 MB for a preview) but over what is free does not fit
    status = Path(f"/proc/{s.proc.pid}/status").read_text()
    mapped = int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) * 1024
    resource.prlimit(s.proc.pid, resource.RLIMIT_AS, (mapped + 256 * 2**20, resource.RLIM_INFINITY))
    try:
        s.set_text(SCENE.replace("width: 8, depth: 3", "width: 1024, depth: 24"))
        expect(s.error).to_contain_text(re.compile(r"the memory free is|not enough memory"), timeout=TIMEOUT)
        assert "\n" not in s.error.inner_text().strip()
    finally:
        resource.prlimit(s.proc.pid, resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    s.set_text(SCENE.replace("seed: 4", "seed: 6"))
    expect(s.error).to_have_text("", timeout=TIMEOUT)
    s.wait_preview()


def test_save_keeps_the_symlink_the_mode_and_crlf(tmp_path, studio):
    real = tmp_path / "real"
    real.mkdir()
    target = real / "scene.yaml"
    target.write_bytes(SCENE.replace("\n", "\r\n").encode())
    target.chmod(0o600)
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    s = studio(link.name)
    s.wait_text(SCENE)  # the editor works in LF
    s.type_at_end(" saved")
    s.wait_text(re.compile(r"notes: saved$", re.M))
    s.page.keyboard.press("Control+s")
    want = (SCENE + " saved").replace("\n", "\r\n").encode()
    until(lambda: target.read_bytes() == want, "the target to get the text, in CRLF")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert (target.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in real.iterdir()) == ["scene.yaml"]


def test_junk_on_the_websocket_is_closed_with_a_reason_and_the_page_goes_on(studio):
    from playwright.sync_api import expect

    s = studio()
    page = s.page
    s.wait_preview()
    closes = page.evaluate(
        """async () => {
            const out = [];
            for (const junk of ["{nope", "[]", JSON.stringify({type: "edit", text: 3}), JSON.stringify({type: "explode"}), new Uint8Array([1, 2, 3])]) {
                out.push(await new Promise((resolve) => {
                    const ws = new WebSocket(`ws://${location.host}/ws`);
                    ws.onmessage = () => { if (!ws.sent) { ws.sent = true; ws.send(junk); } };
                    ws.onclose = (e) => resolve([e.code, e.reason]);
                }));
            }
            return out;
        }"""
    )
    assert [c for c, _ in closes] == [1007, 1007, 1007, 1007, 1003] and all(reason for _, reason in closes), closes
    s.set_text(SCENE.replace("seed: 4", "seed: 8"))  # the page's own connection and the studio go on
    expect(s.error).to_have_text("", timeout=TIMEOUT)
    s.wait_preview()
    code, err = s.close()
    assert code == 0 and "Traceback" not in err and "ERROR" not in err, err


def test_arrow_keys_on_a_focused_slider_move_the_slider_not_the_time(studio):
    from playwright.sync_api import expect

    s = studio()
    page = s.page
    s.wait_preview()
    page.locator("body").press(" ")
    expect(page.get_by_test_id("play")).to_have_text("play", timeout=TIMEOUT)
    frame = page.locator("#frame").inner_text()
    seed = page.locator('[data-testid=slider][data-key="seed"]')
    seed.focus()
    seed.press("ArrowRight")
    seed.press("ArrowRight")
    s.wait_text(re.compile(r"^seed: 6$", re.M))
    assert page.locator("#frame").inner_text() == frame  # the timeline did not move
    # a slider for an animated key says so and edits nothing
    s.set_text(SCENE.replace("output:", "animate:\n  view.zoom: [{at: 0, value: 1}, {at: 2, value: 2}]\noutput:"))
    zoom = page.locator('[data-testid=slider][data-key="view.zoom"]')
    expect(zoom).to_be_disabled(timeout=TIMEOUT)
    expect(page.locator("#sliders")).to_contain_text("animated")


def test_the_page_reconnects_after_a_restart_and_keeps_its_edits(tmp_path, scene_file, browser):
    from playwright.sync_api import expect

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s = Studio(browser, tmp_path, scene_file.name, "--port", str(port))
    s.wait_preview()
    s.type_at_end(" unsaved")
    code, _ = s.close()
    assert code == 0
    expect(s.page.locator("#status")).to_contain_text("reconnecting", timeout=TIMEOUT)
    s.proc, url = start(tmp_path, scene_file.name, "--port", str(port))
    assert url == s.url  # the same address: the page's cookie still opens it
    expect(s.page.locator("#status")).to_contain_text("reconnected", timeout=TIMEOUT)
    assert s.text() == SCENE + " unsaved"  # unsaved edits kept
    s.set_text(SCENE.replace("seed: 4", "seed: 9") + " unsaved")
    expect(s.error).to_have_text("", timeout=TIMEOUT)
    s.wait_preview()
    code, err = s.close()
    assert code == 0, err


def test_unsaved_edits_survive_a_reload_and_leaving_asks_first(scene_file, studio):
    from playwright.sync_api import expect

    s = studio()
    page = s.page
    s.wait_text(SCENE)
    s.type_at_end(" unsaved")
    s.wait_text(SCENE + " unsaved")
    asked = []
    page.on("dialog", lambda d: (asked.append(d.type), d.accept()))
    page.reload()
    assert asked == ["beforeunload"]  # leaving with unsaved edits asks first
    s.wait_text(SCENE + " unsaved")  # back, and unsaved
    expect(page.locator("#dirty")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#status")).to_contain_text("restored your unsaved edits", timeout=TIMEOUT)
    assert scene_file.read_text() == SCENE

    page.get_by_test_id("save").click()  # saved: nothing kept, nothing asked
    until(lambda: scene_file.read_text() == SCENE + " unsaved", "the save")
    expect(page.locator("#dirty")).to_be_hidden(timeout=TIMEOUT)
    page.reload()
    s.wait_text(SCENE + " unsaved")
    expect(page.locator("#status")).not_to_contain_text("restored")
    assert asked == ["beforeunload"]

    # edits kept from before, and the file changed on disk since: the choice; load drops the copy
    s.type_at_end(" again")
    s.wait_text(SCENE + " unsaved again")
    page.wait_for_function("() => Object.keys(localStorage).some((k) => k.startsWith('cppn-anim-studio:'))", timeout=TIMEOUT)
    page.evaluate("() => window.addEventListener('beforeunload', (e) => e.stopImmediatePropagation(), true)")  # a crash: no goodbye
    scene_file.write_text(SCENE.replace("seed: 4", "seed: 8"))
    page.reload()
    expect(page.get_by_test_id("conflict")).to_be_visible(timeout=TIMEOUT)
    assert s.text() == SCENE + " unsaved again"
    page.get_by_test_id("conflict-load").click()
    s.wait_text(SCENE.replace("seed: 4", "seed: 8"))
    page.reload()
    s.wait_text(SCENE.replace("seed: 4", "seed: 8"))
    expect(page.locator("#dirty")).to_be_hidden(timeout=TIMEOUT)


def test_the_error_bar_is_one_line_and_a_removed_file_is_told(scene_file, studio):
    from playwright.sync_api import expect

    s = studio(viewport=(1240, 820))
    page = s.page
    s.wait_text(SCENE)
    s.wait_preview()
    short = s.error.bounding_box()["height"]
    s.set_text(SCENE.replace("seed: 4", "seed: 4\n" + "a_very_long_key_" * 20 + ": 1"))
    expect(s.error).to_contain_text("unknown key", timeout=TIMEOUT)
    box = s.error.bounding_box()
    assert box["height"] == short  # one line, however long
    assert s.error.get_attribute("title") == s.error.text_content() and len(s.error.text_content()) > 300
    s.set_text(SCENE)
    expect(s.error).to_have_text("", timeout=TIMEOUT)

    scene_file.unlink()  # removed on disk: said, the text kept; save creates it again
    expect(s.error).to_contain_text("was removed on disk", timeout=TIMEOUT)
    expect(page.locator("#dirty")).to_be_visible()
    assert s.text() == SCENE
    page.get_by_test_id("save").click()
    until(lambda: scene_file.exists() and scene_file.read_text() == SCENE, "the file again")
    expect(s.error).to_have_text("", timeout=TIMEOUT)
    expect(page.locator("#dirty")).to_be_hidden()


@pytest.mark.parametrize("viewport", [(1400, 820), (700, 900)])
def test_a_portrait_scene_fits_the_page(tmp_path, studio, viewport):
    portrait = tmp_path / "tall.yaml"
    portrait.write_text(SCENE.replace("[160, 90]", "[90, 160]"))
    s = studio(portrait.name, viewport=viewport)
    s.wait_preview()
    box = s.page.get_by_test_id("preview").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport[1] and box["x"] + box["width"] <= viewport[0], box


def test_picker_opens_a_scene_in_a_real_browser(tmp_path, browser):
    from playwright.sync_api import expect

    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "small.yaml").write_text(SCENE)
    proc, url = start(tmp_path)
    try:
        page = browser.new_page()
        page.goto(url)
        expect(page.get_by_test_id("error")).to_have_text("no scene is open: pick one above", timeout=TIMEOUT)
        page.locator("#picker").select_option("small.yaml")
        expect(page.locator("#path")).to_have_text("scenes/small.yaml", timeout=TIMEOUT)
        expect(page.get_by_test_id("editor")).to_have_js_property("value", SCENE, timeout=TIMEOUT)
        expect(page.get_by_test_id("error")).to_have_text("", timeout=TIMEOUT)
        page.wait_for_function(PIXELS_VARY, timeout=TIMEOUT)
    finally:
        code, _, err = stop(proc)
    assert code == 0, err


MUSIC = SCENE.replace("trajectory:", """audio:
  path: beat.wav
  bpm: 120
  beat_offset: 0.25
  signals:
    level: {feature: rms, release: 0.1}
    pulse: {feature: beat, release: 0.1}
trajectory:""")


def test_a_scene_with_audio_plays_its_soundtrack_in_sync_and_draws_its_signals(tmp_path, studio):
    import wave

    import numpy as np

    from playwright.sync_api import expect

    rate = 22050
    t = np.arange(2 * rate) / rate
    y = 0.4 * np.sin(2 * np.pi * 330 * t) * np.exp(-((t + 0.25) % 0.5) / 0.05)  # a note on every beat
    with wave.open(str(tmp_path / "beat.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(np.round(y * 32767).astype("<i2").tobytes())
    (tmp_path / "music.yaml").write_text(MUSIC)
    s = studio("music.yaml")
    page = s.page
    s.wait_preview()
    signals = page.get_by_test_id("signals")
    expect(signals).to_be_visible(timeout=TIMEOUT)
    painted = """() => { const c = document.querySelector('[data-testid=signals]');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let lit = 0; for (let i = 3; i < d.length; i += 4) lit += d[i] > 0; return lit > c.width * 4; }"""
    page.wait_for_function(painted, timeout=TIMEOUT)
    layout = page.evaluate("window.studioStats.signals")  # each signal a row tall enough for its label, labels left of the curves
    names = page.evaluate("document.querySelector('[data-testid=signals]').height")
    assert layout["rowH"] >= 14 and layout["left"] > 10 and names == layout["rows"] * layout["rowH"]

    # playing: the sound plays, and the picture follows its clock
    audio = "document.getElementById('audio')"
    page.wait_for_function(f"() => !{audio}.paused && {audio}.currentTime > 0.3", timeout=TIMEOUT)
    in_sync = f"() => Math.abs({audio}.currentTime - (parseFloat(document.querySelector('[data-testid=time]').value))) < 0.25"
    page.wait_for_function(in_sync, timeout=TIMEOUT)

    # pause: the sound stops; the time slider seeks the sound too
    page.get_by_test_id("play").click()
    page.wait_for_function(f"() => {audio}.paused", timeout=TIMEOUT)
    page.get_by_test_id("time").fill("1.5")
    page.wait_for_function(f"() => Math.abs({audio}.currentTime - 1.5) < 0.1", timeout=TIMEOUT)
    page.get_by_test_id("play").click()
    page.wait_for_function(f"() => !{audio}.paused", timeout=TIMEOUT)

    # a browser that wants a click before sound: the page says so, the button says play, one click plays both
    # (a click in this document, not navigator.userActivation: Chromium may carry a page's
    # activation over a same-origin reload, so the test passed or failed by chance)
    page.add_init_script("""(() => { const play = HTMLMediaElement.prototype.play; let clicked = false;
        addEventListener('pointerdown', () => { clicked = true; }, true);
        HTMLMediaElement.prototype.play = function () {
          return clicked ? play.call(this) : Promise.reject(new DOMException('no click yet', 'NotAllowedError'));
        }; })()""")
    page.reload()
    expect(page.get_by_test_id("play")).to_have_text("play", timeout=TIMEOUT)
    expect(page.locator("#status")).to_contain_text("press play for the sound")
    page.get_by_test_id("play").click()
    expect(page.get_by_test_id("play")).to_have_text("pause", timeout=TIMEOUT)
    page.wait_for_function(f"() => !{audio}.paused && {audio}.currentTime > 0.2", timeout=TIMEOUT)
