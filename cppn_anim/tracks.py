"""Keyframe tracks: a value (a vector of numbers) that moves through keyframes over exact time.

One `Track` serves the latent trajectory (trajectory.py) and every animated parameter
(`animate`), and the scene's own rules (scene.py refuses a positive track that overshoots
to 0): keyframes (time, value), an easing into each keyframe, an interpolation (step,
linear, slerp, cubic), and optional looping back to the first keyframe at `duration`.

Time is exact: a frame's time is the fraction i / fps and keyframe times are the decimals
written in the scene (`exact`), so which segment a time falls in, its progress u through
it, and a step easing's jump are decided without rounding; a keyframe or step boundary
that falls exactly on a frame is taken on that frame. Floats begin only with the eased progress.
"""
from __future__ import annotations

import bisect
from fractions import Fraction

import numpy as np

from . import easing

PARALLEL_SIN = 1e-6  # below this sin(angle), slerp falls back to linear


def exact(x) -> Fraction:
    """The number a scene means by x, as an exact fraction: the decimal as written.

    YAML's 0.1 is a binary float a little above 1/10. Timing decisions (which segment a
    frame is in, whether a step has been reached) are made on exact fractions instead:
    a float stands for the shortest decimal that reads back as it (Python's repr), which
    is the decimal written in the file for any number of up to 15 digits, so `at: 0.1`
    at 10 fps is exactly frame 1, and 29.97 fps is 2997/100. Ints and Fractions stay.
    """
    if isinstance(x, (int, Fraction)):
        return Fraction(x)
    return Fraction(repr(float(x)))


class Track:
    """A value (a vector of D numbers) that moves through keyframes over time."""

    def __init__(self, times, values, eases, interpolation: str, loop: bool, duration: float):
        self.exact_times = [exact(t) for t in times]  # decide segments and progress
        self.end = exact(duration)
        self.times = np.asarray([float(t) for t in self.exact_times], dtype=np.float64)  # (K,) for tangents
        self.values = np.asarray(values, dtype=np.float64).reshape(len(self.times), -1)  # (K, D)
        self.eases = list(eases)  # eases[k]: the easing INTO keyframe k (eases[0]: the loop back)
        self.interpolation, self.loop, self.duration = interpolation, loop, float(duration)
        if interpolation == "cubic":
            self.tangents = self._tangents()

    @classmethod
    def from_spec(cls, track, values, duration: float) -> "Track":
        """From a scene trajectory or animate track (keyframes with `at` and `ease`)."""
        default = easing.parse(track.ease)
        eases = [easing.parse(k.ease) if k.ease else default for k in track.keyframes]
        return cls([k.at for k in track.keyframes], values, eases, track.interpolation, track.loop, duration)

    def _tangents(self) -> np.ndarray:
        """Time-aware Catmull-Rom tangents m_k = (v[k+1] - v[k-1]) / (t[k+1] - t[k-1])."""
        t, v, n = self.times, self.values, len(self.times)
        if n == 1:
            return np.zeros_like(v)
        if self.loop:  # cyclic neighbours: keyframe 0 comes back at `duration`
            t_prev = np.concatenate([[t[-1] - self.duration], t[:-1]])
            t_next = np.concatenate([t[1:], [t[0] + self.duration]])
            v_prev = np.concatenate([v[-1:], v[:-1]])
            v_next = np.concatenate([v[1:], v[:1]])
            return (v_next - v_prev) / (t_next - t_prev)[:, None]
        m = np.empty_like(v)
        m[1:-1] = (v[2:] - v[:-2]) / (t[2:] - t[:-2])[:, None]
        m[0] = (v[1] - v[0]) / (t[1] - t[0])
        m[-1] = (v[-1] - v[-2]) / (t[-1] - t[-2])
        return m

    def at(self, t) -> np.ndarray:
        """The value at time t (a Fraction, or a number read as `exact` reads it): a keyframe's own value at its time."""
        t = exact(t)
        times, n = self.exact_times, len(self.exact_times)
        k = bisect.bisect_left(times, t)  # times[k-1] < t <= times[k]
        if k < n and times[k] == t:
            return self.values[k].copy()
        if k == 0:
            return self.values[0].copy()
        if k == n:  # after the last keyframe
            if not self.loop:
                return self.values[-1].copy()
            t0, t1, a, b, ease = times[-1], self.end, n - 1, 0, self.eases[0]
        else:
            t0, t1, a, b, ease = times[k - 1], times[k], k - 1, k, self.eases[k]
        if self.interpolation == "step":  # holds the previous value until the keyframe's own time,
            return self.values[b if t >= t1 else a].copy()  # whatever the easing (out_elastic is 1.0 early)
        u = (t - t0) / (t1 - t0)  # exact: a step at u = j/n is reached exactly when it should be
        return self._between(a, b, float(ease(u)), float(t1 - t0))

    def _between(self, a: int, b: int, e: float, span: float) -> np.ndarray:
        va, vb = self.values[a], self.values[b]
        if e == 0:
            return va.copy()
        if e == 1:
            return vb.copy()
        kind = self.interpolation
        if kind == "slerp":
            return slerp(va, vb, e)
        if kind == "cubic":
            return hermite(va, vb, self.tangents[a] * span, self.tangents[b] * span, e)
        return va + (vb - va) * e


    def lowest(self) -> tuple[float, float]:
        """(the lowest value, a time in seconds where it is reached) of a one-number track over
        the whole video, exactly rather than sampled: in each segment the value depends on t
        only through the eased progress e, so its lowest is the lowest of the interpolation
        over the values e can take (easing.reach: [low, high], or a jumping easing's levels):
        at an end of that range, or for cubic where the Hermite polynomial turns inside it.
        A keyframe's own value is counted too. Time linear in the number of keyframes, and
        independent of fps: the verdict never depends on which frames are rendered."""
        values = self.values[:, 0]
        k = int(np.argmin(values))
        best = (float(values[k]), float(self.exact_times[k]))
        if self.interpolation == "step":  # holds keyframe values only
            return best
        n = len(self.exact_times)
        segments = [(a, a + 1, self.exact_times[a], self.exact_times[a + 1], self.eases[a + 1]) for a in range(n - 1)]
        if self.loop:
            segments.append((n - 1, 0, self.exact_times[-1], self.end, self.eases[0]))
        for a, b, t0, t1, ease in segments:
            span = float(t1 - t0)
            low, e = self._segment_lowest(a, b, easing.reach(ease), span)
            if low < best[0]:
                best = (low, float(t0) + easing.reach(ease).u_at(e) * span)
        return best

    def _segment_lowest(self, a: int, b: int, reach, span: float) -> tuple[float, float]:
        """(lowest value, the eased progress e where it is) of the one-number segment a -> b."""
        va, vb = float(self.values[a, 0]), float(self.values[b, 0])
        if reach.levels is not None:
            candidates = list(reach.levels)
        else:
            candidates = [reach.low, reach.high]
        if self.interpolation == "cubic":
            ma, mb = float(self.tangents[a, 0]) * span, float(self.tangents[b, 0]) * span
            # h(s) = A s^3 + B s^2 + ma s + va; h'(s) = 3A s^2 + 2B s + ma
            A, B = 2 * va - 2 * vb + ma + mb, -3 * va + 3 * vb - 2 * ma - mb
            if reach.levels is None:
                turns = np.roots([3 * A, 2 * B, ma]) if (A or B) else np.array([])
                candidates += [float(r.real) for r in np.atleast_1d(turns) if abs(r.imag) < 1e-12 and reach.low <= r.real <= reach.high]

            def value(e):
                return float(hermite(np.array([va]), np.array([vb]), np.array([ma]), np.array([mb]), e)[0])
        else:  # linear, and slerp of one number (never on a sphere: it falls back to linear)

            def value(e):
                return va + (vb - va) * e

        return min((value(e), e) for e in candidates)


def slerp(a: np.ndarray, b: np.ndarray, e: float) -> np.ndarray:
    """Spherical on the direction, norm interpolated linearly; linear when (nearly) (anti)parallel."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return a + (b - a) * e
    da, db = a / na, b / nb
    cos = float(np.clip(da @ db, -1.0, 1.0))
    angle = np.arccos(cos)
    sin = np.sin(angle)
    if sin < PARALLEL_SIN:
        return a + (b - a) * e
    direction = (np.sin((1 - e) * angle) * da + np.sin(e * angle) * db) / sin
    return direction * ((1 - e) * na + e * nb)


def hermite(a, b, ma, mb, s: float) -> np.ndarray:
    """Cubic Hermite at s in [0, 1] with end tangents already scaled to the segment."""
    s2, s3 = s * s, s * s * s
    return (2 * s3 - 3 * s2 + 1) * a + (s3 - 2 * s2 + s) * ma + (-2 * s3 + 3 * s2) * b + (s3 - s2) * mb
