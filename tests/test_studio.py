"""The studio's HTTP and WebSocket contract, in-process (Starlette's TestClient): fast tier.

The real browser and the real process (signals, logs) are in test_studio_browser.py (slow).
"""
from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from cppn_anim import cli, core, scene as scenes, studio_server, studio_session as studio, yamledit
from conftest import TINY, write_scene

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
WS = f"ws://127.0.0.1:{PORT}"


def make(path, overrides=(), **kw):
    from starlette.testclient import TestClient

    s = studio.Studio(path, list(overrides), port=PORT, **kw)
    return s, TestClient(studio_server.make_app(s), base_url=BASE)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def still_pixels(tmp_path, scene_path, *args) -> np.ndarray:
    out = tmp_path / "still.png"
    assert cli.main(["still", str(scene_path), "-o", str(out), "-q", *args]) == 0
    return np.asarray(Image.open(out).convert("RGB"))


def receive(ws, want, limit=400):
    """Messages until one of type `want` ('frame' for a binary frame): (that message, the ones before)."""
    seen = []
    for _ in range(limit):
        m = ws.receive()
        if m.get("bytes") is not None:
            n = int.from_bytes(m["bytes"][:4], "big")
            item = {"type": "frame", **json.loads(m["bytes"][4 : 4 + n]), "png": m["bytes"][4 + n :]}
        else:
            item = json.loads(m["text"])
        if item["type"] == want:
            return item, seen
        seen.append(item)
    raise AssertionError(f"no {want} message in {limit}: {[s['type'] for s in seen][:20]}")


# ------------------------------------------------------------------ /frame.png


@pytest.mark.parametrize("t,size", [(0.3, "40x24"), (1.0, "17x9"), (0.0, None)])
def test_frame_png_is_the_still_pixel_for_pixel(tmp_path, tiny, t, size):
    s, client = make(tiny)
    query = f"t={t}&token={s.token}" + (f"&w={size.split('x')[0]}&h={size.split('x')[1]}" if size else "")
    r = client.get(f"/frame.png?{query}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    want = still_pixels(tmp_path, tiny, "--time", str(t), *(["--size", size] if size else []))
    got = pixels(r.content)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert got.std() > 0  # a picture, not a flat field


def test_frame_png_applies_the_studio_overrides(tmp_path, tiny):
    s, client = make(tiny, [("seed", 11, "--seed 11"), ("network.activation", "sin", "--set network.activation=sin")])
    got = pixels(client.get(f"/frame.png?t=0.5&w=32&h=20&token={s.token}").content)
    want = still_pixels(tmp_path, tiny, "--time", "0.5", "--size", "32x20", "--seed", "11", "--set", "network.activation=sin")
    plain = still_pixels(tmp_path, tiny, "--time", "0.5", "--size", "32x20")
    assert np.array_equal(got, want) and not np.array_equal(got, plain)


def test_frame_png_reads_the_file_as_last_saved(tmp_path, tiny):
    s, client = make(tiny)
    before = pixels(client.get(f"/frame.png?t=0.5&token={s.token}").content)
    tiny.write_text(TINY.replace("seed: 4", "seed: 5"))
    after = pixels(client.get(f"/frame.png?t=0.5&token={s.token}").content)
    assert np.array_equal(after, still_pixels(tmp_path, tiny, "--time", "0.5")) and not np.array_equal(before, after)


def test_bad_saved_scene_is_409_with_the_one_error_line(tmp_path):
    path = write_scene(tmp_path, TINY.replace("depth: 3", "dpeth: 3"))
    s, client = make(path)
    r = client.get(f"/frame.png?t=0&token={s.token}")
    with pytest.raises(scenes.SceneError) as e:
        scenes.load(path)
    assert r.status_code == 409
    assert r.text.strip() == str(e.value) and r.text.count("\n") == 1
    assert r.text.startswith(f"{path}:5:") and "dpeth" in r.text


@pytest.mark.parametrize("query", ["t=abc", "t=nan", "t=9", "t=-1", "t=0&w=0&h=5", "t=0&w=x&h=5"])
def test_bad_frame_query_is_400(tiny, query):
    s, client = make(tiny)
    r = client.get(f"/frame.png?{query}&token={s.token}")
    assert r.status_code == 400 and r.text.count("\n") == 1


BAD_QUERIES = ["w=100000&h=100000", "w=16385&h=8", "w=8&h=0", "w=-3&h=8", "w=1.5&h=8", "w=8&h=1e3", "t=abc", "t=inf", "t=9", "t=-0.5"]


@pytest.mark.parametrize("endpoint", ["frame", "still"])
@pytest.mark.parametrize("query", BAD_QUERIES)
def test_a_bad_request_is_400_on_every_endpoint_even_for_a_huge_size(tiny, endpoint, query):
    # a size out of 1..16384 used to reach the scene's own validation and come back as 409 (bad scene)
    s, client = make(tiny)
    key = s.compile(TINY).key
    fill = {"frame": "", "still": f"key={key}&"}[endpoint]
    defaults = "" if "w=" in query else "&w=8&h=6"
    r = client.get(f"/{endpoint}.png?{fill}{query}{defaults}&token={s.token}")
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.text.count("\n") == 1 and r.text.strip()
    assert client.get(f"/{endpoint}.png?{fill}t=0.5&w=8&h=6&token={s.token}").status_code == 200  # the same, well asked


def test_a_bad_request_beats_a_bad_scene_but_a_good_one_gets_409(tmp_path):
    path = write_scene(tmp_path, TINY.replace("depth: 3", "dpeth: 3"))
    s, client = make(path)
    assert client.get(f"/frame.png?t=0&w=100000&h=100000&token={s.token}").status_code == 400
    assert client.get(f"/frame.png?t=0&w=16384&h=16384&token={s.token}").status_code == 409


def test_no_scene_open_is_409(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s, client = make(None)
    assert client.get(f"/frame.png?t=0&token={s.token}").status_code == 409


# ------------------------------------------------------------------ 403s


def test_forbidden_without_the_right_token_host_or_origin(tiny):
    s, client = make(tiny, allow_hosts=["localhost:9000"])
    ok = f"/frame.png?t=0&token={s.token}"
    assert client.get(ok).status_code == 200
    assert client.get("/frame.png?t=0").status_code == 403  # no token
    assert client.get("/frame.png?t=0&token=" + "x" * len(s.token)).status_code == 403  # wrong token
    assert client.get(f"/frame.png?t=0&token={s.token[:-1]}").status_code == 403  # a prefix
    assert client.get("/?token=nope").status_code == 403
    assert client.get("/assets/studio.js").status_code == 403  # assets too
    for host in ["evil.example:8765", f"127.0.0.1:{PORT + 1}", "127.0.0.1", "localhost:9001", ""]:
        assert client.get(ok, headers={"host": host}).status_code == 403, host  # DNS rebinding
    for host in [f"localhost:{PORT}", "LOCALHOST:9000", f"127.0.0.1:{PORT}"]:
        assert client.get(ok, headers={"host": host}).status_code == 200, host
    for origin in ["http://evil.example", f"http://127.0.0.1:{PORT}.evil.example", "null", f"http://127.0.0.1:{PORT + 1}"]:
        assert client.get(ok, headers={"origin": origin}).status_code == 403, origin  # cross-site
    assert client.get(ok, headers={"origin": f"http://localhost:{PORT}"}).status_code == 200


def test_the_page_sets_a_cookie_that_carries_the_token(tiny):
    s, client = make(tiny)
    r = client.get(f"/?token={s.token}")
    assert r.status_code == 200 and 'data-testid="preview"' in r.text
    cookie = r.headers["set-cookie"]
    assert f"cppn_studio_{PORT}={s.token}" in cookie and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert client.get("/assets/studio.js").status_code == 200  # the cookie now
    assert client.get("/frame.png?t=0").status_code == 200
    client.cookies.clear()
    client.cookies.set(f"cppn_studio_{PORT}", "wrong")
    assert client.get("/assets/studio.js").status_code == 403


def test_websocket_needs_token_host_and_origin(tiny):
    from starlette.websockets import WebSocketDisconnect

    s, client = make(tiny)
    for url, headers in [
        ("/ws", {}),
        ("/ws?token=nope", {}),
        (f"/ws?token={s.token}", {"origin": "http://evil.example"}),
        (f"/ws?token={s.token}", {"host": "evil.example:8765"}),
    ]:
        with pytest.raises(WebSocketDisconnect) as e:
            with client.websocket_connect(WS + url, headers=headers) as ws:
                ws.receive_text()
        assert e.value.code == 1008
    with client.websocket_connect(f"{WS}/ws?token={s.token}", headers={"origin": BASE}) as ws:
        assert json.loads(ws.receive_text())["type"] == "hello"


# ------------------------------------------------------------------ the page's WebSocket


def test_edit_shows_frames_then_an_error_at_its_line_then_frames_again(tmp_path, tiny):
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        hello, _ = receive(ws, "hello")
        assert hello["text"] == TINY and hello["path"] == str(tiny)
        ws.send_json({"type": "edit", "text": hello["text"], "index": 3})
        info, _ = receive(ws, "scene")
        assert (info["width"], info["height"], info["count"], info["values"]["seed"]) == (48, 32, 8, 4)
        first, _ = receive(ws, "frame")
        assert first["key"] == info["key"] and first["index"] == 3  # the playhead's frame first
        preview = studio.preview_of(scenes.load(tiny))
        want = next(core.frames(preview, 3, 4))  # what a render of the preview scene makes as frame 3
        assert np.array_equal(pixels(first["png"]), want)
        got = {first["index"]}
        while len(got) < info["count"]:  # then the rest, ahead of the playhead
            got.add(receive(ws, "frame")[0]["index"])
        assert got == set(range(8))

        ws.send_json({"type": "edit", "text": TINY.replace("width: 8", "widht: 8"), "index": 0})
        error, _ = receive(ws, "error")
        assert error["line"] == 5 and error["message"].startswith(f"{tiny}:5:") and "widht" in error["message"]

        fixed = TINY.replace("seed: 4", "seed: 9")
        ws.send_json({"type": "edit", "text": fixed, "index": 0})
        info2, _ = receive(ws, "scene")
        frame, _ = receive(ws, "frame")
        assert info2["key"] != info["key"] and frame["key"] == info2["key"]
        assert not np.array_equal(pixels(frame["png"]), pixels(first["png"]))
    assert tiny.read_text() == TINY  # edits never touch the file


def test_save_writes_the_opened_file_only_and_never_the_overrides(tmp_path, tiny):
    s, client = make(tiny, [("seed", 11, "--seed 11")])
    before = sorted(p.name for p in tmp_path.iterdir())
    new = TINY.replace("fps: 8", "fps: 6  # slower")
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "text": new, "index": 0})
        info, _ = receive(ws, "scene")
        assert info["values"]["seed"] == 11 and info["count"] == 6  # the page shows the override
        ws.send_json({"type": "save", "text": new})
        saved, _ = receive(ws, "saved")
    assert saved["path"] == str(tiny) and tiny.read_text() == new  # as typed: seed 4, no override
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no stray temporary file


def test_sliders_write_into_the_yaml_text(tiny):
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "set", "key": "view.zoom", "value": 2.5, "text": TINY})
        text, _ = receive(ws, "text")
        info, _ = receive(ws, "scene")
        assert "view:\n  zoom: 2.5\n" in text["text"] and info["values"]["view.zoom"] == 2.5
        ws.send_json({"type": "set", "key": "seed", "value": 77, "text": text["text"]})
        text2, _ = receive(ws, "text")
        assert text2["text"] == text["text"].replace("seed: 4", "seed: 77")


def test_a_change_on_disk_reaches_the_page(tiny):
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        time.sleep(0.05)
        tiny.write_text(TINY.replace("seed: 4", "seed: 12"))
        disk, _ = receive(ws, "disk")
    assert "seed: 12" in disk["text"]


def test_picker_opens_only_scenes_it_lists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenes").mkdir()
    write_scene(tmp_path / "scenes", TINY, "a.yaml")
    write_scene(tmp_path, TINY, "secret.yaml")
    s, client = make(None)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        hello, _ = receive(ws, "hello")
        assert hello["scenes"] == ["a.yaml"] and hello["path"] is None
        ws.send_json({"type": "open", "name": "../secret.yaml"})
        assert "not a scene" in receive(ws, "notice")[0]["message"]
        ws.send_json({"type": "open", "name": "a.yaml"})
        opened, _ = receive(ws, "opened")
    assert opened["path"] == "scenes/a.yaml" and opened["text"] == TINY
    assert client.get(f"/frame.png?t=0&token={s.token}").status_code == 200


def test_a_studio_started_on_a_file_edits_that_file_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenes").mkdir()
    write_scene(tmp_path / "scenes", TINY, "a.yaml")
    path = write_scene(tmp_path, TINY, "mine.yaml")
    s, client = make(path)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        hello, _ = receive(ws, "hello")
        assert hello["scenes"] == [] and hello["path"] == str(path)
        ws.send_json({"type": "open", "name": "a.yaml"})
        assert "mine.yaml only" in receive(ws, "notice")[0]["message"]
        ws.send_json({"type": "save", "text": "seed: 1\n" + TINY})
        receive(ws, "saved")
    assert (tmp_path / "scenes/a.yaml").read_text() == TINY and path.read_text().startswith("seed: 1\n")


def test_render_writes_the_scene_output_with_progress(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_scene(tmp_path, TINY + "output: {format: gif}\n", "tiny.yaml")
    s, client = make(path)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "render", "text": path.read_text()})
        done, before = receive(ws, "rendered")
        progress = [m for m in before if m["type"] == "progress"]
        assert progress[0]["path"] == "out/tiny.gif" and progress[-1]["done"] == progress[-1]["total"] == 8
        r = client.get(done["url"] + f"&token={s.token}")
    assert r.status_code == 200 and r.content[:6] == b"GIF89a" and (tmp_path / "out/tiny.gif").read_bytes() == r.content


@pytest.mark.parametrize("where", ["../escape.gif", "/tmp/abs.gif"])
def test_render_refuses_a_target_outside_the_folder(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    path = write_scene(tmp_path, TINY + f"output: {{format: gif, path: '{where}'}}\n", "tiny.yaml")
    s, client = make(path)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "render", "text": path.read_text()})
        error, _ = receive(ws, "render_error")
    assert "output.path" in error["message"] and error["message"].startswith(f"{path}:")
    assert not (tmp_path.parent / "escape.gif").exists()


def test_still_of_the_page_scene_at_a_chosen_size(tmp_path, tiny):
    s, client = make(tiny)
    edited = TINY.replace("seed: 4", "seed: 6")
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "text": edited, "index": 0})
        info, _ = receive(ws, "scene")
        r = client.get(f"/still.png?key={info['key']}&t=0.25&w=30&h=20&token={s.token}")
    edited_path = write_scene(tmp_path, edited, "edited.yaml")
    assert r.status_code == 200 and "tiny_t0.25_30x20.png" in r.headers["content-disposition"]
    assert np.array_equal(pixels(r.content), still_pixels(tmp_path, edited_path, "--time", "0.25", "--size", "30x20"))
    assert client.get(f"/still.png?key=unknown&t=0&w=30&h=20&token={s.token}").status_code == 410


# ------------------------------------------------------------------ pieces


@pytest.mark.parametrize(
    "text,key,value,want",
    [
        ("seed: 1  # mine\nduration: 2\n", "seed", 5, "seed: 5  # mine\nduration: 2\n"),
        ("seed: 1\nview:\n  zoom: 1   # z\n", "view.zoom", 2.0, "seed: 1\nview:\n  zoom: 2.0   # z\n"),
        ("seed: 1\nview:\n  center: [0, 0]\n", "view.zoom", 0.5, "seed: 1\nview:\n  zoom: 0.5\n  center: [0, 0]\n"),
        ("# c\nseed: 1\n", "view.zoom", 3, "# c\nview:\n  zoom: 3\nseed: 1\n"),
        ("view: {center: [0, 0]}\n", "view.zoom", 1.25, "view: {zoom: 1.25, center: [0, 0]}\n"),
        ("view: {}\n", "view.zoom", 1.5, "view: {zoom: 1.5}\n"),
        ("{seed: 1}\n", "network.z_scale", 2.0, "{network: {z_scale: 2.0}, seed: 1}\n"),
        ("", "seed", 3, "seed: 3\n"),
        ("network:\n    depth: 4\n", "network.contrast", 1e-07, "network:\n    contrast: 1e-07\n    depth: 4\n"),
        ("seed: '7'\n", "seed", 8, "seed: 8\n"),
    ],
)
def test_set_key_edits_the_text_in_place(text, key, value, want):
    assert yamledit.set_key(text, key, value) == want


@pytest.mark.parametrize("key,value", [("seed", 123), ("view.zoom", 1.75), ("view.rotation", 30.0), ("network.width", 12)])
def test_set_key_gives_a_scene_with_that_value(key, value):
    s = scenes.parse(yamledit.set_key(TINY, key, value))
    assert studio.value_at(s, key) == value


@pytest.mark.parametrize("text,key", [("seed: [1\n", "seed"), ("view: 3\n", "view.zoom"), ("view:\n  zoom: [1, 2]\n", "view.zoom")])
def test_set_key_refuses_what_it_cannot_place(text, key):
    with pytest.raises(ValueError):
        yamledit.set_key(text, key, 1.0)


def test_frame_cache_key_is_the_content_not_the_name():
    a = scenes.parse(TINY, "a.yaml")
    b = scenes.parse("name: other\n" + TINY + "output: {format: gif}\n", "b.yaml")
    c = scenes.parse(TINY.replace("seed: 4", "seed: 5"), "a.yaml")
    assert studio.content_key(a) == studio.content_key(b) != studio.content_key(c)


def test_it_listens_on_loopback_only():
    sock = studio_server.bind(0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1" and sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_lru_keeps_its_byte_budget():
    cache = studio.LRU(10, size=len)
    for i in range(6):
        cache.put(i, b"abc")
    assert cache.used <= 10 and cache.get(5) == b"abc" and cache.get(0) is None


@pytest.mark.parametrize("key", ["network.z_scale", "network.contrast"])
def test_look_sliders_write_network_keys(key):
    """z_scale and contrast are network keys (the scene format): a slider writes them there, and the scene reads them back."""
    text = yamledit.set_key(TINY, key, 2.5)
    assert text == TINY.replace("network: {", f"network: {{{key.split('.')[1]}: 2.5, ")
    assert studio.value_at(scenes.parse(text), key) == 2.5 and getattr(scenes.parse(text).network, key.split(".")[1]) == 2.5


def test_a_slider_whose_key_is_animated_says_so():
    animated = studio.Compiled(scenes.parse(TINY + "animate:\n  view.zoom: [{at: 0, value: 1}, {at: 1, value: 2}]\n")).info()
    plain = studio.Compiled(scenes.parse(TINY)).info()
    assert animated["animated"] == ["view.zoom"] and plain["animated"] == []


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_that_cannot_be_is_a_usage_error(tmp_path, port):
    from conftest import cli_main

    scene = tmp_path / "s.yaml"
    scene.write_text("trajectory: {keyframes: [{at: 0, z: random}]}\n")
    r = cli_main("studio", scene, "--no-browser", f"--port={port}")
    assert r.returncode == 2 and "--port" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and not r.stdout
