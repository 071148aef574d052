"""Previews: a scene as a small looping GIF, and `cppn-anim previews`: a folder of scenes as a page.

`render_preview` makes the GIF that `render --preview`, `watch` and the notebook's
`Animation.preview()` show (core.preview_scene's size and fps, kept under a size limit
where fewer colours or frames allow); `previews` makes one per scene of a folder, with a
copy of each scene, an index page (gallery.py) and a contact sheet (sheet.py).

The page is made for the web: all of it (GIFs, sheet, scene copies) stays under
PAGE_MAX_BYTES, so each GIF gets an equal share (`web_budget`) and `web_gif` sizes it to
fit: from a first guess of what a GIF of that many pixels and frames weighs, it lowers the
frame rate (down to WEB_MIN_FPS), then the size (down to WEB_MIN_SIDE), then shows only the
scene's first seconds (the page says so), measures, and tries again when the guess was short.
"""
from __future__ import annotations

import io
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from . import core, gallery, scene as scenes, sheet, targets
from .errors import OutputError, SceneError, UsageError, option
from .report import QUIET, Reporter, check
from .scene import Scene

PREVIEW_MAX_BYTES = 2 * 1024 * 1024  # a preview GIF (render --preview, a notebook) stays light
STILL_SHEET_SIDE = 160  # long side of a cell of the previews page's contact sheet
# The previews page (`cppn-anim previews`, `make previews`): the whole folder stays under
# PAGE_MAX_BYTES, whatever the number of scenes; each GIF gets an equal share of it.
PAGE_MAX_BYTES = 6_000_000
PAGE_RESERVE = 400_000  # the contact sheet, the page and the scene copies
WEB_LONG_SIDE, WEB_MAX_FPS, WEB_COLORS = 256, 12, 64  # a page GIF at most this (64 colours, dithered)
WEB_MIN_SIDE, WEB_MIN_FPS = 128, 10  # smaller or choppier than this only when nothing else fits
WEB_BYTES_PER_SAMPLE = 0.35  # a first guess: bytes per pixel per frame of a dithered 64-colour CPPN GIF (0.2 to 0.55 measured)
WEB_TRIES = 3


def default_preview_path(scene: Scene) -> Path:
    return Path(f"out/{scene.name}.preview.gif")


def render_preview(
    scene: Scene, path: str | Path | None = None, max_bytes: int | None = None, *, report: Reporter = QUIET, cancel: threading.Event | None = None, pin=None
) -> core.Rendered:
    """The scene as a small looping GIF (preview_scene's size and fps) at path (default out/NAME.preview.gif).

    With max_bytes, a GIF over it is made again with fewer colours (down to 64), then
    fewer frames per second, until it fits or reaches 5 fps (then it is kept as it is).
    """
    small = core.preview_scene(scene)
    path = Path(path) if path is not None else default_preview_path(scene)
    colors = 256
    done = core.render(small, path, "gif", colors=colors, report=report, cancel=cancel, pin=pin)
    while max_bytes is not None and path.stat().st_size > max_bytes and small.fps > 5:
        if colors > 64:  # smooth gradients cost GIF's LZW dearly: fewer colours first,
            colors //= 2
        else:  # then fewer frames per second
            small = scenes.changed(small, fps=max(5.0, round(small.fps * 0.8, 2)))
        done = core.render(small, path, "gif", colors=colors, cancel=cancel, pin=pin)
    return done


def preview_gif(scene: Scene, max_bytes: int | None = PREVIEW_MAX_BYTES, *, cancel: threading.Event | None = None, pin=None) -> bytes:
    """The preview GIF's bytes (a notebook or a web page shows them inline)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cppn-anim-preview-") as tmp:
        path = Path(tmp) / f"{scene.name}.gif"
        render_preview(scene, path, max_bytes=max_bytes, cancel=cancel, pin=pin)
        return path.read_bytes()


def web_budget(scenes: int) -> int:
    """Bytes each of `scenes` GIFs may take on the previews page (never more than a preview's)."""
    return max(1, min(PREVIEW_MAX_BYTES, (PAGE_MAX_BYTES - PAGE_RESERVE) // max(1, scenes)))


def web_settings(size, fps: float, duration: float, budget: int, bytes_per_sample: float) -> tuple[list[int], float, float]:
    """(size, fps, seconds shown) for a page GIF of a `size` x `duration` s scene at `fps`
    expected to weigh at most 0.9 * budget, given what one pixel of one frame weighs: the
    frame rate goes first (down to WEB_MIN_FPS), then the size (down to WEB_MIN_SIDE), then
    what is shown: the scene's first seconds (at least one frame), never a choppier rate, so
    the motion a viewer sees is the scene's own. Never larger, faster or longer than asked."""
    side = max(size)
    w, h = size

    def weight(s: float, f: float, seconds: float) -> float:
        scale = min(1.0, s / side)
        return bytes_per_sample * (w * scale) * (h * scale) * max(1.0, seconds * f)

    target = 0.9 * budget
    f = fps
    if weight(side, f, duration) > target:
        f = max(min(fps, WEB_MIN_FPS), fps * target / weight(side, fps, duration))
    s = float(side)
    if weight(s, f, duration) > target:
        s = max(min(side, WEB_MIN_SIDE), side * (target / weight(side, f, duration)) ** 0.5)
    f = round(f, 2) if f >= 1 else f  # a very slow scene keeps its rate exactly
    seconds = duration
    if weight(s, f, duration) > target:  # whole frames only: the first of them
        seconds = min(duration, max(1, int(duration * f * target / weight(s, f, duration))) / f)
    return core.fit(size, int(s)), f, seconds


def web_gif(scene: Scene, path: Path, budget: int, *, cancel: threading.Event | None = None, pin=None) -> core.Rendered:
    """The scene as a page GIF at path, at most WEB_LONG_SIDE px, WEB_MAX_FPS and WEB_COLORS,
    made smaller (frame rate, then size, then only its first seconds: web_settings) until
    it weighs at most `budget` bytes (or the smallest settings are reached)."""
    small = core.preview_scene(scene, WEB_LONG_SIDE, WEB_MAX_FPS)
    per_sample = WEB_BYTES_PER_SAMPLE
    done = None
    for _ in range(WEB_TRIES):
        size, fps, seconds = web_settings(small.size, small.fps, float(scene.duration), budget, per_sample)
        attempt = scenes.changed(small, size=size, fps=fps)
        stop = max(1, min(attempt.frame_count, round(seconds * fps))) if seconds < scene.duration else None
        if done is not None and (size, fps, stop or attempt.frame_count) == ([done.width, done.height], done.fps, done.frames):
            break  # nothing smaller to try
        done = core.render(attempt, path, "gif", 0, stop, colors=WEB_COLORS, cancel=cancel, pin=pin)
        weight = path.stat().st_size
        if weight <= budget:
            break
        per_sample = weight / (size[0] * size[1] * max(1, done.frames))  # measured: try again with it
    return done


@dataclass
class PreviewsResult:
    index: Path
    entries: list = field(default_factory=list)  # gallery.Entry
    errors: list[str] = field(default_factory=list)  # one line per refused scene


def previews(
    folder: str | Path, out: str | Path, overrides: Iterable = (), *, report: Reporter = QUIET, cancel: threading.Event | None = None, pin=None
) -> PreviewsResult:
    """Every *.yaml in folder -> out/NAME.gif, a copy of the scene, index.html and
    contact-sheet.png, all together under PAGE_MAX_BYTES (each GIF gets web_budget's
    share). A bad scene is reported by report.error(line) and listed on the page; two
    scenes with one name are refused (UsageError) before anything is rendered; each
    preview written is a report.note(line)."""
    folder, out = Path(folder), Path(out)
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise UsageError(f"{folder}: no *.yaml scenes there")
    loaded, errors = [], []
    for path in files:
        try:
            loaded.append((path, core.load(path, overrides)))
        except SceneError as e:
            report.error(str(e))
            errors.append(str(e))
    named: dict[str, Path] = {}
    for path, scene in loaded:
        if scene.name in named:
            raise UsageError(
                f"{named[scene.name]} and {path} are both named '{scene.name}': their previews would be one file; rename one (name: ...)"
            )
        named[scene.name] = path
    if out.is_dir() and os.path.samefile(out, folder):
        raise OutputError(f"{option('path')} {out}: is the scenes folder {folder}: the previews and the copies of the scenes need a folder of their own, e.g. {folder / 'previews'}")
    targets.check_folder(out)
    with targets.claim(out):  # the whole folder, before any preview is rendered: a second `previews` into it exits at once
        return _write(loaded, errors, out, report, cancel, pin, folder)


def _write(loaded: list, errors: list[str], out: Path, report: Reporter, cancel: threading.Event | None, pin, source: Path) -> PreviewsResult:
    """Each scene's GIF and copy, then the contact sheet and the page (each file atomically)."""
    entries, stills = [], []
    budget = web_budget(len(loaded))
    for path, scene in loaded:
        check(cancel)
        began = time.perf_counter()
        gif = out / f"{scene.name}.gif"
        done = web_gif(scene, gif, budget, cancel=cancel, pin=pin)
        size = gif.stat().st_size
        shown = done.frames / done.fps  # the first seconds only, where the whole would not fit the page
        entries.append(
            gallery.Entry(
                scene.name, gif.name, gallery.copy_scene(path, out, scene.audio.path if scene.audio else None), scene.duration, tuple(scene.size), scene.fps, done.frames, size,
                (done.width, done.height), done.fps, shown if shown < float(scene.duration) - 1e-9 else None,
            )
        )
        stills.append(sheet.Cell(core.still(scene, scene.duration / 2, core.fit(scene.size, STILL_SHEET_SIDE), cancel=cancel, pin=pin), scene.name))
        report.note(f"{gif} ({done.frames} frames, {size / 1024:.0f} KB) in {time.perf_counter() - began:.1f} s")
    sheet_name = None
    if stills:
        sheet_name = "contact-sheet.png"
        side = (STILL_SHEET_SIDE, STILL_SHEET_SIDE)
        image = sheet.compose(sheet.wrap(stills, 4), side, title="one still per scene, at half its duration")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        check(cancel)
        targets.write_bytes(buffer.getvalue(), out / sheet_name)
    check(cancel)
    index = gallery.write_index(out, entries, errors, sheet_name, source=str(source))
    return PreviewsResult(index, entries, errors)
