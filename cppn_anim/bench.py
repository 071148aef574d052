"""`cppn-anim bench`: render-only throughput of a scene (no encoding), in megapixels and frames per second."""
from __future__ import annotations

import threading
import time

from . import core
from .errors import UsageError
from .scene import Scene


def bench(scene: Scene, frames: int = 8, *, cancel: threading.Event | None = None, pin=None) -> dict:
    """Render-only throughput of the scene's first `frames` frames (no encoding), after one warm-up frame.

    Returns megapixels_per_s, frames_per_s, width, height, frames, device, precision,
    supersample, seconds.
    """
    from .trajectory import frame_times

    if frames < 1:
        raise UsageError("--frames: at least 1")
    prepared = core.prepare(scene, pin=pin)
    count = min(frames, scene.frame_count)
    times = frame_times(scene, 0, count)
    prepared.still(times[0], cancel=cancel)  # warm-up: allocations, kernel choice
    began = time.perf_counter()
    for t in times:
        prepared.still(t, cancel=cancel)
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
