"""What a soundtrack costs (README "Music"): the analysis of a 3-minute track.

    .venv/bin/python benchmarks/audio.py           # about 15 s
    .venv/bin/python benchmarks/audio.py --cold    # also with numba's cache empty (about a minute)

One line per figure, with its target and a verdict, and the load average (the machine
is shared: a figure taken under load is slower than the code is):
- import: `import cppn_anim.signals` (no audio stack), then librosa's modules the analysis
  uses, each in a fresh process;
- fresh: the first analysis in a new process (imports, numba loading or compiling what
  it needs, decoding, features, beats), no analysis cache: want < 20 s;
- cold (--cold): the same with numba's on-disk cache empty, as the very first run after an
  install that did not warm it (`make` warms it when it installs): want < 20 s;
- warm: a second analysis in the same process: want < 5 s;
- cached: the analysis read back from the cache, in-process and in a fresh process: want < 0.5 s;
- accuracy: the tempo error at 90, 120 and 150 bpm and where the beats fall from the kicks;
  how far band and onset peaks fall from clicks, at the analysis frames and at 24/30/60 fps;
- a scene with the 3-minute soundtrack: parsed with its analysis cached (the first time in a
  process, then again as a studio edit does), and the motion of every frame with five
  modulations (trajectory.speed among them);
- sync, measured on rendered files: a click in the audio and the frame its beat flashes,
  decoded back from an mp4 (AAC) and a webm (Opus), whole and segmented: want within one
  frame (the contract), and under 5 ms.
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


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def line(what: str, seconds: float, want: float | None, note: str = "") -> None:
    verdict = "" if want is None else (f" (want < {want:g} s): " + ("ok" if seconds < want else "SLOW"))
    print(f"audio: {what}: {seconds:.2f} s{verdict}{note}; {load()}", flush=True)


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
        print(f"audio: tempo at {bpm} bpm: {grid.bpm:.3f} found (error {grid.bpm - bpm:+.3f}, want within 1);"
              f" beats from kicks {off.mean():+.1f} ms on average, at most {np.abs(off).max():.1f} ms")
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
        print(f"audio: {name} peaks from {len(CLICKS)} clicks, ms mean [min, max]: " + "; ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold", action="store_true", help="also analyse with numba's on-disk cache empty (about a minute)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "three-minutes.wav"
        track(audio)
        cache = Path(tmp) / "cache"
        timed = "import time; t = time.perf_counter()\n{}\nprint(time.perf_counter() - t)"
        line("import cppn_anim.signals (fresh process)", in_fresh_process(timed.format("import cppn_anim.signals")), None)
        line("import librosa, numba and scipy as the analysis does (fresh process)",
             in_fresh_process(timed.format("import librosa.beat, librosa.onset, librosa.feature")), None)
        analyse = timed.format(f"from cppn_anim import signals\nsignals.analyse({str(audio)!r}, "
                               "{'k': {'band': [20, 150]}}, cache=False)")
        line("first analysis of 3 min in a fresh process (numba's cache warm)", in_fresh_process(analyse, whole=True), 20.0)
        if args.cold:
            with tempfile.TemporaryDirectory() as numba_cache:
                line("first analysis of 3 min in a fresh process, numba compiling everything (cache empty)",
                     in_fresh_process(analyse, {"NUMBA_CACHE_DIR": numba_cache}, whole=True), 20.0)
        else:
            print("audio: cold numba compile: not measured (--cold; about 35 s of compiling on a 2-core machine)")

        from cppn_anim import signals

        signals.analyse(audio, cache=False)  # imports and numba, once
        began = time.perf_counter()
        first = signals.analyse(audio, {"k": {"band": [20, 150]}}, cache=cache)
        line("warm analysis of 3 min (in-process, writing the cache)", time.perf_counter() - began, 5.0)
        grid = signals.beat_grid(first)
        print(f"audio: 3-minute track: {grid.bpm:.3f} bpm found for {BPM:g} (error {grid.bpm - BPM:+.3f}),"
              f" beat 0 at {grid.beat_offset * 1000:.0f} ms (the first kick is at 0 ms)")
        times = []
        for _ in range(5):
            began = time.perf_counter()
            signals.analyse(audio, {"k": {"band": [20, 150]}}, cache=cache)
            times.append(time.perf_counter() - began)
        line("cached analysis of 3 min (in-process, median of 5)", float(np.median(times)), 0.5)
        cached = f"from cppn_anim import signals\nsignals.analyse({str(audio)!r}, {{'k': {{'band': [20, 150]}}}}, cache={str(cache)!r})"
        line("cached analysis of 3 min in a fresh process", in_fresh_process(
            "from cppn_anim import signals\n" + timed.format(cached)), 0.5)
        line("the same, Python's start and imports included", in_fresh_process(timed.format(cached), whole=True), None)
        accuracy(signals, Path(tmp))
        began = time.perf_counter()
        curves = signals.follow(first, {"k": {"band": [20, 150]}, "l": {"feature": "rms"}, "h": {"feature": "onset"},
                                        "p": {"feature": "beat"}}, grid)
        curves.frames(30, int(SECONDS * 30))
        line("followers and frame values for 4 signals, 3 min at 30 fps", time.perf_counter() - began, None)
        scene_cost(audio, Path(tmp))
        sync(Path(tmp))


def scene_cost(audio: Path, folder: Path) -> None:
    """A scene with the 3-minute soundtrack: parse (analysis cached) and every frame's motion."""
    os.environ["XDG_CACHE_HOME"] = str(folder / "xdg")  # this script's own analysis cache
    from cppn_anim import core, signals, trajectory

    (folder / "music.yaml").write_text(
        f"audio:\n  path: {audio.name}\n  signals:\n    kick: {{band: [20, 150]}}\n    level: {{feature: rms, release: 0.5}}\n"
        "    hits: {feature: onset}\n    pulse: {feature: beat}\nmodulate:\n  view.zoom: {signal: kick, amount: 0.3, mode: multiply}\n"
        "  network.contrast: {signal: hits, amount: 1}\n  z: {signal: pulse, amount: 0.3, toward: {seed: 2}}\n"
        "  view.rotation: {signal: pulse, amount: 5}\n  trajectory.speed: {signal: level, amount: 2}\n"
        "trajectory:\n  interpolation: cubic\n  keyframes:\n    - {at: 0, z: random}\n" + "".join(f"    - {{at: \"{8 * k}b\", z: random}}\n" for k in range(1, 40)))
    core.load(folder / "music.yaml")  # analysed and cached here
    signals._HEARD.clear()
    began = time.perf_counter()
    scene = core.load(folder / "music.yaml")
    line("a scene with 3 min of audio parsed, its analysis cached (file hashed and read)", time.perf_counter() - began, 0.5)
    began = time.perf_counter()
    core.load(folder / "music.yaml")
    line("the same scene parsed again in the process (a studio edit)", time.perf_counter() - began, 0.5)
    motion = trajectory.Motion(scene)
    began = time.perf_counter()
    for i in range(scene.frame_count):
        motion.at(scene.frame_time(i))
    took = time.perf_counter() - began
    line(f"motion of {scene.frame_count} frames with 5 modulations (speed re-timed): {took / scene.frame_count * 1e6:.0f} us a frame", took, None)


def sync(folder: Path) -> None:
    """The click and its flash decoded back from rendered files: the offset, ms."""
    import imageio_ffmpeg

    sys.path.insert(0, str(ROOT / "tests"))
    from test_music import FLASH, clicks, write_wav

    write_wav(folder / "click.wav", clicks(4.0, [1.75]))
    (folder / "flash.yaml").write_text(FLASH.replace("START", "0.75"))
    ff = imageio_ffmpeg.get_ffmpeg_exe()
    parts = []
    for fmt, extra in (("mp4", []), ("webm", []), ("mp4", ["--resume"])):
        out = folder / f"flash{len(parts)}.{fmt}"
        cmd = [sys.executable, "-m", "cppn_anim", "render", str(folder / "flash.yaml"), "-o", str(out), "--quiet", *extra]
        subprocess.run(cmd, check=True, cwd=folder)
        gen = imageio_ffmpeg.read_frames(str(out))
        w, h = next(gen)["size"]
        frames = np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen]).astype(np.int32)
        flash = int(np.argmax(np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3)))) + 1
        pcm = subprocess.run([ff, "-v", "error", "-i", str(out), "-map", "0:a:0", "-f", "f32le", "-ac", "1", "-ar", "48000", "-"],
                             capture_output=True, check=True).stdout
        click = float(np.argmax(np.abs(np.frombuffer(pcm, np.float32)))) / 48000
        parts.append(f"{fmt}{' segmented' if extra else ''} {(click - flash / 20) * 1000:+.1f} ms")
    print(f"audio: sync on rendered files (the click's sample vs its flash frame, 20 fps: a frame is 50 ms; want < 5 ms): "
          + ", ".join(parts) + f"; {load()}", flush=True)


if __name__ == "__main__":
    main()
