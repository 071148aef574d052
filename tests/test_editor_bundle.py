"""The studio's code editor: the committed bundle (cppn_anim/studio_assets/editor.bundle.js)
driven in a real browser (Debian's chromium via Playwright) on a tiny test page, and its
build: pinned packages, a reproducible bundle.

Browser and build tests are slow-tier. Polls generously and never asserts a duration.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading

import pytest

from conftest import ROOT

ASSETS = ROOT / "cppn_anim" / "studio_assets"
BUNDLE = ASSETS / "editor.bundle.js"
LICENSES = ASSETS / "editor.bundle.LICENSE.txt"
EDITOR = ROOT / "editor"
EXACT = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
TIMEOUT = 60_000  # ms: five engineers share two cores

SCENE = """\
# a scene for the editor's tests
seed: 4
duration: 2
fps: 12
size: [160, 90]
network:
  latent_dim: 3
  width: 8
  depth: 3
trajectory:
  loop: true
  keyframes:
    - {at: 0, z: random}
    - {at: 1, z: random}
output:
  format: gif
"""

# the page the tests load: the bundle and nothing else (a test fixture, not shipped)
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>editor test</title>
<style>body { margin: 0; font: 14px system-ui; } #host { width: 900px; height: 560px; }</style>
<script src="/editor.bundle.js"></script>
</head><body>
<div id="host"></div>
<button id="elsewhere">elsewhere</button>
<script>
window.events = { changes: [], saves: [] };
window.makeEditor = (text, schema, extra) => {
  window.ed = CppnEditor.create(document.getElementById("host"), Object.assign({
    text, schema,
    onChange: (t, revision, info) => events.changes.push({ text: t, revision, origin: info.origin, user: info.user }),
    onSave: (t, revision) => events.saves.push({ text: t, revision }),
  }, extra || {}));
  return ed.revision();
};
</script>
</body></html>
"""


# ------------------------------------------------------------------ fast: what is committed


def test_bundle_is_committed_and_defines_the_api():
    data = BUNDLE.read_bytes()
    assert len(data) > 100_000  # CodeMirror's view alone is ~200 KB minified
    assert data.startswith(b"/*! cppn-anim studio editor") and b"CppnEditor" in data
    assert data.isascii()  # served with any charset
    notices = LICENSES.read_text()
    for package in ("@codemirror/view", "@codemirror/state", "@lezer/yaml", "style-mod", "crelt", "w3c-keyname"):
        assert re.search(rf"^{re.escape(package)} \d+\.\d+\.\d+ \(MIT\)$", notices, re.M), package
    assert notices.count("Permission is hereby granted") >= 10


def test_the_lock_file_pins_every_package():
    manifest = json.loads((EDITOR / "package.json").read_text())
    lock = json.loads((EDITOR / "package-lock.json").read_text())
    declared = {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}
    assert {"@codemirror/state", "@codemirror/view", "@codemirror/lang-yaml", "esbuild"} <= set(declared)
    for name, version in declared.items():
        assert EXACT.match(version), f"package.json: {name} {version!r} is a range, not one version"
    assert lock["lockfileVersion"] >= 2
    assert lock["packages"][""]["devDependencies"] == manifest["devDependencies"]
    installed = {k: v for k, v in lock["packages"].items() if k}
    for path, entry in installed.items():
        assert EXACT.match(entry.get("version", "")), f"{path}: no exact version"
        assert entry.get("integrity", "").startswith("sha512-"), f"{path}: no integrity hash"
    for name, version in declared.items():
        assert installed[f"node_modules/{name}"]["version"] == version


def test_the_editor_logic_in_node(tmp_path):
    """Key paths from YAML text, the schema along a path, the line diff: editor/test/, without a browser."""
    if shutil.which("node") is None:
        pytest.skip("node not installed: the editor's logic tests need it (the browser tests cover it too)")
    from cppn_anim.scene import json_schema

    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(json_schema()))
    proc = subprocess.run(["node", "--test", "editor/test/"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": os.environ["PATH"], "CPPN_SCHEMA": str(schema)})  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"^# fail 0$", proc.stdout, re.M) and not re.search(r"^# skipped [1-9]", proc.stdout, re.M)


def test_node_modules_is_not_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", "editor/node_modules/x"], cwd=ROOT)
    assert ignored.returncode == 0


# ------------------------------------------------------------------ slow: the build


@pytest.mark.slow
def test_the_build_script_rebuilds_the_committed_bundle_byte_for_byte(tmp_path):
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm/node not installed: the bundle cannot be rebuilt here")
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / "cppn_anim" / "studio_assets").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "build_editor.sh", root / "scripts")
    shutil.copytree(EDITOR, root / "editor", ignore=shutil.ignore_patterns("node_modules"))
    proc = subprocess.run(["bash", "scripts/build_editor.sh"], cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = root / "cppn_anim" / "studio_assets"
    assert (built / "editor.bundle.js").read_bytes() == BUNDLE.read_bytes(), "rebuild the bundle: bash scripts/build_editor.sh"
    assert (built / "editor.bundle.LICENSE.txt").read_bytes() == LICENSES.read_bytes()


# ------------------------------------------------------------------ slow: in a real browser


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("editor-site")
    (folder / "index.html").write_text(PAGE)
    shutil.copy(BUNDLE, folder / "editor.bundle.js")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    if not chromium():
        pytest.fail("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium(), args=args)
        yield b
        b.close()


@pytest.fixture(scope="module")
def schema():
    from cppn_anim.scene import json_schema

    return json_schema()


@pytest.fixture
def page(browser, site, schema):
    """A fresh page with an editor holding SCENE; fails the test on any page error or outside request."""
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.set_default_timeout(TIMEOUT)
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))

    def only_local(route):
        if route.request.url.startswith(site):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(site)
    page.evaluate("([text, schema]) => makeEditor(text, schema)", [SCENE, schema])
    yield page
    page.close()
    assert not errors, errors
    assert not outside, f"the editor asked for {outside}: it must work offline"



def editor(page):
    return page.get_by_test_id("editor")


def value(page) -> str:
    return editor(page).evaluate("e => e.value")


def rendered(text: str) -> str:
    """What Chromium's innerText of the editor gives for `text`: every line, an empty line
    (drawn as <br>) reading as two line breaks."""
    return "\n".join(line or "\n" for line in text.split("\n"))


def put_cursor(page, line: int, col: int | None = None) -> None:
    """Click into the editor, then move the cursor to line/col (1-based; col None: end of line)."""
    editor(page).click()
    page.evaluate("([l, c]) => { const d = ed.view.state.doc.line(l); ed.setSelection(c === null ? d.to : d.from + c - 1); }", [line, col])


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def completions(page) -> list[str]:
    box = page.locator(".cm-tooltip-autocomplete")
    box.wait_for()
    return box.locator("li .cm-completionLabel").all_inner_texts()


@pytest.mark.slow
def test_typing_fill_and_reading_back(page):
    ed = editor(page)
    assert value(page) == SCENE and ed.inner_text() == rendered(SCENE)
    assert ed.get_attribute("contenteditable") == "true"

    put_cursor(page, 2)  # after "seed: 4"
    page.keyboard.type("2")
    text = SCENE.replace("seed: 4", "seed: 42")
    assert value(page) == text and ed.inner_text() == rendered(text)
    changes = page.evaluate("events.changes")
    assert changes[-1]["text"] == text and changes[-1]["user"] and changes[-1]["origin"] == "input"
    assert changes[-1]["revision"] == page.evaluate("ed.revision()") == 1

    ed.fill("seed: 7\nfps: 10\n")
    assert value(page) == "seed: 7\nfps: 10\n" and ed.inner_text() == "seed: 7\nfps: 10\n\n"
    assert page.evaluate("ed.getText()") == "seed: 7\nfps: 10\n"
    assert page.evaluate("ed.revision()") > 1

    ed.press("Control+End")
    ed.press_sequentially("duration: 3")
    assert value(page) == "seed: 7\nfps: 10\nduration: 3" == ed.inner_text()
    revisions = [c["revision"] for c in page.evaluate("events.changes")]
    assert revisions == sorted(set(revisions)), "one revision per change, always increasing"

    ed.fill("")
    assert value(page) == "" and ed.inner_text() == "\n"
    from playwright.sync_api import expect

    ed.type("seed: 1")
    expect(ed).to_have_js_property("value", "seed: 1")  # waits, like to_have_value on a textarea


@pytest.mark.slow
def test_a_long_document_is_read_whole(page):
    """CodeMirror draws only the lines near the view; the editor draws a document of up to
    3000 lines whole (inner_text sees all of it), and `value` always gives all of it."""
    long = SCENE + "".join(f"# comment line {i}\n" for i in range(2000))
    page.evaluate("t => ed.setText(t)", long)
    assert value(page) == long
    assert editor(page).inner_text() == rendered(long)
    huge = SCENE + "".join(f"# comment line {i}\n" for i in range(5000))
    page.evaluate("t => ed.setText(t)", huge)
    assert value(page) == huge
    assert page.locator(".cm-line").count() < 1000  # past the limit: drawn near the view only


@pytest.mark.slow
def test_set_text_keeps_the_cursor_where_it_was(page):
    put_cursor(page, 2)  # after "seed: 4"
    disk = SCENE.replace("format: gif", "format: mp4").replace("# a scene", "# the scene")
    revision = page.evaluate("t => ed.setText(t)", disk)
    assert value(page) == disk and revision == page.evaluate("ed.revision()")
    last = page.evaluate("events.changes.at(-1)")
    assert last["origin"] == "setText" and not last["user"] and last["text"] == disk
    page.keyboard.type("2")  # the cursor is still after "seed: 4"
    assert value(page) == disk.replace("seed: 4", "seed: 42")
    assert page.evaluate("ed.hasFocus()")


@pytest.mark.slow
def test_replace_range_keeps_text_typed_since(page):
    """The server answers for revision r while the user typed on: the edit lands where it belongs."""
    r0 = page.evaluate("ed.revision()")
    at = SCENE.index("depth: 3") + len("depth: ")
    put_cursor(page, 2)
    page.keyboard.type("123")  # typed after the server was asked, before it answered
    assert page.evaluate("ed.revision()") > r0
    revision = page.evaluate("([a, r]) => ed.replaceRange(a, a + 1, '6', {revision: r})", [at, r0])
    assert revision == page.evaluate("ed.revision()")
    assert value(page) == SCENE.replace("seed: 4", "seed: 4123").replace("depth: 3", "depth: 6")
    last = page.evaluate("events.changes.at(-1)")
    assert last["origin"] == "replaceRange" and not last["user"]

    # a range the user has edited since: refused (null), nothing changes
    r1 = page.evaluate("ed.revision()")
    seed_at = value(page).index("4123")
    page.keyboard.type("9")
    assert page.evaluate("([a, r]) => ed.replaceRange(a, a + 4, '5', {revision: r})", [seed_at, r1]) is None
    assert "seed: 41239" in value(page)

    # the typing goes on where the cursor was
    page.keyboard.type("8")
    assert "seed: 412398\n" in value(page)


@pytest.mark.slow
def test_set_value_for_sliders_is_one_undo_step_per_drag(page):
    put_cursor(page, 2)
    page.keyboard.type("1")  # seed: 41
    for v in ("4", "5", "6", "7"):  # a slider drag: one group
        assert page.evaluate("v => ed.setValue('network.depth', v, {group: 'depth'})", v) is not None
    assert "depth: 7" in value(page) and "seed: 41" in value(page)
    assert page.evaluate("ed.findValue('network.depth')")["text"] == "7"
    assert page.evaluate("ed.findValue(['size', 1])")["text"] == "90"
    assert page.evaluate("ed.findValue('trajectory.keyframes.1.at')")["text"] == "1"
    assert page.evaluate("ed.findValue('network.contrast')") is None  # missing: the caller adds it
    assert page.evaluate("ed.setValue('view.zoom', '2')") is None
    page.keyboard.press("Control+z")  # the whole drag
    assert "depth: 3" in value(page) and "seed: 41" in value(page)
    page.keyboard.press("Control+z")  # then the typing
    assert value(page) == SCENE
    page.keyboard.press("Control+Shift+z")
    assert "seed: 41" in value(page)


@pytest.mark.slow
def test_mark_error_draws_the_diagnostic_at_its_line_and_column(page):
    from playwright.sync_api import expect

    line = line_of(SCENE, "  depth: 3")
    page.evaluate("l => ed.markError(l, 3, 'small.yaml:' + l + ':3: network.xdepth: unknown key')", line)
    expect(page.locator(".cm-lineNumbers .cppn-error-line")).to_have_text(str(line))
    expect(page.locator(".cm-lintRange-error")).to_have_text("depth")
    expect(page.locator(".cm-line.cppn-error-line")).to_have_text("  depth: 3")
    assert page.evaluate("ed.error()") == {"line": line, "col": 3, "message": f"small.yaml:{line}:3: network.xdepth: unknown key"}

    # a line typed above moves the mark with its text
    put_cursor(page, 1, 1)
    page.keyboard.type("a: 1")
    page.keyboard.press("Enter")
    expect(page.locator(".cm-lineNumbers .cppn-error-line")).to_have_text(str(line + 1))
    assert page.evaluate("ed.error()")["line"] == line + 1

    # hovering the marked token shows the message
    box = page.evaluate("() => { const r = document.querySelector('.cm-lintRange-error').getBoundingClientRect(); return [r.x + 4, r.y + r.height / 2]; }")
    page.mouse.move(*box)
    expect(page.locator(".cm-tooltip-lint")).to_contain_text("unknown key")

    page.evaluate("ed.clearError()")
    expect(page.locator(".cppn-error-line")).to_have_count(0)
    expect(page.locator(".cm-lintRange-error")).to_have_count(0)
    assert page.evaluate("ed.error()") is None

    # columns count code points, as Python does; past the end is clamped
    page.evaluate("t => ed.setText(t)", "name: 螺旋🌀x: 1\nseed: 1\n")
    page.evaluate("ed.markError(1, 10, 'm')")  # the 'x' after the emoji (10th code point)
    expect(page.locator(".cm-lintRange-error")).to_have_text("x")
    page.evaluate("ed.markError(99, 99, 'past the end')")
    assert page.evaluate("ed.error()")["line"] == 3  # the empty last line


@pytest.mark.slow
def test_completion_offers_keys_valid_at_the_cursor_and_enum_values(page):
    from playwright.sync_api import expect

    # a new line under network: (auto-indented), completed from the schema
    put_cursor(page, line_of(SCENE, "  depth: 3"))
    page.keyboard.press("Enter")
    assert page.evaluate("ed.getSelection().head") == SCENE.index("  depth: 3") + len("  depth: 3\n  ")
    page.keyboard.press("Control+Space")
    keys = completions(page)
    assert "activation" in keys and "color" in keys and "palette" in keys
    assert not {"width", "depth", "latent_dim"} & set(keys), "keys already there are not offered"
    assert "seed" not in keys and "format" not in keys  # other mappings' keys
    page.keyboard.type("activ")
    assert completions(page)[0] == "activation"
    page.keyboard.press("Enter")
    assert "\n  activation: \n" in value(page)

    page.keyboard.type("si")
    names = completions(page)
    assert {"sin", "sigmoid"} <= set(names) and "tanh" not in names
    page.keyboard.type("n")  # typed out in full: no list, so Enter makes a new line
    expect(page.locator(".cm-tooltip-autocomplete")).to_have_count(0)
    page.keyboard.press("Enter")
    assert "\n  activation: sin\n  \ntrajectory:" in value(page)

    # output.format's values, at the top level's keys
    put_cursor(page, line_of(value(page), "  format: gif"))
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.press("Control+Space")
    assert {"mp4", "gif", "webm", "png"} == set(completions(page))
    page.keyboard.press("Escape")

    # inside a flow mapping in a list: trajectory.keyframes[].z
    put_cursor(page, line_of(value(page), "    - {at: 1, z: random}"), len("    - {at: 1, z: ") + 1)
    page.keyboard.press("Control+Space")
    assert "random" in completions(page)
    page.keyboard.press("Escape")
    put_cursor(page, line_of(value(page), "    - {at: 1, z: random}"), len("    - {at: 1, ") + 1)
    page.keyboard.press("Control+Space")
    assert "ease" in completions(page) and "at" not in completions(page)
    page.keyboard.press("Escape")

    # top level: the root's keys, minus those present
    put_cursor(page, len(value(page).splitlines()) + 1, 1)
    page.keyboard.type("an")
    assert completions(page)[0] == "animate"
    page.keyboard.press("Escape")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.press("Control+Space")
    top = completions(page)
    assert "view" in top and "seed" not in top and "network" not in top


@pytest.mark.slow
def test_hover_shows_the_key_description_from_the_schema(page):
    from playwright.sync_api import expect

    at = SCENE.index("latent_dim") + 3
    x, y = page.evaluate("p => { const c = ed.view.coordsAtPos(p); return [c.left + 1, (c.top + c.bottom) / 2]; }", at)
    page.mouse.move(x, y)
    hover = page.get_by_test_id("editor-hover")
    expect(hover).to_contain_text("network.latent_dim")
    expect(hover).to_contain_text("length of z")
    expect(hover).to_contain_text("default: 8")

    page.mouse.move(5, 790)
    expect(hover).to_have_count(0)
    at = SCENE.index("gif") + 1  # a value: its key's description and the choices
    x, y = page.evaluate("p => { const c = ed.view.coordsAtPos(p); return [c.left + 1, (c.top + c.bottom) / 2]; }", at)
    page.mouse.move(x, y)
    expect(hover).to_contain_text("output.format")
    expect(hover).to_contain_text("one of: mp4, gif, webm, png")


@pytest.mark.slow
def test_ctrl_s_calls_on_save_undo_redo_and_search(page):
    from playwright.sync_api import expect

    put_cursor(page, 2)
    page.keyboard.type("5")
    page.keyboard.press("Control+s")
    saves = page.evaluate("events.saves")
    assert saves == [{"text": SCENE.replace("seed: 4", "seed: 45"), "revision": page.evaluate("ed.revision()")}]

    page.keyboard.press("Control+z")
    assert value(page) == SCENE
    assert page.evaluate("events.changes.at(-1).origin") == "undo"
    page.keyboard.type("123")  # typing: one undo step
    page.keyboard.press("Control+z")
    assert value(page) == SCENE
    page.keyboard.press("Control+y")
    assert value(page) == SCENE.replace("seed: 4", "seed: 4123")
    assert page.evaluate("ed.canUndo()")

    page.keyboard.press("Control+f")
    expect(page.locator(".cm-search")).to_be_visible()
    page.keyboard.type("random")
    page.keyboard.press("Enter")
    expect(page.locator(".cm-searchMatch")).to_have_count(2)
    page.keyboard.press("Escape")
    expect(page.locator(".cm-search")).to_have_count(0)

    # focus: the page can tell where the keys go
    page.locator("#elsewhere").click()
    assert not page.evaluate("ed.hasFocus()")
    page.evaluate("ed.focus()")
    assert page.evaluate("ed.hasFocus()")


@pytest.mark.slow
def test_highlighting_line_numbers_and_brackets(page):
    from playwright.sync_api import expect

    assert page.locator(".cm-lineNumbers .cm-gutterElement").filter(has_text=re.compile(r"^16$")).count() == 1
    # keys and values are told apart (syntax highlighting gives them classes)
    seed_key = page.locator(".cm-line").nth(1).locator("span").first
    assert seed_key.inner_text() == "seed"
    assert seed_key.evaluate("e => getComputedStyle(e).color") != page.locator(".cm-line").nth(1).evaluate("e => getComputedStyle(e).color")
    put_cursor(page, line_of(SCENE, "size: [160, 90]"), len("size: [") + 1)  # just after "["
    expect(page.locator(".cm-matchingBracket")).to_have_count(2)
