"""The demo soundtrack scenes/audio/pulse.ogg: 20 s at 120 bpm, synthesised with numpy.

    .venv/bin/python scripts/make_pulse_audio.py            # writes scenes/audio/pulse.ogg
    .venv/bin/python scripts/make_pulse_audio.py --check    # synthesises again and compares

Ten bars of 4/4 at 120 bpm (a beat every 0.5 s, beat 0 at 0 s): a kick on every beat, a
pad throughout (Am F C G, two bars each), a bass line in eighths from bar 3, off-beat hats
from bar 5, the last bar fading out. Stereo 48 kHz (hats a little right, the pad's
voices detuned between the channels), encoded by the bundled ffmpeg as Opus in Ogg at
80 kbit/s (about 260 KB; ffmpeg decodes Opus everywhere with its own decoder).

Reproducible: nothing random (the hats' noise is a fixed integer hash), so the 16-bit
PCM is the same sample for sample wherever numpy computes sin/exp alike (its SIMD paths
may differ in the last bit of a float on other CPUs, which 16-bit rounding almost always
hides); the Ogg file is the same byte for byte with the same ffmpeg build (bitexact
flags: no random stream serial, no version tags). --check says which of the two matched.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "scenes" / "audio" / "pulse.ogg"
RATE = 48000
BPM = 120.0
BEAT = 60.0 / BPM
BARS = 10
SECONDS = BARS * 4 * BEAT  # 20 s
# sha256 of the 16-bit little-endian interleaved PCM this script makes (checked by --check)
PCM_SHA256 = "14c0294acb23b77ca20003861373b6c511b5ee0c937c13ae9f8b19ad3fc06fcf"


def noise(n: int, seed: int) -> np.ndarray:
    """Deterministic white noise in [-1, 1): splitmix64 of the sample index (no RNG stream)."""
    with np.errstate(over="ignore"):
        x = np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 52) - 1.0


def kick() -> np.ndarray:
    t = np.arange(int(0.35 * RATE)) / RATE
    freq = 45 + 110 * np.exp(-t / 0.035)  # the pitch falls from 155 Hz to 45 Hz
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    body = np.sin(phase) * np.exp(-t / 0.16)
    click = noise(t.size, 1) * np.exp(-t / 0.002) * 0.3
    return 0.95 * (body + click) * np.minimum(1.0, t / 0.001)


def hat(seed: int) -> np.ndarray:
    t = np.arange(int(0.06 * RATE)) / RATE
    n = noise(t.size + 2, seed)
    bright = n[2:] - 2 * n[1:-1] + n[:-2]  # second difference: high frequencies only
    return 0.18 * bright * np.exp(-t / 0.012)


def bass(freq: float, length: float) -> np.ndarray:
    t = np.arange(int(length * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * k * freq * t) / k ** 1.6 for k in range(1, 9))  # a soft saw
    env = np.minimum(1.0, t / 0.006) * np.exp(-t / 0.35) * np.minimum(1.0, (length - t) / 0.015)
    return 0.32 * wave * env


def pad(freqs: list[float], length: float, detune: float) -> np.ndarray:
    t = np.arange(int(length * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * f * (1 + detune) * t) + 0.3 * np.sin(4 * np.pi * f * (1 - detune) * t) for f in freqs)
    env = np.minimum(1.0, t / 0.4) * np.minimum(1.0, (length - t) / 0.3)
    return 0.05 * wave * env


def add(track: np.ndarray, at: float, sound: np.ndarray, gain: float = 1.0) -> None:
    i = int(round(at * RATE))
    part = sound[: max(0, track.size - i)]
    track[i:i + part.size] += gain * part


def synthesise() -> np.ndarray:
    """(samples, 2) int16."""
    n = int(round(SECONDS * RATE))
    left, right = np.zeros(n), np.zeros(n)
    k = kick()
    for b in range(BARS * 4):
        add(left, b * BEAT, k)
        add(right, b * BEAT, k)
    for b in range(4 * 4, BARS * 4):  # hats from bar 5, on the off-beats
        h = hat(100 + b)
        add(left, (b + 0.5) * BEAT, h, 0.7)
        add(right, (b + 0.5) * BEAT, h, 1.0)
    roots = [55.0, 55.0, 65.41, 49.0]  # A1 A1 C2 G1, a bar each
    for e in range(2 * 4 * 2, BARS * 4 * 2):  # eighths from bar 3
        root = roots[(e // 8) % 4]
        note = bass(root * (2.0 if e % 4 == 3 else 1.0), BEAT / 2 * 0.92)
        add(left, e * BEAT / 2, note)
        add(right, e * BEAT / 2, note)
    chords = [[220.0, 261.63, 329.63], [174.61, 220.0, 261.63], [261.63, 329.63, 392.0], [196.0, 246.94, 293.66]]
    for c in range(BARS // 2):
        length = 8 * BEAT
        add(left, c * length, pad(chords[c % 4], length, -0.002))
        add(right, c * length, pad(chords[c % 4], length, +0.002))
    fade = np.clip((SECONDS - np.arange(n) / RATE) / (4 * BEAT), 0.0, 1.0)  # the last bar fades out
    mix = np.stack([left, right], axis=1) * fade[:, None]
    mix *= 0.89 / np.abs(mix).max()
    return np.round(mix * 32767).astype("<i2")


def encode(pcm: np.ndarray, out: Path) -> None:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y",
           "-f", "s16le", "-ar", str(RATE), "-ac", "2", "-i", "-",
           "-c:a", "libopus", "-b:a", "80k", "-application", "audio",
           "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "ogg", str(out)]
    subprocess.run(cmd, input=pcm.tobytes(), check=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="synthesise again and compare with the committed file")
    ap.add_argument("-o", type=Path, default=OUT, help=f"where to write (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args()
    pcm = synthesise()
    pcm_sha = sha256(pcm.tobytes())
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            again = Path(tmp) / "pulse.ogg"
            encode(pcm, again)
            same_pcm = pcm_sha == PCM_SHA256
            same_file = args.o.exists() and again.read_bytes() == args.o.read_bytes()
        print(f"PCM {'same' if same_pcm else 'DIFFERENT'} sample for sample (sha256 {pcm_sha[:16]}...);"
              f" {args.o.name} {'same' if same_file else 'DIFFERENT'} byte for byte")
        return 0 if same_pcm else 1
    args.o.parent.mkdir(parents=True, exist_ok=True)
    encode(pcm, args.o)
    print(f"wrote {args.o} ({args.o.stat().st_size / 1000:.0f} KB, {SECONDS:g} s at {BPM:g} bpm); PCM sha256 {pcm_sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
