"""Frames -> a file: MP4 (H.264), WebM (VP9), GIF or a folder of PNGs.

We drive the ffmpeg that imageio-ffmpeg ships (or IMAGEIO_FFMPEG_EXE) ourselves,
because a render must never be lost quietly:
- output goes to a temporary file beside the target (same extension) and is moved into
  place only when ffmpeg exited 0 and wrote something; an existing target survives any
  failure or Ctrl-C untouched;
- ffmpeg runs in its own session, so a terminal's Ctrl-C reaches only us and we stop it;
- its stderr is read by a thread (no pipe stall) and its last lines explain a failure;
- frames are written by a writer thread from a bounded queue, so encoding overlaps rendering.
"""
from __future__ import annotations

import os
import queue
import secrets
import shutil
import subprocess
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import __version__
from .scene import FORMATS

DEFAULT_CRF = {"mp4": 18, "webm": 31}
QUEUE_FRAMES = 8  # frames waiting for the encoder: enough to smooth out jitter, little memory
PALETTE_SAMPLES = 24  # frames a GIF palette is built from
STDERR_LINES = 20


class EncodeError(Exception):
    """ffmpeg or the disk failed while writing."""


class OutputPathError(Exception):
    """The output path cannot be written (refused before any rendering)."""


@dataclass(frozen=True)
class VideoSpec:
    path: Path  # the final output path (a folder for png)
    format: str  # mp4 | gif | webm | png
    width: int
    height: int
    fps: float
    crf: int | None = None
    preset: str = "medium"
    provenance: str = ""  # the resolved scene, recorded in the file
    first_index: int = 0  # png: number of the first frame written
    colors: int = 256  # gif: palette size (fewer colours, smaller file)
    segment: bool = False  # a piece of a segmented render: mp4 -> H.264 in MPEG-TS, no metadata


def output_path(template: str, name: str, fmt: str) -> Path:
    """Fill {name}, {ext}, {format}. For png the path is a folder: the default names out/{name}_frames."""
    if fmt == "png" and template == "out/{name}.{ext}":
        template = "out/{name}_frames"
    try:
        path = Path(template.format(name=name, ext=fmt, format=fmt))
    except (KeyError, IndexError, ValueError) as e:
        raise OutputPathError(f"output path '{template}': only {{name}}, {{ext}} and {{format}} can be filled in ({e})") from None
    if fmt != "png" and path.suffix.lstrip(".").lower() in FORMATS and path.suffix.lstrip(".").lower() != fmt:
        path = path.with_suffix("." + fmt)
    return path


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise EncodeError(f"no ffmpeg found: {e}") from None


def even_size(width: int, height: int) -> tuple[int, int]:
    """yuv420p needs even sides: the size the video will have."""
    return width + width % 2, height + height % 2


class _Target:
    """A temporary path beside the target, moved into place only on success."""

    def __init__(self, path: Path, folder: bool):
        self.path, self.folder = path, folder
        token = secrets.token_hex(4)
        name = f".{path.name}.{token}.part" if folder else f".{path.stem}.{token}.part{path.suffix}"
        self.temp = path.parent / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path.is_dir() != folder:
                kind = "a folder" if path.is_dir() else "a file"
                raise OutputPathError(f"{path}: is {kind}; choose another output path")
            if folder:
                self.temp.mkdir()
            else:
                self.temp.open("wb").close()
        except OutputPathError:
            raise
        except OSError as e:
            raise OutputPathError(f"{path}: cannot write there ({e.strerror})") from None

    def commit(self) -> None:
        if not self.folder:
            if self.temp.stat().st_size == 0:
                raise EncodeError("ffmpeg wrote an empty file")
            os.replace(self.temp, self.path)
            return
        old = None
        if self.path.exists():
            old = self.path.parent / f".{self.path.name}.{secrets.token_hex(4)}.old"
            os.replace(self.path, old)
        os.replace(self.temp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        if self.folder:
            shutil.rmtree(self.temp, ignore_errors=True)
        else:
            try:
                self.temp.unlink()
            except FileNotFoundError:
                pass


@contextmanager
def _atomic(path: Path, folder: bool = False) -> Iterator[Path]:
    """Yields a temporary path beside `path`; moved into place if the block succeeds, removed if not."""
    target = _Target(path, folder)
    try:
        yield target.temp
        target.commit()
    except BaseException:
        target.discard()
        raise


def check_output(spec: VideoSpec) -> None:
    """Refuse a path that cannot be written before any rendering starts."""
    target = _Target(spec.path, spec.format == "png")
    target.discard()


def write(
    frames: Iterable[np.ndarray],
    spec: VideoSpec,
    palette_frames: Callable[[], list[np.ndarray]] | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> Path:
    """Encode frames (H, W, 3) uint8 into spec.path; returns the path. Atomic: all or nothing."""
    with _atomic(spec.path, folder=spec.format == "png") as temp:
        if spec.format == "png":
            _pipeline(frames, _PngSink(temp, spec))
            return spec.path
        if spec.format in ("mp4", "webm") and (spec.width % 2 or spec.height % 2):
            warn(
                f"{spec.width}x{spec.height} has an odd side; {spec.format} (yuv420p) needs even sides,"
                f" so the video is {'x'.join(map(str, even_size(spec.width, spec.height)))} with the edge repeated"
            )
        palette = None
        if spec.format == "gif":
            palette = temp.parent / f"{temp.name}.palette.png"
        try:
            if palette is not None:
                _make_palette(palette_frames() if palette_frames else [], spec, palette)
            _pipeline(frames, _Ffmpeg(temp, spec, palette))
        finally:
            if palette is not None:
                palette.unlink(missing_ok=True)
        if spec.format == "gif" and spec.provenance:
            _add_gif_comment(temp, f"cppn-anim {__version__}\n{spec.provenance}")
    return spec.path


# ------------------------------------------------------------------ the overlap


def _pipeline(frames: Iterable[np.ndarray], sink) -> None:
    """Render (this thread, by pulling `frames`) while `sink` writes (a writer thread).

    Both sides wait with short timeouts and check the other's state, rather than trusting
    the queue alone: a Ctrl-C can land inside the queue's own locking, and must still end
    both threads within moments.
    """
    pending: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
    failure: list[BaseException] = []
    finished = object()
    cancelled = threading.Event()

    def writer():
        try:
            while not cancelled.is_set():
                try:
                    frame = pending.get(timeout=0.1)
                except queue.Empty:
                    continue
                if frame is finished:
                    return
                sink.write(frame)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            failure.append(e)

    def hand_over(item) -> None:
        while not failure:
            try:
                pending.put(item, timeout=0.1)
                return
            except queue.Full:
                if not thread.is_alive():
                    break
        raise failure[0] if failure else EncodeError("the writer thread stopped")

    thread = threading.Thread(target=writer, name="cppn-anim-writer", daemon=True)
    thread.start()
    try:
        for frame in frames:
            hand_over(frame)
        hand_over(finished)
        thread.join()
        if failure:
            raise failure[0]
        sink.finish()
    except BaseException:
        cancelled.set()
        sink.abort()
        thread.join(timeout=5)
        raise


# ------------------------------------------------------------------ sinks


class _PngSink:
    def __init__(self, folder: Path, spec: VideoSpec):
        from PIL import PngImagePlugin

        self.folder, self.index = folder, spec.first_index
        self.info = PngImagePlugin.PngInfo()
        self.info.add_text("Software", f"cppn-anim {__version__}")
        if spec.provenance:
            self.info.add_itxt("cppn-anim:scene", spec.provenance, zip=True)

    def write(self, frame: np.ndarray) -> None:
        self.save(frame, self.folder / f"frame_{self.index:05d}.png")
        self.index += 1

    def save(self, frame: np.ndarray, path: Path) -> None:
        from PIL import Image

        try:
            Image.fromarray(frame).save(path, format="PNG", pnginfo=self.info, compress_level=4)
        except OSError as e:
            raise EncodeError(f"cannot write {path}: {e}") from None

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _add_gif_comment(path: Path, text: str) -> None:
    """Insert a GIF comment extension (the provenance) after the global colour table, streaming."""
    data = text.encode("utf-8")
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    comment = b"\x21\xfe" + blocks + b"\x00"
    staged = path.with_name(path.name + ".c")
    with open(path, "rb") as src, open(staged, "wb") as dst:
        head = src.read(13)  # header (6) + logical screen descriptor (7)
        if len(head) < 13 or not head.startswith(b"GIF8"):
            raise EncodeError("ffmpeg wrote something that is not a GIF")
        table = 3 * 2 ** ((head[10] & 0x07) + 1) if head[10] & 0x80 else 0
        dst.write(head + src.read(table) + comment)
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(staged, path)


def _rate(fps: float) -> str:
    return str(Fraction(fps).limit_denominator(100000))


def _input_args(width: int, height: int, fps: float) -> list[str]:
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", _rate(fps), "-i", "pipe:0"]


def _metadata(spec: VideoSpec) -> list[str]:
    return ["-metadata", f"comment=cppn-anim {__version__}\n{spec.provenance}", "-metadata", f"encoder_tool=cppn-anim {__version__}"]


def _codec_args(spec: VideoSpec) -> list[str]:
    meta = _metadata(spec)
    bt709 = [
        "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
        "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
    ]  # fmt: skip
    crf = str(spec.crf if spec.crf is not None else DEFAULT_CRF.get(spec.format, 0))
    if spec.format == "mp4" and spec.segment:  # MPEG-TS joins cleanly; metadata and faststart come at the join
        return bt709 + ["-c:v", "libx264", "-preset", spec.preset, "-crf", crf, "-f", "mpegts"]
    if spec.format == "mp4":
        return bt709 + ["-c:v", "libx264", "-preset", spec.preset, "-crf", crf, "-movflags", "+faststart"] + meta
    if spec.format == "webm":
        return bt709 + ["-c:v", "libvpx-vp9", "-crf", crf, "-b:v", "0", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4"] + meta
    raise ValueError(spec.format)


def _run_ffmpeg(args: list[str], stdin) -> subprocess.Popen:
    try:
        return subprocess.Popen(
            [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y", *args],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C is ours to handle, not ffmpeg's
        )
    except OSError as e:
        raise EncodeError(f"cannot start ffmpeg: {e}") from None


def _make_palette(frames: list[np.ndarray], spec: VideoSpec, palette: Path) -> None:
    """One 256-colour palette for the whole GIF, from a sample of its frames."""
    args = _input_args(spec.width, spec.height, spec.fps) + ["-vf", f"palettegen=stats_mode=full:max_colors={spec.colors}", "-frames:v", "1", str(palette)]
    sink = _Ffmpeg(palette, spec, None, args=args)
    _pipeline(frames, sink)


class _Ffmpeg:
    """One ffmpeg process fed raw RGB frames on stdin."""

    def __init__(self, out: Path, spec: VideoSpec, palette: Path | None, args: list[str] | None = None, stdin=subprocess.PIPE):
        self.out, self.spec = out, spec
        self.pad = spec.format in ("mp4", "webm") and (spec.width % 2 or spec.height % 2)
        w, h = even_size(spec.width, spec.height) if self.pad else (spec.width, spec.height)
        if args is None:
            if spec.format == "gif":
                args = _input_args(w, h, spec.fps) + [
                    "-i", str(palette),
                    "-lavfi", "[0:v][1:v]paletteuse=dither=bayer:bayer_scale=3:diff_mode=rectangle",
                    "-loop", "0", "-f", "gif", str(out),
                ]  # fmt: skip
            else:
                args = _input_args(w, h, spec.fps) + _codec_args(spec) + [str(out)]
        self.proc = _run_ffmpeg(args, stdin)
        self.errors: deque[str] = deque(maxlen=STDERR_LINES)
        self.reader = threading.Thread(target=self._read_errors, daemon=True)
        self.reader.start()

    def _read_errors(self) -> None:
        for line in iter(self.proc.stderr.readline, b""):
            self.errors.append(line.decode("utf-8", "replace").rstrip())

    def write(self, frame: np.ndarray) -> None:
        if self.pad:
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame).data)
        except (BrokenPipeError, OSError):
            self._wait()
            raise self._failure("ffmpeg stopped reading frames") from None

    def finish(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        code = self._wait()
        if code != 0:
            raise self._failure(f"ffmpeg failed (exit status {code})")
        if not self.out.exists() or self.out.stat().st_size == 0:
            raise self._failure("ffmpeg wrote nothing")

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        self._wait()

    def _wait(self) -> int:
        code = self.proc.wait()
        self.reader.join(timeout=5)
        return code

    def _failure(self, what: str) -> EncodeError:
        tail = "\n".join(line for line in self.errors if line.strip())
        return EncodeError(f"{what}" + (f":\n{tail}" if tail else " (it printed nothing)"))


def sample_indices(count: int, samples: int = PALETTE_SAMPLES) -> list[int]:
    """Evenly spread frame indices for building a GIF palette."""
    if count <= samples:
        return list(range(count))
    return sorted({int(i) for i in np.linspace(0, count - 1, samples).round()})


def write_still(frame: np.ndarray, path: Path, provenance: str = "") -> Path:
    """One PNG, atomically, with the provenance in a text chunk."""
    with _atomic(path) as temp:
        _PngSink(temp.parent, VideoSpec(path, "png", frame.shape[1], frame.shape[0], 1, provenance=provenance)).save(frame, temp)
    return path


def write_bytes(data: bytes, path: Path) -> Path:
    """A finished file's bytes, atomically."""
    with _atomic(path) as temp:
        temp.write_bytes(data)
    return path


def concat(listing: Path, spec: VideoSpec) -> Path:
    """Join segments listed in an ffmpeg concat file into spec.path without re-encoding."""
    with _atomic(spec.path) as temp:
        args = ["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", *_metadata(spec)]
        if spec.format == "mp4":
            args += ["-movflags", "+faststart"]
        _Ffmpeg(temp, spec, None, args=args + ["-f", spec.format, str(temp)], stdin=subprocess.DEVNULL).finish()
    return spec.path


def write_folder(files: list[tuple[str, bytes]], path: Path) -> Path:
    """A folder of finished files, atomically."""
    with _atomic(path, folder=True) as temp:
        for name, data in files:
            (temp / name).write_bytes(data)
    return path
