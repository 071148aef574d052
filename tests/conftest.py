"""Shared helpers: tiny scenes, running the CLI, reading videos back with ffmpeg."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

# The test process is an entry point of its own: OpenMP threads that wait sleep, as the
# command line's do (entry.py), set before anything loads torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import imageio_ffmpeg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

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


def run_cli(*args, env=None, timeout=None, cwd=ROOT) -> subprocess.CompletedProcess:
    """The real command in a subprocess: exit status, stdout, stderr. For what needs a real
    process (signals, the console script's exit status); everything else: cli_main.
    No time limit by default: a loaded machine is slow, not wrong."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout)


def cli_main(*args, env=None, cwd=ROOT) -> subprocess.CompletedProcess:
    """The command in this process (cppn_anim.cli.main), answering as run_cli does: exit
    status, stdout, stderr, run in `cwd` (the repository root) with `env` added to the environment.
    Without a new Python and torch per call (over a second of CPU each). An exception that
    escapes main is what the real process would show: a traceback on stderr, exit 1. The
    environment, working folder, SIGTERM handler and torch's thread count are put back."""
    import contextlib
    import io
    import signal
    import traceback

    from cppn_anim.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd, saved_term = dict(os.environ), os.getcwd(), signal.getsignal(signal.SIGTERM)
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch else None
    os.environ.update({k: str(v) for k, v in (env or {}).items()})
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:  # argparse's --help and --version
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        signal.signal(signal.SIGTERM, saved_term)
        if threads and sys.modules.get("torch"):
            sys.modules["torch"].set_num_threads(threads)
    return subprocess.CompletedProcess(["cppn-anim", *map(str, args)], code, out.getvalue(), err.getvalue())


def popen_cli(*args, **kwargs) -> subprocess.Popen:
    """The real command, started: SIGINT at its default even when these tests run in the
    background (a shell starts background jobs with SIGINT ignored, and Python then keeps
    ignoring it: a test of Ctrl-C would see the render finish instead)."""
    import signal

    kwargs.setdefault("cwd", ROOT)
    return subprocess.Popen([*CLI, *map(str, args)], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


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


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def systemp(tmp_path, monkeypatch) -> Path:
    """A private system temp folder, so what the commands leave there (locks, palettes,
    segments, scratch) can be counted."""
    folder = tmp_path / "systemp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def gen_docs():
    """scripts/gen_docs.py as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shipped_scenes() -> list[Path]:
    """The example scenes the repository ships (gen_docs.shipped_scenes: tracked by git), not
    the ones a user added to scenes/ following the tutorial."""
    return gen_docs().shipped_scenes()


RATE = 22050  # the tests' audio sample rate


def write_wav(path: Path, y: np.ndarray, rate: int = RATE) -> Path:
    """16-bit WAV; y is (n,) mono or (n, channels)."""
    y = np.clip(np.asarray(y, dtype=np.float64), -1, 1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1 if y.ndim == 1 else y.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.round(y * 32767).astype("<i2").tobytes())
    return path


def numpy_compute(y: np.ndarray, bands, base: bool) -> dict:
    """Stands in for signals._compute without librosa (the fast tier never imports it: about
    5 s of CPU): the same cache entries, simple features (mean square per hop for every
    feature, no beats: a scene then needs a written bpm for beats other than the fallback's)."""
    from cppn_anim import signals

    n = 1 + y.size // signals.HOP
    hop = np.resize(np.asarray(y, np.float64) ** 2, n * signals.HOP).reshape(n, signals.HOP).mean(axis=1)
    out = {signals.SignalDef("band", band).key: {"raw": hop * (1 + i)} for i, band in enumerate(bands)}
    if base:
        out["base"] = {"samples": np.array(y.size), "rms": np.sqrt(hop), "onset": hop, "low_onset": hop,
                       "tracked": np.zeros(0), "bpm": np.array(np.nan), "origin": np.array(np.nan)}
    return out


@pytest.fixture
def deaf_audio(tmp_path, monkeypatch):
    """Scenes with audio analysed by numpy_compute (no librosa), into a cache of this test's own."""
    from cppn_anim import signals

    monkeypatch.setattr(signals, "_compute", numpy_compute)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return signals
