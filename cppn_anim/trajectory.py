"""Scene -> what every frame shows: its time, its z and its view.

One `Track` implementation serves both the latent trajectory and the animated view
parameters (`animate`): keyframes (time, value), an easing into each keyframe, an
interpolation, and optional looping back to the first keyframe at `duration`.

Time is exact: a frame's time is the fraction i / fps and keyframe times are the
decimals written in the scene (`scene.exact`), so which segment a frame falls in, its
progress u through it, and a step easing's jump are decided without rounding; a
keyframe or step boundary that falls exactly on a frame is taken on that frame.
Floats begin only with the eased progress.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import easing, seeding
from .scene import Scene, exact

# Fixed tags keep the random streams of z and of the weights apart for the same seed.
Z_RANDOM_STREAM = 0x5A
Z_SEED_STREAM = 0x5B
PARALLEL_SIN = 1e-6  # below this sin(angle), slerp falls back to linear


@dataclass(frozen=True)
class FrameParams:
    z: np.ndarray  # (latent_dim,) float64
    zoom: float
    rotation: float  # degrees
    center: np.ndarray  # (2,) float64
    # the animatable look (network.*): folded into the first and last layers per frame
    z_scale: float = 1.0
    input_scale: float = 1.0
    contrast: float = 1.0
    palette_shift: float = 0.0


def frame_times(scene: Scene, start: int = 0, stop: int | None = None) -> list[Fraction]:
    """t = i / fps, exactly, for frames start..stop-1 (all N frames by default)."""
    stop = scene.frame_count if stop is None else stop
    return [scene.frame_time(i) for i in range(start, stop)]


def latent_vector(scene_seed: int, index: int, spec, latent_dim: int, style: str = "cppn-anim") -> np.ndarray:
    """The z a keyframe names: `random` from (scene seed, index), {seed: N} from N alone, or as written.

    Generated z follows the style: N(0, 1) for cppn-anim, U(-1, 1) for hardmaru, U(0, 1)
    for guibas (network.py's docstring has the sources). numpy's RandomState is frozen by
    its documentation, so these numbers are the same on every machine and numpy version.
    """
    if isinstance(spec, str):  # "random"
        rng = seeding.generator(Z_RANDOM_STREAM, scene_seed, index)
    elif isinstance(spec, list):
        return np.asarray(spec, dtype=np.float64)
    else:
        rng = seeding.generator(Z_SEED_STREAM, spec.seed)
    if style == "hardmaru":
        return rng.uniform(-1.0, 1.0, latent_dim)
    if style == "guibas":
        return rng.uniform(0.0, 1.0, latent_dim)
    return rng.standard_normal(latent_dim)


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
        u = (t - t0) / (t1 - t0)  # exact: a step at u = j/n is reached exactly when it should be
        return self._between(a, b, float(ease(u)), float(t1 - t0))

    def _between(self, a: int, b: int, e: float, span: float) -> np.ndarray:
        va, vb = self.values[a], self.values[b]
        if e == 0:
            return va.copy()
        if e == 1:
            return vb.copy()
        kind = self.interpolation
        if kind == "step":
            return va.copy()
        if kind == "slerp":
            return slerp(va, vb, e)
        if kind == "cubic":
            return hermite(va, vb, self.tangents[a] * span, self.tangents[b] * span, e)
        return va + (vb - va) * e


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


class Motion:
    """Everything that changes over time in a scene: z, the view and the look."""

    def __init__(self, scene: Scene):
        traj, dim = scene.trajectory, scene.network.latent_dim
        zs = [latent_vector(scene.seed, k, key.z, dim, scene.network.style) for k, key in enumerate(traj.keyframes)]
        self.z = Track.from_spec(traj, zs, scene.duration)
        tracks = scene.animate.tracks()
        self.view = {
            name: Track.from_spec(track, [k.value for k in track.keyframes], scene.duration)
            for name, track in tracks.items()
        }
        self.static = scene.view
        self.network = scene.network

    def at(self, t) -> FrameParams:
        """Everything at time t: a Fraction (frame_times) or a number (read as `exact` reads it)."""
        def view(name, fixed):
            return self.view[name].at(t) if name in self.view else np.asarray(fixed, dtype=np.float64)

        return FrameParams(
            z=self.z.at(t),
            zoom=float(view("view.zoom", [self.static.zoom])[0]),
            rotation=float(view("view.rotation", [self.static.rotation])[0]),
            center=view("view.center", self.static.center).reshape(2),
            **{name: float(view(f"network.{name}", [getattr(self.network, name)])[0]) for name in LOOK},
        )


LOOK = ("z_scale", "input_scale", "contrast", "palette_shift")  # the animatable network.* keys
POSITIVE = ("view.zoom", "network.z_scale", "network.input_scale", "network.contrast")  # must stay > 0
SAMPLES_PER_SEGMENT = 256  # where a track is looked at between its keyframes (and every frame)


def check_positive_tracks(scene: Scene) -> None:
    """Refuse (SceneError at the track) an animated zoom, z_scale, input_scale or contrast that
    dips to 0 or below between its keyframes: an overshooting easing (back, elastic, a
    cubic_bezier with y outside [0, 1]) or a cubic spline can carry a value past its keyframes,
    which are each checked > 0 already. Linear, slerp and step tracks with easings inside [0, 1]
    stay between their keyframes, so only the others are sampled (every frame, and densely)."""
    grid = [Fraction(i, SAMPLES_PER_SEGMENT) for i in range(1, SAMPLES_PER_SEGMENT)]
    for name, spec in scene.animate.tracks().items():
        if name not in POSITIVE:
            continue
        track = Track.from_spec(spec, [k.value for k in spec.keyframes], scene.duration)
        if track.interpolation != "cubic" and all(0 <= float(e(u)) <= 1 for e in track.eases for u in grid):
            continue
        bounds = track.exact_times + [track.end]
        times = [a + (b - a) * u for a, b in zip(bounds, bounds[1:]) for u in grid] + frame_times(scene)
        low, when = min((float(track.at(t)[0]), t) for t in times)
        if low <= 0:
            raise scene.error(
                ("animate", name),
                f"the track reaches {low:.3g} at t = {float(when):.3g} s (its easing or cubic interpolation overshoots);"
                f" {name} must stay > 0: use an easing that does not overshoot, or keyframe values further from 0",
            )
