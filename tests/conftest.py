"""Shared helpers: tiny scenes, running the CLI, reading videos back with ffmpeg."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "cppn_anim"]

TINY = """\
seed: 4
duration: 1
fps: 8
size: [48, 32]
network: {latent_dim: 3, width: 8, depth: 3}
trajectory:
  loop: true
  keyframes:
    - {at: 0, z: random}
    - {at: 0.5, z: random}
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def write_scene(folder: Path, text: str, name: str = "scene.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def run_cli(*args, env=None, timeout=120, cwd=ROOT) -> subprocess.CompletedProcess:
    """The real command in a subprocess: exit status, stdout, stderr."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout)


def ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def video_info(path: Path) -> dict:
    """Codec, pixel format, size and metadata as ffmpeg reports them, and the decoded frame count."""
    log = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    m = re.search(r"Video: (\w+).*?, (\w+)\(?.*?, (\d+)x(\d+)", log)
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    meta = subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"], capture_output=True, text=True).stdout
    return {"codec": m.group(1), "pix_fmt": m.group(2), "size": (int(m.group(3)), int(m.group(4))), "frames": frames, "log": log, "meta": meta}


def decode(path: Path) -> np.ndarray:
    """All frames of a video as (N, H, W, 3) uint8."""
    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen])
