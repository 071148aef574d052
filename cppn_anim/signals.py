"""Audio -> signals and beats: the stage between the scene and the motion.

A scene with a soundtrack (`audio:`) reads its audio file once; everything the picture
needs from it is decided here, before any frame is drawn:

    analysis = analyse(path, [definition, ...])   # decode + features + beat tracking, cached
    grid = beat_grid(analysis, start, bpm, beat_offset)   # the beat grid, in video time
    curves = follow(analysis, definitions, grid, start=..., duration=...)
    curves.frames(fps, range(frame_count))        # {name: (n,) float64 in [0, 1]}
    grid.beats(duration)                           # beat times, seconds
    grid.time(8)                                   # the time of "8b"

Units: seconds everywhere; "audio time" counts from the file's first sample, "video
time" t from frame 0 (audio time = start + t). The analysis, exactly:
- decoded by the bundled ffmpeg, each channel resampled to SAMPLE_RATE (22,050 Hz), then
  the channels averaged (mono float32);
- analysis frames every HOP (512) samples, frame j at its window's centre j * FRAME s
  (FRAME = 512 / 22,050 s, about 23.2 ms), windows of N_FFT (2048) samples, Hann, the
  signal padded with zeros at both ends;
- `band: [lo, hi]`: summed STFT power of the bins whose centre frequency lies in
  [lo, hi] Hz (a band narrower than a bin uses the bin nearest its middle);
  `rms`: linear RMS of the frame; `onset`: spectral flux (the mean rise of the log-mel
  spectrum from the previous frame, librosa's onset strength, moved one frame later so
  that its peaks fall on the onsets: -6 ms on average on clicks);
- each raw feature is scaled so that its 99th percentile over the whole file is 1 (the
  maximum where that percentile is 0; an all-zero feature stays 0), then clipped to [0, 1];
- followers: a one-pole smoother on the analysis frames, y[j] = y[j-1] + a * (x[j] - y[j-1])
  with a = 1 - exp(-FRAME / tau), tau = attack when x[j] > y[j-1] else release (0: a = 1).
  That is the exact response of tau * y' = x - y to x held at x[j] over the hop that ends
  at frame j: a step covers 1 - 1/e in `tau` seconds, counted from the frame before it.
  Past the end of the audio x is 0 (silence): the followers decay by `release`;
- the video samples the followed curve at t = i / fps, linearly between analysis frames,
  so every fps sees one curve, and `beat` is exp(-(t - b) / release) for the latest beat
  b <= t (0 before the first beat), computed at t itself;
- beats: librosa's beat tracker follows the amplitude flux of the mel bands below LOW_HZ
  (400 Hz: kick and bass, not off-beat hats; a loud kick outweighs a soft bass note); a
  beat sits half a hop after the frame of its rise (on clicks: within 1 ms; a synthetic
  kick, whose low end builds up, reads 9-15 ms late); a straight line
  b = origin + n * period is fitted by least squares to the tracked beats (n counted
  from the first, missed beats skipped),
  and its tempo folded by octaves into [70, 180) bpm (halving keeps the phase with more
  low-frequency onset energy, so beats stay on the kick). beat_offset: the fitted grid's
  first beat once the music plays (see beat_grid). A written bpm or beat_offset replaces
  the fitted one. Beats are beat_offset + k * 60 / bpm, k >= 0, 0 <= t < duration.

The analysis of a file is cached by the file's sha256 and the analysis settings, under
cache_folder() (XDG_CACHE_HOME or ~/.cache, then cppn-anim/audio/), one file per feature,
each written whole or not at all: a second render, a studio edit or `cppn-anim audio`
does not analyse again, and the cached path imports neither librosa nor numba.

librosa (and so numba, scipy) is imported only inside the functions that analyse:
`import cppn_anim` and scenes without audio never load the audio stack.

A scene's `audio` is heard by `hear(scene, user_path, folder=...)` when the scene is
parsed (core lends it to scene.parse): the file found (relative to the scene file's
folder, or the current folder for --audio), analysed, its grid made; the result, a
SceneAudio, resolves beat times and a missing duration, then follows the signals over the
video (`follow`) and stays with the scene as `scene.heard`.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import re
import struct
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

import numpy as np

from . import targets
from .errors import EncodeError

SAMPLE_RATE = 22050  # Hz: every file is resampled to it
HOP = 512  # samples between analysis frames
N_FFT = 2048  # samples in an analysis window
FRAME = HOP / SAMPLE_RATE  # seconds between analysis frames (about 23.2 ms)
NYQUIST = SAMPLE_RATE / 2  # the highest band edge, Hz
N_MELS = 128  # mel bands of the onset features
LOW_HZ = 400.0  # the beat tracker listens below this (kick and bass)
BPM_FOLD = (70.0, 180.0)  # a tracked tempo is folded by octaves into [70, 180)
FALLBACK_BPM = 120.0  # the grid when no tempo is found (silence, a single hit)
DEFAULT_ATTACK = 0.01  # seconds
DEFAULT_RELEASE = 0.2  # seconds
FEATURES = ("rms", "onset", "beat")
BEAT_TIME = re.compile(r"^[0-9]+(\.[0-9]+)?b$")  # "8b", "2.5b": a time in beats
ANALYSIS_VERSION = 1  # bump when what is cached changes meaning: old entries are then ignored

Number = Union[int, float]


class AudioError(ValueError):
    """An audio file that cannot be used: missing, unreadable, undecodable, without sound.

    str() is one line, "PATH: reason" (the scene reports it at `audio.path`)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: {reason}")


# ------------------------------------------------------------------ signal definitions


@dataclass(frozen=True)
class SignalDef:
    """One entry of `audio.signals`: `band` (lo, hi Hz) or `feature` rms | onset | beat,
    with attack and release in seconds (beat: release only, > 0)."""

    feature: str  # "band" | "rms" | "onset" | "beat"
    band: tuple[float, float] | None = None
    attack: float = DEFAULT_ATTACK
    release: float = DEFAULT_RELEASE

    def __post_init__(self):
        if self.feature == "band":
            if self.band is None or len(self.band) != 2:
                raise ValueError("band needs [lo, hi] in Hz")
            lo, hi = (float(v) for v in self.band)
            if not (math.isfinite(lo) and math.isfinite(hi)) or not 0 <= lo < hi:
                raise ValueError(f"band [{lo:g}, {hi:g}] must have 0 <= lo < hi")
            if hi > NYQUIST:
                raise ValueError(f"band edge {hi:g} Hz is above {NYQUIST:g} Hz (half the analysis sample rate)")
            object.__setattr__(self, "band", (lo, hi))
        elif self.feature in FEATURES:
            if self.band is not None:
                raise ValueError("write either band or feature, not both")
        else:
            raise ValueError(f"unknown feature {self.feature!r} (rms, onset, beat, or band: [lo, hi])")
        for name in ("attack", "release"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0")
            object.__setattr__(self, name, v)
        if self.feature == "beat" and self.release <= 0:
            raise ValueError("a beat signal needs release > 0")

    @classmethod
    def from_mapping(cls, d: Mapping) -> "SignalDef":
        """{band: [lo, hi], attack, release} or {feature: rms|onset|beat, attack, release}, as in a scene."""
        unknown = set(d) - {"band", "feature", "attack", "release"}
        if unknown:
            raise ValueError(f"unknown key {sorted(unknown)[0]!r} (band, feature, attack, release)")
        if ("band" in d) == ("feature" in d):
            raise ValueError("a signal needs exactly one of band: [lo, hi] or feature: rms | onset | beat")
        if "band" in d:
            return cls("band", tuple(d["band"]), d.get("attack", DEFAULT_ATTACK), d.get("release", DEFAULT_RELEASE))
        if d["feature"] == "beat" and "attack" in d:
            raise ValueError("a beat signal takes only release")
        return cls(d["feature"], None, d.get("attack", DEFAULT_ATTACK), d.get("release", DEFAULT_RELEASE))

    @property
    def key(self) -> str | None:
        """The raw feature it follows ('rms', 'onset', 'band_20.0_150.0'); None for beat."""
        if self.feature == "band":
            return f"band_{self.band[0]!r}_{self.band[1]!r}"
        return None if self.feature == "beat" else self.feature

    @property
    def what(self) -> str:
        """What it follows, as `cppn-anim audio` and its plot name it: 'band 20-150 Hz', 'rms', 'onset', 'beat'."""
        return f"band {self.band[0]:g}-{self.band[1]:g} Hz" if self.feature == "band" else self.feature


Definitions = Mapping[str, Union[SignalDef, Mapping]]


def _definitions(signals: Definitions) -> dict[str, SignalDef]:
    return {name: d if isinstance(d, SignalDef) else SignalDef.from_mapping(d) for name, d in signals.items()}


# ------------------------------------------------------------------ decoding


def _ffmpeg() -> str:
    import imageio_ffmpeg  # honours IMAGEIO_FFMPEG_EXE

    return imageio_ffmpeg.get_ffmpeg_exe()


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise AudioError(path, f"cannot read it ({e.strerror or e})") from None


def file_sha256(path: str | os.PathLike) -> str:
    """The file's sha256 (hex): the identity the cache and the resolved scene record."""
    path = Path(path)
    _check_readable(path)
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise AudioError(path, f"cannot read it ({e.strerror or e})") from None
    return h.hexdigest()


def _last_line(text: str, url: str) -> str:
    """ffmpeg's last word, one line, without the file's name (the error starts with it)."""
    lines = [ln.strip().replace(url + ": ", "") for ln in text.splitlines() if ln.strip()]
    line = lines[-1] if lines else "no reason given"
    return line if len(line) <= 200 else line[:197] + "..."


def decode(path: str | os.PathLike) -> np.ndarray:
    """The file's first audio stream as mono float32 at SAMPLE_RATE Hz: (n_samples,).

    ffmpeg resamples each channel; the channels are then averaged here. Any format the
    bundled ffmpeg decodes (or IMAGEIO_FFMPEG_EXE's). Raises AudioError (one line) for a
    missing, unreadable or undecodable file, one without an audio stream or without samples."""
    path = Path(path)
    _check_readable(path)
    url = "file:" + os.path.abspath(path)  # a file, never a protocol or an option
    cmd = [_ffmpeg(), "-nostdin", "-hide_banner", "-v", "error", "-i", url,
           "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1", "-fflags", "+bitexact",
           "-ar", str(SAMPLE_RATE), "-c:a", "pcm_f32le", "-f", "wav", "-"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        try:
            mono = _read_wav_mono(proc.stdout)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdout.close()
        err.seek(0)
        said = err.read().decode("utf-8", "replace")
    if code != 0 or mono is None:
        if "matches no streams" in said or "does not contain any stream" in said:
            raise AudioError(path, "has no audio stream")
        raise AudioError(path, f"ffmpeg cannot decode it: {_last_line(said, url)}")
    if mono.size == 0:
        raise AudioError(path, "holds no audio samples")
    return mono


def _read_exact(stream, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = stream.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _read_wav_mono(stream) -> np.ndarray | None:
    """ffmpeg's WAV on a pipe (float32 samples, sizes not filled in) -> channels averaged.
    None when the stream ends before its header (ffmpeg failed)."""
    head = _read_exact(stream, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    channels = 0
    while True:  # chunks up to "data", whose size we ignore (a pipe: never filled in)
        hdr = _read_exact(stream, 8)
        if len(hdr) < 8:
            return None
        tag, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        if tag == b"data":
            break
        body = _read_exact(stream, size + (size & 1))
        if tag == b"fmt ":
            channels, rate, bits = struct.unpack("<H", body[2:4])[0], struct.unpack("<I", body[4:8])[0], struct.unpack("<H", body[14:16])[0]
            if rate != SAMPLE_RATE or bits != 32:
                return None
    if channels < 1:
        return None
    frame_bytes = 4 * channels
    step = frame_bytes * 65536
    parts, rest = [], b""
    while True:
        chunk = stream.read(step)
        if not chunk:
            break
        chunk = rest + chunk
        cut = len(chunk) - len(chunk) % frame_bytes
        rest = chunk[cut:]
        block = np.frombuffer(chunk[:cut], dtype="<f4").reshape(-1, channels)
        parts.append(block[:, 0].copy() if channels == 1 else block.mean(axis=1, dtype=np.float64).astype(np.float32))
    mono = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)


# ------------------------------------------------------------------ the analysis


@dataclass(frozen=True)
class Analysis:
    """What one audio file gives, whatever the scene does with it (all in audio time).

    sha256: the file's content hash. duration: seconds of audio (samples / SAMPLE_RATE).
    frames: analysis frames, frame j at j * FRAME s. features: raw (unscaled) feature ->
    (frames,) float64 for the features asked ('rms', 'onset', 'band_LO_HI').
    tracked: beat times the tracker found (s). bpm: the fitted tempo folded into [70, 180),
    None when fewer than two beats were tracked; origin: the audio time of the fitted
    grid's beat at the first tracked beat (None likewise)."""

    sha256: str
    duration: float
    frames: int
    features: Mapping[str, np.ndarray] = field(repr=False)
    tracked: np.ndarray = field(repr=False)
    bpm: float | None
    origin: float | None
    low_onset: np.ndarray = field(repr=False)  # the tracker's input (raw), kept for plots and folding

    @property
    def music_start(self) -> float | None:
        """Audio time of the first low-frequency onset (at least a tenth of the usual onset
        strength): where the music starts, for beat 0. None when there is none."""
        ref = scale_reference(self.low_onset)
        if ref == 0:
            return None
        j = int(np.argmax(self.low_onset >= 0.1 * ref))
        return max(0.0, (j - 0.5) * FRAME)

    @property
    def times(self) -> np.ndarray:
        """(frames,) audio seconds of the analysis frames (window centres)."""
        return np.arange(self.frames) * HOP / SAMPLE_RATE

    def scaled(self, key: str) -> np.ndarray:
        """Feature `key` scaled so that its 99th percentile over the file is 1, clipped to [0, 1]."""
        return scale(self.features[key])


def scale(raw: np.ndarray) -> np.ndarray:
    """raw / (its 99th percentile; the maximum where that is 0), clipped to [0, 1]; all-zero stays 0."""
    raw = np.asarray(raw, dtype=np.float64)
    ref = scale_reference(raw)
    return np.zeros_like(raw) if ref == 0 else np.clip(raw / ref, 0.0, 1.0)


def scale_reference(raw: np.ndarray) -> float:
    """What a feature is divided by: its 99th percentile, the maximum where that is 0, 0 for all-zero."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.size == 0:
        return 0.0
    ref = float(np.percentile(raw, 99))
    if not ref > 0:
        ref = float(raw.max())
    return ref if ref > 0 else 0.0


def _frame_count(samples: int) -> int:
    return 1 + samples // HOP


def _band_bins(lo: float, hi: float) -> slice:
    freqs = np.arange(N_FFT // 2 + 1) * SAMPLE_RATE / N_FFT
    inside = np.flatnonzero((freqs >= lo) & (freqs <= hi))
    if inside.size == 0:  # narrower than a bin: the bin nearest the band's middle
        k = int(np.argmin(np.abs(freqs - (lo + hi) / 2)))
        return slice(k, k + 1)
    return slice(int(inside[0]), int(inside[-1]) + 1)


def _power(y: np.ndarray) -> np.ndarray:
    """(N_FFT/2+1, frames) STFT power, frames centred, zero-padded."""
    import librosa

    spec = librosa.stft(y, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT, window="hann", center=True, pad_mode="constant")
    return (spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2)


def _compute(y: np.ndarray, bands: Sequence[tuple[float, float]], base: bool) -> dict[str, dict[str, np.ndarray]]:
    """The cache entries for mono audio y: 'base' (duration, rms, onset, the beats) when
    base, and one per band. Each entry: name -> array."""
    import librosa

    n = _frame_count(y.size)
    padded = y if y.size >= N_FFT else np.pad(y, (0, N_FFT - y.size))  # the STFT needs one whole window
    power = _power(padded)[:, :n]
    out: dict[str, dict[str, np.ndarray]] = {}
    for lo, hi in bands:
        out[SignalDef("band", (lo, hi)).key] = {"raw": power[_band_bins(lo, hi)].sum(axis=0)}
    if not base:
        return out
    rms = librosa.feature.rms(y=padded, frame_length=N_FFT, hop_length=HOP, center=True, pad_mode="constant")[0, :n]
    mel = librosa.feature.melspectrogram(S=power, sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmax=NYQUIST)
    logmel = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)
    centres = librosa.mel_frequencies(N_MELS + 2, fmin=0.0, fmax=NYQUIST)[1:-1]

    def flux(rows: np.ndarray, shift: int) -> np.ndarray:  # [j]: mean rise from frame j-1-shift to j-shift
        env = librosa.onset.onset_strength(S=rows, sr=SAMPLE_RATE, hop_length=HOP, n_fft=N_FFT, lag=1, max_size=1,
                                           center=False, detrend=False)
        return np.concatenate([np.zeros(shift), np.asarray(env, dtype=np.float64)])[:n]

    # onset: librosa's onset strength (log-mel flux). In decibels the rise from frame j-1
    # to j is largest when an onset enters frame j's window, one to two hops after its
    # centre, so it is moved one frame later (measured on clicks: -6 ms from the onset on
    # average, against +18 ms with librosa's own two-frame shift and -29 ms with none).
    onset = flux(logmel, 1)
    # the tracker's input: the flux of mel amplitudes below LOW_HZ. Amplitudes, not
    # decibels: a loud kick outweighs a soft bass note or the tail of a pad (with log-mel
    # flux an off-beat bass line pulled the beats half a beat off the kick)
    low = flux(np.sqrt(mel[centres < LOW_HZ]), 0)
    tracked = np.zeros(0)
    if low.max(initial=0.0) > 0:
        _, frames = librosa.beat.beat_track(onset_envelope=low, sr=SAMPLE_RATE, hop_length=HOP, units="frames")
        # With Hann windows 4 hops long, the amplitude rise from frame j-1 to j is largest
        # for an onset half a hop after frame j's centre: that is where the beat is
        # (measured on clicks: within 1 ms)
        tracked = (np.asarray(frames, dtype=np.float64) + 0.5) * HOP / SAMPLE_RATE
    bpm, origin = fit_tempo(tracked, low)
    out["base"] = {
        "samples": np.array(y.size, dtype=np.int64), "rms": np.asarray(rms, np.float64), "onset": onset,
        "low_onset": low, "tracked": tracked,
        "bpm": np.array(np.nan if bpm is None else bpm), "origin": np.array(np.nan if origin is None else origin),
    }
    return out


def fit_tempo(tracked: np.ndarray, low_onset: np.ndarray | None = None) -> tuple[float | None, float | None]:
    """(bpm, origin) of the straight line origin + n * 60 / bpm fitted by least squares to
    the tracked beat times (n counted from the first beat, in steps of their median gap, so
    a missed beat is skipped), bpm folded by octaves into [70, 180). When folding halves the
    tempo, origin takes the phase whose grid collects more of `low_onset` (per analysis
    frame), so the beats stay on the kick. (None, None) for fewer than two beats."""
    tracked = np.asarray(tracked, dtype=np.float64)
    if tracked.size < 2:
        return None, None
    gap = float(np.median(np.diff(tracked)))
    if not gap > 0:
        return None, None
    # beat numbers step by step (a gap of about two beats is a missed beat), so a median gap
    # off by a frame cannot slip a beat number over a long track
    n = np.concatenate([[0.0], np.cumsum(np.maximum(1.0, np.round(np.diff(tracked) / gap)))])
    slope, intercept = np.polyfit(n, tracked, 1)
    period, origin = float(slope), float(intercept)
    lo, hi = BPM_FOLD
    while 60.0 / period < lo:
        period /= 2
    while 60.0 / period >= hi:
        half = period
        period *= 2
        if low_onset is not None and low_onset.size:
            def collected(o: float) -> float:  # the onset strength at the grid's beats (an onset at
                # t shows at frame t / FRAME - 0.5: see _compute), the best of three frames each
                k = np.arange(math.ceil(-o / period), math.floor(((low_onset.size - 1) * FRAME - o) / period) + 1)
                idx = np.round((o + k * period) / FRAME - 0.5).astype(int)
                near = np.clip(idx[:, None] + np.arange(-1, 2), 0, low_onset.size - 1)
                return float(low_onset[near].max(axis=1).sum())

            if collected(origin + half) > collected(origin):
                origin += half
    return 60.0 / period, origin


def _entry_keys(defs: Iterable[SignalDef]) -> list[str]:
    return ["base"] + sorted({d.key for d in defs if d.feature == "band"})


def analyse(path: str | os.PathLike, signals: Definitions | Iterable[SignalDef] = (), *,
            cache: bool | str | os.PathLike = True) -> Analysis:
    """Analyse the audio file at `path` for the given signal definitions (a name -> definition
    mapping, or SignalDefs): rms, onset, the tracked beats always; each band asked.

    cache: True (cache_folder()), a folder, or False (always analyse, write nothing). A hit
    neither decodes nor imports librosa. Raises AudioError for a bad file."""
    defs = list(_definitions(signals).values()) if isinstance(signals, Mapping) else list(signals)
    path = Path(path)
    sha = file_sha256(path)
    folder = None if cache is False else (cache_folder() if cache is True else Path(cache))
    keys = _entry_keys(defs)
    entries: dict[str, dict[str, np.ndarray]] = {}
    if folder is not None:
        for key in keys:
            found = _read_entry(folder, sha, key)
            if found is not None:
                entries[key] = found
    missing = [k for k in keys if k not in entries]
    if missing:
        bands = [tuple(float(v) for v in k.split("_")[1:]) for k in missing if k != "base"]
        computed = _compute(decode(path), bands, "base" in missing)
        for key, arrays in computed.items():
            entries[key] = arrays
            if folder is not None:
                _write_entry(folder, sha, key, arrays)
    base = entries["base"]
    features = {"rms": base["rms"], "onset": base["onset"]}
    features.update({k: entries[k]["raw"] for k in keys if k != "base"})
    bpm, origin = float(base["bpm"]), float(base["origin"])
    samples = int(base["samples"])
    return Analysis(sha256=sha, duration=samples / SAMPLE_RATE, frames=_frame_count(samples), features=features,
                    tracked=base["tracked"], bpm=None if math.isnan(bpm) else bpm,
                    origin=None if math.isnan(origin) else origin, low_onset=base["low_onset"])


# ------------------------------------------------------------------ the cache


def cache_folder() -> Path | None:
    """The analysis cache: targets.user_cache("audio") ($XDG_CACHE_HOME or ~/.cache, then
    cppn-anim/audio); None where there is no home to cache in (nothing is cached)."""
    return targets.user_cache("audio")


def _settings() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        lib = version("librosa")
    except PackageNotFoundError:
        lib = "?"
    text = f"v{ANALYSIS_VERSION} sr{SAMPLE_RATE} hop{HOP} fft{N_FFT} mels{N_MELS} low{LOW_HZ} fold{BPM_FOLD} librosa{lib}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _entry_path(folder: Path, sha: str, key: str) -> Path:
    return folder / sha[:2] / f"{sha}.{_settings()}.{key}.npz"


def _read_entry(folder: Path, sha: str, key: str) -> dict[str, np.ndarray] | None:
    try:
        with np.load(_entry_path(folder, sha, key), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, unreadable, damaged: analyse again
        return None


def _write_entry(folder: Path, sha: str, key: str, arrays: Mapping[str, np.ndarray]) -> None:
    """One cache entry, whole or not at all (targets.atomic: a temporary file beside it, then
    os.replace; any failure, Ctrl-C included, removes the temporary file), so two processes
    analysing one file at once each write a whole entry and the last one stays."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path = _entry_path(folder, sha, key)
    try:
        with targets.atomic(path) as temp:
            temp.write_bytes(buf.getvalue())
        for old in path.parent.glob(".*.part.npz"):  # left by a process killed while writing (kill -9)
            if old.stat().st_mtime < time.time() - 3600:
                old.unlink(missing_ok=True)
    except (OSError, EncodeError):
        pass  # a cache that cannot be written only costs the next analysis


# ------------------------------------------------------------------ beats


def parse_beats(value) -> float | None:
    """N for a beat time "Nb" (matching ^[0-9]+(\\.[0-9]+)?b$), else None."""
    if isinstance(value, str) and BEAT_TIME.match(value):
        return float(value[:-1])
    return None


@dataclass(frozen=True)
class Grid:
    """The beat grid in video time: beat N at beat_offset + N * 60 / bpm seconds.
    found: False when the tempo is a fallback (no beats tracked and none written)."""

    bpm: float
    beat_offset: float
    found: bool = True

    def time(self, n: Number) -> float:
        """The time of beat n (what "nb" means), seconds."""
        return self.beat_offset + n * 60.0 / self.bpm

    def beats(self, duration: float) -> np.ndarray:
        """Beat times t = beat_offset + k * 60 / bpm, k >= 0, with 0 <= t < duration (float64)."""
        if duration <= self.beat_offset:
            return np.zeros(0)
        k = np.arange(int(math.ceil((duration - self.beat_offset) * self.bpm / 60.0)) + 1, dtype=np.float64)
        t = self.beat_offset + k * 60.0 / self.bpm
        return t[(t >= 0) & (t < duration)]


def beat_grid(analysis: Analysis, start: float = 0.0, bpm: Number | str = "auto",
              beat_offset: Number | str = "auto") -> Grid:
    """The scene's beat grid in video time. A written bpm or beat_offset wins. With "auto":
    bpm is the fitted tempo; beat_offset is the video time of the fitted grid's first beat
    once the music plays (at or after `start` and the first low-frequency onset, a quarter
    beat of slack): the tracker's first beat, with any beat it trimmed at the start put
    back. Without a tracked tempo: 120 bpm (found=False), beat 0 at the first onset."""
    start = float(start)
    music = analysis.music_start
    if analysis.bpm is None:
        fitted_bpm, found = FALLBACK_BPM, False
        offset = 0.0 if music is None else max(0.0, music - start)
    else:
        period = 60.0 / analysis.bpm
        earliest = max(start - FRAME / 2, (start if music is None else music) - period / 4)
        k = math.ceil((earliest - analysis.origin) / period)
        fitted_bpm, found = analysis.bpm, True
        offset = max(0.0, analysis.origin + k * period - start)
    if bpm != "auto":
        fitted_bpm, found = float(bpm), True
    if beat_offset != "auto":
        offset = float(beat_offset)
    return Grid(bpm=fitted_bpm, beat_offset=offset, found=found)


# ------------------------------------------------------------------ followers and curves


def follower(x: np.ndarray, attack: float, release: float, dt: float = FRAME) -> np.ndarray:
    """One-pole attack/release follower over frames dt seconds apart, from 0:
    y[j] = y[j-1] + a * (x[j] - y[j-1]), a = 1 - exp(-dt / tau), tau = attack on a rise,
    release on a fall (0: a = 1, no smoothing that way)."""
    up = 1.0 if attack == 0 else -math.expm1(-dt / attack)
    down = 1.0 if release == 0 else -math.expm1(-dt / release)
    out = np.empty(len(x), dtype=np.float64)
    y = 0.0
    for j, v in enumerate(np.asarray(x, dtype=np.float64).tolist()):
        y += (up if v > y else down) * (v - y)
        out[j] = y
    return out


@dataclass(frozen=True)
class Curves:
    """Every signal of a scene as a function of video time t in [0, duration].

    times: (m,) video seconds of the analysis frames that cover [0, duration] (the first
    at or before 0, the last at or after duration); values: name -> (m,) followed values
    there (not for beat signals: `beat` is computed at t itself). beats: the grid's beats
    in [0, duration); releases: name -> release of each beat signal."""

    duration: float
    times: np.ndarray
    values: Mapping[str, np.ndarray]
    beats: np.ndarray
    releases: Mapping[str, float]
    names: tuple[str, ...]

    def at(self, t) -> dict[str, np.ndarray]:
        """name -> values at video times t (array-like, seconds): linear between analysis
        frames; beat signals exactly."""
        t = np.asarray(t, dtype=np.float64)
        out = {}
        for name in self.names:
            if name in self.releases:
                out[name] = _beat_value(self.beats, self.releases[name], t)
            else:
                out[name] = np.interp(t, self.times, self.values[name])
        return out

    def frames(self, fps: float, frames: int | range) -> dict[str, np.ndarray]:
        """name -> (len(frames),) float64 in [0, 1]: frame i at t = i / fps."""
        idx = np.arange(frames) if isinstance(frames, int) else np.asarray(frames)
        return self.at(idx / float(fps))

    def knots(self) -> np.ndarray:
        """Sorted times in [0, duration] where every signal's extremes lie: both ends, the
        analysis frames (followers are straight between them), each beat and the instant
        before it (a beat signal's highest and lowest values). A check of the values there
        holds for every time in the video, whatever the fps."""
        inside = self.times[(self.times > 0) & (self.times < self.duration)]
        before = np.nextafter(self.beats, -np.inf)
        return np.unique(np.concatenate([[0.0, self.duration], inside, self.beats, before[before > 0]]))

    def integral(self, name: str, t) -> np.ndarray:
        """The integral of signal `name` from 0 to t (array-like, seconds), exact for the
        curve `at` gives (trapezoids between analysis frames; beats in closed form)."""
        t = np.asarray(t, dtype=np.float64)
        if name in self.releases:
            return _beat_integral(self.beats, self.releases[name], t)
        x, v = self.times, self.values[name]
        cum = self._cumulative(name)

        def F(u):
            k = np.clip(np.searchsorted(x, u, side="right") - 1, 0, len(x) - 2) if len(x) > 1 else np.zeros_like(u, int)
            vu = np.interp(u, x, v)
            return cum[k] + 0.5 * (u - x[k]) * (v[k] + vu)

        return F(t) - F(np.zeros_like(t))


    def _cumulative(self, name: str) -> np.ndarray:
        """The trapezoid sums of signal `name` up to each analysis frame (made once per curve)."""
        kept = self.__dict__.setdefault("_sums", {})  # a cache beside the frozen fields (not compared, not a field)
        if name not in kept:
            x, v = self.times, self.values[name]
            kept[name] = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * np.diff(x))])
        return kept[name]


def _beat_value(beats: np.ndarray, release: float, t: np.ndarray) -> np.ndarray:
    i = np.searchsorted(beats, t, side="right") - 1
    safe = np.clip(i, 0, max(len(beats) - 1, 0))
    if len(beats) == 0:
        return np.zeros_like(t)
    return np.where(i >= 0, np.exp(-(t - beats[safe]) / release), 0.0)


def _beat_integral(beats: np.ndarray, release: float, t: np.ndarray) -> np.ndarray:
    if len(beats) == 0:
        return np.zeros_like(t)
    full = release * -np.expm1(-np.diff(beats) / release)  # each beat to the next
    cum = np.concatenate([[0.0], np.cumsum(full)])
    i = np.searchsorted(beats, t, side="right") - 1
    safe = np.clip(i, 0, len(beats) - 1)
    part = release * -np.expm1(-(t - beats[safe]) / release)
    return np.where(i >= 0, cum[safe] + part, 0.0)


def follow(analysis: Analysis, signals: Definitions, grid: Grid, *, start: float = 0.0,
           duration: float | None = None) -> Curves:
    """The scene's signals as curves over video time [0, duration] (default: the audio
    after `start`). Each follower runs over the whole file's analysis frames (so its value
    at t does not depend on duration or on which frames are rendered), then on silence
    past the end of the audio."""
    defs = _definitions(signals)
    start = float(start)
    if duration is None:
        duration = analysis.duration - start
    duration = float(duration)
    last = max(analysis.frames - 1, int(math.ceil((start + duration) / FRAME)) + 1)
    first = max(0, int(math.floor(start / FRAME)))
    times = np.arange(first, last + 1) * HOP / SAMPLE_RATE - start
    values, releases = {}, {}
    for name, d in defs.items():
        if d.feature == "beat":
            releases[name] = d.release
            continue
        x = np.zeros(last + 1)
        x[: analysis.frames] = analysis.scaled(d.key)
        values[name] = follower(x, d.attack, d.release)[first:]
    return Curves(duration=duration, times=times, values=values, beats=grid.beats(duration), releases=releases,
                  names=tuple(defs))


# ------------------------------------------------------------------ a scene's soundtrack


@dataclass(frozen=True)
class SceneAudio:
    """What a scene's `audio` gives, decided when the scene is parsed (scene.heard):

    path: the audio file (absolute); start: seconds into it at t = 0; sha256: its content;
    mux: whether mp4/webm carry it; file_duration: seconds of audio in the file; grid: the
    beat grid in video time; definitions: name -> SignalDef; analysis: the file's analysis;
    curves: every signal over the video's [0, duration] (None until `follow`).
    Picklable: a segment rendered on another machine needs neither the file nor librosa."""

    path: Path
    start: float
    sha256: str
    mux: bool
    file_duration: float
    grid: Grid
    definitions: Mapping[str, SignalDef] = field(repr=False)
    analysis: Analysis = field(repr=False)
    curves: Curves | None = field(default=None, repr=False)

    def time(self, n: Number) -> float:
        """The seconds of beat n (what "nb" means)."""
        return self.grid.time(n)

    @property
    def length(self) -> float:
        """Seconds of audio after `start`: a scene's duration when it writes none."""
        return self.file_duration - self.start

    def follow(self, duration: float) -> "SceneAudio":
        """The same, with the signal curves over [0, duration]."""
        if self.curves is not None and self.curves.duration == float(duration):
            return self
        curves = follow(self.analysis, self.definitions, self.grid, start=self.start, duration=float(duration))
        return SceneAudio(self.path, self.start, self.sha256, self.mux, self.file_duration, self.grid, self.definitions,
                          self.analysis, curves)  # fmt: skip

    def frames(self, fps: float, frames: int | range) -> dict[str, np.ndarray]:
        """name -> (len(frames),) float64 in [0, 1]: the signals of frames at t = i / fps."""
        return self.curves.frames(fps, frames)

    @property
    def beats(self) -> np.ndarray:
        """Beat times in [0, duration), seconds."""
        return self.curves.beats if self.curves is not None else np.zeros(0)


_HEARD: dict = {}  # (file identity, entries, cache folder) -> Analysis: a studio edit does not even hash the file again
_HEARD_KEEP = 8


def _memo_key(path: Path, defs: Iterable[SignalDef], folder) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, tuple(_entry_keys(defs)), str(folder))


def hear(scene, user_path: bool = False, *, folder: str | os.PathLike | None = None,
         cache: bool | str | os.PathLike = True) -> SceneAudio:
    """A scene's `audio`, heard: the file found, analysed (or read from the cache), its
    beat grid made (what scene.parse calls `hear`; core.parse lends it).

    audio.path is relative to `folder` (the scene file's; None: the current folder), or to
    the current folder when user_path (--audio). A file that cannot be used is a
    SceneError at audio.path; audio.sha256 written and not the file's, at audio.sha256;
    `start` at or past the end, at audio.start. A file once analysed in this process is
    not read again while it is unchanged (same size, time and inode)."""
    audio = scene.audio
    written = Path(audio.path)
    path = written if user_path or written.is_absolute() else Path(folder or ".") / written
    defs = {name: SignalDef.from_mapping(spec.definition()) for name, spec in audio.signals.items()}
    where = None if cache is False else (cache_folder() if cache is True else Path(cache))
    key = None if where is None else _memo_key(path, defs.values(), where)
    analysis = _HEARD.get(key) if key else None
    if analysis is None:
        try:
            analysis = analyse(path, defs, cache=cache)
        except AudioError as e:
            where = "the scene file's folder" if folder is not None else "the current folder"
            why = e.reason + (f" (audio.path is read from {where})" if e.reason == "no such file" and not user_path else "")
            raise scene.error(("audio", "path"), f"{path}: {why}") from None
        if key:
            _HEARD[key] = analysis
            while len(_HEARD) > _HEARD_KEEP:
                _HEARD.pop(next(iter(_HEARD)))
    found = []
    if audio.sha256 is not None and audio.sha256 != analysis.sha256:
        found.append(scene.error(("audio", "sha256"), f"{path} has sha256 {analysis.sha256[:12]}..., not the one written here"
                                                      " (the soundtrack changed since; remove sha256 to use this file)"))  # fmt: skip
    if audio.start >= analysis.duration:
        found.append(scene.error(("audio", "start"), f"start {audio.start:g} s is at or past the end of the audio ({analysis.duration:.3f} s)"))
    if found:  # both, when both are wrong (`validate` lists every error)
        found[0].errors = found
        raise found[0]
    grid = beat_grid(analysis, audio.start, audio.bpm, audio.beat_offset)
    return SceneAudio(path.absolute(), float(audio.start), analysis.sha256, audio.mux, analysis.duration, grid, defs, analysis)
