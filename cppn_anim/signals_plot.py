"""A picture of a scene's signals (`cppn-anim audio SCENE -o signals.png`): one row per
signal over the video's time, filled from 0 to the value, every beat marked by a thin
line across the rows (each 4th beat numbered at the top), seconds along the bottom.

Pillow only. Each pixel column shows the highest value the curve reaches within it, so
a short peak (a kick, a beat) is never lost between two columns however long the video.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import fonts

from .signals import Curves

BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
MUTED = (120, 120, 120)
GRID = (225, 225, 225)
BEAT = (230, 90, 90)
FILL = (120, 160, 230)
LINE = (30, 80, 180)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # Pillow's own TrueType font when FreeType is there
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _tick_step(duration: float, pixels: int) -> float:
    """A round number of seconds between time labels, at least ~70 px apart."""
    for step in (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if pixels * step / max(duration, 1e-9) >= 70:
            return step
    return 3600.0 * math.ceil(duration / 3600 / 10)


def _column_peaks(curves: Curves, name: str, width: int) -> np.ndarray:
    """The highest value of signal `name` within each of `width` columns over [0, duration]."""
    edges = np.linspace(0.0, curves.duration, width + 1)
    inner = curves.knots()
    per = max(4, int(math.ceil(8 * len(inner) / width)))
    fine = np.linspace(0.0, curves.duration, width * per + 1)
    t = np.unique(np.concatenate([fine, inner, np.nextafter(inner, -np.inf).clip(0)]))
    v = curves.at(t)[name]
    col = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, width - 1)
    peaks = np.zeros(width)
    np.maximum.at(peaks, col, v)
    return peaks


def plot(curves: Curves, labels: Mapping[str, str] | None = None, *, title: str = "",
         width: int = 1200, row_height: int = 72) -> Image.Image:
    """The signals of `curves` as an RGB image `width` pixels wide, one row per signal
    (labels: name -> a second line under the name, e.g. its definition), beats marked."""
    labels = labels or {}
    names = list(curves.names)
    font, small = _font(14), _font(11)
    left, right, top, bottom, gap = 170, 24, 46 if title else 26, 34, 10
    plot_w = max(50, width - left - right)
    height = top + bottom + max(1, len(names)) * (row_height + gap)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    dur = max(curves.duration, 1e-9)

    def x_of(t: float) -> float:
        return left + plot_w * t / dur

    if title:
        fonts.font(getattr(font, "size", 14)).draw(draw, (left, 8), title, fill=INK)  # a scene's name in any script
    # time grid and labels
    step = _tick_step(dur, plot_w)
    for k in range(int(dur / step + 1e-9) + 1):
        t = k * step
        x = x_of(t)
        draw.line([(x, top - 4), (x, height - bottom)], fill=GRID)
        text = f"{t:g} s"
        w = draw.textlength(text, font=small)
        draw.text((min(max(x - w / 2, left - w / 2), width - w - 2), height - bottom + 6), text, fill=MUTED, font=small)
    # beats, every 4th numbered
    for i, b in enumerate(curves.beats):
        x = x_of(float(b))
        draw.line([(x, top - 4), (x, height - bottom)], fill=BEAT if i % 4 == 0 else (240, 175, 175))
        if i % 4 == 0:
            draw.text((x + 2, top - 18), f"{i}b", fill=BEAT, font=small)
    # one row per signal
    for r, name in enumerate(names):
        y0 = top + r * (row_height + gap)
        y1 = y0 + row_height
        draw.rectangle([left, y0, left + plot_w, y1], outline=GRID)
        peaks = _column_peaks(curves, name, plot_w)
        for c, v in enumerate(peaks):
            if v > 0:
                y = y1 - v * row_height
                draw.line([(left + c, y1), (left + c, y)], fill=FILL)
        points = [(left + c, y1 - v * row_height) for c, v in enumerate(peaks)]
        draw.line(points, fill=LINE, width=1)
        draw.text((10, y0 + 4), name, fill=INK, font=font)
        if labels.get(name):
            draw.text((10, y0 + 24), labels[name], fill=MUTED, font=small)
        values = curves.at(curves.knots())[name]
        draw.text((10, y1 - 16), f"{values.min():.2f} .. {values.max():.2f}", fill=MUTED, font=small)
        draw.text((left - 14, y0 - 2), "1", fill=MUTED, font=small)
        draw.text((left - 14, y1 - 12), "0", fill=MUTED, font=small)
    return image
