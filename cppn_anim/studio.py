"""`cppn-anim studio`: edit a scene in the browser and watch it play as you type.

One local web app (Starlette on uvicorn): the page sends the editor's text over a
WebSocket; we validate it, render its frames at preview size in a worker thread, ahead
of the playhead, and push them back as PNGs; the page plays them from its own cache.
Frames are cached by scene content and frame number, so undoing an edit is instant.

Security (a local server is reachable by every web page the user visits):
- we bind 127.0.0.1 only;
- every request and WebSocket needs the random token (URL or the cookie the page sets),
  compared in constant time;
- the Host header must name us (127.0.0.1:PORT, localhost:PORT or an --allow-host):
  a DNS-rebinding page on another name gets 403; an Origin, when sent, must be ours too;
- the only file we write is the opened scene (on `save`, atomically); a render goes to
  the scene's own output path, under the scene's output rules; nothing logs the token.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

from . import encode, pipeline
from . import scene as scenes

# asyncio, logging, socket and the web stack are imported where the server starts: the CLI
# imports this module for its arguments on every command, and should stay quick to start.

PREVIEW_LONG_SIDE = 320  # 320x180 for 16:9: ~58k pixels, a frame in tens of ms on a laptop CPU
PREVIEW_MAX_FPS = 30
FRAME_CACHE_BYTES = 256 * 1024 * 1024  # PNGs of ~80 KB: about 3000 preview frames
COMPILED_KEEP = 4  # scenes whose renderer we keep (each holds its buffers)
DISK_POLL_S = 0.25  # a change by another editor shows within a second
ASSETS = Path(__file__).with_name("studio_assets")

# The sliders: generic over key paths, written back into the YAML text. (label, min, max, log scale, whole numbers)
SLIDERS = [
    {"key": "seed", "label": "seed", "min": 0, "max": 9999, "log": False, "int": True, "default": 0},
    {"key": "network.z_scale", "label": "z_scale", "min": 0.05, "max": 20, "log": True, "int": False, "default": 1.0},
    {"key": "network.contrast", "label": "contrast", "min": 0.1, "max": 10, "log": True, "int": False, "default": 1.0},
    {"key": "view.zoom", "label": "zoom", "min": 0.05, "max": 20, "log": True, "int": False, "default": 1.0},
]


# ==================================================================== the pipeline
# Every call into the rendering stages goes through pipeline.py, as `watch`, `still` and
# `render` do: the same scene rules, the same pixels.


class Cancelled(Exception):
    """A render stopped because the studio is shutting down."""


def load_text(text: str, source: str, overrides: list = ()) -> scenes.Scene:
    """A scene from the editor's text (errors name `source`, the file being edited)."""
    return pipeline.parse(text, source, list(overrides), default_name=Path(source).stem)


def preview_of(scene: scenes.Scene) -> scenes.Scene:
    """The same scene at preview size (long side 320 px, never larger than the scene) and at most 30 fps."""
    return pipeline.preview_scene(scene, PREVIEW_LONG_SIDE, PREVIEW_MAX_FPS)


def output_target(scene: scenes.Scene) -> Path:
    """Where a full render goes: the scene's output.path (kept inside this folder by the scene's own rules)."""
    return pipeline.default_path(scene, pipeline.output_format(scene))


def render_full(scene: scenes.Scene, progress: Callable[[int, int], None], cancel: threading.Event) -> Path:
    """The whole scene to its output, as `cppn-anim render` does; progress(done, total) per frame."""
    path, total, done = output_target(scene), scene.frame_count, [0]

    def counted(n):
        if cancel.is_set():
            raise Cancelled()  # inside the frame loop: the encoder discards its temporary file
        done[0] += n
        progress(done[0], total)

    return pipeline.render(scene, path, progress=counted).path


# ==================================================================== helpers


def png_bytes(frame, provenance: str = "") -> bytes:
    """(H, W, 3) uint8 -> PNG bytes, compressed lightly: the page waits for them."""
    return encode.png_bytes(frame, provenance, level=1)


def content_key(scene: scenes.Scene) -> str:
    """What decides the pixels (not the name or the output settings), hashed."""
    data = scene.model_dump(mode="json", by_alias=True, exclude={"name", "output"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]


def value_at(scene: scenes.Scene, key: str) -> Any:
    """A scene value by its dotted key path (None where the scene has no such key)."""
    node: Any = scene.model_dump(mode="json", by_alias=True)
    for step in key.split("."):
        if not isinstance(node, dict) or step not in node:
            return None
        node = node[step]
    return node


def set_key(text: str, key: str, value: Any) -> str:
    """The YAML text with one value set at a dotted key path; comments and layout untouched.

    An existing plain value is replaced where it stands; a missing key is added as the
    first key of its mapping (block or flow style), with missing parents made around it.
    ValueError when the text is not YAML or the path runs through a non-mapping.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    steps = key.split(".")
    literal = _literal(value)
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    try:
        node = yaml.compose(text)
    except YAMLError:
        raise ValueError("fix the YAML first") from None
    if node is None:
        return text + ("\n" if text and not text.endswith("\n") else "") + _block(steps, literal, 0)
    for depth, step in enumerate(steps):
        if not isinstance(node, MappingNode):
            raise ValueError(f"{'.'.join(steps[:depth]) or 'the scene'} is not a mapping")
        child = next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == step), None)
        if child is None:
            return _insert(text, node, steps[depth:], literal)
        node = child
    if not isinstance(node, ScalarNode):
        raise ValueError(f"{key} holds a {'list' if node.id == 'sequence' else 'mapping'}, not one value")
    a, b = node.start_mark.index, node.end_mark.index
    return text[:a] + literal + text[b:]


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = f"{float(value):.6g}"
    return text if any(c in text for c in ".en") else text + ".0"  # stays a float when read back


def _block(steps: list, literal: str, indent: int) -> str:
    lines = [" " * (indent + 2 * i) + f"{step}:" for i, step in enumerate(steps[:-1])]
    lines.append(" " * (indent + 2 * (len(steps) - 1)) + f"{steps[-1]}: {literal}")
    return "\n".join(lines) + "\n"


def _insert(text: str, mapping, steps: list, literal: str) -> str:
    if mapping.flow_style:
        inner = literal
        for step in reversed(steps[1:]):
            inner = f"{{{step}: {inner}}}"
        at = mapping.start_mark.index + 1  # just after '{'
        return text[:at] + f"{steps[0]}: {inner}" + (", " if mapping.value else "") + text[at:]
    first = mapping.value[0][0].start_mark
    line_start = first.index - first.column
    if text[line_start : first.index].strip():  # the mapping starts after '- ' on its line
        raise ValueError(f"cannot add {'.'.join(steps)} here; write it in the editor")
    return text[:line_start] + _block(steps, literal, first.column) + text[line_start:]


class LRU:
    """A dict that forgets its oldest entries past a budget (in items or bytes)."""

    def __init__(self, budget: int, size: Callable[[Any], int] = lambda v: 1):
        self.items: OrderedDict = OrderedDict()
        self.budget, self.size, self.used = budget, size, 0
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            if key in self.items:
                self.used -= self.size(self.items.pop(key))
            self.items[key] = value
            self.used += self.size(value)
            while self.used > self.budget and len(self.items) > 1:
                self.used -= self.size(self.items.popitem(last=False)[1])


# ==================================================================== the studio


class Compiled:
    """One valid scene, ready to preview: its preview frames are rendered on demand."""

    def __init__(self, scene: scenes.Scene):
        self.scene = scene  # at full size, overrides applied: what `render` and stills use
        self.preview = preview_of(scene)
        self.key = content_key(self.preview)
        self.count = self.preview.frame_count
        self._prepared = None  # weights, motion, renderer: made in the worker thread
        self._lock = threading.Lock()

    def frame_png(self, index: int) -> bytes:
        """Preview frame `index` (t = index / preview fps) as PNG bytes. Runs in a worker thread."""
        with self._lock:  # the renderer reuses its buffers
            if self._prepared is None:
                self._prepared = pipeline.prepare(self.preview)
            frame = self._prepared.still(self.preview.frame_time(index))  # exactly as `render` times frame i
        return png_bytes(frame)

    def info(self) -> dict:
        p = self.preview
        tracks = self.scene.model_dump(mode="json", by_alias=True).get("animate", {})  # keys like 'view.zoom'
        animated = [s["key"] for s in SLIDERS if tracks.get(s["key"]) is not None]
        return {
            "type": "scene", "key": self.key, "name": self.scene.name, "count": self.count, "fps": p.fps,
            "duration": p.duration, "width": p.width, "height": p.height, "size": list(self.scene.size),
            "values": {s["key"]: value_at(self.scene, s["key"]) for s in SLIDERS}, "animated": animated,
        }  # fmt: skip


@dataclass
class Studio:
    """What the server knows: the opened file, the caches, the connected pages, the render."""

    path: Path | None
    overrides: list = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = 0
    allow_hosts: list = field(default_factory=list)
    scenes_dir: Path = Path("scenes")

    def __post_init__(self):
        self.frames = LRU(FRAME_CACHE_BYTES, size=len)  # (key, index) -> PNG bytes
        self.compiled = LRU(COMPILED_KEEP)  # (file, text) -> Compiled
        self.stills = LRU(16)  # key -> Compiled, for /still.png of what the page shows
        self.saved = LRU(COMPILED_KEEP)  # (file text, w, h) -> scene, renderer, lock, provenance: /frame.png
        # frames ahead of the playhead in one thread; the playhead's frame after an edit or a seek in
        # another, so it never waits behind a frame of the scene as it was a keystroke ago
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-ahead")
        self.urgent_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-playhead")
        self.sessions: set = set()
        self.disk_text: str | None = None
        self.disk_stamp = None
        self.render_lock = threading.Lock()
        self.render_cancel = threading.Event()
        self.render_thread: threading.Thread | None = None
        self.last_output: Path | None = None
        self.loop = None  # the server's event loop, once it runs
        self.picker = self.path is None  # started without a scene: the page may open one from scenes/
        if self.path is not None:
            self.disk_text = self._read_disk()

    # ---------------------------------------------------------- requests we accept

    def hosts(self) -> set:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}", *(h.lower() for h in self.allow_hosts)}

    def cookie_name(self) -> str:
        return f"cppn_studio_{self.port}"  # cookies ignore ports: one name per studio

    def allowed(self, scope) -> bool:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        hosts = self.hosts()
        if headers.get("host", "").lower() not in hosts:
            return False
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in {f"{s}://{h}" for h in hosts for s in ("http", "https")}:
            return False
        return self.token_ok(scope, headers)

    def token_ok(self, scope, headers: dict) -> bool:
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        if given is None:
            for part in headers.get("cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == self.cookie_name():
                    given = value
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    # ---------------------------------------------------------- the opened file

    def source(self) -> str:
        return str(self.path) if self.path else "<scene>"

    def _read_disk(self) -> str | None:
        try:
            stat = self.path.stat()
            self.disk_stamp = (stat.st_mtime_ns, stat.st_size)
            return scenes.read_text(self.path)  # never blocks on a FIFO, refuses a huge file
        except (OSError, scenes.SceneError):
            self.disk_stamp = None
            return None

    def disk_changed(self) -> str | None:
        """The file's new text when another editor changed it since we last looked, else None."""
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp == self.disk_stamp:
            return None
        text = self._read_disk()
        if text is None or text == self.disk_text:
            return None
        self.disk_text = text
        return text

    def save(self, text: str) -> Path:
        """Write the editor's text to the opened file, atomically; never any other file."""
        if self.path is None:
            raise ValueError("no scene is open")
        encode.write_bytes(text.encode("utf-8"), self.path)
        self.disk_text = text
        stat = self.path.stat()
        self.disk_stamp = (stat.st_mtime_ns, stat.st_size)
        return self.path

    def scene_files(self) -> list[str]:
        return sorted(p.name for p in self.scenes_dir.glob("*.yaml")) if self.scenes_dir.is_dir() else []

    def open(self, name: str) -> None:
        """Open scenes/NAME for editing (only a file the picker listed, only when started without a scene)."""
        if not self.picker:
            raise ValueError(f"this studio edits {self.path} only")
        if name not in self.scene_files():
            raise ValueError(f"{name}: not a scene in {self.scenes_dir}/")
        self.path = self.scenes_dir / name
        self.disk_text = self._read_disk()

    # ---------------------------------------------------------- scenes and frames

    def compile(self, text: str) -> Compiled:
        """The editor's text, overrides applied, validated (SceneError otherwise)."""
        hit = self.compiled.get((self.source(), text))
        if hit is None:
            fresh = Compiled(load_text(text, self.source(), self.overrides))
            hit = self.stills.get(fresh.key) or fresh  # same content: keep the one with a renderer
            self.compiled.put((self.source(), text), hit)
        self.stills.put(hit.key, hit)
        return hit

    def frame_from_disk(self, t: float, width: int | None, height: int | None) -> bytes:
        """GET /frame.png: the saved scene at time t as `cppn-anim still --time T --size WxH` draws it.

        The file is read every time; its scene and renderer are kept while its text stays the same.
        """
        if self.path is None:
            raise scenes.SceneError("<studio>", "no scene is open (pick one in the page)")
        text = scenes.read_text(self.path)
        entry = self.saved.get((text, width, height))
        if entry is None:
            parse = lambda extra=(): pipeline.parse(text, str(self.path), [*self.overrides, *extra], default_name=self.path.stem)  # noqa: E731
            scene = parse()
            if width is not None or height is not None:
                w, h = width or scene.width, height or scene.height
                scene = parse([("size", [w, h], f"--size {w}x{h}")])
            entry = (scene, pipeline.prepare(scene), threading.Lock(), scene.resolved_yaml())
            self.saved.put((text, width, height), entry)
        scene, prepared, lock, provenance = entry
        t = pipeline.check_time(scene, t)  # UsageError (a ValueError): a time outside the scene
        with lock:  # a renderer reuses its buffers
            frame = prepared.still(t)
        return png_bytes(frame, provenance)

    def still_of(self, key: str, t: float, width: int, height: int) -> tuple[str, bytes]:
        """A still of what the page shows (its unsaved text), at any size."""
        compiled = self.stills.get(key)
        if compiled is None:
            raise LookupError("that scene is no longer in the editor")
        scene = scenes.changed(compiled.scene, size=[width, height])
        return f"{scene.name}_t{t:g}_{width}x{height}.png", png_bytes(pipeline.still(scene, t), scene.resolved_yaml())

    # ---------------------------------------------------------- pages

    def broadcast(self, message: dict) -> None:
        for session in list(self.sessions):
            session.send(message)

    def start_render(self, text: str) -> Path:
        """The full render of the page's scene in a thread; progress goes to every page."""
        scene = self.compile(text).scene
        path = output_target(scene)
        if not self.render_lock.acquire(blocking=False):
            raise RuntimeError("a render is already running")
        loop = self.loop

        def tell(message):
            loop.call_soon_threadsafe(self.broadcast, message)

        last = [0.0]

        def progress(done, total):
            now = time.monotonic()
            if done == total or now - last[0] > 0.1:
                last[0] = now
                tell({"type": "progress", "done": done, "total": total})

        def work():
            try:
                render_full(scene, progress, self.render_cancel)
                self.last_output = path
                tell({"type": "rendered", "path": str(path), "url": f"/result?v={time.time_ns()}"})
            except Cancelled:
                pass
            except (scenes.SceneError, encode.OutputPathError, pipeline.UsageError) as e:
                tell({"type": "render_error", "message": str(e)})
            except Exception as e:  # noqa: BLE001 - ffmpeg, disk, memory: one line to the page
                tell({"type": "render_error", "message": f"cppn-anim: {e}"})
            finally:
                self.render_lock.release()

        tell({"type": "progress", "done": 0, "total": scene.frame_count, "path": str(path)})
        self.render_thread = threading.Thread(target=work, name="studio-render", daemon=True)
        self.render_thread.start()
        return path

    async def watch_disk(self) -> None:
        """Tell every page when another editor changed the opened file."""
        import asyncio

        while True:
            await asyncio.sleep(DISK_POLL_S)
            text = self.disk_changed()
            if text is not None:
                self.broadcast({"type": "disk", "path": str(self.path), "text": text})

    def close(self) -> None:
        self.render_cancel.set()
        if self.render_thread is not None:
            self.render_thread.join(timeout=30)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.urgent_pool.shutdown(wait=True, cancel_futures=True)


class Session:
    """One page connected over the WebSocket: its scene, its playhead, what it has been sent."""

    def __init__(self, studio: Studio, websocket):
        import asyncio

        self.studio, self.ws = studio, websocket
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.compiled: Compiled | None = None
        self.position = 0
        self.sent: set = set()
        self.urgent = False  # the next frame is the playhead's, after an edit or a seek
        self.wake = asyncio.Event()

    def send(self, message: dict) -> None:
        self.outbox.put_nowait(message)

    async def run(self) -> None:
        import asyncio

        studio = self.studio
        studio.sessions.add(self)
        tasks = [asyncio.create_task(self._sender()), asyncio.create_task(self._feeder())]
        try:
            self.send(self._hello())
            while True:
                message = await self.ws.receive_text()
                try:
                    self.handle(json.loads(message))
                except (ValueError, KeyError, TypeError) as e:  # a malformed message: say so, keep the page
                    self.send({"type": "notice", "message": f"bad message: {e!r}"[:200]})
        finally:
            studio.sessions.discard(self)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # a send to a closed page fails quietly

    def _hello(self) -> dict:
        s = self.studio
        return {
            "type": "hello", "path": str(s.path) if s.path else None, "text": s.disk_text,
            "scenes": s.scene_files() if s.picker else [], "sliders": SLIDERS,
            "overrides": [label for *_, label in s.overrides],
        }  # fmt: skip

    def handle(self, m: dict) -> None:
        kind = m.get("type")
        if kind == "edit":
            self.position = int(m.get("index", self.position))
            self.edit(m["text"])
        elif kind == "seek":
            self.position = int(m["index"])
            self.urgent = True
            self.wake.set()
        elif kind == "set":
            try:
                text = set_key(m["text"], m["key"], m["value"])
            except ValueError as e:
                self.send({"type": "notice", "message": str(e)})
                return
            self.send({"type": "text", "text": text})
            self.edit(text)
        elif kind == "save":
            try:
                path = self.studio.save(m["text"])
                self.send({"type": "saved", "path": str(path)})
            except (ValueError, OSError, encode.OutputPathError) as e:
                self.send({"type": "notice", "message": f"not saved: {e}"})
        elif kind == "render":
            try:
                self.studio.start_render(m["text"])
            except (scenes.SceneError, encode.OutputPathError, RuntimeError) as e:
                self.send({"type": "render_error", "message": str(e)})
        elif kind == "open":
            try:
                self.studio.open(m["name"])
            except ValueError as e:
                self.send({"type": "notice", "message": str(e)})
                return
            self.studio.broadcast({"type": "opened", "path": str(self.studio.path), "text": self.studio.disk_text})

    def edit(self, text: str) -> None:
        try:
            compiled = self.studio.compile(text)
        except scenes.SceneError as e:
            self.send({"type": "error", "message": str(e), "line": e.line, "col": e.col})
            return
        if self.compiled is None or compiled.key != self.compiled.key:
            self.compiled, self.sent, self.urgent = compiled, set(), True
            self.send(compiled.info())
        else:
            self.send({"type": "valid"})
        self.position = min(max(self.position, 0), compiled.count - 1)
        self.wake.set()

    def _next(self, compiled: Compiled) -> int | None:
        """The first frame from the playhead on (wrapping) that the page does not have yet."""
        for k in range(compiled.count):
            i = (self.position + k) % compiled.count
            if i not in self.sent:
                return i
        return None

    async def _feeder(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        frames = self.studio.frames
        while True:
            compiled = self.compiled
            index = self._next(compiled) if compiled else None
            if index is None:
                self.wake.clear()
                await self.wake.wait()
                continue
            pool = self.studio.urgent_pool if self.urgent else self.studio.pool
            self.urgent = False
            png = frames.get((compiled.key, index))
            if png is None:
                png = await loop.run_in_executor(pool, compiled.frame_png, index)
                frames.put((compiled.key, index), png)
            if compiled is self.compiled:
                self.sent.add(index)
                header = json.dumps({"key": compiled.key, "index": index}).encode()
                self.outbox.put_nowait(len(header).to_bytes(4, "big") + header + png)
                while self.outbox.qsize() > 4:  # let the page keep up
                    await asyncio.sleep(0.005)

    async def _sender(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, bytes):
                await self.ws.send_bytes(item)
            else:
                await self.ws.send_text(json.dumps(item))


# ==================================================================== the web app


def make_app(studio: Studio):
    """The ASGI app: the page, its assets, /frame.png, /still.png, /result and the WebSocket."""
    import asyncio
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, PlainTextResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocketDisconnect

    headers = {
        "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; frame-ancestors 'none'",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }

    async def page(request):
        response = FileResponse(ASSETS / "index.html", headers=headers)
        if "token" in request.query_params:  # the page's later requests carry the cookie instead
            response.set_cookie(studio.cookie_name(), studio.token, httponly=True, samesite="strict", path="/")
        return response

    def numbers(request, *names):
        """The query's t (seconds), w and h (pixels), checked alike on every endpoint.

        A bad request (not a number, a side outside 1..MAX_SIDE) is a ValueError, answered 400
        before the scene is read: a 409 means the saved scene is bad, never the request.
        """
        out = []
        for name in names:
            raw = request.query_params.get(name)
            kind = float if name == "t" else int
            try:
                value = None if raw is None else kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw}: not a {'number' if kind is float else 'whole number'}") from None
            if value is not None and (value != value or abs(value) == float("inf")):
                raise ValueError(f"{name}={raw}: not a finite number")
            if value is not None and kind is int and not 1 <= value <= pipeline.MAX_SIDE:
                raise ValueError(f"{name}={raw}: a side is 1..{pipeline.MAX_SIDE} pixels")
            out.append(value)
        return out

    def failure(e: MemoryError):  # the request is fine; this machine cannot do it now
        return PlainTextResponse(f"cppn-anim: {str(e).splitlines()[0] if str(e) else 'out of memory'}\n", status_code=503)

    async def frame(request):
        try:
            t, w, h = numbers(request, "t", "w", "h")
            png = await run_in_threadpool(studio.frame_from_disk, t or 0.0, w, h)
        except scenes.SceneError as e:
            return PlainTextResponse(str(e) + "\n", status_code=409)
        except ValueError as e:  # the request's numbers, or a time outside the scene (UsageError)
            return PlainTextResponse(str(e) + "\n", status_code=400)
        except MemoryError as e:
            return failure(e)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def still_png(request):
        try:
            t, w, h = numbers(request, "t", "w", "h")
            if w is None or h is None:
                raise ValueError(f"w and h: whole numbers from 1 to {pipeline.MAX_SIDE}")
            name, png = await run_in_threadpool(studio.still_of, request.query_params.get("key", ""), t or 0.0, w, h)
        except LookupError as e:
            return PlainTextResponse(str(e) + "\n", status_code=410)
        except ValueError as e:
            return PlainTextResponse(str(e) + "\n", status_code=400)
        except MemoryError as e:
            return failure(e)
        return Response(png, media_type="image/png", headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def result(request):
        path = studio.last_output
        if path is None or not path.exists():
            return PlainTextResponse("nothing rendered yet\n", status_code=404)
        if path.is_dir():  # png frames: the first one
            frames = sorted(path.glob("frame_*.png"))
            if not frames:
                return PlainTextResponse("no frames\n", status_code=404)
            path = frames[0]
        return FileResponse(path, filename=path.name, headers={"Cache-Control": "no-store"})

    async def ws(websocket):
        await websocket.accept()
        try:
            await Session(studio, websocket).run()
        except WebSocketDisconnect:
            pass

    @asynccontextmanager
    async def lifespan(app):
        studio.loop = asyncio.get_running_loop()
        watcher = asyncio.create_task(studio.watch_disk())
        try:
            yield
        finally:
            watcher.cancel()
            await run_in_threadpool(studio.close)

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/frame.png", frame),
            Route("/still.png", still_png),
            Route("/result", result),
            WebSocketRoute("/ws", ws),
            Mount("/assets", StaticFiles(directory=ASSETS)),
        ],
        lifespan=lifespan,
    )
    return Guard(app, studio)


class Guard:
    """ASGI middleware: 403 for a wrong Host, a foreign Origin or a missing or wrong token."""

    def __init__(self, app, studio: Studio):
        self.app, self.studio = app, studio

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and not self.studio.allowed(scope):
            if scope["type"] == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
                return
            body = b"forbidden\n"
            await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


# ==================================================================== the command


def _port(text: str) -> int:
    """--port: 0 (a free one) or 1..65535; anything else is a usage error (exit 2)."""
    import argparse

    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 for a free one, or 1..65535)")
    return port


def add_arguments(parser) -> None:
    parser.add_argument("scene", nargs="?", help="the scene to edit (default: pick one from scenes/ in the page)")
    parser.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="only print the address")
    parser.add_argument("--allow-host", action="append", default=[], metavar="H", help="also accept Host header H, e.g. localhost:9000 for an ssh tunnel; repeatable")


def serve(studio: Studio, sock, log_stream=None) -> "object":
    """A uvicorn server for the studio on an already bound socket (not started)."""
    import logging

    import uvicorn

    class Redact(logging.Formatter):  # uvicorn's own messages, with the token (were it ever in one) blanked
        def format(self, record) -> str:
            return super().format(record).replace(studio.token, "[token]")

    log = logging.getLogger("uvicorn")
    handler = logging.StreamHandler(log_stream or sys.stderr)
    handler.setFormatter(Redact("cppn-anim studio: %(levelname)s %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING)
    log.propagate = False
    config = uvicorn.Config(make_app(studio), log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=3, ws_ping_interval=None)

    class Server(uvicorn.Server):
        signals: list = []

        def handle_exit(self, sig, frame):
            self.signals.append(sig)
            super().handle_exit(sig, frame)

    server = Server(config)
    server.signals = []
    return server


def bind(port: int) -> "socket.socket":
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))  # loopback only, whatever the machine's interfaces
    sock.listen(64)
    return sock


def run(args, overrides: list) -> int:
    """`cppn-anim studio`: exit 0 on Ctrl-C; SIGTERM reaches the caller (143)."""
    import signal

    import torch

    # Preview frames are small: on a busy machine a second thread costs far more than it gives.
    # Pixels are the same on any number of threads. (Weights are built with numpy's BLAS on one
    # thread for every command, in pipeline.build_weights.)
    torch.set_num_threads(1)
    path = Path(args.scene) if args.scene else None
    if path is not None and not path.is_file():  # a bad scene opens, to be fixed in the page; a missing one cannot
        pipeline.load(path, overrides)  # "no such file (did you mean ...)"
        raise scenes.SceneError(str(path), "not a file")
    try:
        sock = bind(args.port)
    except OSError as e:
        raise OSError(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror}") from None
    studio = Studio(path, overrides, port=sock.getsockname()[1], allow_hosts=args.allow_host)
    url = f"http://127.0.0.1:{studio.port}/?token={studio.token}"
    print(url, flush=True)
    print(f"cppn-anim studio: {path or 'pick a scene in the page'} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    if not args.no_browser:
        _open_browser(url)
    server = serve(studio, sock)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        if signal.SIGTERM in server.signals:
            raise
    return 0


def _open_browser(url: str) -> None:
    """Open the page, unless there is no display to open it on (the address is printed anyway)."""
    import webbrowser

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("cppn-anim studio: no display; open the address above in a browser", file=sys.stderr, flush=True)
        return
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
