"""What a soundtrack costs (docs: the scene format's audio, the tutorial's music video): the analysis of a 3-minute track.

    .venv/bin/python benchmarks/audio.py           # about 15 s
    .venv/bin/python benchmarks/audio.py --cold    # also with numba's cache empty (about a minute)

One line per figure (_line.py), with its target and a verdict; the [context] line gives
the load average (the machine is shared: a figure taken under load is slower than the code is):
- import: `import cppn_anim.signals` (no audio stack), then librosa's modules the analysis
  uses, each in a fresh process;
- fresh: the first analysis in a new process (imports, numba loading or compiling what
  it needs, decoding, features, beats), no analysis cache: want < 20 s;
- cold (--cold): the same with numba's on-disk cache empty, as the very first run after an
  install that did not warm it (`make` warms it when it installs): want < 20 s;
- warm: a second analysis in the same process: want < 5 s;
- cached: the analysis read back from the cache, in-process and in a fresh process: want < 0.5 s;
- accuracy: the tempo error at 90, 120 and 150 bpm and where the beats fall from the kicks;
  how far band and onset peaks fall from clicks, at the analysis frames and at 24/30/60 fps.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _line  # noqa: E402

SECONDS = 180.0
BPM = 124.0
RATE = 22050


def track(path: Path) -> None:
    """3 minutes at 124 bpm: kick on the beats, hats on the off-beats, a bass line, mono 16-bit WAV."""
    n = int(SECONDS * RATE)
    y = np.zeros(n)
    period = 60.0 / BPM
    t = np.arange(int(0.25 * RATE)) / RATE
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / RATE) * np.exp(-t / 0.12)
    th = t[: int(0.05 * RATE)]
    hat = 0.3 * np.diff(np.random.default_rng(0).standard_normal(th.size + 1)) * np.exp(-th / 0.01)
    tb = np.arange(int(period / 2 * RATE)) / RATE
    for k in range(int(SECONDS / period)):
        for at, sound in ((k * period, kick), ((k + 0.5) * period, hat),
                          (k * period, 0.2 * np.sin(2 * np.pi * (55, 65.4, 49, 55)[k // 4 % 4] * tb) * np.exp(-tb / 0.2))):
            i = int(at * RATE)
            part = sound[: max(0, n - i)]
            y[i:i + part.size] += part
    y *= 0.9 / np.abs(y).max()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.round(y * 32767).astype("<i2").tobytes())


def line(name: str, what: str, seconds: float, want: float | None) -> None:
    """`[audio NAME] S s: what (want < W s): PASS|FAIL` (INFO without a target)."""
    _line.line(f"audio {name}", f"{seconds:.2f} s: {what}", measured=seconds, want=None if want is None else f"< {want:g} s", seconds=round(seconds, 3))


def in_fresh_process(code: str, env: dict | None = None, whole: bool = False) -> float:
    """Seconds the snippet reports (it prints one float as its last line), or with whole
    the seconds the whole process took, Python's start included."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, **(env or {})))
    took = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"benchmark snippet failed:\n{done.stderr}")
    return took if whole else float(done.stdout.split()[-1])


def accuracy(signals, folder: Path) -> None:
    """Tempo error at 90/120/150 bpm (kick on the beats, hats off the beats, 20 s) and how
    far band and onset peaks fall from the clicks of an irregular click track."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_signals import CLICKS, beat_track, click, place, write_wav

    for bpm in (90, 120, 150):
        y, kicks = beat_track(bpm, seconds=20.0)
        analysis = signals.analyse(write_wav(folder / f"t{bpm}.wav", y), cache=False)
        grid = signals.beat_grid(analysis)
        beats = grid.beats(analysis.duration)
        beats = beats[beats < kicks[-1] + 0.05]
        off = (beats - kicks[: len(beats)]) * 1000 if len(beats) == len(kicks) else np.array([np.nan])
        error = grid.bpm - bpm
        _line.line(f"audio tempo {bpm} bpm", f"{grid.bpm:.3f} bpm found (error {error:+.3f}); beats from kicks {off.mean():+.1f} ms on average,"
                   f" at most {np.abs(off).max():.1f} ms", measured=abs(error), want="<= 1 bpm off")  # fmt: skip
    defs = {"band": {"band": [1000, 4000], "attack": 0, "release": 0.1}, "onset": {"feature": "onset", "attack": 0, "release": 0.1}}
    path = write_wav(folder / "clicks.wav", place(CLICKS[-1] + 1.0, CLICKS, click()))
    analysis = signals.analyse(path, defs, cache=False)
    curves = signals.follow(analysis, defs, signals.beat_grid(analysis))
    for name in defs:
        parts = []
        for label, t in [("analysis frames", curves.times)] + [(f"{fps} fps", np.arange(int(curves.duration * fps)) / fps) for fps in (24, 30, 60)]:
            v = curves.at(t)[name]
            off = np.array([t[np.abs(t - c) < 0.15][np.argmax(v[np.abs(t - c) < 0.15])] - c for c in CLICKS]) * 1000
            parts.append(f"{label} {off.mean():+.0f} [{off.min():+.0f}, {off.max():+.0f}]")
        _line.line(f"audio {name} peaks", f"from {len(CLICKS)} clicks, ms mean [min, max]: " + "; ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold", action="store_true", help="also analyse with numba's on-disk cache empty (about a minute)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "three-minutes.wav"
        track(audio)
        cache = Path(tmp) / "cache"
        timed = "import time; t = time.perf_counter()\n{}\nprint(time.perf_counter() - t)"
        _line.context(__file__)
        line("import signals", "import cppn_anim.signals (fresh process)", in_fresh_process(timed.format("import cppn_anim.signals")), None)
        line("import librosa", "import librosa, numba and scipy as the analysis does (fresh process)",
             in_fresh_process(timed.format("import librosa.beat, librosa.onset, librosa.feature")), None)
        analyse = timed.format(f"from cppn_anim import signals\nsignals.analyse({str(audio)!r}, "
                               "{'k': {'band': [20, 150]}}, cache=False)")
        line("first analysis", "first analysis of 3 min in a fresh process (numba's cache warm)", in_fresh_process(analyse, whole=True), 20.0)
        if args.cold:
            with tempfile.TemporaryDirectory() as numba_cache:
                line("cold analysis", "first analysis of 3 min in a fresh process, numba compiling everything (cache empty)",
                     in_fresh_process(analyse, {"NUMBA_CACHE_DIR": numba_cache}, whole=True), 20.0)
        else:
            _line.line("audio cold analysis", "not measured (run with --cold: a minute of numba compiling)", want="< 20 s")

        from cppn_anim import signals

        signals.analyse(audio, cache=False)  # imports and numba, once
        began = time.perf_counter()
        first = signals.analyse(audio, {"k": {"band": [20, 150]}}, cache=cache)
        line("warm analysis", "warm analysis of 3 min (in-process, writing the cache)", time.perf_counter() - began, 5.0)
        grid = signals.beat_grid(first)
        _line.line("audio tempo 3-minute track", f"{grid.bpm:.3f} bpm found for {BPM:g} (error {grid.bpm - BPM:+.3f}),"
                   f" beat 0 at {grid.beat_offset * 1000:.0f} ms (the first kick is at 0 ms)", measured=abs(grid.bpm - BPM), want="<= 1 bpm off")  # fmt: skip
        times = []
        for _ in range(5):
            began = time.perf_counter()
            signals.analyse(audio, {"k": {"band": [20, 150]}}, cache=cache)
            times.append(time.perf_counter() - began)
        line("cached analysis", "cached analysis of 3 min (in-process, median of 5)", float(np.median(times)), 0.5)
        line("cached analysis fresh process", "cached analysis of 3 min in a fresh process (Python's start and imports included)", in_fresh_process(timed.format(
            f"from cppn_anim import signals\nsignals.analyse({str(audio)!r}, {{'k': {{'band': [20, 150]}}}}, cache={str(cache)!r})"), whole=True), 0.5)
        accuracy(signals, Path(tmp))
        began = time.perf_counter()
        curves = signals.follow(first, {"k": {"band": [20, 150]}, "l": {"feature": "rms"}, "h": {"feature": "onset"},
                                        "p": {"feature": "beat"}}, grid)
        curves.frames(30, int(SECONDS * 30))
        line("followers", "followers and frame values for 4 signals, 3 min at 30 fps", time.perf_counter() - began, None)


if __name__ == "__main__":
    main()
