"""Encoding: frames -> a file (MP4, WebM, GIF) or a folder of PNG frames.

`write` picks the sink by format (ffmpeg.py: mp4 / webm; gif.py: a palette first; targets.py:
png frame files), holds the target's claim while writing, overlaps rendering with encoding
(ffmpeg.feed), and replaces a video target only once the finished file reads back
(container, codec, frame count; its soundtrack, where the scene has one, muxed by the same
ffmpeg): a render never loses a user's work (targets.py has the rules).
`write_still` writes one PNG with its provenance, atomically.
"""
from __future__ import annotations

import os
import tempfile
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from . import ffmpeg, gif
from .errors import EncodeError
from .report import check
from .targets import PngFolder, VideoSpec, atomic, claim, claim_spec, png_info
from .version import __version__


def write(
    frames: Iterable[np.ndarray],
    spec: VideoSpec,
    palette_frames: Callable[[], list[np.ndarray]] | None = None,
    warn: Callable[[str], None] = lambda message: None,
    cancel: threading.Event | None = None,
    claimed: bool = False,
) -> Path:
    """Encode frames (H, W, 3) uint8 into spec.path; returns the path. A video is all or
    nothing; png frames are each whole. Holds the target's claim while writing (not for a
    segment: it is written into a scratch folder of its own; nor when `claimed`: the caller
    took it before its own work). A GIF's palette comes from palette_frames(); `cancel`,
    once set, stops the work (errors.Cancelled) and cleans up."""
    with nullcontext() if spec.segment or claimed else claim_spec(spec):
        if spec.format == "png":
            frames_folder = PngFolder(spec.path, spec.provenance, spec.digits)
            ffmpeg.feed(frames, _PngSink(frames_folder, spec.first_index), cancel)
            if spec.stop is None:
                frames_folder.prune(spec.first_index + frames_folder.written, warn)
            return spec.path
        if spec.format in ("mp4", "webm") and (spec.width % 2 or spec.height % 2):
            warn(
                f"{spec.width}x{spec.height} has an odd side; {spec.format} (yuv420p) needs even sides,"
                f" so the video is {'x'.join(map(str, ffmpeg.even_size(spec.width, spec.height)))} with the edge repeated"
            )
        with atomic(spec.path) as temp:
            palette = None
            try:
                if spec.format == "gif":
                    fd, name = tempfile.mkstemp(prefix="cppn-anim-palette-", suffix=".png")
                    os.close(fd)
                    palette = Path(name)
                    gif.make_palette(palette_frames() if palette_frames else [], spec, palette, cancel)
                    args = gif.encode_args(spec, palette, temp)
                else:
                    args = ffmpeg.video_args(spec, temp)
                sink = ffmpeg.FfmpegSink(temp, spec, args, cancel=cancel, shown=spec.path)
                ffmpeg.feed(frames, sink, cancel)
            finally:
                if palette is not None:
                    palette.unlink(missing_ok=True)
            if spec.format == "gif" and spec.provenance:
                gif.add_comment(temp, f"cppn-anim {__version__}\n{spec.provenance}", shown=spec.path)
            audio = spec.format in ("mp4", "webm") and bool(ffmpeg.audio_args(spec, 1)[0])
            ffmpeg.read_back(temp, "ts" if spec.segment and spec.format == "mp4" else spec.format, sink.count, cancel, audio=audio, shown=spec.path)
            check(cancel)  # the last moment to stop: the target is still as it was
    return spec.path


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


def write_still(frame: np.ndarray, path: Path, provenance: str = "", claimed: bool = False) -> Path:
    """One PNG, atomically, with the provenance in a text chunk (claimed: the caller holds the claim)."""
    from PIL import Image

    info = png_info(provenance)
    with nullcontext() if claimed else claim(path), atomic(path) as temp:
        try:
            Image.fromarray(frame).save(temp, format="PNG", pnginfo=info, compress_level=4)
        except OSError as e:
            raise EncodeError(f"cannot write {path}: {e.strerror or e}") from None
    return path
