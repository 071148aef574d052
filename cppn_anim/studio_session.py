"""The studio's state and protocol: the opened file, the caches, the render, and each page's session.

`Studio` is what the server knows: the opened scene file (read, watched for changes by
another editor, written only by `save`), the texts the pages sent (compiled), the prepared
renderers and preview frames (shared by every text that draws the same pixels, so undoing
an edit is instant), /frame.png's scenes as last saved, and the one full render at a time.
`Session` is one page on the WebSocket: it validates the page's text, renders preview
frames around the playhead in the studio's threads, and sends them as PNGs with a small
JSON header.

Identity. A text is the scene it says, with the command's overrides: its `Compiled` (its
`id`) is what `render` writes and /still.png draws, name and output included. What the
preview's pixels depend on (`content_key`: the scene less its name and output) keys the
prepared renderer and the frames, so two texts that differ only in a comment, the name or
the output share them, and nothing else is shared.

The protocol (studio_assets/studio.js is the other end). Every edit carries the page's
revision (`rev`, the editor's counter); every answer to it carries that revision back, and
the page ignores answers older than the text it holds. The server never sends the page's
text back: a slider edits the page's own text, and when the key is missing from it the
server answers a targeted patch (`patch`: replace [from, to) of revision `rev`'s text,
offsets in UTF-16 units as JavaScript counts), which the page maps through what was typed
since. The file on disk is versioned (`disk`: a counter); `save` names the version the
page's text was based on and is refused when the file changed since.

  page -> {type: edit, rev, text, index}      the text at revision rev; the playhead
          {type: seek | at | need, index}     the playhead moved (seek: show it now; at:
                                              playing; need: that frame is missing)
          {type: set, rev, key, value, text}  a slider's key is not in the text: add it
          {type: save, rev, text, base}       write the text (base: the disk version it is from)
          {type: render, rev, text}           render the text to its output; {type: cancel}
          {type: open, name}                  (started without a scene) open scenes/NAME
  page <- hello (path, text, disk, schema, sliders, ...) | scene (rev, id, key, audio, ...) |
          signals (names, values per column, beats; when they change) |
          error (rev, message, line, col; rev null: not about a text; action: "save" when a
          save failed) | patch | saved | disk | removed (the file was deleted on disk) |
          opened | notice | progress | rendered | cancelled | render_error,
          and binary frames: 4-byte header length, JSON {key, index}, PNG bytes.
A message that is not this (not JSON, an unknown type, a missing or mistyped field, binary
data) closes the WebSocket with code 1007 or 1003 and the reason; nothing is logged.

Every failure (a bad scene, a device that is not there, memory, the disk, ffmpeg, a text
that is not Unicode) reaches the page as one line; the session goes on, and the next edit
tries again.

Memory. The page keeps decoded frames only in a window around the playhead (`window`
frames, at most PAGE_FRAME_BYTES of bitmaps; `window_of` says which) and the server sends
only those; the server's caches are bounded in bytes. A renderer is refused before its
weights are built when the estimate (resources.memory_needed, as the CLI checks it) is over
the studio's budget for it or over the free memory (check_memory); a frame being computed
for a text the page has replaced stops at its next band (Session.cancel).

CPU work (validation, YAML editing, rendering, the disk) runs in threads, never on the event
loop. The threads are the server's to give (`Pools`: studio_server.py sets torch's threads
in each: preview work on one thread, a full render on all); made here, they are plain.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import secrets
import stat
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import core, scene as scenes, targets, yamledit
from .errors import Cancelled, CppnAnimError, RenderError, SceneError
from .report import Reporter

PREVIEW_LONG_SIDE = 320  # 320x180 for 16:9: ~58k pixels, a frame in tens of ms on a laptop CPU
PREVIEW_MAX_FPS = 30
PREVIEW_THREADS = 1  # torch threads of preview work: small frames, and a busy machine (studio_server.py)
FRAME_CACHE_BYTES = 256 * 1024 * 1024  # PNGs of ~80 KB: about 3000 preview frames
PREPARED_CACHE_BYTES = 1024 * 1024 * 1024  # preview renderers, as resources.memory_needed estimates them (an upper bound of their weights' nbytes)
PREVIEW_RENDERER_BYTES = 512 * 1024 * 1024  # one preview renderer at most (a network 1024 wide and 32 deep fits); larger: refused before its weights are built
SAVED_CACHE_BYTES = 1024 * 1024 * 1024  # /frame.png's renderers (any size up to 16384 px a side)
TEXT_CACHE_BYTES = 32 * 1024 * 1024  # compiled texts (a scene object is some tens of KB)
PAGE_FRAME_BYTES = 192 * 1024 * 1024  # decoded bitmaps a page keeps (W x H x 4 each): ~850 frames at 320x180
MIN_WINDOW = 16  # frames, however large they are
DISK_POLL_S = 0.25  # a change by another editor shows within a second
MAX_TEXT_BYTES = scenes.MAX_FILE_BYTES  # a text the page sends or saves: the limit `load` has
SIGNAL_COLUMNS = 600  # the signals drawn under the timeline: the largest value in each of this many spans

# The sliders: generic over key paths, written into the page's YAML text. (label, min, max, log scale, whole numbers)
SLIDERS = [
    {"key": "seed", "label": "seed", "min": 0, "max": 9999, "log": False, "int": True, "default": 0},
    {"key": "network.z_scale", "label": "z_scale", "min": 0.05, "max": 20, "log": True, "int": False, "default": 1.0},
    {"key": "network.contrast", "label": "contrast", "min": 0.1, "max": 10, "log": True, "int": False, "default": 1.0},
    {"key": "view.zoom", "label": "zoom", "min": 0.05, "max": 20, "log": True, "int": False, "default": 1.0},
]
SLIDER_KEYS = {s["key"] for s in SLIDERS}


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


def text_id(source: str, text: str, overrides: list) -> str:
    """A text's identity: the file it stands for, its every character and the command's overrides."""
    data = json.dumps([source, text, [list(o[:2]) for o in overrides]], default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:24]


def value_at(scene: scenes.Scene, key: str) -> Any:
    """A scene value by its dotted key path (None where the scene has no such key)."""
    node: Any = scene.model_dump(mode="json", by_alias=True)
    for step in key.split("."):
        if not isinstance(node, dict) or step not in node:
            return None
        node = node[step]
    return node


def one_line(e: BaseException) -> str:
    """Any failure as the one line the page shows (a SceneError is its FILE:LINE:COL line)."""
    if isinstance(e, CppnAnimError):
        text = str(e)
    elif isinstance(e, MemoryError):
        text = f"cppn-anim: out of memory{': ' + str(e) if str(e) else ''}"
    elif isinstance(e, OSError) and e.strerror:
        text = f"cppn-anim: {e.strerror}" + (f": {e.filename}" if e.filename else "")
    else:
        text = f"cppn-anim: {type(e).__name__}: {e}" if str(e) else f"cppn-anim: {type(e).__name__}"
    text = " ".join(text.split("\n")[0].split()) if "\n" in text else text
    return text[:2000]


def stamp_of(st: os.stat_result) -> tuple:
    """What tells a file changed without reading it: mtime, size, inode, and ctime (which an
    editor that puts the old mtime back, or a same-size write within the mtime's tick, changes too)."""
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


def unencodable(text: str, source: str) -> SceneError | None:
    """A text the server cannot write as UTF-8 (a lone UTF-16 surrogate, sent by a page or a
    script): where the first such character is, as the one FILE:LINE:COL line; None when it can."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as e:
        before = text[: e.start]
        line, col = before.count("\n") + 1, e.start - (before.rfind("\n") + 1) + 1
        return SceneError(source, f"the text holds {ascii(text[e.start])}, half of a UTF-16 pair and no character: delete it", "", line, col)


def lf(text: str) -> str:
    """The editor's line ends: LF only (a CRLF or CR file is shown with LF; save puts them back)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def eol_of(text: str) -> str:
    """'\\r\\n' when every line break of the file is CRLF, else '\\n' (as the editor's eolOf)."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf == text.count("\n") else "\n"


def utf16(text: str) -> int:
    """JavaScript's length of a string (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def patch(old: str, new: str) -> dict:
    """The one replacement that turns `old` into `new`: {from, to, insert}, offsets in UTF-16 units of `old`."""
    a = 0
    while a < min(len(old), len(new)) and old[a] == new[a]:
        a += 1
    b = 0
    while b < min(len(old), len(new)) - a and old[-1 - b] == new[-1 - b]:
        b += 1
    return {"from": utf16(old[:a]), "to": utf16(old[: len(old) - b]), "insert": new[a : len(new) - b]}


def window_of(count: int, width: int, height: int) -> int:
    """How many preview frames a page keeps around its playhead (all of a short loop)."""
    return min(count, max(MIN_WINDOW, PAGE_FRAME_BYTES // max(1, width * height * 4)))


def in_window(index: int, position: int, count: int, window: int) -> bool:
    """Whether frame `index` is in the window of a playhead at `position` (studio.js: inWindow).

    The window reaches `window - 1 - window // 4` frames ahead and `window // 4` behind, wrapping
    round the loop; a window of the whole loop holds every frame."""
    if window >= count:
        return True
    back = window // 4
    return (index - position) % count <= window - 1 - back or (position - index) % count <= back


def write_through(path: Path, data: bytes) -> Path:
    """Replace a file's bytes as an editor saves: atomically (a temporary file beside it, then a
    rename), through symlinks to their target (the link stays a link), keeping the file's mode.
    Returns the file written (the symlink's target)."""
    target = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None  # a new file: the usual 0666 less the umask (targets.temp_beside)
    fd, temp = targets.temp_beside(target.parent, f".{target.name}.", ".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


@functools.cache
def schema() -> dict:
    """The scene's JSON Schema (`cppn-anim schema`): the editor's completion and hover."""
    return scenes.json_schema()


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

    def __len__(self) -> int:
        return len(self.items)


# ==================================================================== the studio


def check_memory(scene: scenes.Scene, what: str, budget: int, size: tuple[int, int] | None = None) -> int:
    """The bytes a renderer of `scene` (at `size`, default the scene's) would hold, as
    resources.memory_needed estimates them (the CLI's estimate), before any weights are built.
    Refused (errors.OutOfMemory, one line: what is too big, what to make smaller) when over
    the studio's `budget` for such a renderer or over the memory that is free."""
    import torch

    from . import render, resources
    from .errors import DeviceUnavailable, OutOfMemory

    net, r = scene.network, scene.render
    width, height = size or scene.size
    try:
        device = render.pick_device(r.device)
        path = core.render_path(net, device, r.precision)[0]
    except (DeviceUnavailable, CppnAnimError):
        return 0  # said by core.prepare, at render.device
    host, on_device = resources.memory_needed(net, width, height, r.supersample, device.type, r.precision, path)
    free = resources.available_memory(torch.device("cpu"))
    limit, why = budget, "the studio keeps at most"
    if free is not None and free < limit:
        limit, why = free, "the memory free is"
    if host > limit:
        raise OutOfMemory(
            f"too big for the studio's {what}: a network {net.width} wide, {net.depth} deep with latent_dim {net.latent_dim}"
            f" at {width}x{height} needs about {_mb(host)}, {why} {_mb(limit)}; make network.width, network.depth or"
            f" network.latent_dim smaller"
        )
    return host + on_device


def _mb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


class Renderer:
    """A prepared renderer (weights, motion, buffers) and the lock its frames take turns on.
    `budget`: the most bytes the studio gives it (check_memory, before its weights are built)."""

    def __init__(self, scene: scenes.Scene, what: str = "preview", budget: int | None = None):
        self.bytes = check_memory(scene, what, PREVIEW_RENDERER_BYTES if budget is None else budget)
        self.prepared = core.prepare(scene, threads=PREVIEW_THREADS)  # SceneError (device), OutOfMemory
        self.lock = threading.Lock()

    def still(self, t, cancel: threading.Event | None = None) -> Any:
        """The frame at t; once `cancel` is set, abandoned at the next band (errors.Cancelled)."""
        with self.lock:  # the renderer reuses its buffers
            check_cancel(cancel)
            return self.prepared.still(t, None, cancel)


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("the text was replaced")


class Compiled:
    """One text, validated with the studio's overrides: its scene (what `render` and stills use,
    name and output included) and its preview (whose frames are shared by content)."""

    def __init__(self, scene: scenes.Scene, ident: str = "", overridden: tuple = ()):
        self.scene = scene  # at full size, overrides applied
        self.id = ident or text_id(scene._source or "", scene.resolved_yaml(), [])
        self.preview = preview_of(scene)
        self.key = content_key(self.preview)
        self.count = self.preview.frame_count
        self.overridden = [k for k in overridden if k in SLIDER_KEYS]
        self.weight = 64 * 1024 + 4 * len(self.id)
        # No renderer here: the compiled texts are many (TEXT_CACHE_BYTES), and each renderer's
        # weights belong to the studio's byte-bounded cache only (Studio.prepare).

    def frame_png(self, index: int, renderer: Renderer | None = None, cancel: threading.Event | None = None) -> bytes:
        """Preview frame `index` (t = index / preview fps) as PNG bytes, by `renderer` (the studio's,
        shared by content; else one made for this frame). Runs in a worker thread."""
        renderer = renderer or Renderer(self.preview)
        return png_bytes(renderer.still(self.preview.frame_time(index), cancel))  # exactly as `render` times frame i

    def soundtrack(self):
        """What plays with the preview (core.soundtrack: the file, the second of it at t = 0), or None."""
        return core.soundtrack(self.scene)

    def signals(self) -> dict | None:
        """The scene's signals for the page to draw under the timeline: per column, the largest
        value of the frames in it (a short beat never falls between columns), and the beats."""
        if not hasattr(self, "_signals"):
            self._signals = None
            values = core.signals(self.preview)  # {} without audio
            if values:
                import numpy as np

                columns = min(SIGNAL_COLUMNS, self.count)
                edges = np.linspace(0, self.count, columns + 1).astype(int)
                beats = np.asarray(core.beats(self.preview), dtype=float)
                self._signals = {
                    "type": "signals", "duration": float(self.preview.duration), "fps": self.preview.fps,
                    "names": list(values), "beats": [round(float(b), 3) for b in beats[:20000]],
                    "values": {name: [round(float(v[a:b].max()), 3) for a, b in zip(edges[:-1], edges[1:])] for name, v in values.items()},
                }  # fmt: skip
                self._signals["key"] = hashlib.sha256(json.dumps(self._signals).encode()).hexdigest()[:20]
        return self._signals

    def animated(self) -> list[str]:
        tracks = self.scene.model_dump(mode="json", by_alias=True).get("animate", {})  # keys like 'view.zoom'
        return [s["key"] for s in SLIDERS if tracks.get(s["key"]) is not None]

    def info(self) -> dict:
        p = self.preview
        return {
            "type": "scene", "id": self.id, "key": self.key, "name": self.scene.name, "count": self.count, "fps": p.fps,
            "duration": p.duration, "width": p.width, "height": p.height, "size": list(self.scene.size),
            "values": {s["key"]: value_at(self.scene, s["key"]) for s in SLIDERS}, "animated": self.animated(),
            "overridden": self.overridden, "window": window_of(self.count, p.width, p.height), "audio": self.audio_info(),
        }  # fmt: skip

    def audio_info(self) -> dict | None:
        track = self.soundtrack()
        if track is None:
            return None
        return {"sha": track.sha256, "url": f"/audio?sha={track.sha256}", "start": float(track.start), "duration": float(track.duration)}


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


class SaveRefused(RenderError):
    """`save` cannot write (too large, no file open, the file changed on disk meanwhile)."""


@dataclass
class RenderJob:
    path: Path
    cancel: threading.Event
    future: Future | None = None


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
        self.frames = LRU(FRAME_CACHE_BYTES, size=len)  # (content key, index) -> PNG bytes
        self.compiled = LRU(TEXT_CACHE_BYTES, size=lambda c: c.weight)  # text id -> Compiled (stills find them here)
        self.renderers = LRU(PREPARED_CACHE_BYTES, size=lambda r: r.bytes)  # content key -> Renderer
        self.saved = LRU(SAVED_CACHE_BYTES, size=lambda e: e[1].bytes)  # (file text, w, h) -> scene, Renderer, provenance
        self.soundtracks = LRU(64)  # sha256 -> the audio file a page's text named: GET /audio
        self.sessions: set = set()
        self.lock = threading.RLock()  # the disk state and the render job
        self.disk_text: str | None = None  # as on disk (its own line ends)
        self.disk_version = 0  # +1 whenever the file's text changes (read or saved)
        self.disk_stamp = None
        self.render_job: RenderJob | None = None
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
            stat_ = self.path.stat()
            self.disk_stamp = stamp_of(stat_)
            return scenes.read_text(self.path)  # never blocks on a FIFO, refuses a huge file
        except (OSError, SceneError):
            self.disk_stamp = None
            return None

    def page_text(self) -> str | None:
        """The file's text as the page edits it (LF)."""
        return None if self.disk_text is None else lf(self.disk_text)

    def disk_changed(self) -> dict | None:
        """The message for the pages when another editor changed the file since we last looked
        (`disk`: its new text (LF) and version), or removed it (`removed`: the pages keep their
        text; save creates it again); else None. Reads the disk: call it in a thread."""
        with self.lock:
            if self.path is None:
                return None
            try:
                stamp = stamp_of(self.path.stat())
            except OSError:
                stamp = None
            if stamp == self.disk_stamp:
                return None
            text = self._read_disk()
            if text is None:
                if stamp is None and self.disk_text is not None:  # gone (not merely unreadable for a moment)
                    self.disk_text = None
                    return {"type": "removed", "path": str(self.path)}
                return None
            if text == self.disk_text:
                return None
            self.disk_text = text
            self.disk_version += 1
            return {"type": "disk", "path": str(self.path), "text": lf(text), "disk": self.disk_version}

    def save(self, text: str, base: int | None = None) -> tuple[Path, int]:
        """Write the editor's text (LF) to the opened file, as an editor saves (write_through), in
        the file's own line ends; never any other file. `base`: the disk version the text came
        from; a file changed since is refused (SaveRefused). Returns the path and the new version.
        Writes the disk: call it in a thread."""
        with self.lock:
            if self.path is None:
                raise SaveRefused("not saved: no scene is open (pick one above)")
            if base is not None and base != self.disk_version:
                raise SaveRefused(f"not saved: {self.path} changed on disk meanwhile; load it, or keep yours and save again")
            eol = eol_of(self.disk_text or "")
            data = lf(text).replace("\n", eol).encode("utf-8")
            if len(data) > MAX_TEXT_BYTES:
                raise SaveRefused(f"not saved: {len(data) / 1e6:.1f} MB is over the scene size limit ({MAX_TEXT_BYTES // 1_000_000} MB)")
            try:
                write_through(self.path, data)
            except OSError as e:
                raise SaveRefused(f"not saved: {self.path}: {e.strerror or e}") from None
            self._read_disk()  # the stamp of what we wrote
            self.disk_text = data.decode("utf-8")
            self.disk_version += 1
            return self.path, self.disk_version

    def scene_files(self) -> list[str]:
        return sorted(p.name for p in self.scenes_dir.glob("*.yaml")) if self.scenes_dir.is_dir() else []

    def open(self, name: str) -> None:
        """Open scenes/NAME for editing (only a file the picker listed, only when started without a scene)."""
        if not self.picker:
            raise ValueError(f"this studio edits {self.path} only")
        if name not in self.scene_files():
            raise ValueError(f"{name}: not a scene in {self.scenes_dir}/")
        with self.lock:
            self.path = self.scenes_dir / name
            self.disk_text = self._read_disk()
            self.disk_version += 1

    # ---------------------------------------------------------- scenes and frames

    def compile(self, text: str, source: str | None = None) -> Compiled:
        """The editor's text, overrides applied, validated (SceneError otherwise). CPU work: call it in a thread."""
        source = source or self.source()
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise SceneError(source, f"the text is over the scene size limit ({MAX_TEXT_BYTES // 1_000_000} MB; a scene is a few KB)")
        ident = text_id(source, text, self.overrides)
        hit = self.compiled.get(ident)
        if hit is None:
            hit = Compiled(load_text(text, source, self.overrides), ident, tuple(o[0] for o in self.overrides))
            self.compiled.put(ident, hit)
        return hit

    def prepare(self, compiled: Compiled) -> Renderer:
        """The preview's renderer, shared by every text with the same content. CPU work: call it in a thread.
        SceneError for a device that is not there, OutOfMemory when it cannot fit (the studio's
        budget, checked before any weights are built: check_memory)."""
        renderer = self.renderers.get(compiled.key)
        if renderer is None:
            renderer = Renderer(compiled.preview)
            self.renderers.put(compiled.key, renderer)
        return renderer

    def frame_png(self, compiled: Compiled, index: int, cancel: threading.Event | None = None) -> bytes:
        """Preview frame `index` of a compiled text, from the cache or rendered. Runs in a worker thread.
        Once `cancel` is set (the page's text was replaced), abandoned at the next band (Cancelled)."""
        png = self.frames.get((compiled.key, index))
        if png is None:
            check_cancel(cancel)
            png = compiled.frame_png(index, self.prepare(compiled), cancel)
            self.frames.put((compiled.key, index), png)
        return png

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
            core.check_time(scene, t)  # a time outside the scene: 400 before any renderer is made
            entry = (scene, Renderer(scene, "/frame.png", SAVED_CACHE_BYTES), scene.resolved_yaml())
            self.saved.put((text, width, height), entry)
        scene, renderer, provenance = entry
        t = core.check_time(scene, t)  # UsageError (a ValueError): a time outside the scene
        return png_bytes(renderer.still(t), provenance)

    def still_of(self, ident: str, frame: int | None, t: float | None, width: int, height: int) -> tuple[str, bytes]:
        """A still of a text a page shows (unsaved), at any size: at preview frame `frame` (the
        exact time the page shows it), or at t seconds."""
        compiled = self.compiled.get(ident)
        if compiled is None:
            raise LookupError("that scene is no longer in the editor")
        scene = scenes.changed(compiled.scene, size=[width, height])
        if frame is not None:
            if not 0 <= frame < compiled.count:
                raise ValueError(f"frame={frame}: the preview has frames 0..{compiled.count - 1}")
            t, label = compiled.preview.frame_time(frame), f"frame{frame}"
        else:
            label = f"t{float(t or 0):g}"
        t = core.check_time(scene, t or 0)
        check_memory(scene, "still", SAVED_CACHE_BYTES)  # before any weights are built
        return f"{scene.name}_{label}_{width}x{height}.png", png_bytes(core.still(scene, t), scene.resolved_yaml())

    # ---------------------------------------------------------- pages

    def broadcast(self, message: dict, but=None) -> None:
        for session in list(self.sessions):
            if session is not but:
                session.send(message)

    def tell(self, message: dict) -> None:
        """broadcast, from any thread."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.broadcast, message)

    def start_render(self, scene: scenes.Scene) -> Path:
        """The full render of a scene (a page's text, compiled) in the render thread; progress
        goes to every page. A second one while one runs is refused (RenderError)."""
        path = output_target(scene)  # OutputError / SceneError: refused before anything starts
        with self.lock:
            job = self.render_job
            if job is not None and not (job.future and job.future.done()):
                raise RenderError(f"a render is already running ({job.path}): wait for it or cancel it")
            job = self.render_job = RenderJob(path, threading.Event())
        last = [0.0]

        def progress(done, total):
            now = time.monotonic()
            if done == total or now - last[0] > 0.1:
                last[0] = now
                self.tell({"type": "progress", "done": done, "total": total, "path": str(path)})

        def work():
            try:
                render_full(scene, progress, job.cancel)
                self.last_output = path
                self.tell({"type": "rendered", "path": str(path), "url": f"/result?v={time.time_ns()}"})
            except Cancelled:
                self.tell({"type": "cancelled", "path": str(path)})
            except Exception as e:  # noqa: BLE001 - ffmpeg, disk, memory: one line to the page
                self.tell({"type": "render_error", "message": one_line(e)})

        self.tell({"type": "progress", "done": 0, "total": scene.frame_count, "path": str(path)})
        try:
            job.future = self.pools.render.submit(work)
        except BaseException:
            with self.lock:
                self.render_job = None
            raise
        return path

    def cancel_render(self) -> bool:
        """Stop the running render (it leaves nothing at its target); False when none runs."""
        with self.lock:
            job = self.render_job
        if job is None or (job.future is not None and job.future.done()):
            return False
        job.cancel.set()
        return True

    async def watch_disk(self) -> None:
        """Tell every page when another editor changed the opened file."""
        while True:
            await asyncio.sleep(DISK_POLL_S)
            try:
                changed = await asyncio.to_thread(self.disk_changed)
            except RuntimeError:  # the default executor is shutting down
                return
            if changed is not None:
                self.broadcast(changed)

    def close(self) -> None:
        """Stop a running render (nothing left at its target) and the studio's threads."""
        job = self.render_job
        if job is not None:
            job.cancel.set()
            if job.future is not None:
                try:
                    job.future.result(timeout=30)
                except Exception:  # noqa: BLE001 - reported to the page already, or cut short by the shutdown
                    pass
        self.pools.shutdown()


# ==================================================================== one page


class BadMessage(ValueError):
    """A WebSocket message that is not the protocol: the connection closes with this reason."""

    def __init__(self, reason: str, code: int = 1007):
        super().__init__(reason)
        self.code = code


_INT, _STR, _NUM = (int,), (str,), (int, float)
MESSAGES = {
    "edit": {"rev": _INT, "text": _STR, "index": _INT},
    "seek": {"index": _INT},
    "at": {"index": _INT},
    "need": {"index": _INT},
    "set": {"rev": _INT, "key": _STR, "value": _NUM, "text": _STR},
    "save": {"rev": _INT, "text": _STR, "base": _INT},
    "render": {"rev": _INT, "text": _STR},
    "cancel": {},
    "open": {"name": _STR},
}


def read_message(raw: dict) -> dict:
    """A received ASGI message -> the page's message, checked against MESSAGES (BadMessage if not)."""
    text = raw.get("text")
    if text is None:
        raise BadMessage("binary data is not part of the protocol (JSON text messages only)", 1003)
    try:
        m = json.loads(text)
    except ValueError:
        raise BadMessage("not JSON") from None
    if not isinstance(m, dict):
        raise BadMessage("a message is a JSON object")
    kind = m.get("type")
    fields = MESSAGES.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise BadMessage(f"unknown message type {str(kind)[:40]!r}")
    for name, types in fields.items():
        value = m.get(name)
        if isinstance(value, bool) or not isinstance(value, types):
            raise BadMessage(f"{kind}: {name} must be {'a string' if types is _STR else 'a number'}")
        if types is _NUM and value != value or types is _NUM and abs(value) == float("inf"):
            raise BadMessage(f"{kind}: {name} must be a finite number")
    if kind == "set" and m["key"] not in SLIDER_KEYS:
        raise BadMessage(f"set: {m['key'][:40]!r} is not a slider's key")
    return m


class Session:
    """One page connected over the WebSocket: its text's scene, its playhead, what it has been sent."""

    def __init__(self, studio: Studio, websocket):
        self.studio, self.ws = studio, websocket
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.compiled: Compiled | None = None
        self.rev = 0  # the revision self.compiled came from
        self.failed = False  # the current scene's frames failed: nothing more until the next edit
        self.position = 0
        self.sent: set = set()
        self.urgent = False  # the next frame is the playhead's, after an edit or a seek
        self.wake = asyncio.Event()  # the window's lane: something new to send
        self.head = asyncio.Event()  # the playhead's lane: an edit or a seek
        self.busy: set = set()  # (content key, index) being rendered
        self.latest: tuple[int, str] | None = None  # the newest edit not yet compiled
        self.signals_key = None  # the signals the page has
        self.edited = asyncio.Event()
        self.tasks: set = set()
        self.in_order = asyncio.Lock()  # saves and renders: one at a time, as sent
        self.cancel = threading.Event()  # set when the page's text is replaced: its frames being computed stop
        self.replacing = False  # a new text's renderer is being prepared: no frames of the old one meanwhile

    def send(self, message: dict) -> None:
        self.outbox.put_nowait(message)

    def error(self, e: BaseException | str, rev: int | None = None, action: str | None = None) -> None:
        """One error line for the page. `action`: what failed when it is not the text ("save"):
        the page clears it when that action next succeeds."""
        message = e if isinstance(e, str) else one_line(e)
        line, col = (e.line, e.col) if isinstance(e, SceneError) else (None, None)
        m = {"type": "error", "rev": rev, "message": message, "line": line, "col": col}
        self.send({**m, "action": action} if action else m)

    async def run(self) -> None:
        """Until the page goes (or sends something that is not the protocol: closed with the reason)."""
        studio = self.studio
        studio.sessions.add(self)
        tasks = [asyncio.create_task(t) for t in (self._sender(), self._playhead(), self._feeder(), self._editor())]
        try:
            self.send(await asyncio.to_thread(self._hello))  # the schema, the scenes folder: not on the loop
            while True:
                raw = await self.ws.receive()
                if raw["type"] == "websocket.disconnect":
                    return
                try:
                    m = read_message(raw)
                except BadMessage as e:
                    await self.ws.close(e.code, reason=str(e)[:120])
                    return
                self.handle(m)
        finally:
            studio.sessions.discard(self)
            for task in [*tasks, *self.tasks]:
                task.cancel()
            await asyncio.gather(*tasks, *self.tasks, return_exceptions=True)  # a send to a closed page fails quietly

    def _hello(self) -> dict:
        s = self.studio
        with s.lock:
            text, version = s.page_text(), s.disk_version
        return {
            "type": "hello", "path": str(s.path) if s.path else None, "text": text, "disk": version,
            "scenes": s.scene_files() if s.picker else [], "sliders": SLIDERS, "schema": schema(),
            "overrides": [label for *_, label in s.overrides], "max_text_bytes": MAX_TEXT_BYTES,
        }  # fmt: skip

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def handle(self, m: dict) -> None:
        """One message from the page. Quick ones here; CPU and disk work in tasks over threads."""
        kind = m["type"]
        bad = unencodable(m["text"], self.studio.source()) if "text" in m else None
        if bad is not None:  # refused as one line; the session goes on
            if kind == "render":
                self.send({"type": "render_error", "rev": m["rev"], "message": str(bad)})
            else:
                self.error(f"not saved: {bad}" if kind == "save" else bad, m["rev"] if kind != "save" else None,
                           action="save" if kind == "save" else None)  # fmt: skip
            return
        if kind == "edit":  # only the newest text is compiled: typing never queues behind itself
            self.latest = (m["rev"], m["text"])
            self._move(m["index"], urgent=False)
            self.edited.set()
        elif kind in ("seek", "at", "need"):
            if kind == "need":
                self.sent.discard(m["index"])
            self._move(m["index"], urgent=kind != "at")
        elif kind == "cancel":
            if not self.studio.cancel_render():
                self.send({"type": "notice", "message": "no render is running"})
        else:
            self._spawn({"set": self.set_key, "save": self.save, "render": self.render, "open": self.open}[kind](m))

    def _move(self, index: int, urgent: bool) -> None:
        c = self.compiled
        self.position = min(max(index, 0), c.count - 1) if c else max(index, 0)
        if c is not None:
            window = window_of(c.count, c.preview.width, c.preview.height)
            self.sent = {i for i in self.sent if in_window(i, self.position, c.count, window)}  # the page let go of the rest
        self.urgent = self.urgent or urgent
        self.wake.set()
        if self.urgent:
            self.head.set()

    async def _editor(self) -> None:
        """Compile (and prepare) the newest text the page sent; answer with its revision."""
        while True:
            await self.edited.wait()
            self.edited.clear()
            rev, text = self.latest
            try:
                compiled = await asyncio.to_thread(self.studio.compile, text)
                if self.compiled is not None and compiled.key != self.compiled.key:
                    self._abandon()  # the frames of the text replaced stop at their next band
                await asyncio.to_thread(self._prepare, compiled)
            except Exception as e:  # noqa: BLE001 - a bad scene, a device that is not there, memory: one line
                self.error(e, rev)
                continue
            finally:
                self.replacing = False
                self.wake.set()
                self.head.set()
            self.rev, self.failed = rev, False
            if self.compiled is None or compiled.key != self.compiled.key:
                self.sent, self.urgent = set(), True
            self.compiled = compiled
            self.send({**compiled.info(), "rev": rev})
            signals = compiled.signals()
            key = None if signals is None else signals["key"]
            if key != self.signals_key:  # only when they change: not with every keystroke
                self.signals_key = key
                self.send({"type": "signals", "names": []} if signals is None else signals)
            self._move(self.position, urgent=self.urgent)

    def _abandon(self) -> None:
        self.cancel.set()
        self.cancel = threading.Event()
        self.replacing = True

    def _prepare(self, compiled: Compiled) -> Compiled:
        self.studio.prepare(compiled)
        track = compiled.soundtrack()
        if track is not None:
            self.studio.soundtracks.put(track.sha256, Path(track.path))
            compiled.signals()
        return compiled

    async def set_key(self, m: dict) -> None:
        """A slider whose key is missing from the page's text: the text with it added, as a patch of revision rev."""
        rev, text, key = m["rev"], m["text"], m["key"]
        try:
            compiled = await asyncio.to_thread(self.studio.compile, text)
        except SceneError:
            compiled = None  # a text being fixed: the key can still be added
        if compiled is not None and key in compiled.animated():
            self.error(f"{key} is animated (animate.{key}): change its keyframes in the text; the slider edits nothing", rev)
            return
        try:
            new = await asyncio.to_thread(yamledit.set_key, text, key, m["value"])
        except ValueError as e:
            self.error(f"{key}: {e}", rev)
            return
        self.send({"type": "patch", "rev": rev, "key": key, **patch(text, new)})

    async def save(self, m: dict) -> None:
        async with self.in_order:
            await self._save(m)

    async def _save(self, m: dict) -> None:
        studio = self.studio
        try:
            changed = await asyncio.to_thread(studio.disk_changed)  # another editor first: then refused
            if changed is not None:
                studio.broadcast(changed)
            path, version = await asyncio.to_thread(studio.save, m["text"], m["base"])
        except Exception as e:  # noqa: BLE001 - too large, refused, the disk: one line
            self.error(e if str(e).startswith("not saved") else f"not saved: {one_line(e)}", action="save")
            return
        self.send({"type": "saved", "rev": m["rev"], "path": str(path), "disk": version})
        studio.broadcast({"type": "disk", "path": str(path), "text": lf(m["text"]), "disk": version}, but=self)

    async def render(self, m: dict) -> None:
        async with self.in_order:  # a page's render requests are answered in the order sent
            try:
                compiled = await asyncio.to_thread(self.studio.compile, m["text"])
                self.studio.start_render(compiled.scene)
            except Exception as e:  # noqa: BLE001 - a bad scene or output, one running already
                self.send({"type": "render_error", "rev": m["rev"], "message": one_line(e)})

    async def open(self, m: dict) -> None:
        try:
            await asyncio.to_thread(self.studio.open, m["name"])
        except ValueError as e:
            self.send({"type": "notice", "message": str(e)})
            return
        s = self.studio
        s.broadcast({"type": "opened", "path": str(s.path), "text": s.page_text(), "disk": s.disk_version})

    def _next(self, compiled: Compiled) -> int | None:
        """The frame nearest the playhead (ahead first, wrapping) in the page's window that it
        does not have yet and that is not being rendered."""
        count, busy = compiled.count, self.busy
        window = window_of(count, compiled.preview.width, compiled.preview.height)
        back = 0 if window >= count else window // 4
        for k in range(min(window, count) - back):
            i = (self.position + k) % count
            if i not in self.sent and (compiled.key, i) not in busy:
                return i
        for k in range(1, back + 1):
            i = (self.position - k) % count
            if i not in self.sent and (compiled.key, i) not in busy:
                return i
        return None

    async def _playhead(self) -> None:
        """The frame under the playhead after an edit or a seek, at once: in its own thread,
        never behind a frame ahead that is being rendered."""
        while True:
            compiled, index = self.compiled, None
            if self.urgent and compiled is not None and not self.failed and not self.replacing:
                self.urgent = False
                if self.position not in self.sent and (compiled.key, self.position) not in self.busy:
                    index = self.position
            if index is None:
                self.head.clear()
                await self.head.wait()
                continue
            await self._deliver(compiled, index, self.studio.pools.playhead)

    async def _feeder(self) -> None:
        """The rest of the window, nearest the playhead first."""
        while True:
            compiled = self.compiled
            index = self._next(compiled) if compiled and not self.failed and not self.replacing else None
            if index is None:
                self.wake.clear()
                await self.wake.wait()
                continue
            await self._deliver(compiled, index, self.studio.pools.ahead)
            while self.outbox.qsize() > 4:  # let the page keep up
                await asyncio.sleep(0.005)

    async def _deliver(self, compiled: Compiled, index: int, pool) -> None:
        job, cancel = (compiled.key, index), self.cancel
        self.busy.add(job)
        try:
            png = self.studio.frames.get(job)
            if png is None:
                png = await asyncio.get_running_loop().run_in_executor(pool, self.studio.frame_png, compiled, index, cancel)
        except Cancelled:  # the text was replaced: nothing to say
            return
        except Exception as e:  # noqa: BLE001 - memory, a device lost: the page says so; the next edit tries again
            if compiled is self.compiled and not self.failed:
                self.failed = True
                self.error(e, self.rev)
            return
        finally:
            self.busy.discard(job)
        if compiled is self.compiled and index not in self.sent:
            self.sent.add(index)
            header = json.dumps({"key": compiled.key, "index": index}).encode()
            self.outbox.put_nowait(len(header).to_bytes(4, "big") + header + png)
            self.wake.set()

    async def _sender(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, bytes):
                await self.ws.send_bytes(item)
            else:
                await self.ws.send_text(json.dumps(item))
