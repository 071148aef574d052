"""The Python API: `cppn_anim.load(path)` -> an Animation to look at, iterate or render.

    import cppn_anim
    scene = cppn_anim.load("scenes/spiral.yaml", overrides={"seed": 3, "network.depth": 6})
    frame = scene.still(t=1.5, size=(640, 360))    # (360, 640, 3) uint8
    frame = scene.still(frame=12)                  # as `cppn-anim still --frame 12`
    for frame in scene.frames(start=0, stop=10):   # (H, W, 3) uint8 each, in order
        ...
    scene.render("out/x.mp4")                      # as `cppn-anim render`; returns the Path
    scene.preview()                                # a looping GIF shown inline in a notebook
    scene.signals()                                # {name: (frame_count,) float array in [0, 1]}
    scene.beats()                                  # beat times in seconds (float array)

Same scene rules, errors and pixels as the command line (both go through core.py).
A notebook shows an Animation as a still (`_repr_png_`) and a Preview as an animation
(`_repr_html_`); IPython is not needed.

The API changes nothing process-wide: torch's and numpy's threads, the environment, warning
filters and signal handlers stay as the caller has them (a Ctrl-C is the caller's
KeyboardInterrupt; the work still cleans up). `render` takes a `cancel` Event to stop it
from another thread.
"""
from __future__ import annotations

import base64
import html
import numbers
import threading
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np

from . import core, previews, targets
from .errors import ArgumentError, one_line
from .report import Reporter
from .scene import Scene

NOTEBOOK_LONG_SIDE = 512  # a notebook shows a still at most this wide or tall


def load(path: str | Path, overrides: Mapping | None = None) -> "Animation":
    """Read and validate a scene file. overrides: {key path: value}, e.g. {"seed": 3, "network.depth": 6,
    "size": [640, 360]}, applied before validation as `--set` is.

    Raises cppn_anim.SceneError, the first error in file order (.line, .col 1-based, None
    for an override; .key_path; .message; str() is the CLI's one line; .errors: every
    error found in the file, in file order, as `cppn-anim validate` prints them);
    cppn_anim.ArgumentError for a path that is not one or overrides that are not a mapping.
    """
    if not isinstance(path, (str, Path)):
        raise ArgumentError(f"load(path): a path (str or pathlib.Path), not {type(path).__name__}")
    return Animation(core.load(path, _overrides(overrides)))


def loads(text: str, overrides: Mapping | None = None, name: str = "scene") -> "Animation":
    """The same as load() for YAML text (errors name the source `<scene>`; relative paths
    in the scene, audio.path among them, are read from the current folder). name: the
    scene's name when the text sets none (it fills {name} in output.path).

    Raises cppn_anim.SceneError for a bad scene; cppn_anim.ArgumentError for text that is
    not a str, a name that is not one, or overrides that are not a mapping of key paths.
    """
    if not isinstance(text, str):
        raise ArgumentError(f"loads(text): YAML text (str), not {type(text).__name__}")
    if not isinstance(name, str):
        raise ArgumentError(f"loads(name): the scene's name (str), not {type(name).__name__}")
    return Animation(core.parse(text, "<scene>", _overrides(overrides), default_name=name))


def _overrides(overrides) -> Mapping:
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ArgumentError(f"overrides: a mapping {{key path: value}}, not {type(overrides).__name__}")
    for key in overrides:
        if not isinstance(key, str):
            raise ArgumentError(f"overrides: each key is a key path such as 'network.depth' (str), not {key!r}")
    return overrides


def _size(size) -> tuple[int, int] | None:
    """(W, H) as two whole numbers, or None; ArgumentError for anything else."""
    if size is None:
        return None
    try:
        w, h = size
        if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and float(v).is_integer() for v in (w, h)):
            return int(w), int(h)
    except (TypeError, ValueError, OverflowError):
        pass
    raise ArgumentError(f"size: (width, height) in whole pixels, not {size!r}")


def _number(value, name: str):
    """A real number (an exact Fraction stays exact); ArgumentError for anything else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentError(f"{name}: a number of seconds, not {type(value).__name__}")
    return value


def _whole(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentError(f"{name}: a whole number (a frame index), not {type(value).__name__}")
    return int(value)


class _Progress(Reporter):
    def __init__(self, progress: Callable[[int], None]):
        self.progress = progress  # type: ignore[method-assign]


class Animation:
    """A validated scene, ready to render. The network is built on first use and kept."""

    def __init__(self, scene: Scene):
        self.scene = scene  # the validated scene (pydantic model; .model_dump() for its values)
        self._prepared: dict[tuple[int, int], core.Prepared] = {}

    @property
    def name(self) -> str:
        return self.scene.name

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.scene.width, self.scene.height

    @property
    def fps(self) -> float:
        return self.scene.fps

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.scene.duration

    @property
    def frame_count(self) -> int:
        """N = round(duration * fps): frames 0..N-1, frame i at t = i / fps."""
        return self.scene.frame_count

    def _at(self, size) -> core.Prepared:
        key = _size(size) or self.size
        if key not in self._prepared:
            self._prepared = {key: core.prepare(self.scene, key)}  # keep one size: weights and buffers
        return self._prepared[key]

    def still(self, t: float | None = None, size: tuple[int, int] | None = None, *, frame: int | None = None) -> np.ndarray:
        """The picture at time t (seconds, 0..duration; default 0), or of frame `frame`
        (at t = frame / fps, exactly as the video shows it) -> (H, W, 3) uint8, at size
        (W, H) (default the scene's).

        Pixel for pixel what `cppn-anim still --time t` (or `--frame I`) `--size WxH`
        writes. cppn_anim.UsageError (a ValueError) for a time or frame outside the scene
        or a size outside 1..16384, raised before any work; cppn_anim.ArgumentError (a
        TypeError) for a t that is not a number, a frame that is not a whole number, both
        t and frame, or a size that is not two whole numbers.
        """
        if t is not None and frame is not None:
            raise ArgumentError("still(): give t (seconds) or frame (an index), not both")
        if frame is not None:
            when = core.frame_time(self.scene, _whole(frame, "frame"))
        else:
            when = core.check_time(self.scene, _number(0.0 if t is None else t, "t"))
        return self._at(size).still(when)

    def frames(self, start: int = 0, stop: int | None = None, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
        """Frames start..stop-1 (default all) in order, each (H, W, 3) uint8; frame i is at t = i / fps."""
        start, stop = core.frame_range(self.scene, _whole(start, "start"), None if stop is None else _whole(stop, "stop"))
        return self._at(size).frames(start, stop)

    def render(
        self,
        path: str | Path | None = None,
        format: str | None = None,
        start: int = 0,
        stop: int | None = None,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Render to a file as `cppn-anim render` does; returns its Path.

        path: default the scene's output.path; format: mp4 | gif | webm | png (default from
        the path's extension, else output.format); frames start..stop-1; progress(n) hears
        of n more frames done; cancel: an Event that, once set (from another thread), stops
        the render (cppn_anim.Cancelled) with the target as it was. The file is replaced
        only on success. Raises SceneError, UsageError, OutputError (all ValueErrors),
        RenderError (EncodeError, TargetBusy, OutOfMemory).
        """
        if path is not None and not isinstance(path, (str, Path)):
            raise ArgumentError(f"render(path): a path (str or pathlib.Path), not {type(path).__name__}")
        if format is not None and not isinstance(format, str):
            raise ArgumentError(f"render(format): mp4, gif, webm or png, not {type(format).__name__}")
        start, stop = _whole(start, "start"), None if stop is None else _whole(stop, "stop")
        if progress is not None and not callable(progress):
            raise ArgumentError(f"render(progress): a function called with the number of frames done, not {type(progress).__name__}")
        if cancel is not None and not callable(getattr(cancel, "is_set", None)):
            raise ArgumentError(f"render(cancel): a threading.Event (anything with is_set()), not {type(cancel).__name__}")
        report = _Progress(progress) if progress else Reporter()
        return core.render(self.scene, path, format, start, stop, report=report, cancel=cancel).path

    def signals(self) -> dict[str, np.ndarray]:
        """The soundtrack's signals, frame by frame: {name: (frame_count,) float64 array in [0, 1]},
        frame i at t = i / fps, exactly what the frames see; {} for a scene without audio."""
        return core.signals(self.scene)

    def beats(self) -> np.ndarray:
        """The beat times in [0, duration), seconds (float64 array); empty for a scene without audio."""
        return core.beats(self.scene)

    def preview(self) -> "Preview":
        """A small looping GIF (long side 256 px, at most 15 fps, kept under 2 MB where 5 fps allows), shown inline in a notebook."""
        return Preview(previews.preview_gif(self.scene), self.name)

    def _repr_png_(self) -> bytes:
        """A notebook shows a scene as its still at t = 0 (long side at most 512 px)."""
        size = core.fit(self.size, NOTEBOOK_LONG_SIDE)
        return targets.png_bytes(self.still(0.0, tuple(size)))

    def __repr__(self) -> str:
        w, h = self.size
        return f"<cppn_anim.Animation {self.name!r}: {w}x{h}, {self.duration:g} s at {self.fps:g} fps>"


class Preview:
    """A GIF to show: `.data` holds its bytes; a notebook (Jupyter, VS Code) shows it inline and looping."""

    def __init__(self, data: bytes, name: str = "preview"):
        self.data, self.name = data, name

    def _repr_html_(self) -> str:
        """The GIF inline; the scene's name (user text) escaped, so it stays text in the page."""
        encoded = base64.b64encode(self.data).decode("ascii")
        return f'<img src="data:image/gif;base64,{encoded}" alt="{html.escape(one_line(self.name))} preview">'

    def save(self, path: str | Path) -> Path:
        """Write the GIF to path; returns it."""
        return targets.write_bytes(self.data, Path(path))  # atomically, holding the file's claim

    def __repr__(self) -> str:
        return f"<cppn_anim.Preview {self.name!r}: GIF, {len(self.data)} bytes>"
