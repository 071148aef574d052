import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cppn_anim import errors, ffmpeg

from conftest import cli_main, decode, popen_cli, video_info, write_scene


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name or p.name.endswith(".old"))


def test_mp4_reads_back(tiny, tmp_path):
    out = tmp_path / "a.mp4"
    r = cli_main("render", tiny, "-o", out, "--quiet")
    assert r.returncode == 0, r.stderr
    info = video_info(out)
    assert (info["codec"], info["pix_fmt"], info["size"], info["frames"]) == ("h264", "yuv420p", (48, 32), 8)
    assert "bt709" in info["log"]
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart
    assert "cppn-anim" in info["meta"] and "seed: 4" in info["meta"]  # provenance
    assert leftovers(tmp_path) == []


def test_webm_reads_back(tiny, tmp_path):
    out = tmp_path / "a.webm"
    assert cli_main("render", tiny, "-o", out, "--quiet").returncode == 0
    info = video_info(out)
    assert (info["codec"], info["pix_fmt"], info["size"], info["frames"]) == ("vp9", "yuv420p", (48, 32), 8)
    assert "seed: 4" in info["meta"]


def test_gif_loops_forever_with_exact_delays(tiny, tmp_path):
    out = tmp_path / "a.gif"
    r = cli_main("render", tiny, "-o", out, "--quiet", "--fps", 30, "--duration", 2)
    assert r.returncode == 0, r.stderr
    gif = Image.open(out)
    assert gif.n_frames == 60 and gif.info["loop"] == 0 and gif.size == (48, 32)
    delays = []
    for i in range(gif.n_frames):
        gif.seek(i)
        delays.append(gif.info["duration"])
    assert set(delays) <= {30, 40}  # 33.3 ms is not a whole number of centiseconds
    assert abs(sum(delays) - 2000) <= 10  # but they add up
    gif.seek(0)
    assert b"seed: 4" in Image.open(out).info["comment"]  # provenance
    frames = np.asarray(Image.open(out).convert("RGB"))
    assert frames.std() > 10  # a picture, not a blank


def test_crf_out_of_the_codec_range_is_refused_at_its_line(tmp_path):
    from conftest import TINY

    scene = write_scene(tmp_path, TINY + "output: {crf: 60}\n")
    r = cli_main("render", scene, "-o", tmp_path / "a.mp4")
    assert r.returncode == 2 and f"{scene}:11:15:" in r.stderr and "output.crf" in r.stderr and "0..51" in r.stderr
    r = cli_main("validate", scene)  # validate refuses what render would (item 2)
    assert r.returncode == 2 and f"{scene}:11:15:" in r.stderr and "output.crf" in r.stderr
    webm = write_scene(tmp_path, TINY + "output: {format: webm, crf: 60}\n", "webm.yaml")
    assert cli_main("render", webm, "-o", tmp_path / "a.webm", "--quiet").returncode == 0  # VP9 goes to 63


def test_gif_above_50_fps_is_refused(tiny, tmp_path):
    r = cli_main("render", tiny, "-o", tmp_path / "a.gif", "--fps", 60)
    assert r.returncode == 2 and "fps" in r.stderr and not (tmp_path / "a.gif").exists()


def test_png_folder_with_provenance(tiny, tmp_path):
    out = tmp_path / "frames"
    assert cli_main("render", tiny, "-o", out, "--format", "png", "--quiet").returncode == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"frame_{i:05d}.png" for i in range(8)]
    im = Image.open(files[3])
    assert im.size == (48, 32) and "seed: 4" in im.text["cppn-anim:scene"]


def test_png_default_path_is_a_frames_folder(tmp_path):
    scene = write_scene(tmp_path, "duration: 0.25\nfps: 8\nsize: [8, 8]\noutput: {format: png}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n", "sc.yaml")
    assert cli_main("render", scene, "--quiet", cwd=tmp_path).returncode == 0
    assert len(list((tmp_path / "out" / "sc_frames").iterdir())) == 2


def test_odd_size_still_renders_mp4_padded_with_a_warning(tiny, tmp_path):
    out = tmp_path / "odd.mp4"
    r = cli_main("render", tiny, "-o", out, "--size", "33x21", "--quiet")
    assert r.returncode == 0 and "odd" in r.stderr
    info = video_info(out)
    assert info["size"] == (34, 22) and info["frames"] == 8 and out.stat().st_size > 0
    frames = decode(out)
    # the added column repeats the edge
    assert np.abs(frames[0][:, 33].astype(int) - frames[0][:, 32]).mean() < 6


FAKE_FFMPEG = """#!/bin/sh
case "$1" in -version) echo "ffmpeg version 9.9-fake"; exit 0;; esac
head -c 100 >/dev/null
echo "fake-ffmpeg: the encoder exploded on purpose" >&2
exit 3
"""


def test_failing_ffmpeg_shows_its_message_and_keeps_the_old_file(tiny, tmp_path):
    fake = tmp_path / "ffmpeg"
    fake.write_text(FAKE_FFMPEG)
    fake.chmod(0o755)
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    r = cli_main("render", tiny, "-o", out, env={"IMAGEIO_FFMPEG_EXE": str(fake)})
    assert r.returncode == 1
    assert "the encoder exploded on purpose" in r.stderr and "Traceback" not in r.stderr
    assert out.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["missing", "not executable", "folder", "bare name"])
def test_an_ffmpeg_named_that_is_not_there_says_so(tiny, tmp_path, kind):
    """IMAGEIO_FFMPEG_EXE=/nonexistent said `cannot start ffmpeg: [Errno 13] Permission
    denied`: now one line naming the variable and what is wrong with the file (exit 1,
    nothing written)."""
    named = {"missing": tmp_path / "nonexistent", "not executable": tmp_path / "ffmpeg", "folder": tmp_path, "bare name": "no-such-ffmpeg-here"}[kind]
    (tmp_path / "ffmpeg").write_text("#!/bin/sh\n")
    out = tmp_path / "x.mp4"
    r = cli_main("render", tiny, "-o", out, env={"IMAGEIO_FFMPEG_EXE": str(named)})
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip()
    want = {"missing": "no such file", "not executable": "not executable", "folder": "is a folder", "bare name": "not found on PATH"}[kind]
    assert len(line.splitlines()) == 1 and f"IMAGEIO_FFMPEG_EXE={named}: {want}" in line and "Errno" not in line, line
    assert not out.exists() and leftovers(tmp_path) == []


def test_unwritable_output_is_refused_before_rendering(tiny, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli_main("render", tiny, "-o", blocker / "sub" / "a.mp4")
    assert r.returncode == 2 and "cannot write" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _our_ffmpegs(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and "ffmpeg" in cmd:
            found.append(int(pid))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("how, code", [("ctrl-c", 130), ("sigterm", 143)])
def test_interrupt_leaves_nothing_behind(tmp_path, how, code):
    scene = write_scene(tmp_path, "duration: 60\nfps: 30\nsize: [640, 360]\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 30, z: random}]}\n")
    out = tmp_path / "movie.mp4"
    out.write_bytes(b"old video")
    # a terminal sends SIGINT to the whole foreground process group: so do we
    proc = popen_cli("render", scene, "-o", out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300  # a loaded machine is slow, not wrong
    while time.time() < deadline and not any(p.stat().st_size > 0 for p in tmp_path.glob(".movie.*.part.mp4")):
        time.sleep(0.1)
    assert _our_ffmpegs(str(tmp_path)), "ffmpeg never started"
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate()
    assert proc.returncode == code, err  # how promptly it stops is counted in frames: test_a_signal_stops_the_render_within_a_few_frames
    assert b"Traceback" not in err
    assert out.read_bytes() == b"old video"
    assert leftovers(tmp_path) == []
    assert _our_ffmpegs(str(tmp_path)) == []


@pytest.mark.slow
def test_a_hang_up_mid_render_exits_129_and_leaves_nothing(tmp_path):
    """The terminal closed (SIGHUP) while a video renders: handled as SIGTERM, exit 129. More
    signals while it cleans up (a burst of SIGINT, SIGTERM, SIGHUP) change nothing: no
    temporary file, nothing at the target, and ffmpeg (in its own session, so the hang-up
    never reached it) is stopped by us."""
    scene = write_scene(tmp_path, "duration: 60\nfps: 30\nsize: [640, 360]\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 30, z: random}]}\n")
    out = tmp_path / "movie.mp4"
    proc = popen_cli("render", scene, "-o", out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300  # a loaded machine is slow, not wrong
    while time.time() < deadline and not any(p.stat().st_size > 0 for p in tmp_path.glob(".movie.*.part.mp4")):
        time.sleep(0.1)
    assert _our_ffmpegs(str(tmp_path)), "ffmpeg never started"
    proc.send_signal(signal.SIGHUP)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) * 3:  # and again, while it cleans up
        time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(sig)
    _, err = proc.communicate()
    assert proc.returncode == 129, err
    assert b"Traceback" not in err and err.decode().strip().splitlines()[-1] == "cppn-anim: hung up"
    assert not out.exists() and leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["scene.yaml"]
    assert _our_ffmpegs(str(tmp_path)) == []


def test_a_second_signal_during_cleanup_never_skips_it(tiny, tmp_path, monkeypatch):
    """SIGTERM mid-render; while the render cleans up (stopping ffmpeg), a Ctrl-C and a
    hang-up arrive. The handlers only set a flag, so the cleanup runs to its end: ffmpeg is
    stopped, the temporary file removed, the old file kept; the first signal decides: 143."""
    import threading

    from cppn_anim import ffmpeg

    out = tmp_path / "a.mp4"
    out.write_bytes(b"old video")
    real_write, real_abort, sinks = ffmpeg.FfmpegSink.write, ffmpeg.FfmpegSink.abort, []

    def write(self, frame):
        real_write(self, frame)
        if self.count == 3 and self not in sinks:
            sinks.append(self)
            os.kill(os.getpid(), signal.SIGTERM)  # from the writer thread, as a `kill` would

    def abort(self):
        if threading.current_thread() is threading.main_thread():
            os.kill(os.getpid(), signal.SIGINT)  # delivered here and now, in the middle of the cleanup
            os.kill(os.getpid(), signal.SIGHUP)
        real_abort(self)

    monkeypatch.setattr(ffmpeg.FfmpegSink, "write", write)
    monkeypatch.setattr(ffmpeg.FfmpegSink, "abort", abort)
    stray = []
    safety = {sig: signal.signal(sig, lambda signum, frame: stray.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:  # a signal that reached no handler of main's would land here, not end the test run
        r = cli_main("render", tiny, "-o", out, "--duration", "4", "--quiet")
    finally:
        for sig, handler in safety.items():
            signal.signal(sig, handler)
    assert (r.returncode, r.stderr) == (143, "cppn-anim: terminated\n") and stray == []
    assert sinks and sinks[0].proc.poll() is not None  # ffmpeg stopped
    assert out.read_bytes() == b"old video" and leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "tiny.yaml"]


class SlowSink:
    def __init__(self, delay):
        self.delay, self.count = delay, 0

    def write(self, frame):
        time.sleep(self.delay)
        self.count += 1

    def finish(self):
        pass

    def abort(self):
        pass


def test_rendering_and_encoding_overlap():
    """The renderer makes frame i+1 while the writer is still writing frame i (so a slow
    renderer and a slow encoder take as long as the slower one, not the sum). A rendezvous,
    not a timing: the writer holds frame i until frame i+1 has been made; one after the
    other, they would wait for each other (up to the guard's 60 s) and fail."""
    import threading

    n = 12
    made = [threading.Event() for _ in range(n + 1)]

    def frames():
        for i in range(n):
            made[i].set()
            yield np.zeros((2, 2, 3), np.uint8)
        made[n].set()

    class Rendezvous(SlowSink):
        def write(self, frame):
            assert made[self.count + 1].wait(60), f"frame {self.count + 1} was not made while frame {self.count} was written"
            self.count += 1

    sink = Rendezvous(0)
    ffmpeg.feed(frames(), sink)
    assert sink.count == n


def test_a_signal_stops_the_render_within_a_few_frames(tmp_path, monkeypatch):
    """Promptly, counted in frames (not seconds): a Ctrl-C at frame 3 of an 800-frame render
    stops it with at most the encoder's queue and the frames in flight rendered after it."""
    from cppn_anim import trajectory

    scene = tmp_path / "long.yaml"
    scene.write_text("duration: 100\nfps: 8\nsize: [16, 8]\nnetwork: {latent_dim: 2, width: 4, depth: 2}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n")
    made, real_at, real_write = [], trajectory.Motion.at, ffmpeg.FfmpegSink.write

    def at(self, t):
        made.append(t)
        return real_at(self, t)

    def write(self, frame):
        real_write(self, frame)
        if self.count == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C: to the process, from outside the render

    monkeypatch.setattr(trajectory.Motion, "at", at)
    monkeypatch.setattr(ffmpeg.FfmpegSink, "write", write)
    r = cli_main("render", scene, "-o", tmp_path / "long.mp4", "--quiet")
    assert (r.returncode, r.stderr) == (130, "cppn-anim: interrupted\n")
    assert 4 <= len(made) <= 4 + ffmpeg.QUEUE_FRAMES + 4, len(made)  # not 800
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.yaml"]


def test_a_failing_sink_stops_the_render_early():
    class Broken(SlowSink):
        def write(self, frame):
            raise errors.EncodeError("disk full")

    pulled = []

    def frames():
        for i in range(1000):
            pulled.append(i)
            yield np.zeros((2, 2, 3), np.uint8)

    with pytest.raises(errors.EncodeError, match="disk full"):
        ffmpeg.feed(frames(), Broken(0))
    assert len(pulled) < 100


@pytest.mark.parametrize("output, at, says", [
    ("{crf: 70}", 15, "crf 70 out of range for mp4 (0..51)"),  # QA: pydantic's 'must be <= 63'
    ("{crf: 55}", 15, "crf 55 out of range for mp4 (0..51)"),
    ("{crf: -1}", 15, "crf -1 out of range for mp4 (0..51)"),
    ("{format: webm, crf: 64}", 29, "crf 64 out of range for webm (0..63)"),
    ("{format: webm, crf: -3}", 29, "crf -3 out of range for webm (0..63)"),
    ("{format: gif, crf: 70}", 28, "crf 70 out of range (mp4 0..51, webm 0..63; gif does not use crf)"),
])  # fmt: skip
def test_every_crf_refusal_names_the_formats_own_range(tmp_path, output, at, says):
    """Any crf out of range, above 63 or below 0 too, is refused at output.crf's FILE:LINE:COL
    with the range of the scene's format (mp4 0..51, webm 0..63), by validate and render alike;
    an override names its --set. The JSON schema still shows 0..63 (what some format takes)."""
    from conftest import TINY

    from cppn_anim import scene as scenes

    scene = write_scene(tmp_path, TINY + f"output: {output}\n")
    for args in (("validate", scene), ("render", scene, "-q")):
        r = cli_main(*args, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr == f"{scene}:11:{at}: output.crf: {says}\n", (args, r.stderr)
    r = cli_main("validate", tmp_path / "scene.yaml", "--set", "output={}", "--set", f"output.crf={says.split()[1]}", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.endswith(f": output.crf: crf {says.split()[1]} out of range for mp4 (0..51)\n"), r.stderr
    assert list(tmp_path.iterdir()) == [scene]
    crf = scenes.json_schema()["$defs"]["Output"]["properties"]["crf"]
    assert {"type": "integer", "minimum": 0, "maximum": 63} in crf["anyOf"] and {"type": "null"} in crf["anyOf"]
