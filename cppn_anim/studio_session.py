"""The studio's state and protocol: the opened file, the caches, the render, and each page's session.

`Studio` is what the server knows: the opened scene file (read, watched for changes by
another editor, written only by `save`), compiled scenes and their preview frames (cached
by content and frame number, so undoing an edit is instant), /frame.png's scenes as last
saved, and the one full render at a time. `Session` is one page on the WebSocket: it
validates the page's text, renders preview frames ahead of the playhead in the studio's
threads, and sends them as PNGs with a small JSON header.

The protocol (what the page sends / receives; studio_assets/studio.js is the other end):
  page -> {type: edit, text, index} | {seek, index} | {set, key, value, text} | {save, text}
          | {render, text} | {open, name}
  page <- hello | scene (info) | valid | error | text | saved | notice | progress | rendered
          | render_error | disk | opened, and binary frames: 4-byte header length, JSON
          {key, index}, PNG bytes.

CPU work (validation, YAML editing, rendering) runs in threads, never on the event loop.
The threads are the server's to give (`Pools`: studio_server.py sets torch's threads in
each: preview work on one thread, a full render on all); made here, they are plain.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import core, scene as scenes, targets, yamledit
from .errors import Cancelled, OutputError, RenderError, SceneError, UsageError
from .report import Reporter

PREVIEW_LONG_SIDE = 320  # 320x180 for 16:9: ~58k pixels, a frame in tens of ms on a laptop CPU
PREVIEW_MAX_FPS = 30
PREVIEW_THREADS = 1  # torch threads of preview work: small frames, and a busy machine (studio_server.py)
FRAME_CACHE_BYTES = 256 * 1024 * 1024  # PNGs of ~80 KB: about 3000 preview frames
COMPILED_KEEP = 4  # scenes whose renderer we keep (each holds its buffers)
DISK_POLL_S = 0.25  # a change by another editor shows within a second

# The sliders: generic over key paths, written back into the YAML text. (label, min, max, log scale, whole numbers)
SLIDERS = [
    {"key": "seed", "label": "seed", "min": 0, "max": 9999, "log": False, "int": True, "default": 0},
    {"key": "network.z_scale", "label": "z_scale", "min": 0.05, "max": 20, "log": True, "int": False, "default": 1.0},
    {"key": "network.contrast", "label": "contrast", "min": 0.1, "max": 10, "log": True, "int": False, "default": 1.0},
    {"key": "view.zoom", "label": "zoom", "min": 0.05, "max": 20, "log": True, "int": False, "default": 1.0},
]


# ==================================================================== scenes, through core.py
# The same scene rules and the same pixels as `watch`, `still` and `render`.


def load_text(text: str, source: str, overrides: list = ()) -> scenes.Scene:
    """A scene from the editor's text (errors name `source`, the file being edited)."""
    return core.parse(text, source, list(overrides), default_name=Path(source).stem)


def preview_of(scene: scenes.Scene) -> scenes.Scene:
    """The same scene at preview size (long side 320 px, never larger than the scene) and at most 30 fps."""
    return core.preview_scene(scene, PREVIEW_LONG_SIDE, PREVIEW_MAX_FPS)


def output_target(scene: scenes.Scene) -> Path:
    """Where a full render goes: the scene's output.path (kept inside this folder by the scene's own rules)."""
    return core.default_path(scene, core.output_format(scene))


class _Counted(Reporter):
    """progress(done, total) per frame of a full render."""

    def __init__(self, total: int, progress: Callable[[int, int], None]):
        self.done, self.total, self.tell = 0, total, progress

    def progress(self, n: int) -> None:
        self.done += n
        self.tell(self.done, self.total)


def render_full(scene: scenes.Scene, progress: Callable[[int, int], None], cancel: threading.Event) -> Path:
    """The whole scene to its output, as `cppn-anim render` does; progress(done, total) per frame.
    Once `cancel` is set the render stops (errors.Cancelled) and leaves nothing at the target."""
    return core.render(scene, output_target(scene), report=_Counted(scene.frame_count, progress), cancel=cancel).path


def png_bytes(frame, provenance: str = "") -> bytes:
    """(H, W, 3) uint8 -> PNG bytes, compressed lightly: the page waits for them."""
    return targets.png_bytes(frame, provenance, level=1)


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
        self._prepared = None  # weights, motion, renderer: made in a worker thread
        self._lock = threading.Lock()

    def frame_png(self, index: int) -> bytes:
        """Preview frame `index` (t = index / preview fps) as PNG bytes. Runs in a worker thread."""
        with self._lock:  # the renderer reuses its buffers
            if self._prepared is None:
                self._prepared = core.prepare(self.preview, threads=PREVIEW_THREADS)
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
class Pools:
    """The threads the studio's work runs in. Frames ahead of the playhead in one; the
    playhead's frame after an edit or a seek in another, so it never waits behind a frame
    of the scene as it was a keystroke ago; requests (/frame.png, /still.png) in a third;
    a full render in a fourth."""

    ahead: Executor
    playhead: Executor
    requests: Executor
    render: Executor

    @classmethod
    def plain(cls) -> "Pools":
        """Threads with nothing set up (the server gives its own: studio_server.pools)."""
        make = lambda n, name: ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"studio-{name}")  # noqa: E731
        return cls(make(1, "ahead"), make(1, "playhead"), make(2, "requests"), make(1, "render"))

    def shutdown(self) -> None:
        """The page's work stops; requests are still answered (they come while the server closes, too)."""
        for pool in (self.ahead, self.playhead, self.render):
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class Studio:
    """What the server knows: the opened file, the caches, the connected pages, the render."""

    path: Path | None
    overrides: list = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = 0
    allow_hosts: list = field(default_factory=list)
    scenes_dir: Path = Path("scenes")
    pools: Pools = field(default_factory=Pools.plain)

    def __post_init__(self):
        self.frames = LRU(FRAME_CACHE_BYTES, size=len)  # (key, index) -> PNG bytes
        self.compiled = LRU(COMPILED_KEEP)  # (file, text) -> Compiled
        self.stills = LRU(16)  # key -> Compiled, for /still.png of what the page shows
        self.saved = LRU(COMPILED_KEEP)  # (file text, w, h) -> scene, renderer, lock, provenance: /frame.png
        self.sessions: set = set()
        self.disk_text: str | None = None
        self.disk_stamp = None
        self.render_lock = threading.Lock()
        self.render_cancel = threading.Event()
        self.render_job: Future | None = None
        self.last_output: Path | None = None
        self.loop = None  # the server's event loop, once it runs
        self.picker = self.path is None  # started without a scene: the page may open one from scenes/
        if self.path is not None:
            self.disk_text = self._read_disk()

    # ---------------------------------------------------------- the opened file

    def source(self) -> str:
        return str(self.path) if self.path else "<scene>"

    def _read_disk(self) -> str | None:
        try:
            stat = self.path.stat()
            self.disk_stamp = (stat.st_mtime_ns, stat.st_size)
            return scenes.read_text(self.path)  # never blocks on a FIFO, refuses a huge file
        except (OSError, SceneError):
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
        targets.write_bytes(text.encode("utf-8"), self.path)
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

    def compile(self, text: str, source: str | None = None) -> Compiled:
        """The editor's text, overrides applied, validated (SceneError otherwise). CPU work: call it in a thread."""
        source = source or self.source()
        hit = self.compiled.get((source, text))
        if hit is None:
            fresh = Compiled(load_text(text, source, self.overrides))
            hit = self.stills.get(fresh.key) or fresh  # same content: keep the one with a renderer
            self.compiled.put((source, text), hit)
        self.stills.put(hit.key, hit)
        return hit

    def frame_from_disk(self, t: float, width: int | None, height: int | None) -> bytes:
        """GET /frame.png: the saved scene at time t as `cppn-anim still --time T --size WxH` draws it.

        The file is read every time; its scene and renderer are kept while its text stays the same.
        """
        if self.path is None:
            raise SceneError("<studio>", "no scene is open (pick one in the page)")
        path = self.path
        text = scenes.read_text(path)
        entry = self.saved.get((text, width, height))
        if entry is None:
            parse = lambda extra=(): core.parse(text, str(path), [*self.overrides, *extra], default_name=path.stem)  # noqa: E731
            scene = parse()
            if width is not None or height is not None:
                w, h = width or scene.width, height or scene.height
                scene = parse([("size", [w, h], f"--size {w}x{h}")])
            entry = (scene, core.prepare(scene, threads=PREVIEW_THREADS), threading.Lock(), scene.resolved_yaml())
            self.saved.put((text, width, height), entry)
        scene, prepared, lock, provenance = entry
        t = core.check_time(scene, t)  # UsageError (a ValueError): a time outside the scene
        with lock:  # a renderer reuses its buffers
            frame = prepared.still(t)
        return png_bytes(frame, provenance)

    def still_of(self, key: str, t: float, width: int, height: int) -> tuple[str, bytes]:
        """A still of what the page shows (its unsaved text), at any size."""
        compiled = self.stills.get(key)
        if compiled is None:
            raise LookupError("that scene is no longer in the editor")
        scene = scenes.changed(compiled.scene, size=[width, height])
        return f"{scene.name}_t{t:g}_{width}x{height}.png", png_bytes(core.still(scene, t), scene.resolved_yaml())

    # ---------------------------------------------------------- pages

    def broadcast(self, message: dict) -> None:
        for session in list(self.sessions):
            session.send(message)

    def start_render(self, scene: scenes.Scene) -> Path:
        """The full render of a scene (the page's, compiled) in the render thread; progress goes to every page."""
        path = output_target(scene)
        if not self.render_lock.acquire(blocking=False):
            raise RenderError("a render is already running")
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
            except (SceneError, OutputError, UsageError) as e:
                tell({"type": "render_error", "message": str(e)})
            except Exception as e:  # noqa: BLE001 - ffmpeg, disk, memory: one line to the page
                tell({"type": "render_error", "message": f"cppn-anim: {e}"})
            finally:
                self.render_lock.release()

        tell({"type": "progress", "done": 0, "total": scene.frame_count, "path": str(path)})
        try:
            self.render_job = self.pools.render.submit(work)
        except BaseException:
            self.render_lock.release()
            raise
        return path

    async def watch_disk(self) -> None:
        """Tell every page when another editor changed the opened file."""
        while True:
            await asyncio.sleep(DISK_POLL_S)
            text = self.disk_changed()
            if text is not None:
                self.broadcast({"type": "disk", "path": str(self.path), "text": text})

    def close(self) -> None:
        """Stop a running render (nothing left at its target) and the studio's threads."""
        self.render_cancel.set()
        if self.render_job is not None:
            try:
                self.render_job.result(timeout=30)
            except Exception:  # noqa: BLE001 - reported to the page already, or cut short by the shutdown
                pass
        self.pools.shutdown()


class Session:
    """One page connected over the WebSocket: its scene, its playhead, what it has been sent."""

    def __init__(self, studio: Studio, websocket):
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
        studio = self.studio
        studio.sessions.add(self)
        tasks = [asyncio.create_task(self._sender()), asyncio.create_task(self._feeder())]
        try:
            self.send(self._hello())
            while True:
                message = await self.ws.receive_text()
                try:
                    await self.handle(json.loads(message))
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

    async def handle(self, m: dict) -> None:
        """One message from the page, handled in order; its CPU work in a thread."""
        kind = m.get("type")
        if kind == "edit":
            self.position = int(m.get("index", self.position))
            await self.edit(m["text"])
        elif kind == "seek":
            self.position = int(m["index"])
            self.urgent = True
            self.wake.set()
        elif kind == "set":
            try:
                text = await asyncio.to_thread(yamledit.set_key, m["text"], m["key"], m["value"])
            except ValueError as e:
                self.send({"type": "notice", "message": str(e)})
                return
            self.send({"type": "text", "text": text})
            await self.edit(text)
        elif kind == "save":
            try:
                path = self.studio.save(m["text"])
                self.send({"type": "saved", "path": str(path)})
            except (ValueError, OSError, RenderError) as e:
                self.send({"type": "notice", "message": f"not saved: {e}"})
        elif kind == "render":
            try:
                compiled = await asyncio.to_thread(self.studio.compile, m["text"], self.studio.source())
                self.studio.start_render(compiled.scene)
            except (SceneError, OutputError, RenderError) as e:
                self.send({"type": "render_error", "message": str(e)})
        elif kind == "open":
            try:
                self.studio.open(m["name"])
            except ValueError as e:
                self.send({"type": "notice", "message": str(e)})
                return
            self.studio.broadcast({"type": "opened", "path": str(self.studio.path), "text": self.studio.disk_text})

    async def edit(self, text: str) -> None:
        try:
            compiled = await asyncio.to_thread(self.studio.compile, text, self.studio.source())
        except SceneError as e:
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
        loop = asyncio.get_running_loop()
        frames = self.studio.frames
        while True:
            compiled = self.compiled
            index = self._next(compiled) if compiled else None
            if index is None:
                self.wake.clear()
                await self.wake.wait()
                continue
            pool = self.studio.pools.playhead if self.urgent else self.studio.pools.ahead
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
