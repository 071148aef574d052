"""`cppn-anim explore`: a labelled contact sheet of stills, one per seed or per combination of values.

One axis (seeds, or one --vary key) makes a row; two make a grid. Every cell's scene is
validated before any cell is rendered, and each cell is a still as `cppn-anim still` draws
it (at most `cell` pixels on its long side, never larger than the scene).
"""
from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from . import core, sheet, targets
from .errors import UsageError
from .report import QUIET, Reporter, check


MIN_CELL = 16  # pixels: the long side of a contact-sheet cell; smaller shows nothing


@dataclass(frozen=True)
class Axis:
    """One direction of a contact sheet: a title and its choices (label, overrides)."""

    title: str
    choices: list  # [(label, [(key, value, label), ...])]


@dataclass(frozen=True)
class Explored:
    path: Path
    cells: int
    time: float  # the time every still shows (t clamped to the scene's duration)


def explore(
    path: str | Path,
    axes: list[Axis],
    overrides: Iterable = (),
    t: float = 0.0,
    cell: int = 192,
    out: str | Path | None = None,
    *,
    report: Reporter = QUIET,
    cancel: threading.Event | None = None,
    pin=None,
) -> Explored:
    """A labelled contact sheet (PNG) of stills at time t: one row (one axis) or a grid (two).

    Every cell's scene is validated before any is rendered. A time past the end shows the
    last moment (t = duration), with a warning and the sheet's title saying so.
    report.progress(1) per still rendered.
    """
    if not 1 <= len(axes) <= 2:
        raise UsageError("explore makes a row or a grid: one or two of --seeds / --vary")
    if not (math.isfinite(t) and t >= 0):
        raise UsageError(f"--time {t:g}: a time is 0 or more seconds")
    if cell < MIN_CELL:
        raise UsageError(f"--cell {cell}: a cell's long side is at least {MIN_CELL} pixels")
    if len(axes) == 2 and axes[0].title == axes[1].title:
        raise UsageError(f"{axes[0].title} is varied twice: give its values once, e.g. --vary {axes[0].title}=A,B")
    base = core.overrides_list(overrides)
    first = core.load(path, base)
    combos = [[c] for c in axes[0].choices] if len(axes) == 1 else [[r, c] for r in axes[0].choices for c in axes[1].choices]
    loaded = []
    for combo in combos:  # validate every cell before rendering any
        cell_scene = core.load(path, base + [o for _, os_ in combo for o in os_])
        loaded.append((", ".join(label for label, _ in combo), cell_scene))
    shown = min(t, first.duration)
    if shown != t:
        report.warn(f"--time {t:g} is past the end of {first.name} ({first.duration:g} s): the sheet shows t = {shown:g}")
    cell_size = tuple(core.fit(first.size, cell))
    core.check_named(out)
    target = Path(out) if out is not None else Path(f"out/{first.name}.explore.png")
    if target.suffix.lower() != ".png":
        raise UsageError(f"-o {target}: a sheet is a PNG; name it *.png")
    targets.check_file(target)
    with targets.claim(target):  # before any still is rendered: a busy target exits at once
        cells = _cells(loaded, axes, shown, cell_size, cancel, pin, report)
        if len(axes) == 1:
            grid, rows = sheet.wrap(cells, min(len(cells), 8 if axes[0].title == "seed" else 6)), None
        else:
            n = len(axes[1].choices)
            rows = [label for label, _ in axes[0].choices]
            grid = [[sheet.Cell(c.image, c.label.split(", ")[-1]) for c in cells[i : i + n]] for i in range(0, len(cells), n)]
        title = f"{first.name} at t={shown:g}s: " + " x ".join(axis.title for axis in axes)
        image = sheet.compose(grid, cell_size, row_labels=rows, title=title)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        check(cancel)
        targets.write_bytes(buffer.getvalue(), target, claimed=True)
    return Explored(target, len(cells), shown)


def _cells(loaded, axes, shown, cell_size, cancel, pin, report) -> list:
    """Each cell's still, in order (report.progress(1) per still)."""
    varies_size = any(k == "size" for axis in axes for _, os_ in axis.choices for k, *_ in os_)
    cells = []
    for label, cell_scene in loaded:
        size = cell_scene.size if varies_size else list(cell_size)
        check(cancel)
        cells.append(sheet.Cell(core.prepare(cell_scene, size, pin=pin).still(min(shown, cell_scene.duration), cancel=cancel), label))
        report.progress(1)
    return cells
