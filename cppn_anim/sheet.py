"""Contact sheets: labelled grids of stills, to compare seeds and settings side by side.

Labels and titles are drawn in any script (fonts.py: system fonts, per-glyph fallback)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from . import fonts

BACKGROUND = (18, 18, 18)
INK = (230, 230, 230)
GAP = 6
LABEL_HEIGHT = 18


@dataclass(frozen=True)
class Cell:
    image: np.ndarray  # (h, w, 3) uint8, any size: shown scaled to the grid's cell size
    label: str


def _font() -> fonts.Font:
    """The sheet's font: the system's sans-serif with per-glyph fallback (labels in any script)."""
    return fonts.font(12)


def text_width(text: str) -> float:
    """How many pixels wide `text` is drawn in the sheet's font."""
    return _font().length(text)


def title_lines(title: str, width: float) -> list[str]:
    """The title broken at spaces into lines at most `width` pixels wide (a longer word gets a line of its own)."""
    lines: list[str] = []
    for word in title.split():
        if lines and text_width(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def compose(cells: list[list[Cell | None]], cell_size: tuple[int, int], row_labels: list[str] | None = None, title: str = "") -> Image.Image:
    """A grid of cells (rows of columns), each with its label below, optional row labels at the left.

    The title wraps onto as many lines as a narrow sheet needs (`explore --cell 64`); a
    word wider than the grid widens the sheet, so the title is always shown whole.
    """
    cw, ch = cell_size
    rows, cols = len(cells), max(len(r) for r in cells)
    font = _font()
    left = GAP + (max(font.length(t) for t in row_labels) + GAP if row_labels else 0)
    grid_width = int(left + cols * (cw + GAP))
    lines = title_lines(title, grid_width - 2 * GAP)
    top = GAP + LABEL_HEIGHT * len(lines)
    width = max([grid_width] + [int(text_width(line)) + 1 + 2 * GAP for line in lines])
    height = int(top + rows * (ch + LABEL_HEIGHT + GAP))
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, line in enumerate(lines):
        font.draw(draw, (GAP, GAP // 2 + i * LABEL_HEIGHT), line, fill=INK)
    for r, row in enumerate(cells):
        y = int(top + r * (ch + LABEL_HEIGHT + GAP))
        if row_labels:
            font.draw(draw, (GAP, y + ch // 2 - 6), row_labels[r], fill=INK)
        for c, cell in enumerate(row):
            if cell is None:
                continue
            x = int(left + c * (cw + GAP))
            picture = Image.fromarray(cell.image)
            pw, ph = picture.size
            if abs(pw / ph - cw / ch) < 0.02:  # same shape: scale (nearest, so a small render shows its pixels)
                picture = picture.resize((cw, ch), Image.NEAREST) if picture.size != (cw, ch) else picture
            else:  # another shape: fit inside the cell, centred
                picture.thumbnail((cw, ch))
            sheet.paste(picture, (x + (cw - picture.size[0]) // 2, y + (ch - picture.size[1]) // 2))
            label = cell.label
            while len(label) > 1 and font.length(label) > cw:  # down to "…" on a tiny cell
                label = label[:-2] + "…"
            font.draw(draw, (x, y + ch + 2), label, fill=INK)
    return sheet


def wrap(cells: list[Cell], columns: int) -> list[list[Cell]]:
    return [cells[i : i + columns] for i in range(0, len(cells), columns)]
