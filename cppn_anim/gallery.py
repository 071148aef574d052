"""The previews page: every scene as a small looping GIF, on one HTML page, plus a contact sheet.

Every file here is written atomically (targets.write_bytes): an interruption leaves the old
page or the new one, never half of one."""
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


def copy_scene(scene_file: Path, folder: Path) -> str:
    """A copy of the scene beside index.html, written atomically; its file name."""
    targets.write_bytes(scene_file.read_bytes(), folder / scene_file.name)
    return scene_file.name


def write_index(folder: Path, entries: list[Entry], errors: list[str], sheet: str | None) -> Path:
    """out/previews/index.html: a card per scene with its GIF, name, duration, size and YAML."""
    cards = []
    for e in entries:
        cards.append(
            f"""  <figure>
    <img src="{_url(e.gif)}" alt="{_text(e.name)}" loading="lazy">
    <figcaption><b>{_text(e.name)}</b><br>{e.duration:g} s &middot; {e.size[0]}&times;{e.size[1]} &middot; {e.fps:g} fps
      &middot; <a href="{_url(e.yaml)}">{_text(e.yaml)}</a>
      <br><small>preview: {e.frames} frames, {e.bytes / 1024:.0f} KB</small></figcaption>
  </figure>"""
        )
    problems = "".join(f"<li><code>{_text(line)}</code></li>" for line in errors)
    body = "\n".join(cards)
    sheet_html = f'<h2>Contact sheet</h2><img class="sheet" src="{_url(sheet)}" alt="one still per scene">' if sheet else ""
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cppn-anim previews</title>
<style>
  body {{ background: #111; color: #ddd; font: 14px system-ui, sans-serif; margin: 2em; }}
  main {{ display: flex; flex-wrap: wrap; gap: 1.5em; }}
  figure {{ margin: 0; }}
  img {{ display: block; image-rendering: auto; }}
  a {{ color: #8cf; }}
  .sheet {{ max-width: 100%; }}
  .errors {{ color: #f88; }}
</style>
</head>
<body>
<h1>cppn-anim previews ({len(entries)} scenes)</h1>
{f'<ul class="errors">{problems}</ul>' if problems else ''}
<main>
{body}
</main>
{sheet_html}
</body>
</html>
"""
    return targets.write_bytes(page.encode("utf-8"), folder / "index.html")
