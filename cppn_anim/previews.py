"""Previews: a scene as a small looping GIF, and `cppn-anim previews`: a folder of scenes as a page.

`render_preview` makes the GIF that `render --preview`, `watch` and the notebook's
`Animation.preview()` show (core.preview_scene's size and fps, kept under a size limit
where fewer colours or frames allow); `previews` makes one per scene of a folder, with a
copy of each scene, an index page (gallery.py) and a contact sheet (sheet.py).
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
from .errors import OutputError, SceneError, UsageError
from .report import QUIET, Reporter, check
from .scene import Scene

PREVIEW_MAX_BYTES = 2 * 1024 * 1024  # a previews page stays light
STILL_SHEET_SIDE = 160  # long side of a cell of the previews page's contact sheet


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


@dataclass
class PreviewsResult:
    index: Path
    entries: list = field(default_factory=list)  # gallery.Entry
    errors: list[str] = field(default_factory=list)  # one line per refused scene


def previews(
    folder: str | Path, out: str | Path, overrides: Iterable = (), *, report: Reporter = QUIET, cancel: threading.Event | None = None, pin=None
) -> PreviewsResult:
    """Every *.yaml in folder -> out/NAME.gif (kept under 2 MB where 5 fps allows), a copy of the scene, index.html
    and contact-sheet.png. A bad scene is reported by report.error(line) and listed on the page;
    two scenes with one name are refused (UsageError) before anything is rendered; each
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
        raise OutputError(f"-o {out}: is the scenes folder {folder}: the previews and the copies of the scenes need a folder of their own, e.g. {folder / 'previews'}")
    targets.check_folder(out)
    with targets.claim(out):  # the whole folder, before any preview is rendered: a second `previews` into it exits at once
        return _write(loaded, errors, out, report, cancel, pin)


def _write(loaded: list, errors: list[str], out: Path, report: Reporter, cancel: threading.Event | None, pin) -> PreviewsResult:
    """Each scene's GIF and copy, then the contact sheet and the page (each file atomically)."""
    entries, stills = [], []
    for path, scene in loaded:
        check(cancel)
        began = time.perf_counter()
        gif = out / f"{scene.name}.gif"
        done = render_preview(scene, gif, max_bytes=PREVIEW_MAX_BYTES, cancel=cancel, pin=pin)
        size = gif.stat().st_size
        entries.append(gallery.Entry(scene.name, gif.name, gallery.copy_scene(path, out), scene.duration, tuple(scene.size), scene.fps, done.frames, size))
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
    index = gallery.write_index(out, entries, errors, sheet_name)
    return PreviewsResult(index, entries, errors)
