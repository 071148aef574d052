"""Music (scene-format.md "Audio"): `audio`, `modulate` and beat times in a scene, the
signals in the motion, the soundtrack in the file, `cppn-anim audio`, --audio, the API.

Every sound is made here with numpy. The fast tier analyses with numpy_compute
(conftest.deaf_audio: no librosa) and renders nothing bigger than a few tiny frames;
whatever encodes a file or runs the real analysis is in the slow tier.
"""
from __future__ import annotations

import json
import pickle
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import cppn_anim
from cppn_anim import core, scene as scenes, signals, targets, trajectory
from cppn_anim.errors import SceneError

from conftest import RATE, ROOT, cli_main, ffmpeg, write_wav


def clicks(seconds: float, times, rate: int = RATE) -> np.ndarray:
    """Silence with a short 2 kHz burst (about 5 ms) starting at each time."""
    y = np.zeros(int(round(seconds * rate)))
    t = np.arange(int(0.02 * rate)) / rate
    burst = np.sin(2 * np.pi * 2000 * t) * np.exp(-t / 0.002)
    for at in times:
        i = int(round(at * rate))
        y[i:i + burst.size] += burst[: max(0, y.size - i)]
    return 0.8 * y


MUSIC = """\
seed: 2
fps: 10
size: [16, 12]
network: {latent_dim: 3, width: 8, depth: 2}
audio:
  path: beat.wav
  bpm: 120
  beat_offset: 0
  signals:
    level: {feature: rms, attack: 0, release: 0.1}
    pulse: {feature: beat, release: 0.1}
trajectory:
  interpolation: cubic
  keyframes:
    - {at: 0, z: random}
    - {at: "2b", z: random}
    - {at: "4b", z: {seed: 5}}
"""


@pytest.fixture
def music(tmp_path, deaf_audio) -> Path:
    """A folder with beat.wav (3 s: a click on every half second) and scene.yaml (MUSIC)."""
    write_wav(tmp_path / "beat.wav", clicks(3.0, np.arange(0.25, 3.0, 0.5)))
    (tmp_path / "scene.yaml").write_text(MUSIC)
    return tmp_path


def load(folder: Path, text: str = MUSIC, overrides=()) -> scenes.Scene:
    path = folder / "scene.yaml"
    path.write_text(text)
    return core.load(path, overrides)


# ------------------------------------------------------------------ beat times and duration


def test_a_time_in_beats_is_its_seconds_and_the_duration_is_the_audio_after_start(music):
    beats = load(music)
    seconds = load(music, MUSIC.replace('"2b"', "1.0").replace('"4b"', "2"))
    assert [k.at for k in beats.trajectory.keyframes] == [0.0, 1.0, 2.0]
    assert beats.duration == seconds.duration == 3.0 and beats.frame_count == 30  # the audio's length
    a, b = trajectory.Motion(beats), trajectory.Motion(seconds)
    for i in range(beats.frame_count):
        np.testing.assert_array_equal(a.at(beats.frame_time(i)).z, b.at(seconds.frame_time(i)).z)
    # a written beat_offset and bpm: "3b" at 0.25 + 3 * 0.6
    moved = load(music, MUSIC.replace("bpm: 120", "bpm: 100").replace("beat_offset: 0", "beat_offset: 0.25").replace('"4b"', '"3b"'))
    assert [k.at for k in moved.trajectory.keyframes][2] == pytest.approx(0.25 + 3 * 0.6)
    # start: the audio after it; duration in beats, in the file or on the command line
    assert load(music, MUSIC.replace("bpm: 120", "bpm: 120\n  start: 0.5")).duration == 2.5
    assert load(music, "duration: 5b\n" + MUSIC).duration == 2.5
    assert load(music, overrides=[("duration", "6b")]).duration == 3.0
    r = cli_main("validate", "scene.yaml", "--duration", "6b", "--set", 'trajectory.keyframes[2].at="5.5b"', cwd=music)
    assert r.returncode == 0, r.stderr


def test_beats_and_signals_are_frame_for_frame_what_the_frames_see(music):
    s = load(music)
    np.testing.assert_allclose(core.beats(s), np.arange(0, 3.0, 0.5))
    full = core.signals(s)
    assert set(full) == {"level", "pulse"} and all(v.shape == (30,) and v.min() >= 0 and v.max() <= 1 for v in full.values())
    part = core.signals(s, 7, 19)  # --frames 7:19's frames see what the full render's do
    for name in full:
        np.testing.assert_array_equal(part[name], full[name][7:19])
    np.testing.assert_allclose(full["pulse"][::5], 1.0)  # a beat every 5th frame at 10 fps
    # the same curve at another fps (24 vs 60: equal at common times)
    at24, at60 = (core.signals(load(music, overrides=[("fps", f)])) for f in (24, 60))
    for name in full:
        np.testing.assert_allclose(at24[name][::2], at60[name][::5], atol=1e-6)


# ------------------------------------------------------------------ modulate


def test_modulations_add_multiply_and_toward_apply_in_order(music):
    text = MUSIC + """\
view: {zoom: 2, rotation: 10, center: [0.1, -0.2]}
animate:
  network.contrast: [{at: 0, value: 1}, {at: 3, value: 2}]
modulate:
  view.zoom: [{signal: level, amount: 0.5, mode: multiply}, {signal: pulse, amount: 0.25}]
  view.rotation: {signal: pulse, amount: -30}
  view.center: {signal: level, amount: [1, -2], mode: multiply}
  network.contrast: {signal: pulse, amount: 3, mode: multiply}
  network.palette_shift: {signal: level, amount: 0.5}
  z: [{signal: pulse, amount: 0.5, toward: {seed: 9}}, {signal: level, amount: 1, toward: [1, 2, 3]}]
"""
    s, plain = load(music, text), load(music)
    sig = core.signals(s)
    motion, base = trajectory.Motion(s), trajectory.Motion(plain)
    toward = trajectory.latent_vector(0, 0, scenes.SeedZ(seed=9), 3)
    for i in (0, 3, 5, 12, 20, 29):
        p, b, lv, pu, t = motion.at(s.frame_time(i)), base.at(s.frame_time(i)), sig["level"][i], sig["pulse"][i], i / 10
        assert p.zoom == pytest.approx(2 * (1 + 0.5 * lv) + 0.25 * pu)  # in order: multiply, then add
        assert p.rotation == pytest.approx(10 - 30 * pu)
        np.testing.assert_allclose(p.center, [0.1 * (1 + lv), -0.2 * (1 - 2 * lv)])
        assert p.contrast == pytest.approx((1 + t / 3) * (1 + 3 * pu))  # after the animate track
        assert p.palette_shift == pytest.approx(0.5 * lv)
        z = b.z + 0.5 * pu * (toward - b.z)
        np.testing.assert_allclose(p.z, z + lv * (np.array([1.0, 2.0, 3.0]) - z))


def test_speed_keeps_every_keyframe_exact_and_hurries_where_the_signal_is_high(music):
    text = MUSIC + "modulate:\n  trajectory.speed: [{signal: level, amount: 4}, {signal: pulse, amount: 2}]\n"
    for interpolation in ("cubic", "slerp", "linear"):
        s = load(music, text.replace("interpolation: cubic", f"interpolation: {interpolation}"))
        plain = load(music, MUSIC.replace("interpolation: cubic", f"interpolation: {interpolation}"))
        m, p = trajectory.Motion(s), trajectory.Motion(plain)
        for at in (0, 1, 2):  # keyframes exactly, on frames 0, 10, 20
            np.testing.assert_array_equal(m.at(Fraction(at)).z, p.at(Fraction(at)).z)
        taus = [m.retimed(s.frame_time(i)) for i in range(30)]
        assert taus[:21:10] == [0, 1, 2] and all(a <= b for a, b in zip(taus, taus[1:]))  # monotone, exact at keyframes
        assert any(tau != s.frame_time(i) for i, tau in enumerate(taus))
        # z shows the unmodulated trajectory at tau (its path, re-timed)
        for i in (3, 14, 25):
            np.testing.assert_allclose(m.at(s.frame_time(i)).z, p.at(taus[i]).z, rtol=1e-12)
    # tau follows the integral of 1 + sum(amount * s) within the segment
    c = s.heard.curves
    G = lambda t: t + 4 * c.integral("level", t) + 2 * c.integral("pulse", t)  # noqa: E731
    for t in (0.37, 0.81):
        assert float(m.retimed(t)) == pytest.approx((G(t) - G(0)) / (G(1) - G(0)), abs=1e-9)
    t = 1.3
    assert float(m.retimed(t)) == pytest.approx(1 + (G(t) - G(1)) / (G(2) - G(1)), abs=1e-9)


def test_speed_retimes_the_loop_segment_but_never_step_or_animate_tracks(music):
    loop = MUSIC.replace("interpolation: cubic", "interpolation: linear\n  loop: true").replace('"4b"', '"3b"')
    text = loop + "animate:\n  view.rotation: [{at: 0, value: 0}, {at: 3, value: 90}]\nmodulate:\n  trajectory.speed: {signal: level, amount: 5}\n"
    s, plain = load(music, text), load(music, loop + "animate:\n  view.rotation: [{at: 0, value: 0}, {at: 3, value: 90}]\n")
    m, p = trajectory.Motion(s), trajectory.Motion(plain)
    closing = [i for i in range(16, 30) if m.retimed(s.frame_time(i)) != s.frame_time(i)]
    assert closing, "the closing segment (1.5 s .. 3 s, back to keyframe 0) is re-timed"
    for i in range(30):
        assert m.at(s.frame_time(i)).rotation == p.at(s.frame_time(i)).rotation  # animate: never re-timed
    step = load(music, text.replace("interpolation: linear", "interpolation: step"))
    assert all(trajectory.Motion(step).retimed(step.frame_time(i)) == step.frame_time(i) for i in range(30))


def test_positivity_is_checked_at_every_analysis_frame_not_only_video_frames(music):
    # a beat at 0.05 s + k * 1 s falls between the frames at 10 fps; there pulse is 1 and zoom 0
    text = MUSIC.replace("bpm: 120", "bpm: 60").replace("beat_offset: 0", "beat_offset: 0.05").replace('"4b"', "2")
    text = text.replace('"2b"', "1") + "modulate:\n  view.zoom: {signal: pulse, amount: -1, mode: multiply}\n"
    for fps in (10, 20, 7):
        with pytest.raises(SceneError) as e:
            load(music, text.replace("fps: 10", f"fps: {fps}"))
        assert e.value.path == "modulate.view.zoom" and e.value.line == 19 and "reaches 0 at t = 0.050 s" in e.value.message
    assert load(music, text.replace("amount: -1,", "amount: -0.9,")).heard is not None
    # an animate track under the modulation counts too: z_scale from 1 down to 0.2, minus level
    low = MUSIC + ("animate:\n  network.z_scale: [{at: 0, value: 1}, {at: 3, value: 0.2}]\n"
                   "modulate:\n  network.z_scale: {signal: level, amount: -0.5}\n")  # fmt: skip
    with pytest.raises(SceneError, match=r"network.z_scale reaches -0\.\d+ at t = 2\.\d+ s") as e:
        load(music, low)
    assert e.value.path == "modulate.network.z_scale"


# ------------------------------------------------------------------ bad input


BAD = [  # (what is changed, key path, line)
    (("beat.wav", "missing.wav"), "audio.path", 6),
    (("beat.wav", "noise.wav"), "audio.path", 6),  # not audio at all
    (("beat.wav", "../beat.wav"), "audio.path", 6),
    (("beat.wav", "sub/../../beat.wav"), "audio.path", 6),
    (("beat.wav", "/etc/beat.wav"), "audio.path", 6),
    (("bpm: 120", "bpm: 120\n  start: 3"), "audio.start", 8),
    (("bpm: 120", "bpm: 500"), "audio.bpm", 7),
    (("rms, attack", "rms, band: [20, 150], attack"), "audio.signals.level", 10),
    (("{feature: rms,", "{band: [100, 12000],"), "audio.signals.level.band", 10),
    (("level:", "Level:"), "audio.signals.Level", 10),
    (("{feature: beat,", "{feature: beat, attack: 0.1,"), "audio.signals.pulse.attack", 11),
    (('"4b"', '"4.b"'), "trajectory.keyframes[2].at", 17),
    (("+", "modulate:\n  view.zoom: {signal: levl, amount: 1}\n"), "modulate.view.zoom.signal", 19),
    (("+", "modulate:\n  z: {signal: level, amount: 0.5, toward: random}\n"), "modulate.z.toward", 19),
    (("+", "modulate:\n  network.contrast: {signal: pulse, amount: -1}\n"), "modulate.network.contrast", 19),
    (("+", "modulate:\n  view.zoom: [{signal: pulse, amount: 0.5}, {signal: pulse, amount: -2}]\n"), "modulate.view.zoom", 19),
    (("+", "modulate:\n  trajectory.speed: {signal: pulse, amount: -1}\n"), "modulate.trajectory.speed.amount", 19),
]


@pytest.mark.parametrize("change, key, line", BAD, ids=[b[1] + ":" + b[0][1][:12] for b in BAD])
def test_bad_audio_is_refused_at_its_key_before_anything_is_written(music, change, key, line):
    (music / "noise.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    (music / "scene.yaml").write_text(MUSIC + change[1] if change[0] == "+" else MUSIC.replace(*change))
    for args in (["render", "scene.yaml", "-o", "out/x.mp4", "--quiet"], ["validate", "scene.yaml"]):
        r = cli_main(*args, cwd=music)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"scene.yaml:{line}:") and f": {key}: " in lines[0], r.stderr
    assert not (music / "out").exists()


def test_the_first_keyframe_in_beats_must_be_at_0(music):
    first = MUSIC.replace("{at: 0, z: random}", '{at: "0b", z: random}')
    assert load(music, first).trajectory.keyframes[0].at == 0  # beat 0 at 0
    with pytest.raises(SceneError, match=r"the first keyframe must be at 0, and '0b' is at 0.1 s .*: write 0") as e:
        load(music, first.replace("beat_offset: 0", "beat_offset: 0.1"))
    assert (e.value.path, e.value.line) == ("trajectory.keyframes[0].at", 15)


def test_beat_times_and_modulate_without_audio(tmp_path):
    for text, key, line in [
        ("duration: 4\ntrajectory:\n  keyframes:\n    - {at: 0, z: random}\n    - {at: \"4b\", z: random}\n", "trajectory.keyframes[1].at", 5),
        ("duration: 2b\ntrajectory:\n  keyframes:\n    - {at: 0, z: random}\n", "duration", 1),
        ("trajectory:\n  keyframes:\n    - {at: 0, z: random}\nanimate:\n  view.zoom: [{at: 0, value: 1}, {at: 1b, value: 2}]\n",
         "animate.view.zoom[1].at", 5),
        ("trajectory:\n  keyframes:\n    - {at: 0, z: random}\nmodulate:\n  view.zoom: {signal: a, amount: 1}\n", "modulate", 4),
    ]:
        with pytest.raises(SceneError) as e:
            scenes.parse(text, "s.yaml")
        assert (e.value.path, e.value.line) == (key, line), str(e.value)
    assert scenes.parse("duration: 2\ntrajectory: {keyframes: [{at: 0, z: random}]}").heard is None


# ------------------------------------------------------------------ --audio, the audio command, the API


def test_audio_option_adds_a_soundtrack_from_the_current_folder(music):
    (music / "scenes").mkdir()
    (music / "scenes" / "plain.yaml").write_text("fps: 10\nsize: [16, 12]\ntrajectory: {keyframes: [{at: 0, z: random}]}\n")
    r = cli_main("audio", "scenes/plain.yaml", "--audio", "beat.wav", "--json", cwd=music)  # beat.wav: here, not beside the scene
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["duration"] == 3.0 and got["frames"] == 30 and got["signals"] == {}  # defaults: no signals, the file's length
    # --audio replaces a scene's own path and keeps its settings; --set audio.path follows the scene file's rule
    r = cli_main("audio", "../scene.yaml", "--audio", "../beat.wav", "--json", cwd=music / "scenes")
    assert r.returncode == 0 and set(json.loads(r.stdout.splitlines()[-1])["signals"]) == {"level", "pulse"}, r.stderr
    r = cli_main("validate", "scenes/plain.yaml", "--set", "audio.path=../beat.wav", cwd=music)
    assert r.returncode == 2 and "scenes/plain.yaml: --set audio.path=../beat.wav: audio.path: '../beat.wav' climbs above" in r.stderr
    r = cli_main("validate", "scenes/plain.yaml", "--audio", "nothing.wav", cwd=music)
    assert r.returncode == 2 and r.stderr.strip() == "scenes/plain.yaml: --audio nothing.wav: audio.path: nothing.wav: no such file"


def test_audio_command_prints_json_and_draws_the_signals(music):
    r = cli_main("audio", "scene.yaml", "-o", "out/signals.png", "--json", cwd=music)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    got = json.loads(lines[-1])
    assert set(got) == {"bpm", "beat_offset", "beats", "duration", "frames", "signals"}
    assert (got["bpm"], got["beat_offset"], got["duration"], got["frames"]) == (120.0, 0.0, 3.0, 30)
    assert got["beats"] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert set(got["signals"]) == {"level", "pulse"} and all(len(v) == 30 and 0 <= min(v) <= max(v) <= 1 for v in got["signals"].values())
    assert lines[1].startswith("tempo: 120.000 bpm (written)") and any(line.startswith("  pulse: beat") for line in lines)
    from PIL import Image

    png = music / "out" / "signals.png"
    assert Image.open(png).size[0] == 1200 and targets.written_by_us(png)
    (music / "bad.yaml").write_text(MUSIC.replace("beat.wav", "../beat.wav"))
    r = cli_main("audio", "bad.yaml", "-o", "out/bad.png", cwd=music)
    assert r.returncode == 2 and r.stderr.startswith("bad.yaml:6:9: audio.path: ") and not (music / "out" / "bad.png").exists()
    r = cli_main("audio", ROOT / "scenes" / "spiral.yaml", cwd=music)
    assert r.returncode == 2 and r.stderr.strip().endswith("audio: the scene has no soundtrack (add audio: {path: ...}, or give --audio FILE)")


def test_the_api_gives_signals_and_beats_and_loads_reads_from_the_cwd(music, monkeypatch):
    a = cppn_anim.load(music / "scene.yaml")
    sig = a.signals()
    assert set(sig) == {"level", "pulse"} and sig["pulse"].shape == (a.frame_count,) and sig["pulse"].dtype == np.float64
    np.testing.assert_allclose(a.beats(), np.arange(0, 3, 0.5))
    plain = cppn_anim.load(ROOT / "scenes" / "spiral.yaml")
    assert plain.signals() == {} and plain.beats().shape == (0,)
    monkeypatch.chdir(music)
    b = cppn_anim.loads(MUSIC)
    np.testing.assert_array_equal(b.signals()["level"], sig["level"])
    monkeypatch.chdir(ROOT)
    with pytest.raises(SceneError, match="audio.path: beat.wav: no such file"):
        cppn_anim.loads(MUSIC)


def test_the_resolved_scene_records_the_sha256_and_a_changed_file_is_refused(music):
    s = load(music)
    sha = signals.file_sha256(music / "beat.wav")
    resolved = s.resolved_yaml()
    assert f"sha256: {sha}" in resolved and "at: 1.0" in resolved and "duration: 3.0" in resolved
    again = core.parse(resolved, str(music / "again.yaml"))  # the resolved scene reads back as itself
    assert again.resolved_yaml() == resolved
    write_wav(music / "beat.wav", clicks(3.0, [1.0]))
    with pytest.raises(SceneError, match=r"audio.sha256: .*beat.wav has sha256 .*, not the one written here") as e:
        core.parse(resolved, str(music / "again.yaml"))
    assert e.value.line == resolved.splitlines().index(f"  sha256: {sha}") + 1


def test_a_segment_is_made_from_what_was_heard_without_the_file(music):
    s = load(music, MUSIC + "modulate:\n  network.contrast: {signal: pulse, amount: 2}\n  trajectory.speed: {signal: level, amount: 2}\n")
    source = pickle.loads(pickle.dumps(core.SceneFrames.of(s)))  # as a Dask worker receives it
    # --audio with an absolute path (not a scene file's path: the worker does not refuse it)
    given = core.load(music / "scene.yaml", [("audio.path", scenes.UserPath(music / "beat.wav"), "--audio")])
    elsewhere = pickle.loads(pickle.dumps(core.SceneFrames.of(given)))
    assert f"path: {music / 'beat.wav'}" in elsewhere.yaml
    (music / "beat.wav").unlink()
    made = list(source(4, 9))
    for i, frame in zip(range(4, 9), made):
        np.testing.assert_array_equal(frame, core.still(s, s.frame_time(i)))
    np.testing.assert_array_equal(next(iter(elsewhere(4, 5))), made[0])


def test_previews_copy_the_soundtrack_so_the_scene_copy_renders(music):
    """The page's copy of a scene with audio is a scene that works where it lies: its
    soundtrack is copied to the same place under the previews folder."""
    (music / "sounds").mkdir()
    (music / "beat.wav").rename(music / "sounds" / "beat.wav")
    (music / "scene.yaml").write_text(MUSIC.replace("path: beat.wav", "path: sounds/beat.wav"))
    r = cli_main("previews", str(music), "-o", str(music / "page"), cwd=music)
    assert r.returncode == 0, r.stderr
    copied = music / "page" / "sounds" / "beat.wav"
    assert copied.read_bytes() == (music / "sounds" / "beat.wav").read_bytes()
    assert core.signals(core.load(music / "page" / "scene.yaml"))["pulse"].shape == (30,)


def test_the_schema_covers_audio_and_modulate():
    import jsonschema
    import yaml

    check = jsonschema.Draft202012Validator(scenes.json_schema())  # one validator: jsonschema.validate checks the schema each time
    check.validate(yaml.safe_load((ROOT / "scenes" / "pulse.yaml").read_text()))
    base = {"trajectory": {"keyframes": [{"at": 0, "z": "random"}, {"at": "8b", "z": "random"}]}, "audio": {"path": "a.wav"}}
    check.validate(base)
    for bad in [{"audio": {"signals": {}}}, {"audio": {"path": "a", "signals": {"Kick": {"feature": "rms"}}}},
                {"modulate": {"view.zom": {"signal": "a", "amount": 1}}}, {"duration": "8s"}]:  # fmt: skip
        assert not check.is_valid(base | bad), bad


def test_nyquist_agrees_with_the_analysis():
    assert scenes.AUDIO_NYQUIST == signals.NYQUIST
    assert scenes.DEFAULT_ATTACK == signals.DEFAULT_ATTACK and scenes.BEAT_TIME == signals.BEAT_TIME.pattern


# ------------------------------------------------------------------ slow: the soundtrack in the file


def decode_audio(path: Path, rate: int = 48000) -> np.ndarray:
    out = subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le", "-ac", "1", "-ar", str(rate), "-"],
                         capture_output=True, check=True).stdout  # fmt: skip
    return np.frombuffer(out, np.float32)


def streams(path: Path) -> list[str]:
    log = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return [line.split(": ", 2)[1] + ": " + line.split(": ", 2)[2].split(",")[0] for line in log.splitlines() if "Stream #0:" in line]


FLASH = """\
seed: 3
fps: 20
duration: 2.5
size: [32, 24]
network: {latent_dim: 3, width: 8, depth: 3}
audio:
  path: click.wav
  start: START
  bpm: 30            # beats 2 s apart: one beat, at 1 s, in the video
  beat_offset: 1
  signals:
    flash: {feature: beat, release: 0.02}
modulate:
  network.contrast: {signal: flash, amount: 30}
trajectory:
  keyframes:
    - {at: 0, z: random}
"""


def flash_and_click(out: Path, fps: float) -> tuple[int, float, int]:
    """(the frame that flashes, the second its click plays in the file's audio, audio samples)."""
    from conftest import decode

    frames = decode(out).astype(np.int32)
    change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    flash = int(np.argmax(change)) + 1
    audio = decode_audio(out)
    return flash, float(np.argmax(np.abs(audio))) / 48000, audio.size


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_the_muxed_audio_lines_up_with_the_picture(tmp_path, fmt):
    start = 0.75  # the click plays at 1.75 s of the file: with frame 20 (t = 1 s)
    write_wav(tmp_path / "click.wav", clicks(4.0, [start + 1.0]))
    (tmp_path / "flash.yaml").write_text(FLASH.replace("START", str(start)))
    r = cli_main("render", "flash.yaml", "-o", f"full.{fmt}", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    flash, click, samples = flash_and_click(tmp_path / f"full.{fmt}", 20)
    assert flash == 20 and samples == 2.5 * 48000  # cut to the video's exact length
    offset = click - flash / 20
    assert abs(offset) < 1 / 20 and abs(offset) < 0.004, f"sync offset {offset * 1000:.1f} ms"
    assert streams(tmp_path / f"full.{fmt}")[1] == ("Audio: aac (LC) (mp4a / 0x6134706D)" if fmt == "mp4" else "Audio: opus")
    # --frames 12:40 carries the audio from start + 12/20 s: the click with the output's frame 8
    r = cli_main("render", "flash.yaml", "-o", f"part.{fmt}", "--frames", "12:40", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    flash, click, samples = flash_and_click(tmp_path / f"part.{fmt}", 20)
    assert flash == 8 and abs(click - 8 / 20) < 0.004 and samples == 28 / 20 * 48000
    # past the end of the file: padded with silence to the video's length
    r = cli_main("render", "flash.yaml", "-o", f"long.{fmt}", "--set", "audio.start=3.5", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    audio = decode_audio(tmp_path / f"long.{fmt}")
    assert audio.size == 2.5 * 48000 and np.abs(audio[48000:]).max() < 1e-3


@pytest.mark.slow
def test_a_segmented_render_adds_the_audio_once_at_the_join(tmp_path):
    write_wav(tmp_path / "click.wav", clicks(4.0, [1.0]))
    (tmp_path / "flash.yaml").write_text(FLASH.replace("START", "0"))
    for fmt in ("mp4", "webm"):
        r = cli_main("render", "flash.yaml", "-o", f"seg.{fmt}", "--resume", "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        kinds = streams(tmp_path / f"seg.{fmt}")
        assert len(kinds) == 2 and kinds[0].startswith("Video") and kinds[1].startswith("Audio")
        flash, click, samples = flash_and_click(tmp_path / f"seg.{fmt}", 20)
        assert flash == 20 and abs(click - 1.0) < 0.004 and samples == 2.5 * 48000
        r = subprocess.run([ffmpeg(), "-v", "error", "-i", str(tmp_path / f"seg.{fmt}"), "-f", "ffmetadata", "-"], capture_output=True, text=True)
        assert f"sha256: {signals.file_sha256(tmp_path / 'click.wav')}" in r.stdout  # provenance


@pytest.mark.slow
def test_channels_mux_false_and_formats_without_sound(tmp_path):
    t = np.arange(int(2.5 * 44100)) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    write_wav(tmp_path / "mono.wav", tone, 44100)
    write_wav(tmp_path / "stereo.wav", np.stack([tone, -tone], axis=1), 44100)
    write_wav(tmp_path / "six.wav", np.stack([tone] * 6, axis=1), 44100)
    scene = "fps: 10\nsize: [16, 12]\nnetwork: {latent_dim: 2, width: 4, depth: 1}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n"
    (tmp_path / "s.yaml").write_text(scene)
    for wav, layout in [("mono.wav", "mono"), ("stereo.wav", "stereo"), ("six.wav", "stereo")]:
        r = cli_main("render", "s.yaml", "--audio", wav, "-o", f"{wav}.mp4", "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        log = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(tmp_path / f"{wav}.mp4")], capture_output=True, text=True).stderr
        assert f"48000 Hz, {layout}," in log, log
    r = cli_main("render", "s.yaml", "--audio", "mono.wav", "--set", "audio.mux=false", "-o", "silent.mp4", "--quiet", cwd=tmp_path)
    assert r.returncode == 0 and [k.split(":")[0] for k in streams(tmp_path / "silent.mp4")] == ["Video"]
    for out, fmt in (("x.gif", "gif"), ("frames", "png")):
        r = cli_main("render", "s.yaml", "--audio", "mono.wav", "-o", out, "--format", fmt, "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_the_demo_renders_a_music_video_with_sound(tmp_path):
    r = cli_main("render", ROOT / "scenes" / "pulse.yaml", "--size", "64x36", "--fps", "6", "-o", tmp_path / "pulse.mp4", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    kinds = streams(tmp_path / "pulse.mp4")
    assert kinds[0].startswith("Video: h264") and kinds[1].startswith("Audio: aac")
    assert decode_audio(tmp_path / "pulse.mp4").size == 20 * 48000
    s = core.load(ROOT / "scenes" / "pulse.yaml")
    assert s.heard.grid.bpm == pytest.approx(120, abs=0.1) and abs(s.heard.grid.beat_offset) < 0.03
    assert [round(k.at, 1) for k in s.trajectory.keyframes] == [0, 4.0, 8.0, 12.0, 16.0, 19.5]


# ------------------------------------------------------------------ validate lists every error


EVERY_ERROR = """\
fps: 60
size: [16, 12]
network: {latent_dim: 3, width: 8, depth: 2, activation: [tanh, sin, cos]}
audio:
  path: PATH
  bpm: 120
  beat_offset: 0
  signals:
    kick: {band: [200, 100]}
    hats: {feature: beat, attack: 0.1}
trajectory:
  keyframes:
    - {at: 0, z: random}
    - {at: "4b", z: random}
    - {at: 1.5, z: [1, 2]}
modulate:
  z: {signal: kick, amount: 1, toward: random}
  view.zoom: {signal: kicks, amount: [1, 2]}
output: {format: gif, path: ../elsewhere/x.gif, crf: 70}
"""


@pytest.mark.parametrize("path", ["beat.wav", "../beat.wav"])
def test_validate_lists_the_soundtracks_errors_with_every_other_one(music, path):
    """Every soundtrack error (each on its own) and every rule error that does not depend on
    what the soundtrack decides, one line each, in file order. Heard: '4b' is 2 s, so the
    keyframe at 1.5 comes too early; not heard (a path above the folder): '4b' is unknown,
    and so is whether 1.5 comes after it (not reported)."""
    (music / "scene.yaml").write_text(EVERY_ERROR.replace("PATH", path))
    r = cli_main("validate", "scene.yaml", cwd=music)
    assert r.returncode == 2 and r.stdout == "", r.stderr
    lines = r.stderr.splitlines()
    assert all(line.startswith("scene.yaml:") for line in lines) and len(lines) == len(set(lines))
    found = [line.split(": ")[1] for line in lines]
    where = [tuple(int(n) for n in line.split(":")[1:3]) for line in lines]
    assert where == sorted(where)  # file order
    heard = path == "beat.wav"
    assert found == [
        "fps",  # 60 fps for a GIF
        "network.activation",  # 3 names for depth 2
        *([] if heard else ["audio.path"]),
        "audio.signals.kick.band",
        "audio.signals.hats.attack",
        *(["trajectory.keyframes[2].at"] if heard else []),
        "trajectory.keyframes[2].z",  # 2 numbers for latent_dim 3
        "modulate.z.toward",
        "modulate.view.zoom.signal",
        "modulate.view.zoom.amount",
        "output.path",
        "output.crf",
    ], r.stderr
    if heard:
        assert "'4b' (2 s)" in r.stderr


def test_a_time_written_in_beats_is_named_as_written_at_its_keyframe(music):
    r = cli_main("validate", "scene.yaml", "--duration", "2b", cwd=music)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "scene.yaml:17:12: trajectory.keyframes[2].at: '4b' (2 s) is past the end (duration 2b = 1 s, from --duration 2b)"]
    r = cli_main("validate", "scene.yaml", "--set", "trajectory.loop=true", "--set", 'trajectory.keyframes[2].at="1b"', cwd=music)
    assert r.returncode == 2
    assert "trajectory.keyframes[2].at: '1b' (0.5 s) is not after the previous keyframe's '2b' (1 s)" in r.stderr


def test_modulation_limits_are_listed_with_the_other_errors(music):
    text = MUSIC + "modulate:\n  view.zoom: {signal: level, amount: -5}\noutput: {format: gif, path: ../x.gif}\n"
    with pytest.raises(SceneError) as e:
        load(music, text.replace("fps: 10", "fps: 60"))
    assert [x.path for x in e.value.errors] == ["fps", "modulate.view.zoom", "output.path"]
    assert "view.zoom reaches" in e.value.errors[1].message
