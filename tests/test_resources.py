"""Memory and time: refused before any work when it cannot fit, one line when memory runs
out anyway, and one line up front when a render will take long."""
import contextlib
import resource
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from cppn_anim import cli, entry, network, render, resources, scene

from conftest import cli_main, write_scene

LARGEST = "network: {width: 4096, depth: 64}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n"


def _spec(text: str):
    return scene.parse(text).network


def test_the_estimate_grows_with_what_costs_memory():
    net = _spec(LARGEST)
    host, device = resources.memory_needed(net, 1280, 720, 1, "cpu", "fp32")
    assert device == 0 and 12e9 < host < 15e9  # float64 weights (8.5 GB) and their fp32 copy (4.2 GB)
    small = resources.memory_needed(_spec("trajectory: {keyframes: [{at: 0, z: random}]}"), 1280, 720)[0]
    assert small < 200e6
    assert resources.memory_needed(net, 1280, 720, 1, "cpu", "bf16")[0] < host  # half-size weights on the device
    assert resources.memory_needed(net, 16384, 16384)[0] - host > 1.5e9  # a 16K uint8 frame (0.8 GB) and its copy for the encoder
    gpu_host, gpu = resources.memory_needed(net, 3840, 2160, 1, "cuda", "fp32")
    assert gpu_host > 8e9 and 4e9 < gpu < 6e9  # fp32 weights on the GPU and buffers from a byte budget (not 68 GB)


def test_a_render_that_cannot_fit_is_refused_before_any_work(tiny, tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(network, "build", lambda *a: built.append(a))
    monkeypatch.setattr(resources, "available_memory", lambda device: 50_000_000)  # a machine with 50 MB free
    r = cli_main("render", tiny, "-o", tmp_path / "a.mp4", "--set", "network.width=2000", "--set", "network.depth=4")
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert line.startswith("cppn-anim: not enough memory (RAM)") and "network.width" in line and "--size" in line and "50 MB is free" in line
    assert built == [] and sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]
    r = cli_main("still", tiny, "--frame", 0, "-o", tmp_path / "s.png", "--set", "network.width=2000")
    assert r.returncode == 1 and "not enough memory" in r.stderr and not (tmp_path / "s.png").exists()
    assert cli_main("validate", tiny, "--set", "network.width=2000").returncode == 0  # the scene itself is fine


def fail_rendering(monkeypatch, fail) -> None:
    """Every renderer fails with `fail`'s exception: torch's path as a batch is computed, the
    band renderer in a band (in a worker thread: the exception reaches the caller all the same)."""
    from cppn_anim import bands

    monkeypatch.setattr(render.Renderer, "_render_batch", fail)
    monkeypatch.setattr(bands.BandRenderer, "_band_pixels", fail)


@pytest.mark.parametrize(
    "error, what",
    [(MemoryError(), "out of memory (RAM)"),
     (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 68719476736 bytes."), "out of memory (RAM)"),
     (getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError, "out of GPU memory")],
)  # fmt: skip
def test_running_out_of_memory_is_one_line_exit_1(tiny, tmp_path, monkeypatch, error, what):
    if isinstance(error, type):
        error = error("CUDA out of memory. Tried to allocate 64.00 GiB (GPU 0; 139.8 GiB total capacity)")

    def fail(*args, **kwargs):
        raise error

    fail_rendering(monkeypatch, fail)
    out = tmp_path / "a.mp4"
    out.write_bytes(b"old")
    r = cli_main("render", tiny, "-o", out)
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"cppn-anim: {what}") and "--size" in r.stderr and "network.width" in r.stderr
    assert out.read_bytes() == b"old"


def test_other_runtime_errors_are_not_called_memory(tiny, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    fail_rendering(monkeypatch, fail)
    r = cli_main("render", tiny, "-o", tmp_path / "a.mp4")
    assert r.returncode == 1 and "memory" not in r.stderr and "Traceback" not in r.stderr  # not called memory; no traceback either:
    assert r.stderr == "cppn-anim: internal error: RuntimeError: a bug (please report this)\n"  # main's last resort


@pytest.mark.slow
def test_the_largest_network_on_a_small_machine_is_refused_at_once(tmp_path):
    """A real process with 3 GB of address space: refused from the estimate, no traceback."""
    scene_file = write_scene(tmp_path, LARGEST)

    def small_machine():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    from conftest import CLI, ROOT

    r = subprocess.run([*CLI, "render", str(scene_file), "-o", str(tmp_path / "a.mp4")], capture_output=True, text=True, cwd=ROOT, preexec_fn=small_machine)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("cppn-anim: not enough memory (RAM): a network 4096 wide and 64 deep")
    assert "Traceback" not in r.stderr and not (tmp_path / "a.mp4").exists()


def test_a_long_render_says_so_before_it_starts(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "LONG_RENDER_SECONDS", 0.0)  # everything is long
    r = cli_main("render", tiny, "-o", tmp_path / "a.gif")
    assert r.returncode == 0, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("cppn-anim: 8 frames of 48x32: about ") and "estimated" in first
    assert Image.open(tmp_path / "a.gif").n_frames == 8  # and then it renders
    assert "estimated" not in cli_main("render", tiny, "-o", tmp_path / "b.gif", "--quiet").stderr
    r = cli_main("still", tiny, "--frame", 0, "-o", tmp_path / "s.png")
    assert r.returncode == 0 and r.stderr.startswith("cppn-anim: a 48x32 still: about ")
    monkeypatch.setattr(cli, "LONG_RENDER_SECONDS", 60)
    assert "estimated" not in cli_main("render", tiny, "-o", tmp_path / "c.gif").stderr  # a short one says nothing


@pytest.mark.parametrize("command", ["render", "still"])
def test_a_refused_long_render_says_one_line_only(tiny, tmp_path, monkeypatch, command):
    """The estimate comes once every check has passed: a refusal (exit 2) stays one line."""
    monkeypatch.setattr(cli, "LONG_RENDER_SECONDS", 0.0)  # everything is long
    target = tmp_path / "missing" / ".." / ("a.mp4" if command == "render" else "a.png")  # through a folder that is not there
    args = ["--frame", 0] if command == "still" else []
    r = cli_main(command, tiny, *args, "-o", target)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "estimated" not in r.stderr, r.stderr
    assert not (tmp_path / "missing").exists()


def test_the_time_estimate_scales_with_the_work():
    net = _spec(LARGEST)
    big = resources.estimate_seconds(net, 3840, 2160, 1, 18000, "cpu")
    assert big > 3600 * 24  # days on a CPU
    assert resources.estimate_seconds(net, 1920, 1080, 1, 18000, "cpu") == pytest.approx(big / 4)
    assert resources.estimate_seconds(net, 1920, 1080, 2, 18000, "cpu") == pytest.approx(big)
    small = resources.estimate_seconds(_spec("trajectory: {keyframes: [{at: 0, z: random}]}"), 48, 32, 1, 8, "cpu")
    assert small < 1


def test_the_time_estimate_counts_encoding(tiny, tmp_path, monkeypatch):
    """`make scene=pulse` (600 frames of 720p mp4, about 70 s) said nothing: the estimate
    counted only computing the frames (41 s), not libx264 encoding them on the same cores.
    Now encoding adds to it, in proportion to the frames and pixels, more for a slower
    preset; and the command line passes the format, preset and soundtrack it will write."""
    net = _spec("trajectory: {keyframes: [{at: 0, z: random}]}")

    def estimate(frames, **kw):
        return resources.estimate_seconds(net, 1280, 720, 1, frames, "cpu", **kw)

    frames_only, mp4 = estimate(600), estimate(600, fmt="mp4")
    assert mp4 > frames_only
    assert estimate(1200, fmt="mp4") - estimate(1200) == pytest.approx(2 * (mp4 - frames_only))  # an encode term per frame
    assert estimate(600, fmt="mp4", preset="veryslow") > mp4 > estimate(600, fmt="mp4", preset="ultrafast")
    assert estimate(600, fmt="mp4", audio_seconds=20) > mp4 and estimate(600, fmt="gif") < mp4
    seen = []
    real = resources.estimate_seconds
    monkeypatch.setattr(resources, "estimate_seconds", lambda *a, **kw: seen.append(kw) or real(*a, **kw))
    assert cli_main("render", tiny, "-o", tmp_path / "a.mp4", "--preset", "fast").returncode == 0
    assert seen[-1]["fmt"] == "mp4" and seen[-1]["preset"] == "fast" and seen[-1]["audio_seconds"] == 0


def test_small_frames_run_on_one_thread_big_ones_on_all():
    """A preview-sized frame on one thread (never slower, and no stall behind a busy core);
    720p with every thread torch has. The renderer never sets torch's threads itself: the
    pin its caller lends (entry.torch_threads, the command line's) holds torch to them for
    the frame, then puts them back. Either way the pixels are the same."""
    s = scene.parse("trajectory: {keyframes: [{at: 0, z: random}]}")
    w = network.build(s.network, s.seed)
    assert render.Renderer(w, 256, 144, device="cpu").threads == 1
    assert render.Renderer(w, 1280, 720, device="cpu").threads is None
    seen = []

    @contextlib.contextmanager
    def spy(n):
        with entry.torch_threads(n):
            seen.append(torch.get_num_threads())  # while the frame is computed
            yield

    from cppn_anim import trajectory

    p = trajectory.Motion(s).at(0.0)
    small = render.Renderer(w, 64, 36, device="cpu", pin=spy)
    before = torch.get_num_threads()
    frame = small.render(p)
    assert seen == [1] and torch.get_num_threads() == before  # one thread for the frame, then put back
    many = render.Renderer(w, 64, 36, device="cpu")  # no pin: torch's threads as the process has them
    many.threads = None
    assert np.array_equal(frame, many.render(p)) and torch.get_num_threads() == before
