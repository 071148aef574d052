"""What the output safety costs (docs: Output safety): reading a finished
video back before it replaces anything, and taking a target's claim (lock).

    .venv/bin/python benchmarks/outputs.py

Reports the read-back time next to the time ffmpeg took to write the same file (the
ratio is what to compare: the machine is shared and noisy). One line per figure (_line.py).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _line import context, line  # noqa: E402

from cppn_anim import encode, ffmpeg, targets  # noqa: E402


def frames(n: int, w: int, h: int):
    y, x = np.mgrid[0:h, 0:w]
    for i in range(n):
        yield np.stack([(x + 3 * i) % 256, (y + i) % 256, (x ^ y) % 256], -1).astype(np.uint8)


def main() -> None:
    context(__file__)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, (w, h), n in (("mp4", (1280, 720), 240), ("webm", (640, 360), 120), ("gif", (320, 180), 120)):
            out = Path(tmp) / f"a.{fmt}"
            spec = targets.VideoSpec(out, fmt, w, h, 30, preset="ultrafast")
            began = time.perf_counter()
            encode.write(frames(n, w, h), spec, palette_frames=lambda: list(frames(n, w, h))[::10])
            wrote = time.perf_counter() - began
            times = []
            for _ in range(5):
                began = time.perf_counter()
                ffmpeg.read_back(out, fmt, n)
                times.append(time.perf_counter() - began)
            back = statistics.median(times)
            share = 100 * back / wrote
            line(f"read back {fmt}", f"{back * 1000:.0f} ms for {n} frames of {w}x{h} ({out.stat().st_size / 1e6:.1f} MB, median of 5):"
                 f" {share:.1f}% of the {wrote:.1f} s the whole write took", measured=share, want="<= 5%", ms=round(back * 1000), share_percent=round(share, 2))  # fmt: skip
        times = []
        for _ in range(50):
            began = time.perf_counter()
            with targets.claim(Path(tmp) / "x.mp4"):
                pass
            times.append(time.perf_counter() - began)
        ms = statistics.median(times) * 1000
        line("claim a target", f"{ms:.2f} ms to take and release a target's claim (median of 50)", measured=ms, want="<= 10 ms")


if __name__ == "__main__":
    main()
