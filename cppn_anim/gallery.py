"""The previews page: every scene as a small looping GIF in an even grid, on one HTML page,
with a title, a line saying what the page is, and a contact sheet.

Names are shown in any script (the page is UTF-8 and its font list ends in fonts with wide
coverage); file names in links are URL-quoted, text is HTML-escaped. Every file here is
written atomically (targets.write_bytes): an interruption leaves the old page or the new
one, never half of one.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from . import targets
from .errors import one_line


def _text(text: str) -> str:
    """User text (a scene's name, a file name, an error line) as HTML text: escaped, on one
    line, a byte of a name that is not UTF-8 shown as \\xNN."""
    return html.escape(one_line(text))


def _url(name: str) -> str:
    """A file name beside index.html as a link: its bytes percent-encoded (#, ?, % and a name
    that is not UTF-8 stay part of the name)."""
    return html.escape(quote(os.fsencode(name)))


CELL = 256  # CSS pixels of a grid cell's picture box (a GIF is centred in it, never cropped)


@dataclass(frozen=True)
class Entry:
    name: str
    gif: str  # file name beside index.html
    yaml: str  # copy of the scene beside index.html
    duration: float
    size: tuple[int, int]
    fps: float
    frames: int
    bytes: int
    preview_size: tuple[int, int] | None = None  # the GIF's own size (None: unknown)
    preview_fps: float | None = None
    preview_seconds: float | None = None  # the GIF shows only the scene's first seconds (None: all of it)


def copy_scene(scene_file: Path, folder: Path, audio: str | None = None) -> str:
    """A copy of the scene beside index.html, written atomically; its file name. audio: the
    scene's audio.path as written (relative to its folder, never above it): the soundtrack
    is copied to the same place under `folder`, so the copy renders as the original does."""
    targets.write_bytes(scene_file.read_bytes(), folder / scene_file.name)
    if audio is not None and not Path(audio).is_absolute():
        targets.write_bytes((scene_file.parent / audio).read_bytes(), folder / audio)
    return scene_file.name


def _card(e: Entry) -> str:
    name, gif, yaml = _text(e.name), _url(e.gif), _url(e.yaml)
    size = f' width="{e.preview_size[0]}" height="{e.preview_size[1]}"' if e.preview_size else ""
    gif_fps = f", {e.preview_fps:g} fps" if e.preview_fps else ""
    first = f"the first {e.preview_seconds:.3g} s, " if e.preview_seconds is not None else ""
    return f"""  <figure>
    <div class="box"><img src="{gif}" alt="{name}"{size} loading="lazy"></div>
    <figcaption><b>{name}</b> &middot; <a href="{yaml}">{_text(e.yaml)}</a><br>
      {e.duration:g} s &middot; {e.size[0]}&times;{e.size[1]} &middot; {e.fps:g} fps<br>
      <small>preview: {first}{e.frames} frames{gif_fps}, {e.bytes / 1024:.0f} KB</small></figcaption>
  </figure>"""


def write_index(folder: Path, entries: list[Entry], errors: list[str], sheet: str | None, source: str = "scenes") -> Path:
    """folder/index.html: a title, one line saying what the page is, an even grid of cards
    (each scene's GIF, name, duration, size and YAML), the refused scenes, the contact sheet."""
    total = sum(e.bytes for e in entries)
    cards = "\n".join(_card(e) for e in entries)
    problems = "".join(f"<li><code>{_text(line)}</code></li>" for line in errors)
    refused = f'<h2>Refused</h2>\n<ul class="errors">{problems}</ul>' if problems else ""
    sheet_html = (
        f'<h2>Contact sheet</h2>\n<img class="sheet" src="{_url(sheet)}" alt="one still per scene">'
        if sheet
        else ""
    )
    count = f"{len(entries)} scene{'s' if len(entries) != 1 else ''}"
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cppn-anim previews</title>
<style>
  body {{ background: #111; color: #ddd; margin: 2em;
         font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "Noto Sans", "DejaVu Sans", "Droid Sans Fallback",
               "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; }}
  h1 {{ margin: 0 0 .2em; font-size: 1.6em; }}
  .intro {{ margin: 0 0 1.5em; color: #aaa; }}
  main {{ display: grid; grid-template-columns: repeat(auto-fill, {CELL}px); gap: 1.5em; }}
  figure {{ margin: 0; width: {CELL}px; }}
  .box {{ width: {CELL}px; height: {CELL}px; display: flex; align-items: center; justify-content: center; background: #000; }}
  .box img {{ width: 100%; height: 100%; object-fit: contain; }}
  figcaption {{ margin-top: .4em; overflow-wrap: anywhere; }}
  small {{ color: #999; }}
  a {{ color: #8cf; }}
  .sheet {{ max-width: 100%; }}
  .errors {{ color: #f88; }}
</style>
</head>
<body>
<h1>cppn-anim previews</h1>
<p class="intro">Every scene in <code>{_text(source)}</code> as a small looping GIF ({count}, {total / 1e6:.1f} MB of GIFs):
click a scene's file name for its YAML, and render it full size with <code>cppn-anim render</code>.</p>
{refused}
<main>
{cards}
</main>
{sheet_html}
</body>
</html>
"""
    return targets.write_bytes(page.encode("utf-8"), folder / "index.html")
