"""GIF: one palette for the whole animation, and the byte surgery that records where it came from.

A GIF has at most 256 colours: `make_palette` has ffmpeg build them from a sample of the
animation's frames (`sample_indices`), and `encode_args` map every frame to them (Bayer
dithering). `add_comment` puts the provenance (the resolved scene) in a GIF comment
extension after the NETSCAPE2.0 loop block, by streaming the file's bytes.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .errors import EncodeError
from .ffmpeg import FfmpegSink, feed, input_args, plain
from .targets import VideoSpec, temp_beside

PALETTE_SAMPLES = 24  # frames a GIF palette is built from


def sample_indices(count: int, samples: int = PALETTE_SAMPLES) -> list[int]:
    """Evenly spread frame indices for building a GIF palette."""
    if count <= samples:
        return list(range(count))
    return sorted({int(i) for i in np.linspace(0, count - 1, samples).round()})


def make_palette(frames: list[np.ndarray], spec: VideoSpec, palette: Path, cancel: threading.Event | None = None) -> None:
    """One palette of spec.colors colours (at most 256) for the whole GIF, from a sample of its frames."""
    args = input_args(spec.width, spec.height, spec.fps) + [
        "-vf", f"palettegen=stats_mode=full:max_colors={spec.colors}", "-frames:v", "1",
        "-f", "image2", "-update", "1", "-c:v", "png", plain(palette),
    ]  # fmt: skip
    feed(frames, FfmpegSink(palette, spec, args, cancel=cancel), cancel)


def encode_args(spec: VideoSpec, palette: Path, out: Path) -> list[str]:
    """ffmpeg's arguments for a looping GIF of raw frames on stdin, in the colours of `palette`, into `out`."""
    return input_args(spec.width, spec.height, spec.fps) + [
        "-f", "png_pipe", "-i", plain(palette),
        "-lavfi", "[0:v][1:v]paletteuse=dither=bayer:bayer_scale=3:diff_mode=rectangle",
        "-loop", "0", "-f", "gif", plain(out),
    ]  # fmt: skip


def add_comment(path: Path, text: str, shown: Path | None = None) -> None:
    """Put the provenance in a GIF comment extension, streaming: after the global colour
    table comes the NETSCAPE2.0 loop block (players look for it there), then the comment.
    shown: what a failure names (`path` is a temporary file: its target)."""
    data = text.encode("utf-8", "backslashreplace")  # a name from a non-UTF-8 file name: its bytes as \xNN
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    comment = b"\x21\xfe" + blocks + b"\x00"
    loop_forever = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    fd, staged = temp_beside(path.parent, path.name, ".c", shown)  # a name that fits beside however long a one
    try:
        with os.fdopen(fd, "wb") as dst, open(path, "rb") as src:
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
