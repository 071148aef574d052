"""The pipeline: scene -> motion -> renderer -> encoder, composed once for every caller.

The command line, the Python API (`cppn_anim.load`), segmented renders (distribute), the
previews page, `watch`, `explore`, `bench` and the studio all call these functions, so a
frame is computed the same way everywhere. Importing this module does not import torch;
the first function that renders does.

Stable API (other modules build on these names and signatures):

    load(path, overrides=()) -> Scene                  a scene file, overrides applied, validated
    parse(text, source="<scene>", overrides=(), default_name="scene") -> Scene
        overrides: a list of (key.path, value[, label]) or a dict {key.path: value};
        raises scene.SceneError (FILE:LINE:COL: key.path: message).
    prepare(scene, size=None) -> Prepared              weights + motion + renderer, reusable
    build_weights(scene) -> network.Weights            the weights, numpy's BLAS on one thread
        Prepared.still(t, rows_done=None) -> (H, W, 3) uint8
        Prepared.frames(start=0, stop=None) -> iterator of (H, W, 3) uint8, in order
    still(scene, t, size=None, rows_done=None) -> (H, W, 3) uint8   t in seconds, size (W, H)
    frames(scene, start=0, stop=None, size=None) -> iterator of (H, W, 3) uint8
    render(scene, path=None, fmt=None, start=0, stop=None, *, preset=None, colors=256,
           progress=None, warn=None, note=None, workers=None, scheduler=None, starting=None,
           resume=False) -> Rendered(path, format, frames, width, height, colors, fps)
    write_still(scene, t, path=None, rows_done=None, starting=None) -> Path
    preview_scene(scene, long_side=256, max_fps=15) -> Scene   never larger than the scene
    render_preview(scene, path=None, progress=None, max_bytes=None) -> Rendered   a GIF
    preview_gif(scene) -> bytes                        the preview GIF itself (notebook, studio)
    bench(scene, frames=8) -> dict                     render-only throughput
    explore(path, axes, overrides=(), t=0.0, cell=192, out=None, progress=, warn=) -> Explored
        axes: one or two Axis(title, [(label, [(key, value, label), ...]), ...])
    previews(folder, out, overrides=(), report=, error=) -> PreviewsResult
    watch(path, out=None, overrides=(), interval=0.5, report=) -> returns only by an exception

Progress is a callback `progress(n)` called with the number of frames (or rows, for a
still) just finished, so the caller chooses how to show it (the CLI: a tqdm bar).
Bad requests raise `UsageError` (the CLI's exit 2), bad scenes `scene.SceneError`,
failures while working `encode.EncodeError`; a render whose memory estimate exceeds the
free memory `render.OutOfMemory` (a MemoryError), before any work.
"""
from __future__ import annotations

import difflib
import functools
import io
import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from . import encode, scene as scenes
from .scene import Scene, SceneError

PREVIEW_LONG_SIDE = 256
PREVIEW_MAX_FPS = 15
PREVIEW_MAX_BYTES = 2 * 1024 * 1024  # a previews page stays light
STILL_SHEET_SIDE = 160  # long side of a cell of the previews page's contact sheet
MAX_SIDE = 16384  # the largest width or height of any render (as scene.size allows)

Progress = Callable[[int], None]
Note = Callable[[str], None]


def _nothing(*_):
    return None


class UsageError(ValueError):
    """A request that cannot be done as asked (a time outside the scene, a bad frame range...): exit 2."""


# ------------------------------------------------------------------ loading


def _overrides(overrides) -> list[tuple]:
    """A dict {key.path: value} (the Python API) or a list of (key, value[, label]) (the CLI)."""
    if isinstance(overrides, Mapping):
        return [(key, _plain(value)) for key, value in overrides.items()]
    return list(overrides)


def _plain(value: Any) -> Any:
    """Python values as YAML would give them: tuples as lists, numpy scalars as numbers."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def load(path: str | Path, overrides: Iterable | Mapping = ()) -> Scene:
    """Read a scene file, apply overrides (before validation), validate. SceneError on any problem.

    A file that does not exist is named with the scene files beside it ("did you mean").
    """
    path = Path(path)
    if not path.exists():
        raise SceneError(str(path), "no such file" + _siblings_hint(path))
    return _checked(scenes.load(path, _overrides(overrides)))


def _siblings_hint(path: Path) -> str:
    folder = path.parent
    try:
        names = sorted(p.name for p in folder.glob("*.yaml"))
    except OSError:
        return ""
    if not names:
        return ""
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    shown = ", ".join(n.removesuffix(".yaml") for n in names[:20])
    where = "" if str(folder) == "." else f"{folder}/"
    guess = f"did you mean {where}{close[0]}? " if close else ""
    return f" ({guess}scenes in {folder}: {shown})"


def parse(text: str, source: str = "<scene>", overrides: Iterable | Mapping = (), default_name: str = "scene") -> Scene:
    """A scene from YAML text (e.g. an editor's buffer); same rules and errors as load()."""
    return _checked(scenes.parse(text, source, _overrides(overrides), default_name=default_name))


def _checked(scene: Scene) -> Scene:
    """The rules that need the motion itself (scene.py cannot: trajectory comes after it)."""
    from . import trajectory

    trajectory.check_positive_tracks(scene)
    return scene


# ------------------------------------------------------------------ sizes


def fit(size, long_side: int) -> list[int]:
    """[W, H] scaled down so that its long side is at most `long_side`, keeping the aspect ratio.

    Never enlarged: a preview, a contact-sheet still or a studio frame of a small scene is
    the scene's own size (more pixels would only show the same picture, slower).
    """
    w, h = size
    if max(w, h) <= long_side:
        return [int(w), int(h)]
    f = long_side / max(w, h)
    return [max(1, round(w * f)), max(1, round(h * f))]


def preview_scene(scene: Scene, long_side: int = PREVIEW_LONG_SIDE, max_fps: float = PREVIEW_MAX_FPS) -> Scene:
    """The same scene, small and light: long side at most `long_side` px (never larger than the
    scene), at most `max_fps` (defaults: 256 px and 15 fps, shown as a GIF)."""
    return scenes.changed(scene, size=fit(scene.size, long_side), fps=min(scene.fps, max_fps))


def frame_range(scene: Scene, start: int = 0, stop: int | None = None) -> tuple[int, int]:
    """Check frames start..stop-1 against the scene's N frames; UsageError if outside."""
    count = scene.frame_count
    stop = count if stop is None else stop
    if not 0 <= start < stop <= count:
        raise UsageError(f"frames {start}:{stop}: the scene has frames 0..{count - 1}; need 0 <= start < stop <= {count}")
    return start, stop


def check_time(scene: Scene, t: float) -> float:
    """A time in seconds inside the scene (0..duration), else UsageError. Returned as given:
    an exact Fraction (scene.frame_time(i)) stays exact, so a still is render's frame i."""
    if not 0 <= t <= scene.duration:
        raise UsageError(f"time {float(t):g}: the scene runs from 0 to {scene.duration:g} s")
    return t


# ------------------------------------------------------------------ pixels


@dataclass
class Prepared:
    """One scene's weights, motion and renderer at one size: reuse it for many frames."""

    scene: Scene
    motion: Any  # trajectory.Motion
    renderer: Any  # render.Renderer
    looked: bool = False  # a flat frame was reported (or cannot be: inputs: []): look no more

    @property
    def size(self) -> tuple[int, int]:
        return self.renderer.width, self.renderer.height

    def still(self, t: float, rows_done: Progress | None = None) -> np.ndarray:
        """The frame at time t (seconds) -> (H, W, 3) uint8. rows_done(n) hears of finished rows."""
        with np.errstate(all="ignore"):  # overflow shows as a flat picture, reported once below
            frame = self.renderer.render(self.motion.at(t), rows_done=rows_done)
        self._look(frame)
        return frame

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames start..stop-1 (t = i / fps) in order, each (H, W, 3) uint8."""
        from .trajectory import frame_times

        times = frame_times(self.scene, start, stop)
        rendered = self.renderer.frames(self.motion.at(t) for t in times)
        for _ in times:
            with np.errstate(all="ignore"):
                frame = next(rendered)
            self._look(frame)
            yield frame

    def _look(self, frame: np.ndarray) -> None:
        """Warn (FlatPicture, once) when a frame is a single colour: settings that leave nothing to see."""
        if self.looked or frame.shape[0] * frame.shape[1] < FLAT_MIN_PIXELS:
            return
        if not _flat(frame[::8, ::8]):  # cheap and exact: a sample is never wider in range than the frame
            return
        if _flat(frame):
            self.looked = True
            warnings.warn(FlatPicture(f"{self.scene.name}: a frame is a single colour: {FLAT_HINT}"), stacklevel=3)


def prepare(scene: Scene, size: tuple[int, int] | list[int] | None = None) -> Prepared:
    """Weights, motion and renderer for a scene at `size` (W, H; default the scene's). Imports torch."""
    from . import render, trajectory

    width, height = size or scene.size
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise UsageError(f"size {width}x{height}: each side 1..{MAX_SIDE}")
    try:
        device = render.pick_device(scene.render.device)
    except render.DeviceUnavailable as e:
        raise scene.error(("render", "device"), str(e)) from None
    # render.OutOfMemory (a MemoryError) before the weights, when the estimate cannot fit
    render.check_fits(scene.network, int(width), int(height), scene.render.supersample, str(device), scene.render.precision)
    if scene.render.precision != "fp32":  # once per run (Python shows a warning once per place)
        warnings.warn(DraftPrecision(draft_message(scene.render.precision)), stacklevel=2)
    if not scene.network.inputs:  # said once here; every frame of such a scene is one colour
        warnings.warn(FlatPicture(f"{scene.name}: network.inputs is empty, so every pixel of a frame is the same colour;"
                                  " add x, y or r"), stacklevel=2)  # fmt: skip
    with np.errstate(all="ignore"):  # huge scales overflow: the flat-picture warning says it in one line
        weights = build_weights(scene)
        renderer = render.Renderer(
            weights, int(width), int(height), supersample=scene.render.supersample, device=str(device), precision=scene.render.precision
        )
    return Prepared(scene, trajectory.Motion(scene), renderer, looked=not scene.network.inputs)


def build_weights(scene: Scene):
    """The scene's network weights (network.Weights), drawn with numpy's BLAS on one thread.

    Every command (and the studio) builds its weights here. The matrices are tiny: on a
    machine busy with other renders, BLAS threads mostly wait to be scheduled (network.build
    of scenes/spiral.yaml 30-130x slower: benchmarks/blas_threads.py measures it). The
    weights are bit for bit the same on any number of threads (tests/test_pipeline.py checks).
    """
    from . import network

    # one at a time: the limit is process-wide, and two overlapping limits (the studio's two
    # render threads) would restore each other's setting in the wrong order
    with _BLAS_LOCK, _blas().limit(limits=1, user_api="blas"):  # restored on the way out
        return network.build(scene.network, scene.seed)


_BLAS_LOCK = threading.Lock()


@functools.cache
def _blas():
    """threadpoolctl's view of the loaded BLAS, made once (a fresh scan costs ~0.5 ms, a limit then ~10 us)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _flat(frame: np.ndarray) -> bool:
    """(H, W, 3) uint8 -> whether every channel spans at most 1 level: a single colour."""
    pixels = frame.reshape(-1, 3)
    return bool((pixels.max(axis=0).astype(np.int16) - pixels.min(axis=0) <= 1).all())


class DraftPrecision(UserWarning):
    """bf16 / fp16: the hidden layers round, and a crisp look shows it at the contours."""


class FlatPicture(UserWarning):
    """A frame of a single colour: the scene's settings leave nothing to see."""


FLAT_MIN_PIXELS = 64  # a frame smaller than this may well be one colour by chance
FLAT_HINT = ("the pattern is too large or too small to see (or overflowed); bring view.zoom, network.input_scale,"
             " network.z_scale, network.weight_scale and network.contrast nearer 1")  # fmt: skip


# Largest pixel difference from fp32 on the default scene, measured by benchmarks/look.py
# (README, "The look"); tests/test_look.py keeps the measurement within these.
DRAFT_DIFFERENCE = {"bf16": 66, "fp16": 9}


def draft_message(precision: str) -> str:
    return (f"{precision} is a draft mode: on the default scene pixels differ from fp32 by up to "
            f"{DRAFT_DIFFERENCE[precision]}/255 at contours; use fp32 for final renders")  # fmt: skip


def still(scene: Scene, t: float, size=None, rows_done: Progress | None = None) -> np.ndarray:
    """The scene at time t (seconds, 0..duration) -> (H, W, 3) uint8, at size (W, H) or the scene's."""
    return prepare(scene, size).still(check_time(scene, t), rows_done)


def frames(scene: Scene, start: int = 0, stop: int | None = None, size=None) -> Iterator[np.ndarray]:
    """Frames start..stop-1 of the scene, in order, each (H, W, 3) uint8."""
    start, stop = frame_range(scene, start, stop)
    return prepare(scene, size).frames(start, stop)


# ------------------------------------------------------------------ files


@dataclass(frozen=True)
class Rendered:
    path: Path
    format: str
    frames: int
    width: int
    height: int
    colors: int = 256  # gif: the palette size used
    fps: float = 0.0


def output_format(scene: Scene, path: str | Path | None = None, fmt: str | None = None) -> str:
    """The format: `fmt` if given, else the extension of `path`, else the scene's output.format."""
    if fmt:
        if fmt not in scenes.FORMATS:
            raise UsageError(f"format {fmt}: use one of {', '.join(scenes.FORMATS)}")
        return fmt
    if path is not None:
        ext = Path(path).suffix.lstrip(".").lower()
        if ext in scenes.FORMATS:
            return ext
        if ext:
            raise UsageError(f"-o {path}: cannot tell the format from '.{ext}'; add --format mp4|gif|webm|png")
    return scene.output.format


def default_path(scene: Scene, fmt: str) -> Path:
    """Where a render goes without -o: the scene's output.path filled in."""
    return encode.output_path(scene.output.path, scene.name, fmt)


def video_spec(
    scene: Scene, fmt: str, path: Path, start: int = 0, preset: str | None = None, colors: int = 256, segment: bool = False, stop: int | None = None
) -> encode.VideoSpec:
    """What to write, checked before any rendering: format rules, a writable path."""
    scene.check_output(fmt)
    presets = scenes.Output.model_fields["preset"].annotation.__args__
    if preset is not None and preset not in presets:
        raise UsageError(f"--preset {preset}: use one of {', '.join(presets)}")
    spec = encode.VideoSpec(
        path=Path(path),
        format=fmt,
        width=scene.width,
        height=scene.height,
        fps=scene.fps,
        crf=scene.output.crf,
        preset=preset or scene.output.preset,
        provenance=scene.resolved_yaml(),
        first_index=start,
        colors=colors,
        segment=segment,
        stop=None if stop in (None, scene.frame_count) and start == 0 else stop,  # png: a full render removes its stale frames
    )
    if not segment:
        encode.check_output(spec)
    return spec


def encode_frames(scene: Scene, spec: encode.VideoSpec, start: int, stop: int, progress: Progress = _nothing, warn: Note = _nothing) -> int:
    """Render frames start..stop-1 into spec (one process, encoding overlapped); the frame count.

    A GIF's one palette comes from a sample of its frames (rendered again: cheap next to
    keeping every frame in memory).
    """
    prepared = prepare(scene)
    from .trajectory import frame_times

    times = frame_times(scene, start, stop)

    def counted():
        for frame in prepared.frames(start, stop):
            yield frame
            progress(1)

    def palette_frames():
        return [prepared.still(times[i]) for i in encode.sample_indices(len(times))]

    encode.write(counted(), spec, palette_frames=palette_frames, warn=warn)
    return len(times)


def render(
    scene: Scene,
    path: str | Path | None = None,
    fmt: str | None = None,
    start: int = 0,
    stop: int | None = None,
    *,
    preset: str | None = None,
    colors: int = 256,
    progress: Progress = _nothing,
    warn: Note = _nothing,
    note: Note = _nothing,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    starting: Callable[[], None] = _nothing,
) -> Rendered:
    """Render frames start..stop-1 of the scene to a file (or a png folder), as `cppn-anim render`.

    path: default the scene's output.path; fmt: default from path's extension, else
    output.format. workers / scheduler / resume: in segments (distribute). progress(n) hears
    of n more frames done; warn(message) of things the user should know; note(message) of
    what a segmented render kept or reused; starting() runs once every check has passed,
    just before the work. Atomic: the target is replaced only on success.
    """
    fmt = output_format(scene, path, fmt)
    path = Path(path) if path is not None else default_path(scene, fmt)
    start, stop = frame_range(scene, start, stop)
    segmented = workers is not None or scheduler is not None or resume
    if segmented:
        _check_segmented(fmt, workers, scheduler)
    spec = video_spec(scene, fmt, path, start, preset, colors, stop=stop)
    starting()
    if segmented:
        from . import distribute

        if fmt in ("mp4", "webm") and (scene.width % 2 or scene.height % 2):
            warn(f"{scene.width}x{scene.height} has an odd side; the video is padded to even sides (edge repeated)")
        distribute.render(scene, spec, start, stop, workers=workers, scheduler=scheduler, resume=resume, progress=progress, note=note, warn=warn)
    else:
        encode_frames(scene, spec, start, stop, progress, warn)
    return Rendered(path, fmt, stop - start, scene.width, scene.height, colors, scene.fps)


def _check_segmented(fmt: str, workers: int | None, scheduler: str | None) -> None:
    if fmt == "gif":
        raise UsageError("gif cannot be rendered in segments: one palette spans the whole animation; use mp4, webm or png")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: at least 1")
    if (workers is not None or scheduler) and not _has_dask():
        raise UsageError("--workers and --scheduler need Dask: pip install 'cppn-anim[cluster]' (or: pip install 'dask[distributed]')")


def _has_dask() -> bool:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return False
    return True


def default_still_path(scene: Scene, t: float) -> Path:
    """out/{name}_t{t:.3f}.png: where a still goes without -o."""
    return Path(f"out/{scene.name}_t{float(t):.3f}.png")


def write_still(
    scene: Scene, t: float, path: str | Path | None = None, rows_done: Progress | None = None, starting: Callable[[], None] = _nothing
) -> Path:
    """The frame at time t (seconds) as a PNG (provenance inside), atomically; returns its path.
    starting() runs once every check has passed, just before the work."""
    t = check_time(scene, t)
    path = Path(path) if path is not None else default_still_path(scene, t)
    if path.suffix.lower() != ".png":
        raise UsageError(f"-o {path}: a still is a PNG; name it *.png")
    encode.check_file(path)
    starting()
    frame = prepare(scene).still(t, rows_done)
    return encode.write_still(frame, path, scene.resolved_yaml())


# ------------------------------------------------------------------ previews


def default_preview_path(scene: Scene) -> Path:
    return Path(f"out/{scene.name}.preview.gif")


def render_preview(scene: Scene, path: str | Path | None = None, progress: Progress = _nothing, max_bytes: int | None = None) -> Rendered:
    """The scene as a small looping GIF (preview_scene's size and fps) at path (default out/NAME.preview.gif).

    With max_bytes, a GIF over it is made again with fewer colours (down to 64), then
    fewer frames per second, until it fits or reaches 5 fps (then it is kept as it is).
    """
    small = preview_scene(scene)
    path = Path(path) if path is not None else default_preview_path(scene)
    colors = 256
    done = render(small, path, "gif", colors=colors, progress=progress)
    while max_bytes is not None and path.stat().st_size > max_bytes and small.fps > 5:
        if colors > 64:  # smooth gradients cost GIF's LZW dearly: fewer colours first,
            colors //= 2
        else:  # then fewer frames per second
            small = scenes.changed(small, fps=max(5.0, round(small.fps * 0.8, 2)))
        done = render(small, path, "gif", colors=colors)
    return done


def preview_gif(scene: Scene, max_bytes: int | None = PREVIEW_MAX_BYTES) -> bytes:
    """The preview GIF's bytes (a notebook or a web page shows them inline)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cppn-anim-preview-") as tmp:
        path = Path(tmp) / f"{scene.name}.gif"
        render_preview(scene, path, max_bytes=max_bytes)
        return path.read_bytes()


@dataclass
class PreviewsResult:
    index: Path
    entries: list = field(default_factory=list)  # gallery.Entry
    errors: list[str] = field(default_factory=list)  # one line per refused scene


def previews(folder: str | Path, out: str | Path, overrides: Iterable = (), report: Note = _nothing, error: Note = _nothing) -> PreviewsResult:
    """Every *.yaml in folder -> out/NAME.gif (kept under 2 MB where 5 fps allows), a copy of the scene, index.html
    and contact-sheet.png. A bad scene is reported by error(line) and listed on the page;
    two scenes with one name are refused (UsageError) before anything is rendered."""
    from . import gallery, sheet

    folder, out = Path(folder), Path(out)
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise UsageError(f"{folder}: no *.yaml scenes there")
    loaded, errors = [], []
    for path in files:
        try:
            loaded.append((path, load(path, overrides)))
        except SceneError as e:
            error(str(e))
            errors.append(str(e))
    named: dict[str, Path] = {}
    for path, scene in loaded:
        if scene.name in named:
            raise UsageError(
                f"{named[scene.name]} and {path} are both named '{scene.name}': their previews would be one file; rename one (name: ...)"
            )
        named[scene.name] = path
    out.mkdir(parents=True, exist_ok=True)
    entries, stills = [], []
    for path, scene in loaded:
        began = time.perf_counter()
        gif = out / f"{scene.name}.gif"
        done = render_preview(scene, gif, max_bytes=PREVIEW_MAX_BYTES)
        size = gif.stat().st_size
        entries.append(gallery.Entry(scene.name, gif.name, gallery.copy_scene(path, out), scene.duration, tuple(scene.size), scene.fps, done.frames, size))
        stills.append(sheet.Cell(still(scene, scene.duration / 2, fit(scene.size, STILL_SHEET_SIDE)), scene.name))
        report(f"{gif} ({done.frames} frames, {size / 1024:.0f} KB) in {time.perf_counter() - began:.1f} s")
    sheet_name = None
    if stills:
        sheet_name = "contact-sheet.png"
        side = (STILL_SHEET_SIDE, STILL_SHEET_SIDE)
        sheet.compose(sheet.wrap(stills, 4), side, title="one still per scene, at half its duration").save(out / sheet_name)
    index = gallery.write_index(out, entries, errors, sheet_name)
    return PreviewsResult(index, entries, errors)


# ------------------------------------------------------------------ explore


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
    progress: Progress = _nothing,
    warn: Note = _nothing,
) -> Explored:
    """A labelled contact sheet (PNG) of stills at time t: one row (one axis) or a grid (two).

    Every cell's scene is validated before any is rendered. A time past the end shows the
    last moment (t = duration), with a warning and the sheet's title saying so.
    """
    from . import sheet

    if not 1 <= len(axes) <= 2:
        raise UsageError("explore makes a row or a grid: one or two of --seeds / --vary")
    if not (math.isfinite(t) and t >= 0):
        raise UsageError(f"--time {t:g}: a time is 0 or more seconds")
    if cell < MIN_CELL:
        raise UsageError(f"--cell {cell}: a cell's long side is at least {MIN_CELL} pixels")
    if len(axes) == 2 and axes[0].title == axes[1].title:
        raise UsageError(f"{axes[0].title} is varied twice: give its values once, e.g. --vary {axes[0].title}=A,B")
    base = list(_overrides(overrides))
    first = load(path, base)
    combos = [[c] for c in axes[0].choices] if len(axes) == 1 else [[r, c] for r in axes[0].choices for c in axes[1].choices]
    loaded = []
    for combo in combos:  # validate every cell before rendering any
        cell_scene = load(path, base + [o for _, os_ in combo for o in os_])
        loaded.append((", ".join(label for label, _ in combo), cell_scene))
    shown = min(t, first.duration)
    if shown != t:
        warn(f"--time {t:g} is past the end of {first.name} ({first.duration:g} s): the sheet shows t = {shown:g}")
    cell_size = tuple(fit(first.size, cell))
    target = Path(out) if out is not None else Path(f"out/{first.name}.explore.png")
    if target.suffix.lower() != ".png":
        raise UsageError(f"-o {target}: a sheet is a PNG; name it *.png")
    encode.check_file(target)
    varies_size = any(k == "size" for axis in axes for _, os_ in axis.choices for k, *_ in os_)
    cells = []
    for label, cell_scene in loaded:
        size = cell_scene.size if varies_size else list(cell_size)
        cells.append(sheet.Cell(prepare(cell_scene, size).still(min(shown, cell_scene.duration)), label))
        progress(1)
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
    encode.write_bytes(buffer.getvalue(), target)
    return Explored(target, len(cells), shown)


# ------------------------------------------------------------------ bench


def bench(scene: Scene, frames: int = 8) -> dict:
    """Render-only throughput of the scene's first `frames` frames (no encoding), after one warm-up frame.

    Returns megapixels_per_s, frames_per_s, width, height, frames, device, precision,
    supersample, seconds.
    """
    from .trajectory import frame_times

    if frames < 1:
        raise UsageError("--frames: at least 1")
    prepared = prepare(scene)
    count = min(frames, scene.frame_count)
    times = frame_times(scene, 0, count)
    prepared.still(times[0])  # warm-up: allocations, kernel choice
    began = time.perf_counter()
    for t in times:
        prepared.still(t)
    took = time.perf_counter() - began
    return {
        "megapixels_per_s": round(scene.width * scene.height * count / took / 1e6, 3),
        "frames_per_s": round(count / took, 3),
        "width": scene.width,
        "height": scene.height,
        "frames": count,
        "device": str(prepared.renderer.device),
        "precision": scene.render.precision,
        "supersample": scene.render.supersample,
        "seconds": round(took, 3),
    }


# ------------------------------------------------------------------ watch


def watch(path: str | Path, out: str | Path | None = None, overrides: Iterable = (), interval: float = 0.5, report: Note = _nothing) -> None:
    """Render the preview GIF again whenever the file changes (mtime or size), until interrupted.

    A file missing at the start is a SceneError ("no such file"); later problems (a bad
    edit, the file gone for a moment) are reported by report(line), keeping the last good
    preview. Returns only by an exception (KeyboardInterrupt: Ctrl-C or SIGTERM).
    """
    path = Path(path)
    if not path.is_file():
        load(path, overrides)  # raises the one-line "no such file" (or "not a text file")
    seen = None
    while True:
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp != seen:
            seen = stamp
            report(_watch_once(path, out, overrides))
        time.sleep(interval)


def _watch_once(path: Path, out, overrides) -> str:
    began = time.perf_counter()
    now = time.strftime("%H:%M:%S")
    try:
        done = render_preview(load(path, overrides), out)
        return f"{now} updated {done.path} ({done.frames} frames) in {time.perf_counter() - began:.1f} s"
    except (SceneError, UsageError, encode.OutputPathError) as e:
        return f"{now} {e} (kept the last good preview)"
    except encode.EncodeError as e:
        return f"{now} cppn-anim: {e} (kept the last good preview)"
