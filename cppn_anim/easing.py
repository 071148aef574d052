"""Easings: plain functions from progress u in [0, 1] to eased progress.

Every easing (each public function here, each name in EASINGS and what cubic_bezier and
steps return) takes a float or a numpy array and maps 0 to 0 and 1 to 1 exactly (the
formulas alone miss by a rounding error or, for expo and elastic, by 2**-11: `_pinned`
fixes the ends); step_start alone jumps to 1 as soon as u > 0. It also takes one exact progress, a
`Fraction` (a frame's, from trajectory.py), and then returns a float: the step
easings (step_start, step_end, steps(n)) decide their jumps on the exact value, so
a jump that falls exactly on a frame is taken on that frame, never one frame late
because of rounding; the smooth ones just use float(u). `back` and `elastic` overshoot
on purpose. The formulas are Robert Penner's set; `cubic_bezier` is solved the way
CSS solves it and `steps(n)` is CSS `steps(n, end)`.

`parse(name)` turns a name as written in a scene ("in_out_cubic",
"cubic_bezier(0.25, 0.1, 0.25, 1)", "steps(4)") into a function (the same one for the
same text), or raises ValueError with a message fit for the user. `reach(f)` is the range
of values an easing takes on [0, 1] (how far back and elastic overshoot), found once per
easing: what the scene's rules need to know whether a track can dip below 0.
"""
from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

Easing = Callable[[np.ndarray], np.ndarray]

_PI = math.pi


def _pinned(f: Easing, exact: bool = False) -> Easing:
    """Force exact ends: cos(pi/2) and 2**-10 are not exactly 0 in floating point.

    An exact progress (a Fraction) goes to f as it is when f decides on it (`exact`),
    else as a float.
    """

    def eased(u):
        if isinstance(u, Fraction):
            return 0.0 if u <= 0 else 1.0 if u >= 1 else float(f(u if exact else float(u)))
        u = np.asarray(u, dtype=np.float64)
        return np.where(u <= 0, 0.0, np.where(u >= 1, 1.0, f(u)))

    eased.__name__, eased.__doc__ = getattr(f, "__name__", "eased"), f.__doc__
    return eased


@_pinned
def linear(u):
    return float(u) if isinstance(u, Fraction) else np.asarray(u, dtype=np.float64)


def step_start(u):
    """1 as soon as u > 0. (`levels`: the only values a jumping easing takes; see `reach`.)"""
    if isinstance(u, Fraction):
        return 1.0 if u > 0 else 0.0
    u = np.asarray(u, dtype=np.float64)
    return np.where(u > 0, 1.0, 0.0)


def step_end(u):
    """0 until u reaches 1."""
    if isinstance(u, Fraction):
        return 1.0 if u >= 1 else 0.0
    u = np.asarray(u, dtype=np.float64)
    return np.where(u >= 1, 1.0, 0.0)


step_start.levels = step_end.levels = (0.0, 1.0)


@_pinned
def in_sine(u):
    return 1 - np.cos(u * _PI / 2)


@_pinned
def out_sine(u):
    return np.sin(u * _PI / 2)


@_pinned
def in_out_sine(u):
    return -(np.cos(_PI * u) - 1) / 2


def _power_in(p):
    return _pinned(lambda u: u**p)


def _power_out(p):
    return _pinned(lambda u: 1 - (1 - u) ** p)


def _power_in_out(p):
    return _pinned(lambda u: np.where(u < 0.5, 2 ** (p - 1) * u**p, 1 - (-2 * u + 2) ** p / 2))


@_pinned
def in_expo(u):
    return np.where(u <= 0, 0.0, 2.0 ** (10 * u - 10))


@_pinned
def out_expo(u):
    return np.where(u >= 1, 1.0, 1 - 2.0 ** (-10 * u))


@_pinned
def in_out_expo(u):
    return np.where(u < 0.5, 2.0 ** (20 * u - 10) / 2, (2 - 2.0 ** (-20 * u + 10)) / 2)


@_pinned
def in_circ(u):
    return 1 - np.sqrt(np.clip(1 - u * u, 0, None))


@_pinned
def out_circ(u):
    return np.sqrt(np.clip(1 - (u - 1) ** 2, 0, None))


@_pinned
def in_out_circ(u):
    a = (1 - np.sqrt(np.clip(1 - (2 * u) ** 2, 0, None))) / 2
    b = (np.sqrt(np.clip(1 - (-2 * u + 2) ** 2, 0, None)) + 1) / 2
    return np.where(u < 0.5, a, b)


_BACK = 1.70158


@_pinned
def in_back(u):
    return (_BACK + 1) * u**3 - _BACK * u**2


@_pinned
def out_back(u):
    v = u - 1
    return 1 + (_BACK + 1) * v**3 + _BACK * v**2


@_pinned
def in_out_back(u):
    c = _BACK * 1.525
    a = (2 * u) ** 2 * ((c + 1) * 2 * u - c) / 2
    b = ((2 * u - 2) ** 2 * ((c + 1) * (2 * u - 2) + c) + 2) / 2
    return np.where(u < 0.5, a, b)


@_pinned
def in_elastic(u):
    return -(2.0 ** (10 * u - 10)) * np.sin((10 * u - 10.75) * (2 * _PI / 3))


@_pinned
def out_elastic(u):
    return 2.0 ** (-10 * u) * np.sin((10 * u - 0.75) * (2 * _PI / 3)) + 1


@_pinned
def in_out_elastic(u):
    c = 2 * _PI / 4.5
    s = np.sin((20 * u - 11.125) * c)
    return np.where(u < 0.5, -(2.0 ** (20 * u - 10)) * s / 2, 2.0 ** (-20 * u + 10) * s / 2 + 1)


@_pinned
def out_bounce(u):
    n, d = 7.5625, 2.75
    return np.select(
        [u < 1 / d, u < 2 / d, u < 2.5 / d],
        [n * u * u, n * (u - 1.5 / d) ** 2 + 0.75, n * (u - 2.25 / d) ** 2 + 0.9375],
        n * (u - 2.625 / d) ** 2 + 0.984375,
    )


@_pinned
def in_bounce(u):
    return 1 - out_bounce(1 - u)


@_pinned
def in_out_bounce(u):
    return np.where(u < 0.5, (1 - out_bounce(1 - 2 * u)) / 2, (1 + out_bounce(2 * u - 1)) / 2)


def cubic_bezier(x1: float, y1: float, x2: float, y2: float) -> Easing:
    """CSS cubic-bezier: the curve from (0,0) to (1,1) with control points (x1,y1), (x2,y2).

    x(s) is monotone because x1, x2 lie in [0, 1], so bisection finds s for each u;
    60 halvings reach float64 resolution.
    """
    if not (0 <= x1 <= 1 and 0 <= x2 <= 1):
        raise ValueError("cubic_bezier needs x1 and x2 in [0, 1]")

    def bezier(s, p1, p2):
        return 3 * (1 - s) ** 2 * s * p1 + 3 * (1 - s) * s**2 * p2 + s**3

    def ease(u):
        u = np.asarray(u, dtype=np.float64)
        lo, hi = np.zeros_like(u), np.ones_like(u)
        for _ in range(60):
            mid = (lo + hi) / 2
            below = bezier(mid, x1, x2) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return bezier((lo + hi) / 2, y1, y2)

    return _pinned(ease)


def steps(n: int) -> Easing:
    """CSS steps(n, end): n equal jumps, each at the end of its step."""
    if n < 1:
        raise ValueError("steps(n) needs n >= 1")

    def ease(u):
        if isinstance(u, Fraction):  # exact: u = k/n lands on step k
            return float(Fraction(math.floor(u * n), n))
        return np.floor(np.asarray(u, dtype=np.float64) * n) / n

    eased = _pinned(ease, exact=True)
    if n <= MAX_LEVELS:  # more levels than this: `reach` treats it as the whole of [0, 1]
        eased.levels = tuple(k / n for k in range(n + 1))
    return eased


MAX_LEVELS = 4096


EASINGS: dict[str, Easing] = {"linear": linear, "step_start": step_start, "step_end": step_end}
for _family, (_in, _out, _in_out) in {
    "sine": (in_sine, out_sine, in_out_sine),
    "quad": (_power_in(2), _power_out(2), _power_in_out(2)),
    "cubic": (_power_in(3), _power_out(3), _power_in_out(3)),
    "quart": (_power_in(4), _power_out(4), _power_in_out(4)),
    "quint": (_power_in(5), _power_out(5), _power_in_out(5)),
    "expo": (in_expo, out_expo, in_out_expo),
    "circ": (in_circ, out_circ, in_out_circ),
    "back": (in_back, out_back, in_out_back),
    "elastic": (in_elastic, out_elastic, in_out_elastic),
    "bounce": (in_bounce, out_bounce, in_out_bounce),
}.items():
    EASINGS[f"in_{_family}"] = _in  # each already has exact ends
    EASINGS[f"out_{_family}"] = _out
    EASINGS[f"in_out_{_family}"] = _in_out

_NUMBER = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_BEZIER = re.compile(r"cubic_bezier\(" + ",".join([_NUMBER] * 4) + r"\)$")
_STEPS = re.compile(r"steps\(\s*(\d+)\s*\)$")


def parse(name: str) -> Easing:
    """The easing a scene names (the same function for the same text); ValueError with a
    suggestion when there is none."""
    return _parse(name.strip())


@functools.lru_cache(maxsize=1024)
def _parse(name: str) -> Easing:
    if name in EASINGS:
        return EASINGS[name]
    if name.startswith("cubic_bezier"):
        m = _BEZIER.match(name)
        if not m:
            quote = " (inside {...} or [...] YAML splits at commas: put it in quotes)" if ")" not in name else ""
            raise ValueError(f"malformed '{_short(name)}': write cubic_bezier(x1, y1, x2, y2) with four numbers{quote}")
        x1, y1, x2, y2 = (float(g) for g in m.groups())
        return cubic_bezier(x1, y1, x2, y2)
    if name.startswith("steps"):
        m = _STEPS.match(name)
        if not m or int(m.group(1)) < 1:
            raise ValueError(f"malformed '{_short(name)}': write steps(n) with a whole number n >= 1")
        return steps(int(m.group(1)))
    # people write CSS and JS spellings too: ease-in-out, easeInOutCubic, ease_in_out
    plain = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower().replace("-", "_")
    plain = re.sub(r"^ease_?", "", plain)
    close = [f"{plain}_sine"] if f"{plain}_sine" in EASINGS else []
    close = close or difflib.get_close_matches(plain, list(EASINGS), n=1, cutoff=0.6)
    close = close or difflib.get_close_matches(name, list(EASINGS), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "e.g. linear, in_out_sine, cubic_bezier(0.25, 0.1, 0.25, 1), steps(4)"
    raise ValueError(f"unknown easing '{_short(name)}' ({hint})")


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- how far an easing reaches

REACH_SAMPLES = 2049  # a first look at an easing on [0, 1]; each extreme is then refined


@dataclass(frozen=True)
class Reach:
    """The values an easing takes for u in [0, 1]: its lowest and highest (and where), and for an
    easing that jumps (step_start, step_end, steps(n)) the only values it takes (`levels`).
    `u_at(e)` is a progress where the easing takes the value e (for saying when)."""

    low: float
    low_u: float
    high: float
    high_u: float
    levels: tuple | None
    grid: np.ndarray
    values: np.ndarray

    def u_at(self, e: float) -> float:
        """The first progress u at which the easing reaches e (between two samples: interpolated)."""
        if e <= self.low:
            return self.low_u
        if e >= self.high:
            return self.high_u
        above = self.values >= e if self.values[0] < e else self.values <= e
        i = int(np.argmax(above))
        a, b = self.values[i - 1], self.values[i]
        return float(self.grid[i - 1] + (self.grid[i] - self.grid[i - 1]) * ((e - a) / (b - a) if b != a else 0.0))


@functools.lru_cache(maxsize=1024)
def reach(f: Easing) -> Reach:
    """How far the easing f goes on [0, 1]: sampled on a grid, each extreme refined by a
    golden-section search between its neighbours (exact to ~1e-12 for a smooth easing).
    Computed once per easing (parse gives the same function for the same text)."""
    grid = np.linspace(0.0, 1.0, REACH_SAMPLES)
    values = np.asarray(f(grid), dtype=np.float64)
    levels = getattr(f, "levels", None)
    if levels is not None:
        lo, hi = min(levels), max(levels)
        return Reach(lo, float(grid[int(np.argmax(values <= lo))]), hi, float(grid[int(np.argmax(values >= hi))]), levels, grid, values)
    i, j = int(np.argmin(values)), int(np.argmax(values))
    low_u, low = _refine(f, grid, i, 1.0)
    high_u, high = _refine(f, grid, j, -1.0)
    return Reach(min(low, float(values[i])), low_u, max(high, float(values[j])), high_u, None, grid, values)


def _refine(f: Easing, grid: np.ndarray, i: int, sign: float) -> tuple[float, float]:
    """(u, f(u)) of the extreme of f near grid[i]: the lowest for sign 1, the highest for -1."""
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    value = lambda u: sign * float(f(np.float64(u)))  # noqa: E731
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = value(c), value(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = value(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = value(d)
    u = float(grid[i])
    best = min((value(u), u), (fc, c), (fd, d))
    return best[1], sign * best[0]
