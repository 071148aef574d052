"""Motion: scene -> what every frame shows (its time, its z, its view and its look).

z moves through the trajectory's keyframes (`z: random`, `{seed: N}` or a list, drawn as
the style draws them), and each animated parameter through its `animate` track; both are
tracks.Track, in exact time (a frame's time is the fraction i / fps).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import seeding
from .scene import Scene
from .tracks import Track

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
