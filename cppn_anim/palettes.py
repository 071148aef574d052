"""Palettes: a colormap name from cmap's catalogue, or a list of hex colours -> a colour table.

cmap (a well-kept colormap library without dependencies) ships matplotlib's, colorcet's,
crameri's and other maps by name; a list of '#rrggbb' (or '#rgb') colours is spread evenly over [0, 1].
The network's one output channel is looked up in the table (network.lookup, render.py).
"""
from __future__ import annotations

import difflib

import numpy as np

TABLE_SIZE = 256  # entries sampled from a named map; lookups interpolate between them


def check_name(name: str) -> None:
    """ValueError with a 'did you mean' when cmap does not know the name."""
    import cmap

    try:
        cmap.Colormap(name)
    except Exception:  # cmap raises ValueError (or KeyError in some versions) for an unknown name
        names = sorted(set(cmap.Catalog().short_keys()))
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "e.g. magma, twilight, viridis, or a list of '#rrggbb' colours"
        raise ValueError(f"unknown palette '{name[:40]}' ({hint})") from None


def hex_rgb(text: str) -> tuple[float, float, float]:
    """'#rrggbb' or '#rgb' -> (r, g, b) in [0, 1]."""
    digits = text.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return tuple(int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def table(palette: str | list[str]) -> np.ndarray:
    """(N, 3) float64 colours in [0, 1], evenly spaced over [0, 1]."""
    if isinstance(palette, list):
        return np.array([hex_rgb(c) for c in palette], dtype=np.float64)
    import cmap

    return np.asarray(cmap.Colormap(palette).lut(TABLE_SIZE), dtype=np.float64)[:, :3]
