"""The studio's HTTP and WebSocket contract, in-process (Starlette's TestClient): fast tier.

The real browser and the real process (signals, logs) are in test_studio_browser.py (slow).
"""
from __future__ import annotations

import io
import json
import re
import time

import numpy as np
import pytest
from PIL import Image

from cppn_anim import cli, core, resources, scene as scenes, studio_server, studio_session as studio, yamledit
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
        if m["type"] == "websocket.close":
            from starlette.websockets import WebSocketDisconnect

            raise WebSocketDisconnect(m.get("code", 1000), m.get("reason"))
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
    key = s.compile(TINY).id
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


def connect(client, s):
    ws = client.websocket_connect(f"{WS}/ws?token={s.token}")
    return ws


def test_edit_shows_frames_then_an_error_at_its_line_then_frames_again(tmp_path, tiny):
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        hello, _ = receive(ws, "hello")
        assert hello["text"] == TINY and hello["path"] == str(tiny) and hello["disk"] == 0
        assert hello["schema"]["properties"]["network"] and hello["max_text_bytes"] == scenes.MAX_FILE_BYTES
        ws.send_json({"type": "edit", "rev": 1, "text": hello["text"], "index": 3})
        info, _ = receive(ws, "scene")
        assert (info["width"], info["height"], info["count"], info["values"]["seed"], info["rev"]) == (48, 32, 8, 4, 1)
        first, _ = receive(ws, "frame")
        assert first["key"] == info["key"] and first["index"] == 3  # the playhead's frame first
        preview = studio.preview_of(scenes.load(tiny))
        want = next(core.frames(preview, 3, 4))  # what a render of the preview scene makes as frame 3
        assert np.array_equal(pixels(first["png"]), want)
        got = {first["index"]}
        while len(got) < info["count"]:  # then the rest, ahead of the playhead
            got.add(receive(ws, "frame")[0]["index"])
        assert got == set(range(8))

        ws.send_json({"type": "edit", "rev": 2, "text": TINY.replace("width: 8", "widht: 8"), "index": 0})
        error, _ = receive(ws, "error")
        assert error["rev"] == 2 and error["line"] == 5 and error["message"].startswith(f"{tiny}:5:") and "widht" in error["message"]

        fixed = TINY.replace("seed: 4", "seed: 9")
        ws.send_json({"type": "edit", "rev": 3, "text": fixed, "index": 0})
        info2, _ = receive(ws, "scene")
        frame, _ = receive(ws, "frame")
        assert info2["rev"] == 3 and info2["key"] != info["key"] and frame["key"] == info2["key"]
        assert not np.array_equal(pixels(frame["png"]), pixels(first["png"]))
    assert tiny.read_text() == TINY  # edits never touch the file


def test_every_answer_carries_the_revision_and_only_the_newest_text_counts(tiny):
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        for rev in range(1, 7):  # typing faster than the server validates
            ws.send_json({"type": "edit", "rev": rev, "text": TINY.replace("seed: 4", f"seed: {40 + rev}"), "index": 0})
        revs = []
        while not revs or revs[-1] != 6:
            revs.append(receive(ws, "scene")[0]["rev"])
        assert revs == sorted(revs) and len(revs) <= 6  # in order; texts typed over are skipped
        assert s.compile(TINY.replace("seed: 4", "seed: 46")).scene.seed == 46


def test_a_slider_edits_the_pages_text_by_a_patch_of_its_revision(tiny):
    s, client = make(tiny)
    text = "# ☃ a comment with 𝄞 (two UTF-16 units)\n" + TINY
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "set", "rev": 7, "key": "view.zoom", "value": 2.5, "text": text})
        got, _ = receive(ws, "patch")
    want = yamledit.set_key(text, "view.zoom", 2.5)
    units = text.encode("utf-16-le")  # the page counts offsets in UTF-16 units, as JavaScript does
    applied = (units[: 2 * got["from"]].decode("utf-16-le") + got["insert"] + units[2 * got["to"] :].decode("utf-16-le"))
    assert got["rev"] == 7 and got["key"] == "view.zoom" and applied == want and "view:\n  zoom: 2.5\n" in want


def test_a_slider_for_an_animated_key_edits_nothing(tiny):
    s, client = make(tiny)
    text = TINY + "animate:\n  view.zoom: [{at: 0, value: 1}, {at: 1, value: 2}]\n"
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "set", "rev": 3, "key": "view.zoom", "value": 2.5, "text": text})
        error, before = receive(ws, "error")
    assert "animated" in error["message"] and not [m for m in before if m["type"] == "patch"]


def test_save_writes_the_opened_file_only_and_never_the_overrides(tmp_path, tiny):
    s, client = make(tiny, [("seed", 11, "--seed 11")])
    before = sorted(p.name for p in tmp_path.iterdir())
    new = TINY.replace("fps: 8", "fps: 6  # slower")
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "rev": 1, "text": new, "index": 0})
        info, _ = receive(ws, "scene")
        assert info["values"]["seed"] == 11 and info["count"] == 6 and info["overridden"] == ["seed"]  # the page shows the override
        ws.send_json({"type": "save", "rev": 1, "text": new, "base": 0})
        saved, _ = receive(ws, "saved")
    assert saved["path"] == str(tiny) and saved["disk"] == 1 and tiny.read_text() == new  # as typed: seed 4, no override
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no stray temporary file


def test_save_is_refused_when_the_file_changed_on_disk_since(tiny):
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        tiny.write_text(TINY.replace("seed: 4", "seed: 12"))  # another editor, before the page heard of it
        ws.send_json({"type": "save", "rev": 2, "text": "seed: 1\n" + TINY, "base": 0})
        error, before = receive(ws, "error")
        assert "changed on disk" in error["message"] and error["message"].startswith("not saved")
        disk = next(m for m in before if m["type"] == "disk") if any(m["type"] == "disk" for m in before) else receive(ws, "disk")[0]
        assert "seed: 12" in disk["text"] and tiny.read_text() == TINY.replace("seed: 4", "seed: 12")
        ws.send_json({"type": "save", "rev": 2, "text": "seed: 1\n" + TINY, "base": disk["disk"]})  # "keep mine"
        receive(ws, "saved")
    assert tiny.read_text() == "seed: 1\n" + TINY


def test_a_change_on_disk_reaches_the_page(tiny):
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        time.sleep(0.05)
        tiny.write_text(TINY.replace("seed: 4", "seed: 12").replace("\n", "\r\n"))
        disk, _ = receive(ws, "disk")
    assert "seed: 12" in disk["text"] and "\r" not in disk["text"] and disk["disk"] == 1  # the editor's line ends


@pytest.mark.parametrize(
    "junk,code",
    [("{not json", 1007), ("[1, 2]", 1007), ('{"type": "launch"}', 1007), ('{"type": "edit", "text": "x"}', 1007),
     ('{"type": "edit", "rev": "1", "text": "x", "index": 0}', 1007), ('{"type": "set", "rev": 1, "key": "network.depth", "value": 3, "text": ""}', 1007),
     ('{"type": "seek", "index": true}', 1007), (b"\x00\x01", 1003)],
)  # fmt: skip
def test_a_malformed_message_closes_with_the_reason(tiny, junk, code):
    from starlette.websockets import WebSocketDisconnect

    s, client = make(tiny)
    with client:
        with client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
            receive(ws, "hello")
            ws.send_bytes(junk) if isinstance(junk, bytes) else ws.send_text(junk)
            with pytest.raises(WebSocketDisconnect) as e:
                receive(ws, "never")
        assert e.value.code == code and e.value.reason
        with client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:  # the studio goes on
            receive(ws, "hello")
            ws.send_json({"type": "edit", "rev": 1, "text": TINY, "index": 0})
            receive(ws, "frame")


def test_a_device_that_is_not_there_is_shown_and_the_fix_brings_the_preview_back(tiny):
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "rev": 1, "text": TINY + "render: {device: 'cuda:9'}\n", "index": 0})
        error, _ = receive(ws, "error")
        assert error["rev"] == 1 and error["line"] == 11 and "cuda:9 is not available" in error["message"]
        assert "\n" not in error["message"]
        ws.send_json({"type": "edit", "rev": 2, "text": TINY, "index": 0})
        info, _ = receive(ws, "scene")
        frame, _ = receive(ws, "frame")
    assert info["rev"] == 2 and frame["key"] == info["key"]


def test_a_device_override_shows_on_every_edit_and_the_session_lives(tiny):
    s, client = make(tiny, [("render.device", "cuda:9", "--set render.device=cuda:9")])
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        for rev in (1, 2):
            ws.send_json({"type": "edit", "rev": rev, "text": TINY.replace("seed: 4", f"seed: {rev}"), "index": 0})
            error, _ = receive(ws, "error")
            assert error["rev"] == rev and "--set render.device=cuda:9" in error["message"] and "not available" in error["message"]


def test_out_of_memory_while_previewing_is_shown_and_the_next_edit_recovers(tiny, monkeypatch):
    s, client = make(tiny)
    real, calls = studio.Compiled.frame_png, []

    def fails_once(self, index, *more):
        calls.append(index)
        if len(calls) == 1:
            raise MemoryError("cannot allocate 4.0 GiB")
        return real(self, index, *more)

    monkeypatch.setattr(studio.Compiled, "frame_png", fails_once)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "rev": 1, "text": TINY, "index": 0})
        info, _ = receive(ws, "scene")
        error, _ = receive(ws, "error")
        assert error == {"type": "error", "rev": 1, "message": "cppn-anim: out of memory: cannot allocate 4.0 GiB", "line": None, "col": None}
        ws.send_json({"type": "edit", "rev": 2, "text": TINY + "# again\n", "index": 0})
        frame, _ = receive(ws, "frame")  # the same pixels: tried again, and drawn
    assert frame["key"] == info["key"]


def test_out_of_memory_when_preparing_is_one_line(tiny, monkeypatch):
    from cppn_anim.errors import OutOfMemory

    s, client = make(tiny)

    def no_room(*args, **kw):
        raise OutOfMemory("not enough memory (RAM): a network 8 wide ... needs about 9.0 GB, 1.0 GB is free")

    monkeypatch.setattr(core, "prepare", no_room)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "rev": 4, "text": TINY, "index": 0})
        error, _ = receive(ws, "error")
    assert error["rev"] == 4 and error["message"].startswith("not enough memory (RAM)")


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
        ws.send_json({"type": "save", "rev": 1, "text": "seed: 1\n" + TINY, "base": 0})
        receive(ws, "saved")
    assert (tmp_path / "scenes/a.yaml").read_text() == TINY and path.read_text().startswith("seed: 1\n")


def test_render_renders_the_pages_text_with_progress(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_scene(tmp_path, TINY + "output: {format: gif}\n", "tiny.yaml")
    s, client = make(path)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "rev": 1, "text": path.read_text(), "index": 0})  # the preview knows the gif one
        receive(ws, "frame")
        edited = TINY.replace("[48, 32]", "[30, 20]") + "output: {format: mp4}\n"  # unsaved: the page's text
        ws.send_json({"type": "render", "rev": 2, "text": edited})
        done, before = receive(ws, "rendered")
        progress = [m for m in before if m["type"] == "progress"]
        assert progress[0]["path"] == "out/tiny.mp4" and progress[-1]["done"] == progress[-1]["total"] == 8
        r = client.get(done["url"] + f"&token={s.token}")
    assert r.status_code == 200 and (tmp_path / "out/tiny.mp4").read_bytes() == r.content and not (tmp_path / "out/tiny.gif").exists()
    assert "filename*=UTF-8''tiny.mp4" in r.headers["content-disposition"]
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(tmp_path / "out/tiny.mp4"))
    assert next(reader)["size"] == (30, 20)  # the page's size, not the saved one
    reader.close()


def test_a_second_render_while_one_runs_is_refused(tmp_path, monkeypatch):
    from cppn_anim.errors import Cancelled

    def waits(scene, progress, cancel):  # a render that runs until cancelled
        cancel.wait(120)
        raise Cancelled("cancelled")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(studio, "render_full", waits)
    path = write_scene(tmp_path, TINY, "tiny.yaml")
    s, client = make(path)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "render", "rev": 1, "text": TINY})
        ws.send_json({"type": "render", "rev": 2, "text": TINY.replace("seed: 4", "seed: 5")})
        refused, _ = receive(ws, "render_error")
        ws.send_json({"type": "cancel"})
        receive(ws, "cancelled")
        ws.send_json({"type": "cancel"})
        nothing, _ = receive(ws, "notice")
    assert refused["rev"] == 2 and "a render is already running (out/tiny.mp4)" in refused["message"]
    assert nothing["message"] == "no render is running"


def test_cancel_stops_the_render_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    long = TINY.replace("duration: 1", "duration: 200") + "output: {format: gif}\n"  # 1600 frames: time to cancel
    path = write_scene(tmp_path, long, "tiny.yaml")
    s, client = make(path)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "render", "rev": 1, "text": long})
        receive(ws, "progress")
        ws.send_json({"type": "cancel"})
        cancelled, before = receive(ws, "cancelled")
    assert cancelled["path"] == "out/tiny.gif" and not [m for m in before if m["type"] == "rendered"]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("where", ["../escape.gif", "/tmp/abs.gif"])
def test_render_refuses_a_target_outside_the_folder(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    path = write_scene(tmp_path, TINY + f"output: {{format: gif, path: '{where}'}}\n", "tiny.yaml")
    s, client = make(path)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "render", "rev": 1, "text": path.read_text()})
        error, _ = receive(ws, "render_error")
    assert "output.path" in error["message"] and error["message"].startswith(f"{path}:") and error["rev"] == 1
    assert not (tmp_path.parent / "escape.gif").exists()


def test_still_of_the_page_scene_at_the_frame_shown_any_name(tmp_path, tiny):
    s, client = make(tiny)
    edited = "name: 螺旋 \"x\"\n" + TINY.replace("seed: 4", "seed: 6")
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "rev": 1, "text": edited, "index": 0})
        info, _ = receive(ws, "scene")
        r = client.get(f"/still.png?key={info['id']}&frame=2&w=30&h=20&token={s.token}")
        old = client.get(f"/still.png?key={info['id']}&t=0.25&w=30&h=20&token={s.token}")
    edited_path = write_scene(tmp_path, edited, "edited.yaml")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == "attachment; filename=\"__ _x__frame2_30x20.png\"; filename*=UTF-8''%E8%9E%BA%E6%97%8B%20%22x%22_frame2_30x20.png"
    assert np.array_equal(pixels(r.content), still_pixels(tmp_path, edited_path, "--time", "0.25", "--size", "30x20"))  # frame 2 at 8 fps
    assert np.array_equal(pixels(old.content), pixels(r.content))
    assert client.get(f"/still.png?key=unknown&t=0&w=30&h=20&token={s.token}").status_code == 410
    assert client.get(f"/still.png?key={info['id']}&frame=8&w=30&h=20&token={s.token}").status_code == 400


@pytest.mark.parametrize("name", ["螺旋.gif", 'a "quoted"\nname.gif', "plain.gif", "back\\slash%.gif"])
def test_downloads_carry_any_file_name(name):
    from urllib.parse import unquote

    header = studio_server.attachment(name)
    header.encode("latin-1")  # a valid header value
    assert header.isascii() and "\n" not in header and "\r" not in header
    plain = re.search(r'filename="([^"]*)"', header).group(1)
    assert len(plain) == len(name) and "\\" not in plain
    assert unquote(re.search(r"filename\*=UTF-8''(\S+)$", header).group(1)) == name


def test_result_of_a_scene_with_a_non_ascii_name(tmp_path, tiny):
    s, client = make(tiny)
    out = tmp_path / "螺旋.gif"
    out.write_bytes(b"GIF89a")
    s.last_output = out
    r = client.get(f"/result?token={s.token}")
    assert r.status_code == 200 and r.content == b"GIF89a" and "%E8%9E%BA%E6%97%8B.gif" in r.headers["content-disposition"]


# ------------------------------------------------------------------ save as an editor saves


def test_save_goes_through_a_symlink_keeps_the_mode_and_crlf(tmp_path):
    import os

    real = tmp_path / "real" / "scene.yaml"
    real.parent.mkdir()
    real.write_bytes(TINY.replace("\n", "\r\n").encode())
    real.chmod(0o600)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    s = studio.Studio(link, port=PORT)
    assert s.page_text() == TINY  # the editor sees LF
    path, version = s.save(TINY.replace("seed: 4", "seed: 5"), base=0)
    assert path == link and version == 1 and link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == TINY.replace("seed: 4", "seed: 5").replace("\n", "\r\n").encode()
    assert (real.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in real.parent.iterdir()) == ["scene.yaml"]  # atomic: no temporary file left
    assert s.disk_changed() is None  # our own save is no change by another editor


def test_save_refuses_a_text_over_the_scene_size_limit_and_a_stale_base(tiny):
    s = studio.Studio(tiny, port=PORT)
    with pytest.raises(studio.SaveRefused, match="over the scene size limit"):
        s.save("# " + "x" * scenes.MAX_FILE_BYTES + "\n" + TINY, base=0)
    with pytest.raises(studio.SaveRefused, match="changed on disk"):
        s.save(TINY, base=5)
    assert tiny.read_text() == TINY


# ------------------------------------------------------------------ caches


def test_a_texts_identity_is_all_of_it_and_only_the_renderer_is_shared(tiny):
    s = studio.Studio(tiny, port=PORT)
    gif = s.compile(TINY + "output: {format: gif}\n")
    mp4 = s.compile(TINY + "output: {format: mp4}\n")
    assert gif is not mp4 and gif.id != mp4.id and gif.key == mp4.key  # the same pixels, other targets
    assert studio.output_target(gif.scene).suffix == ".gif" and studio.output_target(mp4.scene).suffix == ".mp4"
    assert s.prepare(gif) is s.prepare(mp4)  # one renderer for both
    assert s.compile(TINY + "output: {format: gif}\n") is gif
    over = studio.Studio(tiny, [("seed", 5, "--seed 5")], port=PORT).compile(TINY + "output: {format: gif}\n")
    assert over.id != gif.id and over.key != gif.key


def test_the_caches_keep_their_byte_budgets(tiny, monkeypatch):
    monkeypatch.setattr(studio, "PREPARED_CACHE_BYTES", 1)
    s = studio.Studio(tiny, port=PORT)
    a, b = s.compile(TINY), s.compile(TINY.replace("seed: 4", "seed: 5"))
    s.prepare(a), s.prepare(b)
    kept = s.renderers.get(b.key)
    assert len(s.renderers) == 1 and kept is s.prepare(b) and s.renderers.used == kept.bytes > 0
    assert len(s.frames) == 0 and s.frames.budget == studio.FRAME_CACHE_BYTES


def test_the_page_keeps_a_window_of_frames_around_the_playhead():
    assert studio.window_of(24, 320, 180) == 24  # a short loop: all of it
    big = studio.window_of(18000, 320, 180)
    assert big * 320 * 180 * 4 <= studio.PAGE_FRAME_BYTES and big >= 100
    count, window = 1000, 100
    kept = [i for i in range(count) if studio.in_window(i, 10, count, window)]
    assert len(kept) == window and 0 in kept and 994 in kept and 84 in kept and 85 not in kept  # 25 behind (wrapping), 74 ahead


def test_a_fixed_port_keeps_its_token_across_restarts(tmp_path, monkeypatch):
    import os
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = studio_server.kept_token(40123)
    assert first and studio_server.kept_token(40123) == first and studio_server.kept_token(40124) != first
    folder = tmp_path / f"cppn-anim-studio-{os.getuid()}"
    assert (folder.stat().st_mode & 0o777) == 0o700 and (folder / "port-40123.token").stat().st_mode & 0o777 == 0o600
    folder.chmod(0o755)  # not private: no token kept there
    assert studio_server.kept_token(40123) is None


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


# ------------------------------------------------------------------ a scene with a soundtrack

MUSIC = TINY.replace("trajectory:", "audio:\n  path: beat.wav\n  bpm: 120\n  beat_offset: 0\n  signals:\n    level: {feature: rms}\n    pulse: {feature: beat, release: 0.1}\ntrajectory:")


def write_wav(path, seconds=1.0, rate=8000):
    import wave

    t = np.arange(int(seconds * rate)) / rate
    y = 0.5 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(np.round(y * 32767).astype("<i2").tobytes())
    return path


def test_a_scene_with_audio_sends_its_soundtrack_and_signals(tmp_path, deaf_audio):
    wav = write_wav(tmp_path / "beat.wav")
    path = write_scene(tmp_path, MUSIC, "music.yaml")
    s, client = make(path)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "rev": 1, "text": MUSIC, "index": 0})
        info, _ = receive(ws, "scene")
        signals, _ = receive(ws, "signals")
        ws.send_json({"type": "edit", "rev": 2, "text": MUSIC + "# a comment\n", "index": 0})
        again, between = receive(ws, "scene")
        ws.send_json({"type": "edit", "rev": 3, "text": TINY, "index": 0})  # no audio: no signals
        silent, _ = receive(ws, "signals")
        r = client.get(info["audio"]["url"] + f"&token={s.token}", headers={"range": "bytes=0-99"})
    assert info["audio"]["start"] == 0 and info["audio"]["duration"] == 1 and again["audio"] == info["audio"]
    assert signals["names"] == ["level", "pulse"] and len(signals["values"]["pulse"]) == info["count"] == 8
    assert signals["beats"] == [0.0, 0.5] and max(signals["values"]["pulse"]) == 1.0
    assert not [m for m in between if m["type"] == "signals"]  # not again with every keystroke
    assert silent["names"] == []
    assert r.status_code == 206 and r.content == wav.read_bytes()[:100]


# ------------------------------------------------------------------ memory, and texts replaced

HUGE = TINY.replace("network: {latent_dim: 3, width: 8, depth: 3}", "network: {latent_dim: 1024, width: 4096, depth: 64}")


def test_a_network_too_big_for_the_studio_is_refused_before_its_weights_are_built(tiny, monkeypatch):
    built = []
    real = core.build_weights
    monkeypatch.setattr(core, "build_weights", lambda scene: built.append(scene.network.width) or real(scene))
    monkeypatch.setattr(studio, "PREVIEW_RENDERER_BYTES", 64 * 2**20)  # a small budget: a network 1024 wide is over it
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        for rev, text in enumerate([HUGE, TINY.replace("width: 8", "width: 1024")], 1):
            ws.send_json({"type": "edit", "rev": rev, "text": text, "index": 0})
            error, _ = receive(ws, "error")
            assert error["rev"] == rev and error["message"].startswith("too big for the studio's preview: a network")
            assert "network.width, network.depth or network.latent_dim smaller" in error["message"] and "\n" not in error["message"]
        ws.send_json({"type": "edit", "rev": 3, "text": TINY, "index": 0})  # the fix: the preview comes back
        info, _ = receive(ws, "scene")
        frame, _ = receive(ws, "frame")
        r = client.get(f"/still.png?key={info['id']}&frame=0&w=48&h=32&token={s.token}")
        assert r.status_code == 200
    assert built == [8, 8] and frame["key"] == info["key"]  # no weights for the networks refused
    tiny.write_text(HUGE)  # /frame.png and a still: the same check, against their own budgets and the free memory
    monkeypatch.setattr(resources, "available_memory", lambda device: 32 * 2**20)
    with client:
        r = client.get(f"/frame.png?t=0&token={s.token}")
    assert r.status_code == 503 and "too big for the studio's /frame.png" in r.text and "the memory free is 34 MB" in r.text
    assert built == [8, 8]


def test_the_compiled_texts_keep_no_renderer_alive(tiny, monkeypatch):
    import gc
    import weakref

    monkeypatch.setattr(studio, "PREPARED_CACHE_BYTES", 1)  # the cache keeps one renderer
    s = studio.Studio(tiny, port=PORT)
    a, b = s.compile(TINY), s.compile(TINY.replace("seed: 4", "seed: 5"))
    first = weakref.ref(s.prepare(a))
    s.prepare(b)
    gc.collect()
    assert first() is None and s.compile(TINY) is a  # evicted from the cache: gone, though its text is still compiled


def test_a_frame_of_a_text_replaced_is_abandoned(tiny, monkeypatch):
    from cppn_anim.errors import Cancelled

    flags, real = [], studio.Renderer.still

    def slow_for_seed_4(self, t, cancel=None):
        if self.prepared.scene.seed == 4:  # the first text's frames: held until their text is replaced
            flags.append(cancel)
            assert cancel is not None and cancel.wait(60), "the frame of the replaced text was not abandoned"
            raise Cancelled("the text was replaced")
        return real(self, t, cancel)

    monkeypatch.setattr(studio.Renderer, "still", slow_for_seed_4)
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_json({"type": "edit", "rev": 1, "text": TINY, "index": 0})
        receive(ws, "scene")
        for _ in range(600):
            if flags:
                break
            time.sleep(0.05)
        ws.send_json({"type": "edit", "rev": 2, "text": TINY.replace("seed: 4", "seed: 5"), "index": 0})
        info, seen = receive(ws, "scene")
        frame, more = receive(ws, "frame")
    assert flags and all(f.is_set() for f in flags) and frame["key"] == info["key"]
    assert not [m for m in seen + more if m["type"] == "error"]  # abandoned quietly


def test_a_text_the_server_cannot_encode_is_refused_as_one_line(tiny):
    lone = TINY.replace("seed: 4", "seed: 4 # \ud800")  # a lone UTF-16 surrogate, as a raw WebSocket can send
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        ws.send_text(json.dumps({"type": "edit", "rev": 1, "text": lone, "index": 0}))
        error, _ = receive(ws, "error")
        assert error["rev"] == 1 and (error["line"], error["col"]) == (1, 11) and error["message"].startswith(f"{tiny}:1:11: the text holds '\\ud800'")
        ws.send_text(json.dumps({"type": "save", "rev": 2, "text": lone, "base": 0}))
        error, _ = receive(ws, "error")
        assert error["message"].startswith("not saved: ") and error["action"] == "save" and "UnicodeEncodeError" not in error["message"]
        ws.send_text(json.dumps({"type": "render", "rev": 3, "text": lone}))
        refused, _ = receive(ws, "render_error")
        assert refused["rev"] == 3 and "\\ud800" in refused["message"]
        ws.send_text(json.dumps({"type": "set", "rev": 4, "key": "seed", "value": 3, "text": lone}))
        error, _ = receive(ws, "error")
        assert error["rev"] == 4
        ws.send_json({"type": "edit", "rev": 5, "text": TINY, "index": 0})  # the session goes on
        receive(ws, "frame")
    assert tiny.read_text() == TINY


def test_a_file_removed_on_disk_is_told_and_save_creates_it_again(tiny):
    s, client = make(tiny)
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        hello, _ = receive(ws, "hello")
        tiny.unlink()
        removed, _ = receive(ws, "removed")
        assert removed["path"] == str(tiny)
        ws.send_json({"type": "save", "rev": 2, "text": TINY + "# mine\n", "base": hello["disk"]})
        receive(ws, "saved")
        assert tiny.read_text() == TINY + "# mine\n"
        tiny.write_text(TINY)  # and a file back on disk is a change as any other
        disk, _ = receive(ws, "disk")
    assert disk["text"] == TINY


def test_a_same_size_change_that_keeps_the_old_mtime_reaches_the_page(tiny):
    import os

    s, client = make(tiny)
    before = tiny.stat()
    with client, client.websocket_connect(f"{WS}/ws?token={s.token}") as ws:
        receive(ws, "hello")
        tiny.write_text(TINY.replace("seed: 4", "seed: 7"))  # the same size
        os.utime(tiny, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old time
        disk, _ = receive(ws, "disk")
    assert "seed: 7" in disk["text"]
