"""`cppn-anim bench`: render-only throughput of a scene (no encoding), in megapixels and frames per second.

It measures what `render` runs: the same renderer (core.prepare: the fused kernel's band
workers on a CPU, the fused Triton kernel on CUDA, else torch's path) computing the scene's
frames in order, batched and pipelined as a video's are (Prepared.frames), after one warm-up
frame (kernel compile or cache load, allocations).
"""
from __future__ import annotations

import threading
import time

from . import core
from .errors import UsageError
from .scene import Scene


def bench(scene: Scene, frames: int = 8, *, cancel: threading.Event | None = None, pin=None, workers: int | None = None) -> dict:
    """Render-only throughput of the scene's first `frames` frames (no encoding), after one warm-up frame.

    Returns megapixels_per_s, frames_per_s, width, height, frames, device, precision,
    supersample, seconds, and how: kernel (fused-cpu | fused-triton | torch), workers (the
    CPU path's band workers; 1 elsewhere), why_not_fused (None, or why torch's path ran).
    """
    if frames < 1:
        raise UsageError("--frames: at least 1")
    prepared = core.prepare(scene, pin=pin, workers=workers)
    count = min(frames, scene.frame_count)
    for _ in prepared.frames(0, 1, cancel):  # warm-up: the kernel, allocations, the sample grid
        pass
    began = time.perf_counter()
    for _ in prepared.frames(0, count, cancel):  # as `render` computes a video's frames
        pass
    took = time.perf_counter() - began
    renderer = prepared.renderer
    return {
        "megapixels_per_s": round(scene.width * scene.height * count / took / 1e6, 3),
        "frames_per_s": round(count / took, 3),
        "width": scene.width,
        "height": scene.height,
        "frames": count,
        "device": str(renderer.device),
        "precision": scene.render.precision,
        "supersample": scene.render.supersample,
        "seconds": round(took, 3),
        "kernel": renderer.kind,
        "workers": renderer.workers,
        "why_not_fused": getattr(renderer, "why_not_fused", None),
    }
