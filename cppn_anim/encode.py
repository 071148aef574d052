"""Frames -> a file: MP4 (H.264), WebM (VP9), GIF or a folder of PNGs.

We drive the ffmpeg that imageio-ffmpeg ships (or IMAGEIO_FFMPEG_EXE) ourselves,
because a render must never lose a user's work (the contract: shared cli.md, "Output paths"):
- one writer per target: an OS lock (filelock: released when the process ends, even by
  kill -9) on a file in the system temp folder named from the target's absolute path;
- a video goes to a temporary file beside the target, is read back (container, codec,
  frame count) and only then moved into place; an existing target survives any failure;
- a png render adds or replaces only its own frame_NNNNN.png files, each atomically; a
  full render removes frame files past its end only if cppn-anim wrote them (their text
  chunk says so); nothing else in the folder is touched, and folders are made only when written into;
- every path reaches ffmpeg as a plain file: the muxer is named (-f) and the path is an
  absolute `file:` URL, so a name like `-x.mp4`, `a:b.mp4` or `clip_%03d.gif` is just a name;
- ffmpeg runs in its own session, so a terminal's Ctrl-C reaches only us and we stop it;
  its stderr is read by a thread (no pipe stall) and its last lines explain a failure;
- frames are written by a writer thread from a bounded queue, so encoding overlaps
  rendering; an ffmpeg that accepts no frame for STALL_SECONDS is given up on.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import queue
import re
import secrets
import signal
import subprocess
import tempfile
import termios
import threading
import time
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from . import __version__
from .scene import fill_output_path

DEFAULT_CRF = {"mp4": 18, "webm": 31}
QUEUE_FRAMES = 8  # frames waiting for the encoder: enough to smooth out jitter, little memory
PALETTE_SAMPLES = 24  # frames a GIF palette is built from
STDERR_LINES = 20
STALL_SECONDS = 60.0  # an ffmpeg that accepts no frame for this long has hung (a test shrinks it)
# how a finished file must read back: (demuxer, codec) per container
READ_BACK = {"mp4": ("mov", "h264"), "webm": ("matroska", "vp9"), "gif": ("gif", "gif"), "ts": ("mpegts", "h264")}
FRAME_FILE = re.compile(r"frame_(\d{5,})\.png")


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
    segment: bool = False  # a piece of a segmented render, in a scratch folder: mp4 -> H.264 in MPEG-TS, no metadata
    stop: int | None = None  # png --frames A:B: B; None = a full render, which also removes its stale frames past its end


def output_path(template: str, name: str, fmt: str) -> Path:
    """Fill {name}, {ext}, {format} (scene.fill_output_path). For png the path is a folder."""
    try:
        return fill_output_path(template, name, fmt)
    except ValueError as e:
        raise OutputPathError(f"output path '{template}': {e}") from None


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise EncodeError(f"no ffmpeg found: {e}") from None


def even_size(width: int, height: int) -> tuple[int, int]:
    """yuv420p needs even sides: the size the video will have."""
    return width + width % 2, height + height % 2


def plain(path: Path) -> str:
    """A path as ffmpeg must read it: a file, never a protocol (`a:b`), an option (`-x`) or a pattern."""
    return "file:" + os.path.abspath(path)


# ------------------------------------------------------------------ one writer per target


def _busy(path: Path) -> EncodeError:
    return EncodeError(f"another render is writing {path}")


@contextmanager
def claim(path: Path, start: int = 0, stop: int | None = None) -> Iterator[None]:
    """Hold the target `path` (frames start..stop-1 of it; stop None: all from start on) while writing.

    Each claim is a lock file in the system temp folder, `cppn-anim-HASH.A-B.lock`, named
    from the target's absolute path and the frame range (never beside the target: a
    folder of frames stays ours to fill, and a read-only folder can still be locked). A
    short lock on `cppn-anim-HASH.lock` makes "look at the other claims, then take ours"
    one step: a claim whose range overlaps a held one fails at once, so png renders of
    disjoint --frames ranges share a folder, and anything else is one writer at a time.
    """
    from filelock import FileLock, Timeout

    key = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:20]
    base = Path(tempfile.gettempdir()) / f"cppn-anim-{key}"
    end = "end" if stop is None else str(stop)
    mine = FileLock(f"{base}.{start}-{end}.lock", timeout=0)
    with FileLock(f"{base}.lock", timeout=30):
        for other in base.parent.glob(f"{base.name}.*-*.lock"):
            m = re.fullmatch(r"\.(\d+)-(\d+|end)\.lock", other.name[len(base.name) :])
            if not m:
                continue
            a, b = int(m.group(1)), (None if m.group(2) == "end" else int(m.group(2)))
            if (b is None or start < b) and (stop is None or a < stop):  # the ranges overlap
                probe = FileLock(other, timeout=0)
                try:
                    probe.acquire()
                except Timeout:
                    raise _busy(path) from None
                probe.release()
                other.unlink(missing_ok=True)  # a claim whose render has ended (even by kill -9)
        try:
            mine.acquire()
        except Timeout:
            raise _busy(path) from None
    try:
        yield
    finally:
        with FileLock(f"{base}.lock", timeout=30):
            mine.release()
            Path(mine.lock_file).unlink(missing_ok=True)


def claim_spec(spec: VideoSpec):
    """The claim a render of `spec` holds: a video is all of its target; png frames their range."""
    if spec.format != "png":
        return claim(spec.path)
    return claim(spec.path, spec.first_index, spec.stop)


# ------------------------------------------------------------------ targets


def _check_path(path: Path, folder: bool) -> None:
    """Can `path` (a file, or a folder for png) be written? Nothing is created here."""
    for i, part in enumerate(path.parts):  # `sub/..` needs a real folder sub: mkdir -p cannot make one "through" it
        before = Path(*path.parts[:i]) if i else Path(".")
        if part == ".." and not before.is_dir():
            why = "does not exist" if not before.exists() else "is not a folder"
            raise OutputPathError(f"{path}: {before} {why}, so '{before}/..' leads nowhere; write the path without it")
    if path.exists() and path.is_dir() != folder:
        kind = "a folder" if path.is_dir() else "a file"
        raise OutputPathError(f"{path}: is {kind}; choose another output path")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(f"{path}: cannot write there ({parent} is a file)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: cannot write there (permission denied in {parent})")


def _temp_beside(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new temporary file in `folder` (so os.replace is atomic), open for writing. Unlike
    mkstemp's 0600 it gets the usual permissions (0666 less the umask), which the
    finished file keeps."""
    while True:
        path = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue


def _make_folders(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders it made (deepest last), so a failure can take them back."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    made = []
    try:
        for f in reversed(missing):
            f.mkdir()
            made.append(f)
    except OSError as e:
        _remove_folders(made)
        raise EncodeError(f"cannot make the folder {f}: {e.strerror}") from None
    return made


def _remove_folders(made: list[Path]) -> None:
    """Take back folders we made, deepest first, as long as they are empty."""
    for f in reversed(made):
        try:
            f.rmdir()
        except OSError:
            return


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yields a temporary file beside `path`; moved into place if the block succeeds, removed if not.

    The block writes the temporary file and checks it (read back) before returning."""
    made = _make_folders(path.parent)
    fd, temp = _temp_beside(path.parent, f".{path.stem}.", f".part{path.suffix}")
    os.close(fd)
    try:
        yield temp
        if temp.stat().st_size == 0:
            raise EncodeError("ffmpeg wrote an empty file")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        _remove_folders(made)
        raise


def check_output(spec: VideoSpec) -> None:
    """Refuse a path that cannot be written before any rendering starts (and create nothing)."""
    if spec.format != "png" and spec.path.name in ("", ".."):  # `.`, `/`, `..`: a folder, never a file's name
        raise OutputPathError(f"{spec.path}: is a folder; name the {spec.format} file in it, e.g. {spec.path / ('NAME.' + spec.format)}")
    if spec.format != "png" and spec.path.suffix.lower() != f".{spec.format}":
        raise OutputPathError(
            f"{spec.path}: a {spec.format} file must end in .{spec.format}"
            f" (name it {spec.path.with_suffix('.' + spec.format).name}, or choose the format that matches)"
        )
    _check_path(spec.path, spec.format == "png")


def check_file(path: Path) -> None:
    """Refuse a single-file target (a still, a sheet) that cannot be written; create nothing."""
    _check_path(path, folder=False)


def write(
    frames: Iterable[np.ndarray],
    spec: VideoSpec,
    palette_frames: Callable[[], list[np.ndarray]] | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> Path:
    """Encode frames (H, W, 3) uint8 into spec.path; returns the path. A video is all or
    nothing; png frames are each whole. Holds the target's claim while writing (not for a
    segment: it is written into a scratch folder of its own)."""
    with nullcontext() if spec.segment else claim_spec(spec):
        if spec.format == "png":
            frames_folder = PngFolder(spec.path, spec.provenance)
            _pipeline(frames, _PngSink(frames_folder, spec.first_index))
            if spec.stop is None:
                frames_folder.prune(spec.first_index + frames_folder.written, warn)
            return spec.path
        if spec.format in ("mp4", "webm") and (spec.width % 2 or spec.height % 2):
            warn(
                f"{spec.width}x{spec.height} has an odd side; {spec.format} (yuv420p) needs even sides,"
                f" so the video is {'x'.join(map(str, even_size(spec.width, spec.height)))} with the edge repeated"
            )
        with _atomic(spec.path) as temp:
            palette = None
            try:
                if spec.format == "gif":
                    fd, name = tempfile.mkstemp(prefix="cppn-anim-palette-", suffix=".png")
                    os.close(fd)
                    palette = Path(name)
                    _make_palette(palette_frames() if palette_frames else [], spec, palette)
                sink = _Ffmpeg(temp, spec, palette)
                _pipeline(frames, sink)
            finally:
                if palette is not None:
                    palette.unlink(missing_ok=True)
            if spec.format == "gif" and spec.provenance:
                _add_gif_comment(temp, f"cppn-anim {__version__}\n{spec.provenance}")
            read_back(temp, "ts" if spec.segment and spec.format == "mp4" else spec.format, sink.count)
    return spec.path


def read_back(path: Path, container: str, frames: int) -> None:
    """Check a finished file before it replaces anything: it must open as `container`
    (READ_BACK) with its first video stream in the expected codec and exactly `frames`
    frames. Cheap: packets are copied to nowhere, nothing is decoded."""
    demuxer, codec = READ_BACK[container]
    args = [ffmpeg_exe(), "-hide_banner", "-nostats", "-v", "info", "-f", demuxer, "-i", plain(path)]
    args += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EncodeError(f"could not read back what ffmpeg wrote ({e})") from None
    found = re.search(r"Stream #0:\d+.*?: Video: (\w+)", done.stderr)
    counts = re.findall(r"^frame=(\d+)", done.stdout, re.M)
    got = f"{found.group(1) if found else 'no video'}, {counts[-1] if counts else 'no'} frames"
    if done.returncode != 0 or not found or found.group(1) != codec or not counts or int(counts[-1]) != frames:
        why = _one_line(done.stderr.splitlines())
        raise EncodeError(
            f"ffmpeg exited 0 but its file does not read back as {container} ({codec}, {frames} frames): got {got}"
            + (f": {why}" if why else "")
        )


def _one_line(lines: Iterable[str], keep: int = 3) -> str:
    """The last few non-blank lines of ffmpeg's stderr, on one line."""
    lines = [line.strip() for line in lines if line.strip()]
    return " | ".join(lines[-keep:])


# ------------------------------------------------------------------ the overlap


def _pipeline(frames: Iterable[np.ndarray], sink) -> None:
    """Render (this thread, by pulling `frames`) while `sink` writes (a writer thread).

    Both sides wait with short timeouts and check the other's state, rather than trusting
    the queue alone: a Ctrl-C can land inside the queue's own locking, and must still end
    both threads within moments. A sink stuck on one frame for STALL_SECONDS (an ffmpeg
    that stopped reading) fails the render rather than hanging it.
    """
    pending: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
    failure: list[BaseException] = []
    finished = object()
    cancelled = threading.Event()
    busy_since: list[float | None] = [None]  # when the frame the writer is handing to the sink was taken

    def writer():
        try:
            while not cancelled.is_set():
                try:
                    frame = pending.get(timeout=0.1)
                except queue.Empty:
                    continue
                if frame is finished:
                    return
                busy_since[0] = time.monotonic()
                sink.write(frame)
                busy_since[0] = None
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            failure.append(e)

    def check_stall() -> None:
        since = busy_since[0]
        if since is not None and time.monotonic() - since > STALL_SECONDS:
            stalled = getattr(sink, "stalled", None)
            raise stalled() if stalled else EncodeError(f"the writer accepted no frame for {STALL_SECONDS:g} s")

    def hand_over(item) -> None:
        while not failure:
            try:
                pending.put(item, timeout=0.1)
                return
            except queue.Full:
                if not thread.is_alive():
                    break
                check_stall()
        raise failure[0] if failure else EncodeError("the writer thread stopped")

    thread = threading.Thread(target=writer, name="cppn-anim-writer", daemon=True)
    thread.start()
    try:
        for frame in frames:
            hand_over(frame)
        hand_over(finished)
        while thread.is_alive():
            thread.join(timeout=0.1)
            check_stall()
        if failure:
            raise failure[0]
        sink.finish()
    except BaseException:
        cancelled.set()
        sink.abort()
        thread.join(timeout=5)
        raise


# ------------------------------------------------------------------ sinks


class PngFolder:
    """The target folder of a png render: only our frame files are ever added or replaced,
    each through a temporary file beside it, so the folder holds whole frames only."""

    def __init__(self, folder: Path, provenance: str = ""):
        self.folder, self.written, self.made = folder, 0, None
        self.info = png_info(provenance)

    def put_frame(self, index: int, frame: np.ndarray) -> None:
        from PIL import Image

        self.put(f"frame_{index:05d}.png", lambda f: Image.fromarray(frame).save(f, format="PNG", pnginfo=self.info, compress_level=4))

    def put(self, name: str, write: Callable) -> None:
        """Write frame file `name` (write(file object)) atomically into the folder."""
        if not FRAME_FILE.fullmatch(name):
            raise EncodeError(f"refusing to write {name!r} into {self.folder}: not a frame file")
        if self.made is None:  # the folder is made when its first frame is written
            self.made = _make_folders(self.folder)
        fd, temp = _temp_beside(self.folder, f".{name}.", ".part")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(temp, self.folder / name)
        except BaseException as e:
            Path(temp).unlink(missing_ok=True)
            if isinstance(e, OSError):
                raise EncodeError(f"cannot write {self.folder / name}: {e.strerror or e}") from None
            raise
        self.written += 1

    def prune(self, stop: int, warn: Callable[[str], None] = lambda message: None) -> list[Path]:
        """A full render: remove our own frame files numbered stop and above (left by a longer
        render). Ours means a PNG that cppn-anim wrote (written_by_us); any other file with a
        frame name is kept, and warn() names what was kept. Returns the kept paths."""
        kept = []
        for path in sorted(self.folder.glob("frame_*.png")):
            m = FRAME_FILE.fullmatch(path.name)
            if not m or int(m.group(1)) < stop:
                continue
            if written_by_us(path):
                path.unlink(missing_ok=True)
            else:
                kept.append(path)
        if kept:
            shown = ", ".join(p.name for p in kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
            warn(f"kept {shown} in {self.folder}: numbered past the last frame, but not written by cppn-anim")
        return kept

    def abandon(self) -> None:
        """Nothing was written: take back the folders we made."""
        if self.made and not self.written:
            _remove_folders(self.made)


def written_by_us(path: Path) -> bool:
    """Is `path` a PNG file (not a link) that cppn-anim wrote? Its text chunks before the image
    data say so: Software "cppn-anim ..." or our `cppn-anim:scene` iTXt (PngFolder, write_still).
    Reads only the chunk headers and those text chunks, never the pixels."""
    try:
        if path.is_symlink() or not path.is_file():
            return False
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return False
            while head := f.read(8):
                if len(head) < 8:
                    return False
                size, kind = int.from_bytes(head[:4], "big"), head[4:]
                if kind in (b"IDAT", b"IEND"):
                    return False
                if kind in (b"tEXt", b"iTXt") and size <= 1 << 16:
                    keyword, _, rest = f.read(size).partition(b"\0")
                    if keyword == b"cppn-anim:scene":
                        return True
                    if keyword == b"Software":
                        text = rest if kind == b"tEXt" else rest[2:].split(b"\0", 2)[-1]  # iTXt: flags, language, keyword
                        if text.startswith(b"cppn-anim"):
                            return True
                    f.seek(4, os.SEEK_CUR)  # crc
                else:
                    f.seek(size + 4, os.SEEK_CUR)
    except OSError:
        return False
    return False


class _PngSink:
    def __init__(self, folder: PngFolder, first_index: int):
        self.folder, self.index = folder, first_index

    def write(self, frame: np.ndarray) -> None:
        self.folder.put_frame(self.index, frame)
        self.index += 1

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        self.folder.abandon()


def _add_gif_comment(path: Path, text: str) -> None:
    """Put the provenance in a GIF comment extension, streaming: after the global colour
    table comes the NETSCAPE2.0 loop block (players look for it there), then the comment."""
    data = text.encode("utf-8")
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    comment = b"\x21\xfe" + blocks + b"\x00"
    loop_forever = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    staged = path.with_name(path.name + ".c")
    try:
        with open(path, "rb") as src, open(staged, "wb") as dst:
            head = src.read(13)  # header (6) + logical screen descriptor (7)
            if len(head) < 13 or not head.startswith(b"GIF8"):
                raise EncodeError("ffmpeg wrote something that is not a GIF")
            table = 3 * 2 ** ((head[10] & 0x07) + 1) if head[10] & 0x80 else 0
            dst.write(head + src.read(table))
            ahead = src.read(14)
            if ahead.startswith(b"\x21\xff\x0bNETSCAPE2.0"):  # ffmpeg's own loop block: keep it first
                dst.write(ahead)
                while True:  # its sub-blocks, up to the terminator
                    size = src.read(1)
                    dst.write(size)
                    if not size or size == b"\x00":
                        break
                    dst.write(src.read(size[0]))
                ahead = b""
            else:
                dst.write(loop_forever)
            dst.write(comment + ahead)
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


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
        return bt709 + ["-c:v", "libx264", "-preset", spec.preset, "-crf", crf, "-movflags", "+faststart"] + meta + ["-f", "mp4"]
    if spec.format == "webm":
        return bt709 + ["-c:v", "libvpx-vp9", "-crf", crf, "-b:v", "0", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4"] + meta + ["-f", "webm"]
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
    args = _input_args(spec.width, spec.height, spec.fps) + [
        "-vf", f"palettegen=stats_mode=full:max_colors={spec.colors}", "-frames:v", "1",
        "-f", "image2", "-update", "1", "-c:v", "png", plain(palette),
    ]  # fmt: skip
    sink = _Ffmpeg(palette, spec, None, args=args)
    _pipeline(frames, sink)


class _Ffmpeg:
    """One ffmpeg process fed raw RGB frames on stdin."""

    def __init__(self, out: Path, spec: VideoSpec, palette: Path | None, args: list[str] | None = None, stdin=subprocess.PIPE):
        self.out, self.spec, self.count = out, spec, 0
        self.pad = spec.format in ("mp4", "webm") and (spec.width % 2 or spec.height % 2)
        w, h = even_size(spec.width, spec.height) if self.pad else (spec.width, spec.height)
        if args is None:
            if spec.format == "gif":
                args = _input_args(w, h, spec.fps) + [
                    "-f", "png_pipe", "-i", plain(palette),
                    "-lavfi", "[0:v][1:v]paletteuse=dither=bayer:bayer_scale=3:diff_mode=rectangle",
                    "-loop", "0", "-f", "gif", plain(out),
                ]  # fmt: skip
            else:
                args = _input_args(w, h, spec.fps) + _codec_args(spec) + [plain(out)]
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
        self.count += 1

    def finish(self) -> None:
        if self.proc.stdin:
            self._drain()
            try:
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        code = self._wait()
        if code != 0:
            raise self._failure(f"ffmpeg failed (exit status {code})")
        if not self.out.exists() or self.out.stat().st_size == 0:
            raise self._failure("ffmpeg wrote nothing")

    def _drain(self) -> None:
        """Wait until ffmpeg has read every frame out of the pipe (it may still be encoding
        them): one that stops reading with frames waiting in the pipe has hung."""
        try:
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return
        last, since = None, time.monotonic()
        while self.proc.poll() is None:
            try:
                waiting = int.from_bytes(fcntl.ioctl(self.proc.stdin.fileno(), termios.FIONREAD, b"\0" * 4), "little", signed=True)
            except OSError:
                return  # a pipe that cannot say how full it is: trust ffmpeg to finish
            if waiting <= 0:
                return
            if waiting != last:
                last, since = waiting, time.monotonic()
            elif time.monotonic() - since > STALL_SECONDS:
                raise self.stalled()
            time.sleep(0.02)

    def stalled(self) -> EncodeError:
        self.abort()
        return self._failure(f"ffmpeg stopped reading frames (none accepted for {STALL_SECONDS:g} s)")

    def abort(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its session: ffmpeg and anything it started
            except OSError:
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
        tail = _one_line(self.errors)
        return EncodeError(f"{what}" + (f": {tail}" if tail else " (it printed nothing)"))


def sample_indices(count: int, samples: int = PALETTE_SAMPLES) -> list[int]:
    """Evenly spread frame indices for building a GIF palette."""
    if count <= samples:
        return list(range(count))
    return sorted({int(i) for i in np.linspace(0, count - 1, samples).round()})


def png_info(provenance: str = ""):
    """The text chunks of every PNG we write: Software (what `written_by_us` looks for) and the
    resolved scene (iTXt `cppn-anim:scene`)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"cppn-anim {__version__}")
    if provenance:
        info.add_itxt("cppn-anim:scene", provenance, zip=True)
    return info


def png_bytes(frame: np.ndarray, provenance: str = "", level: int = 4) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes with our text chunks (lossless: the same pixels at any level)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", pnginfo=png_info(provenance), compress_level=level)
    return buffer.getvalue()


def write_still(frame: np.ndarray, path: Path, provenance: str = "") -> Path:
    """One PNG, atomically, with the provenance in a text chunk."""
    from PIL import Image

    info = png_info(provenance)
    with claim(path), _atomic(path) as temp:
        try:
            Image.fromarray(frame).save(temp, format="PNG", pnginfo=info, compress_level=4)
        except OSError as e:
            raise EncodeError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def write_bytes(data: bytes, path: Path) -> Path:
    """A finished file's bytes, atomically."""
    with claim(path), _atomic(path) as temp:
        temp.write_bytes(data)
    return path


def concat_line(path: Path) -> str:
    """One line of an ffmpeg concat list: the path quoted, a ' written as '\\'' (close, escaped quote, reopen)."""
    text = plain(path)
    if "\n" in text or "\r" in text:
        raise EncodeError(f"{path}: a line break in the path cannot be listed for ffmpeg's concat")
    return "file '" + text.replace("'", "'\\''") + "'\n"


def concat(paths: list[Path], spec: VideoSpec, frames: int) -> Path:
    """Join segment files into spec.path without re-encoding (the caller holds the claim);
    read back (`frames` in all) before it replaces anything."""
    fd, listing = tempfile.mkstemp(prefix="cppn-anim-concat-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(concat_line(p) for p in paths)
        with _atomic(spec.path) as temp:
            args = ["-f", "concat", "-safe", "0", "-i", plain(Path(listing)), "-map", "0:v:0", "-c", "copy", *_metadata(spec)]
            if spec.format == "mp4":
                args += ["-movflags", "+faststart"]
            _Ffmpeg(temp, spec, None, args=args + ["-f", spec.format, plain(temp)], stdin=subprocess.DEVNULL).finish()
            read_back(temp, spec.format, frames)
    finally:
        os.unlink(listing)
    return spec.path
