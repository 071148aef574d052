"""The audio stage (cppn_anim.signals): decoding, features, scaling, followers, beats, the
cache. Every sound is made here with numpy (never downloaded).

The fast tier never imports librosa (about 5 s of CPU per process, numba included): it
decodes with ffmpeg, and where it needs an analysis it uses made-up features or
numpy_compute in place of the librosa analysis. Everything that runs the real analysis
(onset alignment, tempo, the demo, other tempos through a codec) is in the slow tier.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cppn_anim import signals
from cppn_anim.signals import Analysis, AudioError, SignalDef, FRAME

from conftest import RATE, ROOT, ffmpeg, numpy_compute, write_wav


# ------------------------------------------------------------------ sounds made here


def kick(rate: int = RATE) -> np.ndarray:
    t = np.arange(int(0.25 * rate)) / rate
    phase = 2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / rate
    return np.sin(phase) * np.exp(-t / 0.12)


def hat(rate: int = RATE) -> np.ndarray:
    t = np.arange(int(0.05 * rate)) / rate
    n = np.diff(np.random.default_rng(0).standard_normal(t.size + 1))
    return 0.4 * n * np.exp(-t / 0.01)


def click(rate: int = RATE) -> np.ndarray:
    """A short 2 kHz tone burst (about 5 ms)."""
    t = np.arange(int(0.02 * rate)) / rate
    return np.sin(2 * np.pi * 2000 * t) * np.exp(-t / 0.002)


def place(seconds: float, times, sound: np.ndarray, gain: float = 1.0, rate: int = RATE) -> np.ndarray:
    y = np.zeros(int(seconds * rate))
    for t in times:
        i = int(round(t * rate))
        part = sound[: max(0, y.size - i)]
        y[i:i + part.size] += gain * part
    return y


def beat_track(bpm: float, seconds: float = 16.0, first: float = 0.5, hats: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Kick on every beat from `first`, hats on the off-beats: (audio, kick times)."""
    period = 60.0 / bpm
    kicks = first + np.arange(int((seconds - first - 0.3) / period) + 1) * period
    y = place(seconds, kicks, kick())
    if hats:
        y += place(seconds, kicks + period / 2, hat(), gain=1.5)
    return y / np.abs(y).max() * 0.9, kicks


CLICKS = 0.4 + np.cumsum(np.random.default_rng(3).uniform(0.35, 0.8, 14))  # irregular, known onset times


@pytest.fixture(scope="module")
def click_curves(tmp_path_factory):
    """The click track's band and onset signals (attack 0: peaks are not delayed)."""
    path = write_wav(tmp_path_factory.mktemp("clicks") / "clicks.wav", place(CLICKS[-1] + 1.0, CLICKS, click()))
    defs = {"band": {"band": [1000, 4000], "attack": 0, "release": 0.1}, "hits": {"feature": "onset", "attack": 0, "release": 0.1}}
    analysis = signals.analyse(path, defs, cache=False)
    return signals.follow(analysis, defs, signals.beat_grid(analysis))


# ------------------------------------------------------------------ the audio stack stays unloaded


def test_import_a_scene_without_audio_and_a_cached_analysis_load_no_audio_stack(tmp_path, monkeypatch):
    path = write_wav(tmp_path / "a.wav", beat_track(120, seconds=6)[0])
    monkeypatch.setattr(signals, "_compute", numpy_compute)
    cache = tmp_path / "xdg" / "cppn-anim" / "audio"  # where XDG_CACHE_HOME=xdg puts it
    signals.analyse(path, {"k": {"band": [20, 150]}}, cache=cache)  # analysed here, read back there
    (tmp_path / "music.yaml").write_text("audio: {path: a.wav, bpm: 120, signals: {k: {band: [20, 150]}}}\n"
                                         "modulate: {view.zoom: {signal: k, amount: 0.5}}\n"
                                         "trajectory: {keyframes: [{at: 0, z: random}, {at: 4b, z: random}]}\n")  # fmt: skip
    code = (
        "import sys, cppn_anim, cppn_anim.signals, cppn_anim.signals_plot\n"
        "cppn_anim.load('scenes/spiral.yaml')\n"
        "stack = ('librosa', 'numba', 'llvmlite', 'soundfile', 'soxr')\n"
        "assert not [m for m in stack if m in sys.modules], 'a scene without audio'\n"
        "from cppn_anim import signals\n"
        f"a = signals.analyse({str(path)!r}, {{'k': {{'band': [20, 150]}}}}, cache={str(cache)!r})\n"
        "assert a.duration == 6.0 and 'band_20.0_150.0' in a.features\n"
        "assert not [m for m in stack if m in sys.modules], 'a cached analysis'\n"
        f"m = cppn_anim.load({str(tmp_path / 'music.yaml')!r})\n"
        "assert m.duration == 6.0 and m.signals()['k'].shape == (180,) and len(m.beats()) == 12\n"
        "assert not [m for m in stack if m in sys.modules], 'a scene with audio, its analysis cached'\n"
    )
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------ peaks line up with onsets


@pytest.mark.slow
@pytest.mark.parametrize("fps", [24, 30, 60])
def test_band_and_onset_peak_at_each_click(click_curves, fps):
    frames = int(click_curves.duration * fps)
    values = click_curves.frames(fps, frames)
    t = np.arange(frames) / fps
    for name in ("band", "hits"):
        for c in CLICKS:
            near = np.flatnonzero(np.abs(t - c) < 0.15)
            peak = t[near[np.argmax(values[name][near])]]
            assert abs(peak - c) <= max(1.0 / fps, 0.045), (name, fps, c, peak)


@pytest.mark.slow
def test_curve_peaks_within_a_third_of_an_analysis_frame_on_average(click_curves):
    """At the analysis frames (not the video's), the peaks are centred on the clicks."""
    for name in ("band", "hits"):
        offsets = []
        for c in CLICKS:
            near = np.flatnonzero(np.abs(click_curves.times - c) < 0.15)
            offsets.append(click_curves.times[near[np.argmax(click_curves.values[name][near])]] - c)
        assert abs(np.mean(offsets)) < FRAME / 2 and np.max(np.abs(offsets)) <= 1.5 * FRAME, (name, offsets)


# ------------------------------------------------------------------ tempo and beats


@pytest.mark.slow
@pytest.mark.parametrize("bpm", [90, 120, 150])
def test_tempo_and_beats_on_the_kicks(tmp_path, bpm):
    y, kicks = beat_track(bpm)
    analysis = signals.analyse(write_wav(tmp_path / "t.wav", y), cache=False)
    grid = signals.beat_grid(analysis)
    assert abs(grid.bpm - bpm) <= 1.0 and grid.found  # no octave error: 45, 60, 75, 180, 300 would fail
    assert abs(grid.beat_offset - kicks[0]) < 0.03  # beat 0 is the first kick
    beats = grid.beats(analysis.duration)
    playing = beats[beats <= kicks[-1] + 0.1]
    assert len(playing) == len(kicks)
    assert np.max(np.abs(playing - kicks)) < 0.03  # on the kicks, not on the hats (half a beat away)


def test_the_fit_folds_octaves_and_keeps_the_kick_phase():
    period = 0.25  # a tracker that heard eighths at 240 bpm
    tracked = 1.0 + np.arange(60) * period
    low = np.zeros(int(20 / FRAME))
    low[np.round((1.25 + np.arange(30) * 0.5) / FRAME).astype(int)] = 1.0  # the strong ones: from 1.25 s
    bpm, origin = signals.fit_tempo(tracked, low)
    assert bpm == pytest.approx(120.0) and origin == pytest.approx(1.25)
    assert signals.fit_tempo(1.0 + np.arange(20) * 1.2)[0] == pytest.approx(100.0)  # 50 bpm: doubled
    # a missed beat is skipped, a jittery tracker is averaged
    jitter = np.array([0.01, -0.012, 0.0, 0.011, -0.01, 0.004, -0.003, 0.012])
    tracked = np.delete(0.3 + np.arange(8) * 0.6 + jitter, 4)
    assert signals.fit_tempo(tracked)[0] == pytest.approx(100.0, abs=0.5)
    assert signals.fit_tempo(np.array([2.0])) == (None, None)


def fake(features: dict, seconds: float, bpm=None, origin=None, low=None) -> Analysis:
    """An analysis without audio: features given per analysis frame."""
    frames = 1 + int(seconds * signals.SAMPLE_RATE) // signals.HOP
    feats = {k: np.resize(np.asarray(v, float), frames) for k, v in features.items()}
    low = np.ones(frames) if low is None else low
    return Analysis(sha256="0" * 64, duration=seconds, frames=frames, features=feats, tracked=np.zeros(0),
                    bpm=bpm, origin=origin, low_onset=low)


def test_the_grid_beat_times_and_written_values():
    a = fake({"rms": [1.0]}, 10.0, bpm=120.0, origin=0.3)
    grid = signals.beat_grid(a)
    assert (grid.bpm, grid.beat_offset) == (120.0, pytest.approx(0.3))
    beats = grid.beats(10.0)
    assert beats[0] == grid.beat_offset and beats[-1] < 10.0 and len(beats) == 20
    assert grid.time(8) == beats[8] == grid.beat_offset + 8 * 60.0 / 120.0  # "8b" is the 9th beat, exactly
    assert signals.parse_beats("8b") == 8.0 and signals.parse_beats("2.5b") == 2.5
    for bad in ("8", "b", "-1b", "1.b", ".5b", "8 b", "8B", 8):
        assert signals.parse_beats(bad) is None
    # `start` moves the grid into video time: the first beat at or after start
    assert signals.beat_grid(a, start=1.0).beat_offset == pytest.approx(0.3 + 2 * 0.5 - 1.0)
    # written values win
    g = signals.beat_grid(a, bpm=100, beat_offset=0.25)
    assert (g.bpm, g.beat_offset) == (100.0, 0.25)
    assert signals.beat_grid(a, bpm=90).beat_offset == pytest.approx(0.3)
    # no tempo tracked: 120 bpm, said so
    g = signals.beat_grid(fake({"rms": [0.0]}, 4.0, low=np.zeros(173)))
    assert (g.bpm, g.beat_offset, g.found) == (120.0, 0.0, False)
    # beats go on along the grid past the end of the audio
    assert len(grid.beats(30.0)) == 60


def test_the_beat_signal_and_its_integral():
    low = np.zeros(173)
    low[22:] = 1.0  # the music starts at 0.5 s
    a = fake({"rms": [0.0]}, 4.0, bpm=120.0, origin=0.5, low=low)
    grid = signals.beat_grid(a)
    assert grid.beat_offset == pytest.approx(0.5)
    curves = signals.follow(a, {"p": {"feature": "beat", "release": 0.25}}, grid, duration=6.0)
    t = np.array([0.0, 0.49, 0.5, 0.6, 0.99, 1.0, 5.75])
    expect = [0, 0, 1, math.exp(-0.1 / 0.25), math.exp(-0.49 / 0.25), 1, math.exp(-0.25 / 0.25)]
    np.testing.assert_allclose(curves.at(t)["p"], expect, atol=1e-12)
    fine = np.linspace(0, 6.0, 600001)
    numeric = np.concatenate([[0], np.cumsum(0.5 * np.diff(fine) * (curves.at(fine)["p"][1:] + curves.at(fine)["p"][:-1]))])
    np.testing.assert_allclose(curves.integral("p", [1.3, 4.0, 6.0]), numeric[[130000, 400000, 600000]], atol=2e-4)


# ------------------------------------------------------------------ scaling and silence


def test_99th_percentile_scaling():
    raw = np.arange(1001.0)  # 99th percentile: 990
    np.testing.assert_allclose(signals.scale(raw)[[0, 495, 990, 1000]], [0, 0.5, 1, 1])
    sparse = np.zeros(1000)
    sparse[[10, 500]] = [2.0, 4.0]  # the percentile is 0: the maximum is used
    np.testing.assert_allclose(signals.scale(sparse)[[10, 500, 0]], [0.5, 1.0, 0.0])
    assert not signals.scale(np.zeros(50)).any()  # all-zero stays 0, no division by zero


@pytest.mark.slow
def test_a_silent_file_gives_zero_signals_and_no_tempo(tmp_path):
    path = write_wav(tmp_path / "silence.wav", np.zeros(RATE * 3))
    defs = {"k": {"band": [20, 150]}, "l": {"feature": "rms"}, "h": {"feature": "onset"}, "p": {"feature": "beat"}}
    analysis = signals.analyse(path, defs, cache=False)
    grid = signals.beat_grid(analysis)
    assert analysis.bpm is None and not grid.found and grid.bpm == 120.0
    values = signals.follow(analysis, defs, grid).frames(30, 90)
    for name in ("k", "l", "h"):
        assert not values[name].any(), name


def test_channels_are_averaged(tmp_path):
    y = place(3.0, [0.5, 1.0, 1.5, 2.0], kick(44100), rate=44100) + place(3.0, [0.75, 1.75], hat(44100), rate=44100)
    opposite = write_wav(tmp_path / "opposite.wav", np.stack([y, -y], axis=1), rate=44100)
    assert np.abs(signals.decode(opposite)).max() < 1e-4  # L + R = 0
    left_only = signals.decode(write_wav(tmp_path / "left.wav", np.stack([y, 0 * y], axis=1), rate=44100))
    mono = signals.decode(write_wav(tmp_path / "mono.wav", y, rate=44100))
    assert left_only.dtype == np.float32 and left_only.size == mono.size == 3 * RATE
    np.testing.assert_allclose(left_only, mono / 2, atol=1e-4)


# ------------------------------------------------------------------ followers


def test_attack_and_release_cover_1_minus_1_over_e_in_their_time():
    tau = 10 * FRAME  # whole frames: the recursion is exact there
    x = np.r_[np.zeros(5), np.ones(40), np.zeros(40)]
    y = signals.follower(x, attack=tau, release=2 * tau)
    # a step at frame 5 is counted from the frame before it (the hop it happens in)
    assert y[4 + 10] == pytest.approx(1 - 1 / math.e, abs=1e-12)
    assert y[4] == 0 and 0 < y[5] < y[6]
    top = y[44]
    assert y[44 + 20] == pytest.approx(top / math.e, abs=1e-12)  # release: twice as slow
    np.testing.assert_array_equal(signals.follower(x, 0, 0), x)  # 0: no smoothing that way
    up_only = signals.follower(x, 0, tau)
    assert up_only[5] == 1 and up_only[45 + 9] == pytest.approx(math.exp(-1), abs=1e-12)


def test_the_same_curve_at_24_and_60_fps_and_for_any_frame_range():
    rng = np.random.default_rng(5)
    a = fake({"rms": rng.random(500), "onset": rng.random(500) ** 4}, 10.0, bpm=128.0, origin=0.2)
    defs = {"l": {"feature": "rms", "attack": 0.05, "release": 0.5}, "h": {"feature": "onset"},
            "p": {"feature": "beat", "release": 0.3}}
    grid = signals.beat_grid(a, start=1.5)
    curves = signals.follow(a, defs, grid, start=1.5, duration=8.0)
    at24, at60 = curves.frames(24, 192), curves.frames(60, 480)
    for name in defs:
        np.testing.assert_allclose(at24[name][::2], at60[name][::5], atol=1e-6, rtol=0)  # every 1/12 s
        assert 0 <= at60[name].min() and at60[name].max() <= 1
    part = curves.frames(60, range(100, 200))
    for name in defs:
        np.testing.assert_array_equal(part[name], at60[name][100:200])
    # a longer video does not change the frames they share
    longer = signals.follow(a, defs, grid, start=1.5, duration=9.0).frames(60, 480)
    for name in defs:
        np.testing.assert_array_equal(longer[name], at60[name])


def test_past_the_end_of_the_audio_there_is_silence():
    a = fake({"rms": [1.0]}, 2.0)
    curves = signals.follow(a, {"l": {"feature": "rms", "attack": 0, "release": 0.5}}, signals.beat_grid(a), duration=4.0)
    end = a.times[-1]
    v = curves.at([end, end + 0.5, end + 1.0])["l"]
    assert v[0] == 1.0
    assert v[1] == pytest.approx(math.exp(-1), rel=0.02) and v[2] == pytest.approx(math.exp(-2), rel=0.03)


def test_knots_and_integral_of_a_followed_signal():
    a = fake({"rms": np.linspace(0, 1, 100)}, 3.0)
    curves = signals.follow(a, {"l": {"feature": "rms", "attack": 0, "release": 0}}, signals.beat_grid(a), duration=2.0)
    knots = curves.knots()
    assert knots[0] == 0 and knots[-1] == 2.0 and np.all(np.diff(knots) > 0)
    fine = np.linspace(0, 2.0, 200001)
    v = curves.at(fine)["l"]
    assert curves.integral("l", 2.0) == pytest.approx(np.sum(0.5 * (v[1:] + v[:-1]) * np.diff(fine)), abs=1e-6)


def test_definitions_are_checked():
    assert SignalDef.from_mapping({"band": [20, 150]}).key == "band_20.0_150.0"
    assert SignalDef.from_mapping({"feature": "beat", "release": 0.2}).key is None
    for bad, why in [({"band": [20, 12000]}, "above"), ({"band": [150, 20]}, "lo < hi"), ({"feature": "loud"}, "unknown"),
                     ({"feature": "beat", "attack": 0.1}, "only release"), ({"feature": "beat", "release": 0}, "> 0"),
                     ({"feature": "rms", "attack": -1}, ">= 0"), ({"band": [1, 2], "feature": "rms"}, "exactly one"),
                     ({"feature": "rms", "gain": 2}, "unknown key")]:
        with pytest.raises(ValueError, match=why):
            SignalDef.from_mapping(bad)


# ------------------------------------------------------------------ the cache


def test_the_cache_analyses_once_per_file_and_band(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(signals, "_compute", lambda y, bands, base: calls.append((tuple(bands), base)) or numpy_compute(y, bands, base))
    path = write_wav(tmp_path / "a.wav", beat_track(120, seconds=5)[0])
    cache = tmp_path / "cache"
    first = signals.analyse(path, {"k": {"band": [20, 150]}}, cache=cache)
    again = signals.analyse(path, {"k": {"band": [20, 150]}}, cache=cache)
    assert calls == [(((20.0, 150.0),), True)]
    assert again.sha256 == first.sha256 and (again.bpm, again.origin, again.duration) == (first.bpm, first.origin, first.duration)
    for key in first.features:
        np.testing.assert_array_equal(again.features[key], first.features[key])
    signals.analyse(path, {"k": {"band": [20, 150]}, "s": {"band": [5000, 9000]}}, cache=cache)
    assert calls[1:] == [(((5000.0, 9000.0),), False)]  # only the new band
    # the same content under another name is the same entry
    (tmp_path / "b.wav").write_bytes(path.read_bytes())
    signals.analyse(tmp_path / "b.wav", {"k": {"band": [20, 150]}}, cache=cache)
    assert len(calls) == 2
    # XDG_CACHE_HOME decides the default folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert signals.cache_folder() == tmp_path / "xdg" / "cppn-anim" / "audio"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")
    assert signals.cache_folder() == Path.home() / ".cache" / "cppn-anim" / "audio"


def test_a_damaged_entry_is_analysed_again(tmp_path, monkeypatch):
    monkeypatch.setattr(signals, "_compute", numpy_compute)
    path = write_wav(tmp_path / "a.wav", beat_track(120, seconds=4)[0])
    cache = tmp_path / "cache"
    first = signals.analyse(path, cache=cache)
    (entry,) = cache.rglob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    np.testing.assert_array_equal(signals.analyse(path, cache=cache).features["rms"], first.features["rms"])
    assert entry.stat().st_size > 100


@pytest.mark.parametrize("where", ["analysis", "write"])
def test_ctrl_c_leaves_no_entry(tmp_path, monkeypatch, where):
    path = write_wav(tmp_path / "a.wav", beat_track(120, seconds=4)[0])
    cache = tmp_path / "cache"

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(signals, "_compute", numpy_compute)
    # "write": Ctrl-C inside the atomic write (targets.atomic), just before the entry is moved into place
    monkeypatch.setattr(signals if where == "analysis" else os, "_compute" if where == "analysis" else "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        signals.analyse(path, cache=cache)
    left = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert left == []  # neither an entry nor a temporary file


# ------------------------------------------------------------------ bad files


def test_bad_files_are_one_line_errors(tmp_path):
    garbage = tmp_path / "noise.ogg"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    picture = tmp_path / "still.png"
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", str(picture)], check=True)
    empty = write_wav(tmp_path / "empty.wav", np.zeros(0))
    cases = [(tmp_path / "missing.flac", "no such file"), (tmp_path, "is a folder"), (garbage, "ffmpeg cannot decode it: "),
             (picture, "has no audio stream"), (empty, "no audio samples")]
    for path, why in cases:
        with pytest.raises(AudioError) as e:
            signals.analyse(path, cache=False)
        message = str(e.value)
        assert message.startswith(f"{path}: ") and why in message and "\n" not in message, message
        assert isinstance(e.value, ValueError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file(tmp_path):
    path = write_wav(tmp_path / "locked.wav", np.zeros(100))
    path.chmod(0)
    with pytest.raises(AudioError, match="cannot read it"):
        signals.decode(path)


# ------------------------------------------------------------------ the demo and the plot


@pytest.mark.slow
def test_the_demo_soundtrack(tmp_path):
    """scenes/audio/pulse.ogg: 20 s at 120 bpm, beats on its kicks (every 0.5 s from 0)."""
    analysis = signals.analyse(ROOT / "scenes" / "audio" / "pulse.ogg", {"k": {"band": [20, 150]}}, cache=tmp_path)
    again = signals.analyse(ROOT / "scenes" / "audio" / "pulse.ogg", {"k": {"band": [20, 150]}}, cache=tmp_path)
    assert (again.bpm, again.origin) == (analysis.bpm, analysis.origin)
    np.testing.assert_array_equal(again.features["band_20.0_150.0"], analysis.features["band_20.0_150.0"])
    grid = signals.beat_grid(analysis)
    assert analysis.duration == pytest.approx(20.0, abs=0.01)
    assert abs(grid.bpm - 120) < 0.2
    beats = grid.beats(analysis.duration)
    assert len(beats) == 40 and np.max(np.abs(beats - np.arange(40) * 0.5)) < 0.03


def test_the_plot_draws_every_signal_and_the_beats(tmp_path):
    a = fake({"rms": np.linspace(0, 1, 200), "onset": np.zeros(200)}, 4.0, bpm=120.0, origin=0.0)
    defs = {"level": {"feature": "rms"}, "quiet": {"feature": "onset"}, "pulse": {"feature": "beat"}}
    curves = signals.follow(a, defs, signals.beat_grid(a))
    from cppn_anim.signals_plot import BEAT, FILL, plot

    image = plot(curves, {"level": "feature: rms"}, title="test", width=600)
    assert image.size[0] == 600 and image.size[1] > 3 * 72
    pixels = np.asarray(image)
    assert (pixels == FILL).all(axis=-1).sum() > 1000  # the filled areas
    assert (pixels == BEAT).all(axis=-1).any()  # beat lines
    image.save(tmp_path / "signals.png")


# ------------------------------------------------------------------ the slow tier: tracks it was not tuned on


def bass_line(times, period: float, seconds: float, rate: int = RATE) -> np.ndarray:
    """Soft saw notes (A1 A1 C2 G1, four notes each) starting at `times`."""
    y = np.zeros(int(seconds * rate))
    t = np.arange(int(period / 2 * 0.9 * rate)) / rate
    for i, at in enumerate(times):
        f = (55.0, 55.0, 65.41, 49.0)[(i // 4) % 4]
        note = sum(np.sin(2 * np.pi * k * f * t) / k ** 1.6 for k in range(1, 8)) * np.minimum(1, t / 0.006) * np.exp(-t / 0.3)
        i0 = int(at * rate)
        part = note[: max(0, y.size - i0)]
        y[i0:i0 + part.size] += 0.3 * part
    return y


@pytest.mark.slow
@pytest.mark.parametrize("bpm, bass, first", [(72, "none", 0.22), (84, "eighths", 0.64), (97, "eighths", 0.13),
                                               (111, "off-beats", 0.94), (133, "off-beats", 0.95), (165, "eighths", 0.56),
                                               (174, "none", 0.70)])
def test_other_tempos_with_a_bass_line_through_a_lossy_codec(tmp_path, bpm, bass, first):
    """30 s, stereo 44.1 kHz, Opus: the tempo within 1 bpm, beat 0 and every beat on the kick
    even with a bass line on the off-beats."""
    period = 60.0 / bpm
    seconds = 30.0
    kicks = first + np.arange(int((seconds - first - 0.3) / period) + 1) * period
    rate = 44100
    y = place(seconds, kicks, kick(rate), rate=rate) + place(seconds, kicks + period / 2, hat(rate), 1.2, rate=rate)
    notes = {"none": [], "eighths": np.sort(np.r_[kicks, kicks + period / 2]), "off-beats": kicks + period / 2}[bass]
    y += bass_line(notes, period, seconds, rate)
    y = y / np.abs(y).max() * 0.9
    wav = write_wav(tmp_path / "t.wav", np.stack([y, 0.8 * y], axis=1), rate=rate)
    opus = tmp_path / "t.ogg"
    subprocess.run([ffmpeg(), "-v", "error", "-i", str(wav), "-c:a", "libopus", "-b:a", "96k", str(opus)], check=True)
    analysis = signals.analyse(opus, cache=False)
    grid = signals.beat_grid(analysis)
    assert abs(grid.bpm - bpm) <= 1.0
    assert abs(grid.beat_offset - first) < 0.03
    beats = grid.beats(analysis.duration)
    playing = beats[beats < kicks[-1] + 0.05]
    assert len(playing) == len(kicks) and np.max(np.abs(playing - kicks)) < 0.03


@pytest.mark.slow
def test_start_moves_beats_and_signals_into_video_time(tmp_path):
    y, kicks = beat_track(120, seconds=12.0, first=0.5)
    path = write_wav(tmp_path / "t.wav", y)
    defs = {"k": {"band": [20, 150], "attack": 0, "release": 0.1}, "p": {"feature": "beat", "release": 0.2}}
    analysis = signals.analyse(path, defs, cache=False)
    whole = signals.follow(analysis, defs, signals.beat_grid(analysis))
    start = 3.3
    grid = signals.beat_grid(analysis, start=start)
    assert abs(grid.beat_offset - (kicks[kicks >= start][0] - start)) < 0.03  # the first kick after start
    late = signals.follow(analysis, defs, grid, start=start)
    assert late.duration == pytest.approx(analysis.duration - start)
    t = np.linspace(0, late.duration, 500)
    np.testing.assert_allclose(late.at(t)["k"], whole.at(t + start)["k"], atol=1e-12)  # one curve, shifted
    assert np.max(np.abs(late.beats - (kicks[kicks >= start][: len(late.beats)] - start))) < 0.03
