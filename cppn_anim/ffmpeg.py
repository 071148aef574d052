"""ffmpeg: the sinks that feed it frames, reading a finished file back, joining segments.

We drive the ffmpeg that imageio-ffmpeg ships (or IMAGEIO_FFMPEG_EXE) ourselves:
- every path reaches ffmpeg as a plain file: the muxer is named (-f) and the path is an
  absolute `file:` URL, so a name like `-x.mp4`, `a:b.mp4` or `clip_%03d.gif` is just a name;
- ffmpeg runs in its own session, so a terminal's Ctrl-C (or hang-up) reaches only us, and
  we stop it (abort: SIGKILL to its session); its stderr is read by a thread (no pipe stall)
  and its last lines explain a failure;
- frames are written by a writer thread from a bounded queue (`feed`), so encoding overlaps
  rendering; an ffmpeg that accepts no frame for STALL_SECONDS is given up on;
- a finished file is read back (container, codec, frame count; the audio stream where one
  was muxed) before it replaces anything (`read_back`); segments are joined with the concat
  demuxer, without re-encoding the video (`concat`);
- a soundtrack (spec.audio) is muxed in by the same ffmpeg that encodes the video (or joins
  the segments): AAC in mp4, Opus in webm, at 48 kHz, mono or stereo as the file is (more
  channels mixed to stereo), from its `start`, cut or padded with silence to exactly the
  video's length, its first sample with the first frame (`audio_args`).
"""
from __future__ import annotations

import fcntl
import os
import queue
import re
import signal
import subprocess
import termios
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import EncodeError
from .report import check
from .targets import VideoSpec, atomic, cannot_write, temp_beside
from .version import __version__

DEFAULT_CRF = {"mp4": 18, "webm": 31}
QUEUE_FRAMES = 8  # frames waiting for the encoder: enough to smooth out jitter, little memory
STDERR_LINES = 20
STALL_SECONDS = 60.0  # an ffmpeg that accepts no frame for this long has hung (a test shrinks it)
READ_BACK_SECONDS = 600.0  # reading a file back copies packets to nowhere: long only for a huge file
# how a finished file must read back: (demuxer, codec) per container
READ_BACK = {"mp4": ("mov", "h264"), "webm": ("matroska", "vp9"), "gif": ("gif", "gif"), "ts": ("mpegts", "h264")}
AUDIO_CODEC = {"mp4": ("aac", "aac", "192k"), "webm": ("libopus", "opus", "160k")}  # encoder, codec as read back, bit rate
AUDIO_RATE = 48000  # Hz: Opus's own rate; AAC's most common


EXE_VARIABLE = "IMAGEIO_FFMPEG_EXE"  # names another ffmpeg, as imageio-ffmpeg documents


def ffmpeg_exe() -> str:
    """The ffmpeg to run: the one IMAGEIO_FFMPEG_EXE names (checked: a file that is there and
    executable, else one line saying which), else the one imageio-ffmpeg ships."""
    import imageio_ffmpeg

    named = os.environ.get(EXE_VARIABLE, "")
    if named:
        _check_named_exe(named)
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise EncodeError(f"no ffmpeg found: {e}") from None


def _check_named_exe(named: str) -> None:
    import shutil

    found = named if os.sep in named else shutil.which(named)  # a bare name is looked up on PATH
    unset = f"fix it, or unset {EXE_VARIABLE} to use the ffmpeg that imageio-ffmpeg ships"
    if found is None or not os.path.exists(found):
        where = "no such file" if os.sep in named else "not found on PATH"
        raise EncodeError(f"{EXE_VARIABLE}={named}: {where}; {unset}")
    if os.path.isdir(found):
        raise EncodeError(f"{EXE_VARIABLE}={named}: is a folder, not an ffmpeg program; {unset}")
    if not os.access(found, os.X_OK):
        raise EncodeError(f"{EXE_VARIABLE}={named}: not executable (chmod +x it); {unset}")


def even_size(width: int, height: int) -> tuple[int, int]:
    """yuv420p needs even sides: the size the video will have."""
    return width + width % 2, height + height % 2


def plain(path: Path) -> str:
    """A path as ffmpeg must read it: a file, never a protocol (`a:b`), an option (`-x`) or a pattern."""
    return "file:" + os.path.abspath(path)


def read_back(
    path: Path, container: str, frames: int, cancel: threading.Event | None = None, audio: bool = False, shown: Path | None = None
) -> None:
    """Check a finished file before it replaces anything: it must open as `container`
    (READ_BACK) with its first video stream in the expected codec and exactly `frames`
    frames, and with `audio`, an audio stream in the format's codec (AUDIO_CODEC). Cheap:
    packets are copied to nowhere, nothing is decoded. A failure says what was found and
    ffmpeg's own complaint (its last error or warning, one line; `shown` in place of
    `path`, a temporary name), never its progress lines."""
    want = READ_BACK[container][1]
    found = inspect(path, container, cancel, shown)
    if found.codec != want or found.frames != frames:
        raise EncodeError(
            f"ffmpeg exited 0 but its file does not read back as {container} ({want}, {frames} frames):"
            f" got {found.codec or 'no video'}, {found.frames if found.frames is not None else 'no'} frames"
            + (f": {found.problem}" if found.problem else "")
        )
    if audio:
        heard = found.audio
        wanted = AUDIO_CODEC[container][1]
        if heard != wanted:
            raise EncodeError(f"ffmpeg exited 0 but its file has {'no audio stream' if not heard else heard + ' audio'}, not the {wanted} soundtrack it was given")


@dataclass(frozen=True)
class Inspection:
    """What a file reads back as: its first video stream's codec and frame count (None where
    it has none, or could not be read), its first audio stream's codec, and ffmpeg's last
    complaint about it (an error, else a warning; '' for none), on one line."""

    codec: str | None
    frames: int | None
    audio: str | None
    problem: str


_LEVEL_LINE = re.compile(r"^(?:\[[^\]]*\] )?\[(warning|error|fatal|panic)\] (.*)$")  # `-v level+info`: each line tagged
_TAGGED = re.compile(r"^(?:\[[^\]]*\] )?\[(?:info|verbose|warning|error|fatal|panic)\] ", re.M)
_ADDRESS = re.compile(r" @ 0x[0-9a-f]+")


def inspect(path: Path, container: str, cancel: threading.Event | None = None, shown: Path | None = None) -> Inspection:
    """Read `path` back as `container` (READ_BACK), copying packets to nowhere (cheap: nothing
    is decoded). ffmpeg tags its lines with their level, so its complaints are told from its
    progress and banner lines."""
    demuxer = READ_BACK[container][0]
    args = [ffmpeg_exe(), "-hide_banner", "-nostats", "-v", "level+info", "-f", demuxer, "-i", plain(path)]
    args += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-"]
    done = _run_to_end(args, READ_BACK_SECONDS, cancel)
    video = re.search(r"Stream #0:\d+.*?: Video: (\w+)", done.stderr)
    heard = re.search(r"Stream #0:\d+.*?: Audio: (\w+)", done.stderr)
    counts = re.findall(r"^frame=(\d+)", done.stdout, re.M)
    problems = {"error": [], "warning": []}
    for line in done.stderr.splitlines():
        m = _LEVEL_LINE.match(line.strip())
        if m:
            problems["warning" if m[1] == "warning" else "error"].append(_ADDRESS.sub("", m[2]).strip())
    problem = (problems["error"] or problems["warning"] or [""])[-1]
    if not _TAGGED.search(done.stderr):  # an ffmpeg without level tags (IMAGEIO_FFMPEG_EXE's own): its last line
        problem = _one_line(done.stderr.splitlines(), keep=1)
    if shown is not None:
        problem = problem.replace(plain(path), str(shown)).replace(os.path.abspath(path), str(shown))
    ok = done.returncode == 0 and counts
    return Inspection(video.group(1) if video else None, int(counts[-1]) if ok else None, heard.group(1) if heard else None, problem)


def _one_line(lines: Iterable[str], keep: int = 3) -> str:
    """The last few non-blank lines of ffmpeg's stderr, on one line."""
    lines = [line.strip() for line in lines if line.strip()]
    return " | ".join(lines[-keep:])


def _run_to_end(args: list[str], timeout: float, cancel: threading.Event | None) -> subprocess.CompletedProcess:
    """Run ffmpeg to its end, output captured; in its own session (a terminal's Ctrl-C is ours to
    handle), stopped by us if `cancel` is set meanwhile (errors.Cancelled) or it runs past `timeout`."""
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    except OSError as e:
        raise EncodeError(f"could not read back what ffmpeg wrote: cannot start ffmpeg ({args[0]}): {e.strerror or e}") from None
    began = time.monotonic()
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.1)
                return subprocess.CompletedProcess(args, proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                check(cancel)
                if time.monotonic() - began > timeout:
                    raise EncodeError(f"could not read back what ffmpeg wrote (it took over {timeout:g} s)") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# ------------------------------------------------------------------ the overlap


def feed(frames: Iterable[np.ndarray], sink, cancel: threading.Event | None = None) -> None:
    """Render (this thread, by pulling `frames`) while `sink` writes (a writer thread).

    Both sides wait with short timeouts and check the other's state, rather than trusting
    the queue alone: an exception (errors.Cancelled once `cancel` is set, or a Ctrl-C in a
    process without our signal handling) can land anywhere, and must still end both threads
    within moments. A sink stuck on one frame for STALL_SECONDS (an ffmpeg that stopped
    reading) fails the render rather than hanging it. A sink: write(frame), finish(),
    abort(); and stalled() -> an error, where it can say more than "stalled".
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
            check(cancel)
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
            check(cancel)
            check_stall()
        if failure:
            raise failure[0]
        sink.finish()
    except BaseException:
        cancelled.set()
        sink.abort()
        thread.join(timeout=5)
        raise


# ------------------------------------------------------------------ the sink


def _rate(fps: float) -> str:
    return str(Fraction(fps).limit_denominator(100000))


def input_args(width: int, height: int, fps: float) -> list[str]:
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", _rate(fps), "-i", "pipe:0"]


def metadata(spec: VideoSpec) -> list[str]:
    return ["-metadata", f"comment=cppn-anim {__version__}\n{spec.provenance}", "-metadata", f"encoder_tool=cppn-anim {__version__}"]


def codec_args(spec: VideoSpec) -> list[str]:
    meta = metadata(spec)
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
    exe = ffmpeg_exe()
    try:
        return subprocess.Popen(
            [exe, "-hide_banner", "-nostats", "-loglevel", "error", "-y", *args],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C is ours to handle, not ffmpeg's
        )
    except OSError as e:  # the cause in words (the errno's own text repeats the file's name)
        raise EncodeError(f"cannot start ffmpeg ({exe}): {e.strerror or e}") from None


def video_args(spec: VideoSpec, out: Path) -> list[str]:
    """ffmpeg's arguments for an mp4 or webm (a segment: MPEG-TS for mp4) of raw frames on stdin into `out`,
    with its soundtrack (spec.audio) muxed in."""
    w, h = even_size(spec.width, spec.height)  # yuv420p: odd sides are padded (FfmpegSink repeats the edge)
    inputs, outputs = audio_args(spec, 1)
    return input_args(w, h, spec.fps) + inputs + codec_args(spec) + outputs + [plain(out)]


def audio_args(spec: VideoSpec, index: int) -> tuple[list[str], list[str]]:
    """(input arguments, output arguments) that mux spec.audio, read as ffmpeg's input number
    `index`, beside video input 0; ([], []) without one (or for a segment: the join adds it).

    Time 0 of the file is its first decoded sample (as for the analysis, signals.decode);
    samples are counted at AUDIO_RATE: from round(start * rate), exactly round(duration *
    rate) of them (padded with silence), so the audio lasts as long as the video."""
    audio = spec.audio
    if audio is None or spec.segment or spec.format not in AUDIO_CODEC:
        return [], []
    encoder, _, rate = AUDIO_CODEC[spec.format]
    first, count = round(audio.start * AUDIO_RATE), round(audio.duration * AUDIO_RATE)
    chain = (f"asetpts=PTS-STARTPTS,aformat=sample_rates={AUDIO_RATE}:channel_layouts=mono|stereo,"
             f"atrim=start_sample={first},asetpts=PTS-STARTPTS,apad,atrim=end_sample={count}")  # fmt: skip
    outputs = ["-map", "0:v:0", "-map", f"{index}:a:0", "-af", chain, "-c:a", encoder, "-b:a", rate, "-max_interleave_delta", "0"]
    return ["-i", plain(audio.path)], outputs


class FfmpegSink:
    """One ffmpeg process (`args`, writing `out`) fed raw RGB frames of spec's size on stdin
    (mp4 and webm of odd sides: padded, the edge repeated). `cancel`, once set, stops the
    wait for ffmpeg to finish (errors.Cancelled; abort() then stops ffmpeg)."""

    def __init__(
        self, out: Path, spec: VideoSpec, args: list[str], stdin=subprocess.PIPE, cancel: threading.Event | None = None, shown: Path | None = None
    ):
        self.out, self.spec, self.count, self.cancel = out, spec, 0, cancel
        self.shown = shown  # what `out` is called in messages (a hidden temporary file: its target)
        self.pad = spec.format in ("mp4", "webm") and (spec.width % 2 or spec.height % 2)
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
        while True:  # ffmpeg encodes what is left: a while, for a long video
            try:
                self.proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                check(self.cancel)
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
            check(self.cancel)
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
        if self.shown is not None:  # ffmpeg names the file it writes: our hidden temporary name
            tail = tail.replace(plain(self.out), str(self.shown)).replace(os.path.abspath(self.out), str(self.shown))
        return EncodeError(f"{what}" + (f": {tail}" if tail else " (it printed nothing)"))


def concat_line(path: Path) -> str:
    """One line of an ffmpeg concat list: the path quoted, a ' written as '\\'' (close, escaped quote, reopen).
    A line break cannot be written in the list at all: `concat` lists names relative to the list's
    own folder, so the folders above (the target's name among them) may hold any character."""
    text = plain(path) if path.is_absolute() else "./" + str(path)  # relative: a name beside the list, never a protocol
    if "\n" in text or "\r" in text:
        raise EncodeError(f"{path}: a line break in the path cannot be listed for ffmpeg's concat")
    return "file '" + text.replace("'", "'\\''") + "'\n"


def concat(paths: list[Path], spec: VideoSpec, frames: int, cancel: threading.Event | None = None) -> Path:
    """Join segment files into spec.path without re-encoding (the caller holds the claim);
    read back (`frames` in all) before it replaces anything. The list is written beside the
    segments and names them relative to it (ffmpeg resolves them from the list's folder), so
    no path above them, however odd (a line break in the target's name), is ever in it."""
    folder = paths[0].parent
    if any(p.parent != folder for p in paths):
        raise ValueError("concat: the segments must share one folder")
    fd, listing = temp_beside(folder, "concat", ".txt", spec.path)
    try:
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.writelines(concat_line(Path(p.name)) for p in paths)
        except OSError as e:
            raise cannot_write(spec.path, e) from None
        with atomic(spec.path) as temp:
            inputs, outputs = audio_args(spec, 1)
            args = ["-f", "concat", "-safe", "0", "-i", plain(Path(listing)), *inputs, *(outputs or ["-map", "0:v:0"]), "-c:v", "copy", *metadata(spec)]
            if spec.format == "mp4":
                args += ["-movflags", "+faststart"]
            sink = FfmpegSink(temp, spec, args + ["-f", spec.format, plain(temp)], stdin=subprocess.DEVNULL, cancel=cancel, shown=spec.path)
            try:
                sink.finish()
            except BaseException:
                sink.abort()
                raise
            read_back(temp, spec.format, frames, cancel, audio=bool(outputs), shown=spec.path)
            check(cancel)
    finally:
        os.unlink(listing)
    return spec.path
