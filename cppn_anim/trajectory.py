"""Motion: scene -> what every frame shows (its time, its z, its view and its look).

z moves through the trajectory's keyframes (`z: random`, `{seed: N}` or a list, drawn as
the style draws them), and each animated parameter through its `animate` track; both are
tracks.Track, in exact time (a frame's time is the fraction i / fps).

Then `modulate` (a scene with audio; the signals come from the scene's `heard`, decided
when it was parsed): each modulated value, after its keyframes and track, goes through its
modulations in order, `add` (value + amount * s) or `multiply` (value * (1 + amount * s)),
with s the signal at t; z's `toward` gives z + amount * s * (toward - z).
`trajectory.speed` re-times z's progress within each keyframe segment (the loop's closing
one too): at t in [t0, t1], z shows the unmodulated trajectory at
    tau = t0 + (t1 - t0) * (G(t) - G(t0)) / (G(t1) - G(t0)),  G(t) = integral of 1 + sum(amount * s),
so z hurries where the signals are high and still reaches every keyframe exactly at its
time; z as a function of tau is the unmodulated path (cubic's C1 promise holds in the
re-timed progress). No effect with `step` interpolation; `animate` tracks are never re-timed.
`modulation_problems` refuses a zoom, z_scale, input_scale or contrast that the modulations
take to 0 or below at any analysis frame (curves.knots: the verdict never depends on fps).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import seeding
from .scene import Scene
from .tracks import Track, exact

# Fixed tags keep the random streams of z and of the weights apart for the same seed.
Z_RANDOM_STREAM = 0x5A
Z_SEED_STREAM = 0x5B


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


class Motion:
    """Everything that changes over time in a scene: z, the view and the look (modulated by its signals)."""

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
        self.mods = scene.modulate.items()
        self.curves = scene.heard.curves if scene.heard is not None and self.mods else None
        self.towards = [(m, latent_vector(scene.seed, 0, m.toward, dim, scene.network.style)) for m in self.mods.get("z", [])]
        speed = self.mods.get("trajectory.speed", [])
        self.rates = [(m.signal, float(m.amount)) for m in speed if m.amount]
        self.retimes = bool(self.rates) and self.z.interpolation != "step"
        self._g: dict = {}  # G at keyframe times (exact) -> float

    def at(self, t) -> FrameParams:
        """Everything at time t: a Fraction (frame_times) or a number (read as `exact` reads it)."""
        def view(name, fixed):
            value = self.view[name].at(t) if name in self.view else np.asarray(fixed, dtype=np.float64)
            return apply(value, self.mods.get(name, ()), s) if name in self.mods else value

        s = {k: float(v) for k, v in self.curves.at(float(t)).items()} if self.curves is not None else {}
        z = self.z.at(self.retimed(t))
        for m, toward in self.towards:
            z = z + m.amount * s[m.signal] * (toward - z)
        return FrameParams(
            z=z,
            zoom=float(view("view.zoom", [self.static.zoom])[0]),
            rotation=float(view("view.rotation", [self.static.rotation])[0]),
            center=view("view.center", self.static.center).reshape(2),
            **{name: float(view(f"network.{name}", [getattr(self.network, name)])[0]) for name in LOOK},
        )

    def _G(self, t: float) -> float:
        """The integral of 1 + sum(amount * s) from 0 to t."""
        return t + sum(a * float(self.curves.integral(name, t)) for name, a in self.rates)

    def _G_at(self, t: Fraction) -> float:
        if t not in self._g:
            self._g[t] = self._G(float(t))
        return self._g[t]

    def retimed(self, t):
        """The time of the unmodulated trajectory that z shows at t (trajectory.speed): t
        itself at every keyframe and outside the segments, re-timed within them."""
        t = exact(t)
        if not self.retimes:
            return t
        times, n = self.z.exact_times, len(self.z.exact_times)
        k = bisect.bisect_left(times, t)
        if k == 0 or (k < n and times[k] == t):
            return t
        if k == n:
            if not self.z.loop or t >= self.z.end:
                return t
            t0, t1 = times[-1], self.z.end
        else:
            t0, t1 = times[k - 1], times[k]
        g0, g1 = self._G_at(t0), self._G_at(t1)
        ratio = min(max((self._G(float(t)) - g0) / (g1 - g0), 0.0), 1.0)
        return t0 + Fraction(ratio) * (t1 - t0)


LOOK = ("z_scale", "input_scale", "contrast", "palette_shift")  # the animatable network.* keys
POSITIVE = ("view.zoom", "network.z_scale", "network.input_scale", "network.contrast")  # must stay > 0


def apply(value, mods, s: dict):
    """value through the modulations `mods` in order, with s: signal name -> value (numbers
    or arrays of the same length as value's leading axis)."""
    for m in mods:
        amount = np.asarray(m.amount, dtype=np.float64)
        x = np.asarray(s[m.signal], dtype=np.float64)
        if np.ndim(value) > np.ndim(x) and np.ndim(x) > 0:
            x = x[:, None]
        value = value + amount * x if m.mode == "add" else value * (1.0 + amount * x)
    return value


def modulation_problems(scene: Scene) -> list:
    """Refuse, at its `modulate` key, a zoom, z_scale, input_scale or contrast that its
    modulations take to 0 or below at any analysis frame (and each beat and the instant
    before it, and both ends: curves.knots), its keyframes and track included: a SceneError
    for each such key."""
    heard, mods = scene.heard, scene.modulate.items()
    if heard is None or heard.curves is None or not any(key in mods for key in POSITIVE):
        return []
    found = []
    times = heard.curves.knots()
    s = heard.curves.at(times)
    tracks = scene.animate.tracks()
    for key in POSITIVE:
        if key not in mods:
            continue
        section, name = key.split(".")
        if key in tracks:
            spec = tracks[key]
            track = Track.from_spec(spec, [k.value for k in spec.keyframes], scene.duration)
            base = np.array([float(track.at(float(t))[0]) for t in times])
        else:
            base = np.full(times.shape, float(getattr(getattr(scene, section), name)))
        value = apply(base, mods[key], s)
        bad = np.flatnonzero(~(value > 0))
        if bad.size:
            i = int(bad[0])
            found.append(scene.error(
                ("modulate", key),
                f"{key} reaches {value[i]:.3g} at t = {times[i]:.3f} s with its modulations; it must stay > 0:"
                " use a smaller negative amount" + (" (multiply: amount * signal must stay above -1)" if any(m.mode == "multiply" for m in mods[key]) else ""),
                at_key=True,
            ))  # fmt: skip
    return found
