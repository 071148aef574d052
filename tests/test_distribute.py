"""Segmented renders: on a 2-worker local Dask cluster, and resumable in one process."""
import importlib.util
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, cli_main, decode, popen_cli, run_cli, video_info, write_scene
from test_encode import FAKE_FFMPEG

# only the tests that start a cluster need Dask (found, not imported: collecting stays cheap);
# the refusals and the one-process resume run without it
HAS_DASK = all(importlib.util.find_spec(name) is not None for name in ("dask", "distributed"))
needs_dask = pytest.mark.skipif(not HAS_DASK, reason="needs Dask: pip install 'cppn-anim[cluster]'")

SCENE = "seed: 2\nduration: 4\nfps: 15\nsize: [64, 40]\nnetwork: {width: 12, depth: 4}\ntrajectory: {loop: true, keyframes: [{at: 0, z: random}, {at: 1, z: random}]}\nanimate:\n  view.rotation: [{at: 0, value: 0}, {at: 4, value: 90}]\n"


@pytest.mark.slow
@needs_dask
def test_two_workers_png_equals_a_single_process_render(tmp_path):
    scene = write_scene(tmp_path, SCENE)
    assert run_cli("render", scene, "-o", tmp_path / "one", "--format", "png", "--quiet").returncode == 0
    r = run_cli("render", scene, "-o", tmp_path / "two", "--format", "png", "--workers", 2, "--quiet")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir()) and len(names) == 60
    for name in names:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "one" / name)), np.asarray(Image.open(tmp_path / "two" / name)))
    assert not list(tmp_path.glob(".*segments"))


@pytest.mark.slow
@needs_dask
def test_two_workers_mp4_joins_without_a_seam(tmp_path):
    scene = write_scene(tmp_path, SCENE)
    out = tmp_path / "two.mp4"
    r = run_cli("render", scene, "-o", out, "--workers", 2, "--quiet")
    assert r.returncode == 0, r.stderr
    info = video_info(out)
    assert (info["codec"], info["pix_fmt"], info["size"], info["frames"]) == ("h264", "yuv420p", (64, 40), 60)
    assert "seed: 2" in info["meta"] and out.read_bytes().index(b"moov") < out.read_bytes().index(b"mdat")
    frames = decode(out).astype(float)
    step = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # step[i]: frame i -> i+1
    from cppn_anim import distribute

    boundaries = [s.start - 1 for s in distribute.plan(0, 60, 15)[1:]]
    inside = np.delete(step, boundaries)
    assert len(boundaries) >= 3
    assert step[boundaries].max() <= inside.max()
    single = tmp_path / "one.mp4"
    assert run_cli("render", scene, "-o", single, "--quiet").returncode == 0
    assert np.abs(decode(single).astype(float) - frames).mean() < 3  # same pictures, encoded in pieces


@pytest.mark.slow
@needs_dask
def test_a_failing_worker_fails_the_render_cleanly(tmp_path):
    scene = write_scene(tmp_path, SCENE)
    fake = tmp_path / "ffmpeg"
    fake.write_text(FAKE_FFMPEG)
    fake.chmod(0o755)
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    r = run_cli("render", scene, "-o", out, "--workers", 2, env={"IMAGEIO_FFMPEG_EXE": str(fake)})
    assert r.returncode == 1, r.stderr
    assert "the encoder exploded on purpose" in r.stderr and "Traceback" not in r.stderr
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ffmpeg", "keep.mp4", "scene.yaml"]


def test_gif_cannot_be_segmented(tmp_path):
    scene = write_scene(tmp_path, SCENE)
    r = cli_main("render", scene, "-o", tmp_path / "a.gif", "--workers", 2)
    assert r.returncode == 2 and "palette" in r.stderr and not (tmp_path / "a.gif").exists()


def test_without_dask_workers_says_how_to_get_it(tmp_path):
    scene = write_scene(tmp_path, SCENE)
    code = "import sys; sys.modules['dask'] = None; sys.modules['dask.distributed'] = None; from cppn_anim.cli import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "render", str(scene), "-o", str(tmp_path / "a.mp4"), "--workers", "2"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "pip install 'cppn-anim[cluster]'" in r.stderr


@pytest.mark.slow
def test_resume_keeps_finished_segments_after_ctrl_c(tmp_path):
    scene = write_scene(tmp_path, "seed: 3\nduration: 20\nfps: 10\nsize: [400, 240]\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 20, z: random}]}\n")
    out = tmp_path / "frames"
    segments = tmp_path / ".frames.segments"
    proc = popen_cli("render", scene, "-o", out, "--format", "png", "--resume", stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300  # generous: a loaded machine is slow, not wrong
    while time.time() < deadline and len(list(segments.glob("*.tar"))) < 2:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    kept = len(list(segments.glob("*.tar")))
    assert kept >= 2 and not out.exists() and b"--resume" in err
    r = run_cli("render", scene, "-o", out, "--format", "png", "--resume")
    assert r.returncode == 0, r.stderr
    assert f"resuming: {kept} of" in r.stderr or f"resuming: {kept + 1} of" in r.stderr
    assert len(list(out.iterdir())) == 200 and not segments.exists()
    # the resumed frames are the frames a plain render makes
    assert run_cli("still", scene, "--frame", 199, "-o", tmp_path / "last.png", "--quiet").returncode == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "last.png")), np.asarray(Image.open(out / "frame_00199.png")))


@pytest.mark.slow
@needs_dask
def test_an_existing_cluster_survives_a_lost_worker(tmp_path):
    """--scheduler ADDRESS; the worker killed is one with a segment in flight (not an idle
    one): that segment is rendered again elsewhere, and the frames are the frames."""
    from dask.distributed import Client, LocalCluster

    scene = write_scene(tmp_path, "seed: 3\nduration: 12\nfps: 10\nsize: [320, 180]\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 12, z: random}]}\n")
    out = tmp_path / "frames"
    segments = tmp_path / ".frames.segments"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50)
    watcher = Client(cluster)
    try:
        proc = popen_cli("render", scene, "-o", out, "--format", "png", "--scheduler", cluster.scheduler_address, "--quiet",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        victim, in_flight = None, []
        deadline = time.time() + 300  # generous: a loaded machine is slow, not wrong
        while time.time() < deadline and victim is None and proc.poll() is None:
            for address, keys in watcher.processing().items():
                ours = [str(k) for k in keys if str(k).startswith("cppn-anim-")]
                if ours:
                    victim, in_flight = address, ours
                    break
            time.sleep(0.02)
        assert victim is not None, "no segment was ever in flight"
        names = ["-".join(key.rsplit("-", 2)[-2:]) for key in in_flight]  # cppn-anim-KEY-000010-000020 -> 000010-000020
        done_before = {p.name for p in segments.glob("*.tar")}
        nanny = next(n for n in cluster.workers.values() if n.worker_address == victim)
        os.kill(nanny.process.pid, signal.SIGKILL)  # the worker's process dies with its segment unfinished
        lost = [n for n in names if f"{n}.tar" not in done_before]
        assert lost, (names, done_before)
        _, err = proc.communicate()
        assert proc.returncode == 0, err
        assert len(list(out.iterdir())) == 120
        start = int(lost[0].split("-")[0])  # a frame of a segment that was lost, as a plain still renders it
        assert cli_main("still", scene, "--frame", start, "-o", tmp_path / "lost.png", "--quiet").returncode == 0
        assert np.array_equal(np.asarray(Image.open(tmp_path / "lost.png")), np.asarray(Image.open(out / f"frame_{start:05d}.png")))
    finally:
        watcher.close()
        cluster.close()
