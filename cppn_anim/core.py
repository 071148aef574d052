"""The core: a scene, validated, made into frames and files, the same way for every caller.

The command line, the Python API, the commands (explore, previews, watch, bench),
segmented renders (distribute, through SceneFrames) and the studio all call these
functions, so a frame is computed the same way everywhere. Importing this module does not
import torch; the first function that renders does.

    load(path, overrides=()) -> Scene                  a scene file, overrides applied, every rule checked
    parse(text, source="<scene>", overrides=(), default_name="scene") -> Scene
        overrides: a list of (key.path, value[, label]) or a dict {key.path: value};
        raises errors.SceneError (FILE:LINE:COL: key.path: message), the first error in
        file order, with .errors listing every error found (what `validate` prints).
    prepare(scene, size=None, *, threads=None, pin=None, workers=None, kernel=None) -> Prepared
        weights + motion + the renderer render_path picks (the fused kernels where they run), reusable
        Prepared.still(t, rows_done=None, cancel=None) -> (H, W, 3) uint8
        Prepared.frames(start=0, stop=None, cancel=None) -> iterator of (H, W, 3) uint8, in order
    still(scene, t, size=None, ...) -> (H, W, 3) uint8        t in seconds, size (W, H)
    check_time(scene, t), frame_time(scene, i)  a time or frame index checked (UsageError), before any work
    frames(scene, start=0, stop=None, size=None, ...) -> iterator of (H, W, 3) uint8
    render(scene, path=None, fmt=None, start=0, stop=None, *, preset=None, colors=256, report=,
           cancel=None, pin=None, workers=None, scheduler=None, resume=False)
           -> Rendered(path, format, frames, width, height, colors, fps)
    write_still(scene, t, path=None, *, report=, cancel=None, pin=None) -> Path
    preview_scene(scene, long_side=256, max_fps=15) -> Scene   never larger than the scene

A scene with `audio` is heard when it is parsed (signals.hear: decoded, analysed once per
file content, cached; audio.path read from the scene file's folder, `folder=` for text),
so every caller below sees the same signals. For a player or a plot (the studio's `play`
and `signals`, `cppn-anim audio`, the API):
    soundtrack(scene, start=0, stop=None) -> targets.Soundtrack(path, start, duration, sha256) | None
        the file (absolute) and the second of it that plays with frame `start`
    signals(scene, start=0, stop=None) -> {name: (n,) float64 in [0, 1]}   per frame; {} without audio
    beats(scene) -> (k,) float64 seconds                                   empty without audio
    signal_curves(scene) -> signals.Curves | None      .at(times) -> {name: values}: any resolution
    write_signals_plot(scene, path) -> Path            the PNG of `cppn-anim audio -o`

What the caller lends the work, explicitly: a report.Reporter (progress, warnings, notes),
a cancel flag (a threading.Event: once set, the work stops between frames or bands with
errors.Cancelled and cleans up), and a pin (render.ThreadPin: how torch is held to the
threads a frame wants; the command line's; without one the process's threads are left as
they are). Nothing here changes process-wide state.

Bad requests raise errors.UsageError (the CLI's exit 2), bad scenes errors.SceneError,
failures while working an errors.RenderError (EncodeError, TargetBusy; OutOfMemory when
the memory estimate exceeds the free memory, before any work).
"""
from __future__ import annotations

import difflib
import os
import threading
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from . import encode, gif, scene as scenes, targets
from .errors import DeviceUnavailable, OutputError, SceneError, UsageError, option
from .report import QUIET, Reporter, check
from .scene import Scene

PREVIEW_LONG_SIDE = 256
PREVIEW_MAX_FPS = 15
MAX_SIDE = 16384  # the largest width or height of any render (as scene.size allows)


# ------------------------------------------------------------------ loading


def overrides_list(overrides) -> list[tuple]:
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
    Its audio.path is read from the file's folder (signals.hear: analysed once, cached).
    """
    path = Path(path)
    if not path.exists():
        if path.is_symlink():  # a dangling link: say where it points, never suggest its own name
            raise SceneError(str(path), f"a symbolic link to {os.readlink(path)}, which does not exist")
        raise SceneError(str(path), "no such file" + _siblings_hint(path))
    return scenes.load(path, overrides_list(overrides), hear=_hearing(path.parent), limits=_limits)


def _hearing(folder: Path | None, heard=None):
    """scene.parse's `hear`: the audio stage (signals.hear), audio.path read from `folder`
    (None: the current folder); or, given `heard` (signals.SceneAudio), that, heard before."""
    def hear(scene: Scene, user_path: bool):
        if heard is not None:
            return heard
        from . import signals

        return signals.hear(scene, user_path, folder=folder)

    return hear


def _limits(scene: Scene) -> list[SceneError]:
    """scene.parse's `limits`: what the heard signals do to the parameters that must stay > 0 (trajectory's rule)."""
    from . import trajectory

    return trajectory.modulation_problems(scene)


def _siblings_hint(path: Path) -> str:
    """The scene files beside a missing one, and the closest name (only files that are there)."""
    folder = path.parent
    try:
        names = sorted(p.name for p in folder.glob("*.yaml") if p.name != path.name and p.exists())
    except OSError:
        return ""
    if not names:
        return ""
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    shown = ", ".join(n.removesuffix(".yaml") for n in names[:20])
    where = "" if str(folder) == "." else f"{folder}/"
    guess = f"did you mean {where}{close[0]}? " if close else ""
    return f" ({guess}scenes in {folder}: {shown})"


def parse(text: str, source: str = "<scene>", overrides: Iterable | Mapping = (), default_name: str = "scene", *,
          folder: str | Path | None = None, heard=None) -> Scene:  # fmt: skip
    """A scene from YAML text (e.g. an editor's buffer); same rules and errors as load().

    audio.path is read from `folder`; by default the folder of `source` when source names
    a file (the studio's editor: the file being edited), else (`<scene>`: loads()) the
    current folder. heard: a signals.SceneAudio heard before (a segment made elsewhere
    from the resolved scene): used as it is, the file not read again.
    """
    if folder is None and not (source.startswith("<") and source.endswith(">")):
        folder = Path(source).parent
    overrides = overrides_list(overrides)
    if heard is not None:  # the file was found (and its path checked) when it was heard: its path as found
        overrides.append(("audio.path", scenes.UserPath(heard.path), "(heard before)"))
    return scenes.parse(text, source, overrides, default_name=default_name,
                        hear=_hearing(None if folder is None else Path(folder), heard), limits=None if heard is not None else _limits)  # fmt: skip


# ------------------------------------------------------------------ the soundtrack


def signals(scene: Scene, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
    """The scene's signals at frames start..stop-1 (default all): {name: (n,) float64 in [0, 1]},
    frame i at t = i / fps, exactly what the frames see; {} without audio (docs/scenes.md, Audio)."""
    start, stop = frame_range(scene, start, stop)
    if scene.heard is None:
        return {}
    return scene.heard.frames(scene.fps, range(start, stop))


def beats(scene: Scene) -> np.ndarray:
    """The beat times in [0, duration), seconds (float64); empty without audio."""
    return np.zeros(0) if scene.heard is None else np.asarray(scene.heard.beats, dtype=np.float64)


def signal_curves(scene: Scene):
    """The signals as curves over [0, duration] (signals.Curves: `.at(times)` -> {name: values},
    `.knots()`, `.beats`, `.names`), to draw them at any resolution; None without audio."""
    return None if scene.heard is None else scene.heard.curves


def soundtrack(scene: Scene, start: int = 0, stop: int | None = None) -> targets.Soundtrack | None:
    """What plays with frames start..stop-1: the audio file (absolute path), the second of
    it that plays with frame `start` (audio.start + start / fps), and how long it plays
    ((stop - start) / fps: cut, or padded with silence); None without audio. A player starts
    the file at `.start` when the picture shows t = 0 (plus t when seeking to t)."""
    if scene.heard is None:
        return None
    start, stop = frame_range(scene, start, stop)
    heard = scene.heard
    return targets.Soundtrack(heard.path, heard.start + start / scene.fps, (stop - start) / scene.fps, heard.sha256)


def write_signals_plot(scene: Scene, path: str | Path) -> Path:
    """The scene's signals drawn over time (one row each, beats marked) as a PNG at path, atomically."""
    from . import signals_plot

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UsageError(f"{option('path')} {path}: the signals are drawn as a PNG; name it *.png")
    if scene.heard is None:
        raise scene.error(("audio",), "the scene has no soundtrack (add audio: {path: ...}, or give --audio FILE)")
    targets.check_file(path)
    heard = scene.heard
    labels = {}
    for name, d in heard.definitions.items():
        labels[name] = f"{d.what}, release {d.release:g}" if d.feature == "beat" else f"{d.what}, {d.attack:g}/{d.release:g} s"
    title = f"{scene.name}: {heard.path.name} from {heard.start:g} s, {heard.grid.bpm:.2f} bpm"
    image = signals_plot.plot(heard.curves, labels, title=title)
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=targets.png_info(scene.resolved_yaml()))
    return targets.write_bytes(buffer.getvalue(), path)


# ------------------------------------------------------------------ sizes and times


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
    scene), at most `max_fps` (defaults: 256 px and 15 fps, shown as a GIF) and at least the
    slowest rate a GIF can show (scene.GIF_MIN_FPS: a frame at most 655.35 s)."""
    fps = min(scene.fps, max_fps)
    if scenes.exact(fps) < scenes.GIF_MIN_FPS:
        fps = float(scenes.GIF_MIN_FPS)
    return scenes.changed(scene, size=fit(scene.size, long_side), fps=fps)


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
        raise UsageError(f"{option('time')} {float(t):g}: the scene runs from 0 to {scene.duration:g} s")
    return t


def frame_time(scene: Scene, i: int) -> Fraction:
    """Frame i's time, i / fps exactly (what `still --frame I` shows), else UsageError."""
    if not 0 <= i < scene.frame_count:
        raise UsageError(f"{option('frame')} {i}: the scene has frames 0..{scene.frame_count - 1}")
    return scene.frame_time(i)


# ------------------------------------------------------------------ pixels


@dataclass
class Prepared:
    """One scene's weights, motion and renderer at one size: reuse it for many frames."""

    scene: Scene
    motion: Any  # trajectory.Motion
    renderer: Any  # bands.BandRenderer, fused.FusedRenderer or render.Renderer (render_path): render(p, rows_done, cancel), frames(params, cancel)
    looked: bool = False  # a flat frame was reported (or cannot be: inputs: []): look no more

    def still(self, t: float, rows_done=None, cancel: threading.Event | None = None) -> np.ndarray:
        """The frame at time t (seconds) -> (H, W, 3) uint8. rows_done(n) hears of finished rows."""
        with np.errstate(all="ignore"):  # overflow shows as a flat picture, reported once below
            frame = self.renderer.render(self.motion.at(t), rows_done=rows_done, cancel=cancel)
        self._look(frame)
        return frame

    def frames(self, start: int = 0, stop: int | None = None, cancel: threading.Event | None = None) -> Iterator[np.ndarray]:
        """Frames start..stop-1 (t = i / fps) in order, each (H, W, 3) uint8."""
        from .trajectory import frame_times

        times = frame_times(self.scene, start, stop)
        rendered = self.renderer.frames((self.motion.at(t) for t in times), cancel)
        for _ in times:
            check(cancel)
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


KERNELS = ("auto", "fused", "eager")
KERNEL_VARIABLE = "CPPN_ANIM_KERNEL"  # auto | fused | eager: which path computes the network (render_path)


def prepare(
    scene: Scene, size: tuple[int, int] | list[int] | None = None, *, threads: int | None = None, pin=None, workers: int | None = None,
    kernel: str | None = None,
) -> Prepared:  # fmt: skip
    """Weights, motion and renderer for a scene at `size` (W, H; default the scene's). Imports torch.

    The renderer is the fastest path that can run the scene (render_path): on a CPU in fp32
    the fused kernel's band workers (bands.BandRenderer), on CUDA the fused Triton kernel
    (fused.FusedRenderer), else torch's layer-by-layer path (render.Renderer).
    workers: the band workers of the CPU path; its caller's to give, here or as the pin's
    `workers` (the command line's entry.Threads: torch.get_num_threads() read once when the
    command starts, so OMP_NUM_THREADS=1 means one worker); default `threads`, else
    torch.get_num_threads() as the caller has it (the API's, the studio's thread's).
    threads: the torch threads the torch path's frames want (default: its choice, 1 for a
    small frame); pin: how torch is held to them (render.ThreadPin; an entry point's, or none).
    kernel: auto | fused | eager (default: $CPPN_ANIM_KERNEL, else auto).
    """
    from . import render, resources, trajectory

    width, height = size or scene.size
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise UsageError(f"size {width}x{height}: each side 1..{MAX_SIDE}")
    try:
        device = render.pick_device(scene.render.device)
    except DeviceUnavailable as e:
        raise scene.error(("render", "device"), str(e)) from None
    path, why = render_path(scene.network, device, scene.render.precision, kernel)
    # errors.OutOfMemory (a MemoryError) before the weights, when the estimate cannot fit
    resources.check_fits(scene.network, int(width), int(height), scene.render.supersample, str(device), scene.render.precision, path)
    if scene.render.precision != "fp32":  # once per run (Python shows a warning once per place)
        warnings.warn(DraftPrecision(draft_message(scene.render.precision)), stacklevel=2)
    if not scene.network.inputs:  # said once here; every frame of such a scene is one colour
        warnings.warn(FlatPicture(f"{scene.name}: network.inputs is empty, so every pixel of a frame is the same colour;"
                                  " add x, y or r"), stacklevel=2)  # fmt: skip
    with np.errstate(all="ignore"):  # huge scales overflow: the flat-picture warning says it in one line
        weights = build_weights(scene)
        k = scene.render.supersample
        if path == "fused-cpu":
            import torch

            from .bands import BandRenderer

            count = workers or getattr(pin, "workers", None) or threads or torch.get_num_threads()
            renderer = BandRenderer(weights, int(width), int(height), k, workers=max(1, int(count)))
        elif path == "fused-triton":
            from .fused import FusedRenderer

            renderer = FusedRenderer(weights, int(width), int(height), k, device=str(device), precision=scene.render.precision)
        else:
            renderer = render.Renderer(
                weights, int(width), int(height), supersample=k, device=str(device), precision=scene.render.precision, threads=threads, pin=pin,
            )  # fmt: skip
        renderer.why_not_fused = why
    return Prepared(scene, trajectory.Motion(scene), renderer, looked=not scene.network.inputs)


def render_path(net, device, precision: str, kernel: str | None = None) -> tuple[str, str | None]:
    """Which renderer computes a network (scene.Network, or its Weights) on this torch device: ("fused-cpu" | "fused-triton" |
    "torch", why not fused: None or one line). auto: the fused kernel wherever it can run (a
    CPU in fp32, CUDA in fp32 or bf16; every activation has a body there, the width fits),
    else torch's; eager: torch's always; fused: the fused kernel, or UsageError saying why not.
    `kernel` None reads $CPPN_ANIM_KERNEL (for checks and benchmarks: scripts/gpu_check.sh)."""
    import os

    choice = kernel or os.environ.get(KERNEL_VARIABLE) or "auto"
    if choice not in KERNELS:
        raise UsageError(f"{KERNEL_VARIABLE}={choice}: use one of {', '.join(KERNELS)}")
    if choice == "eager":
        return "torch", "asked for the eager path"
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cpu":
        from . import bands

        path = "fused-cpu"
        why = f"{precision} runs on torch's path (the fused CPU kernel is fp32)" if precision != "fp32" else bands.unsupported(net)
    elif kind == "cuda":
        from . import fused

        path = "fused-triton"
        why = (f"{precision} runs on torch's path (the fused GPU kernel is fp32 or bf16)" if precision not in ("fp32", "bf16")
               else fused.unusable(device) or fused.unsupported(net))  # fmt: skip
    else:
        path, why = "torch", f"no fused kernel for {kind}"
    if why is None:
        return path, None
    if choice == "fused":
        raise UsageError(f"{KERNEL_VARIABLE}=fused: {why}")
    return "torch", why


def build_weights(scene: Scene):
    """The scene's network weights (network.Weights): every command, the API and the studio build them here.

    The matrices are tiny: on a machine busy with other renders, numpy's BLAS threads mostly
    wait to be scheduled (network.build of scenes/spiral.yaml 30-130x slower:
    benchmarks/blas_threads.py measures it), so the entry points (entry.py) run numpy's BLAS
    on one thread; this function leaves the process's BLAS as it is. The weights are bit for
    bit the same on any number of threads (tests/test_core.py checks).
    """
    from . import network

    return network.build(scene.network, scene.seed)


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
# (docs/look.md); tests/test_look.py keeps the measurement within these.
DRAFT_DIFFERENCE = {"bf16": 66, "fp16": 9}


def draft_message(precision: str) -> str:
    return (f"{precision} is a draft mode: on the default scene pixels differ from fp32 by up to "
            f"{DRAFT_DIFFERENCE[precision]}/255 at contours; use fp32 for final renders")  # fmt: skip


def still(scene: Scene, t: float, size=None, rows_done=None, *, cancel: threading.Event | None = None, pin=None) -> np.ndarray:
    """The scene at time t (seconds, 0..duration) -> (H, W, 3) uint8, at size (W, H) or the scene's.
    The time is checked before any work (the weights of a large network take seconds and memory)."""
    t = check_time(scene, t)
    return prepare(scene, size, pin=pin).still(t, rows_done, cancel)


def frames(scene: Scene, start: int = 0, stop: int | None = None, size=None, *, cancel: threading.Event | None = None, pin=None) -> Iterator[np.ndarray]:
    """Frames start..stop-1 of the scene, in order, each (H, W, 3) uint8."""
    start, stop = frame_range(scene, start, stop)
    return prepare(scene, size, pin=pin).frames(start, stop, cancel)


@dataclass(frozen=True)
class SceneFrames:
    """What a segmented render runs, as distribute receives it: the resolved scene (YAML), and
    its frames start..stop-1 made from it anywhere (pickled to a Dask worker, or here).
    heard: what the scene's audio gives (signals.SceneAudio), heard once here: a worker
    elsewhere needs neither the audio file nor the audio stack."""

    yaml: str
    heard: Any = None

    @classmethod
    def of(cls, scene: Scene) -> "SceneFrames":
        return cls(scene.resolved_yaml(), scene.heard)

    @property
    def description(self) -> str:
        """What decides the frames (recorded in the output, and the key of kept segments; with
        audio it holds the file's sha256)."""
        return self.yaml

    def __call__(self, start: int, stop: int, cancel: threading.Event | None = None, pin=None) -> Iterator[np.ndarray]:
        scene = parse(self.yaml, "<segment>", heard=self.heard)
        return prepare(scene, pin=pin).frames(start, stop, cancel)


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


def check_named(path: str | Path | None, what: str = option("path")) -> None:
    """Refuse a path whose name is only an extension (`-o .mp4`, `-o out/.png`): it names no
    file (it was read as a hidden file without an extension, and refused as the wrong format)."""
    if path is None:
        return
    name = Path(path).name
    if name.startswith(".") and name[1:].lower() in (*scenes.FORMATS, "yaml"):
        raise UsageError(f"{what} {path}: '{name}' is an extension without a name; name the file, e.g. {Path(path).with_name('NAME' + name)}")


def output_format(scene: Scene, path: str | Path | None = None, fmt: str | None = None) -> str:
    """The format: `fmt` if given, else the extension of `path`, else the scene's output.format."""
    check_named(path)
    if fmt:
        if fmt not in scenes.FORMATS:
            raise UsageError(f"{option('format')} {fmt}: use one of {', '.join(scenes.FORMATS)}")
        return fmt
    if path is not None:
        ext = Path(path).suffix.lstrip(".").lower()
        if ext in scenes.FORMATS:
            return ext
        if ext:
            raise UsageError(f"{option('path')} {path}: cannot tell the format from '.{ext}'; {option('choose-format')}")
    return scene.output.format


def default_path(scene: Scene, fmt: str) -> Path:
    """Where a render goes without -o: the scene's output.path filled in."""
    return targets.output_path(scene.output.path, scene.name, fmt)


def video_spec(
    scene: Scene, fmt: str, path: Path, start: int = 0, preset: str | None = None, colors: int = 256, segment: bool = False, stop: int | None = None
) -> targets.VideoSpec:
    """What to write, checked before any rendering: format rules, a writable path."""
    scene.check_output(fmt)
    if preset is not None and preset not in scenes.PRESETS:
        raise UsageError(f"--preset {preset}: use one of {', '.join(scenes.PRESETS)}")
    spec = targets.VideoSpec(
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
        audio=soundtrack(scene, start, stop) if fmt in ("mp4", "webm") and scene.heard is not None and scene.heard.mux else None,
        digits=targets.frame_digits(scene.frame_count),  # png: frame_00000.png, wider past 100,000 frames
    )
    if not segment:
        targets.check_output(spec)
    return spec


def encode_frames(
    scene: Scene, spec: targets.VideoSpec, start: int, stop: int, report: Reporter = QUIET, cancel: threading.Event | None = None, pin=None,
    claimed: bool = False,
) -> int:
    """Render frames start..stop-1 into spec (one process, encoding overlapped); the frame count.
    claimed: the caller holds the target's claim (else it is taken here, before the weights).

    A GIF's one palette comes from a sample of its frames (rendered again: cheap next to
    keeping every frame in memory).
    """
    import contextlib

    with contextlib.nullcontext() if claimed or spec.segment else targets.claim_spec(spec):
        prepared = prepare(scene, pin=pin)

        def counted():
            for frame in prepared.frames(start, stop, cancel):
                yield frame
                report.progress(1)

        def palette_frames():
            return [prepared.still(scene.frame_time(start + i), cancel=cancel) for i in gif.sample_indices(stop - start)]

        encode.write(counted(), spec, palette_frames=palette_frames, warn=report.warn, cancel=cancel, claimed=True)
    return stop - start


def render(
    scene: Scene,
    path: str | Path | None = None,
    fmt: str | None = None,
    start: int = 0,
    stop: int | None = None,
    *,
    preset: str | None = None,
    colors: int = 256,
    report: Reporter = QUIET,
    cancel: threading.Event | None = None,
    pin=None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    hold=None,
) -> Rendered:
    """Render frames start..stop-1 of the scene to a file (or a png folder), as `cppn-anim render`.

    path: default the scene's output.path; fmt: default from path's extension, else
    output.format. workers / scheduler / resume: in segments (distribute; hold: the caller's
    way to keep signals from a local cluster's workers while they start). `report` hears
    of progress (frames), warnings, notes (what a segmented render kept or reused) and
    starting() once every check has passed, just before the work. Atomic: the target is
    replaced only on success; `cancel`, once set, stops the work with the target as it was.
    """
    fmt = output_format(scene, path, fmt)
    path = Path(path) if path is not None else default_path(scene, fmt)
    start, stop = frame_range(scene, start, stop)
    segmented = workers is not None or scheduler is not None or resume
    if segmented:
        _check_segmented(fmt, workers, scheduler)
    spec = video_spec(scene, fmt, path, start, preset, colors, stop=stop)
    if fmt == "png":
        _check_frames_ours(spec.path, start, stop, spec.digits)
    with targets.claim_spec(spec):  # before any work: a busy target exits at once
        report.starting()
        if segmented:
            from . import distribute

            if fmt in ("mp4", "webm") and (scene.width % 2 or scene.height % 2):
                report.warn(f"{scene.width}x{scene.height} has an odd side; the video is padded to even sides (edge repeated)")
            distribute.render(
                SceneFrames.of(scene), spec, start, stop, workers=workers, scheduler=scheduler, resume=resume,
                report=report, cancel=cancel, pin=pin, worker_threads=_threads_wanted(scene), hold=hold, claimed=True,
            )  # fmt: skip
        else:
            encode_frames(scene, spec, start, stop, report, cancel, pin, claimed=True)
    return Rendered(path, fmt, stop - start, scene.width, scene.height, colors, scene.fps)


def _check_frames_ours(folder: Path, start: int, stop: int, digits: int) -> None:
    """A png render replaces only frame files cppn-anim wrote: one that another tool wrote
    (or a link) in the frames it would write is refused before any work (exit 2), named."""
    foreign = targets.foreign_frames(folder, start, stop, digits)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise OutputError(
            f"{foreign[0]}{more}: not written by cppn-anim, and frames {start}..{stop - 1} would replace it;"
            " move it away or render into another folder"
        )


def _threads_wanted(scene: Scene) -> int | None:
    """The torch threads a frame of the scene wants (render.threads_for: 1 for a small frame on a CPU)."""
    from . import network, render

    net, k = scene.network, scene.render.supersample
    try:
        kind = render.pick_device(scene.render.device).type
    except DeviceUnavailable:  # said where the frames are made, at the scene's render.device
        kind = scene.render.device.split(":")[0]
    return render.threads_for(net.width, net.depth - 1, network.channels(net.color), scene.width * scene.height * k * k, kind)


def _check_segmented(fmt: str, workers: int | None, scheduler: str | None) -> None:
    if fmt == "gif":
        raise UsageError("gif cannot be rendered in segments: one palette spans the whole animation; use mp4, webm or png")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: at least 1")
    if workers is not None and workers > max_workers():
        raise UsageError(f"--workers {workers}: at most {max_workers()}, the CPU count of this machine (for more, start a cluster and give --scheduler)")
    if (workers is not None or scheduler) and not _has_dask():
        raise UsageError("--workers and --scheduler need Dask: pip install 'cppn-anim[cluster]' (or: pip install 'dask[distributed]')")


def max_workers() -> int:
    """The most local workers a segmented render may start: the machine's CPU count."""
    return os.cpu_count() or 1


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
    scene: Scene, t: float, path: str | Path | None = None, *, report: Reporter = QUIET, cancel: threading.Event | None = None, pin=None
) -> Path:
    """The frame at time t (seconds) as a PNG (provenance inside), atomically; returns its path.
    report.progress(n) hears of finished rows; report.starting() runs once every check has
    passed, just before the work."""
    t = check_time(scene, t)
    check_named(path)
    path = Path(path) if path is not None else default_still_path(scene, t)
    if path.suffix.lower() != ".png":
        raise UsageError(f"{option('path')} {path}: a still is a PNG; name it *.png")
    targets.check_file(path)
    with targets.claim(path):  # before any work: a busy target exits at once
        report.starting()
        frame = prepare(scene, pin=pin).still(t, report.progress, cancel)
        check(cancel)
        return encode.write_still(frame, path, scene.resolved_yaml(), claimed=True)
