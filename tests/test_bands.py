"""The band-parallel CPU renderer (bands.py) and its fused kernel (cpu_fused.py):
the same pixels however a frame is cut up or however many workers run it, and within
1/255 of the float64 reference (network.evaluate), for every activation, colour and look."""
from __future__ import annotations

import math
import os
import threading

import numpy as np
import pytest
import torch

from cppn_anim import cpu_fused, network, render, scene, trajectory

pytestmark = pytest.mark.skipif(not cpu_fused.available(), reason="llvmlite cannot compile here")

from cppn_anim.bands import BandRenderer, unsupported  # noqa: E402

ALL = ["tanh", "sin", "cos", "sigmoid", "relu", "softplus", "gaussian", "abs", "elu"]


def build(net: str, view: str = "{zoom: 1.4, rotation: 21, center: [0.3, -0.1]}", seed: int = 7):
    s = scene.parse(f"seed: {seed}\nnetwork: {net}\nview: {view}\ntrajectory: {{keyframes: [{{at: 0, z: random}}]}}\n")
    return network.build(s.network, s.seed), trajectory.Motion(s).at(0.0)


def reference(w, p, width, height, k=1) -> np.ndarray:
    """The float64 network on every sub-sample, each converted to RGB, averaged, quantised."""
    x, y = render.sample_grid(width, height, k, 0, width * height * k * k)
    th = math.radians(p.rotation)
    c, s = math.cos(th) / p.zoom, math.sin(th) / p.zoom
    xv, yv = c * x + s * y + p.center[0], -s * x + c * y + p.center[1]
    rgb = network.evaluate(w, network.features(xv, yv, w.inputs), p.z, p.z_scale, p.input_scale, p.contrast, p.palette_shift)
    rgb = rgb.reshape(height, k, width, k, 3).mean(axis=(1, 3))
    return np.clip(np.floor(rgb * 255 + 0.5), 0, 255).astype(np.uint8)


def off(a, b) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


SLOW = pytest.mark.slow  # the fast tier keeps one case of each kind


@pytest.mark.parametrize("net", [
    "{latent_dim: 4, width: 16, depth: 4, activation: [tanh, sin, tanh, gaussian], color: rgb}",
    "{latent_dim: 4, width: 16, depth: 4, activation: [tanh, sin, tanh, gaussian], color: hsv}",
    pytest.param("{latent_dim: 4, width: 16, depth: 4, activation: [tanh, sin, tanh, gaussian], color: gray}", marks=SLOW),
    "{latent_dim: 8, style: cppn-anim}",
    pytest.param("{latent_dim: 4, width: 16, style: hardmaru}", marks=SLOW),
    pytest.param("{latent_dim: 4, width: 16, style: guibas}", marks=SLOW),
    "{latent_dim: 4, width: 16, style: guibas, z_scale: 0.7, input_scale: 1.3, contrast: 2.5, output: sigmoid, palette: twilight, palette_shift: 0.4}",
])  # fmt: skip
def test_matches_the_float64_reference(net):
    w, p = build(net, "{zoom: 1.7, rotation: 33, center: [0.2, -0.4]}", seed=12)
    img = BandRenderer(w, 61, 37).render(p)
    assert img.shape == (37, 61, 3) and img.dtype == np.uint8
    assert off(img, reference(w, p, 61, 37)) <= 1


@pytest.mark.parametrize("order", [ALL, pytest.param(ALL[::-1], marks=SLOW)])
def test_every_activation_and_input_subset_matches_the_float64_reference(order):
    """Each activation after each other one (two orders of all nine), each subset of inputs."""
    for inputs in [[], ["x"], ["r"], ["x", "y"], ["y", "r"], ["r", "y", "x"]]:
        w, p = build(f"{{latent_dim: 3, width: 12, depth: 9, activation: [{', '.join(order)}], inputs: [{', '.join(inputs)}]}}")
        assert off(BandRenderer(w, 29, 19).render(p), reference(w, p, 29, 19)) <= 1, inputs


@pytest.mark.parametrize("width, depth", [(1, 1), (5, 2), pytest.param(33, 3, marks=SLOW), pytest.param(70, 2, marks=SLOW)])
def test_any_width_and_depth(width, depth):
    """Widths that are not a multiple of the output block, one layer, and a layer wide enough to loop over its inputs."""
    w, p = build(f"{{latent_dim: 2, width: {width}, depth: {depth}, color: hsv}}")
    assert off(BandRenderer(w, 23, 17).render(p), reference(w, p, 23, 17)) <= 1


@pytest.mark.parametrize("k", [2, 3])
def test_supersampled_averages_colours(k):
    w, p = build("{latent_dim: 3, width: 12, depth: 3, color: hsv}", "{zoom: 0.6, rotation: 15}")
    assert off(BandRenderer(w, 40, 27, supersample=k).render(p), reference(w, p, 40, 27, k)) <= 1


def test_pixels_do_not_depend_on_bands_or_workers():
    """Above the small-frame size: every cut into bands and every worker count gives the same
    bits, for a still (render) and for a video (frames, bands of several frames in flight)."""
    w, p = build("{latent_dim: 8, width: 32, depth: 4}", "{rotation: 10, zoom: 1.2}")
    motion = [p, build("{latent_dim: 8, width: 32, depth: 4}", "{rotation: 50, zoom: 0.8}")[1]]
    first = BandRenderer(w, 640, 360).render(p)
    for workers, band_samples in [(1, 1), (2, 999), (3, 20000), (2, 1 << 22)]:
        with BandRenderer(w, 640, 360, workers=workers, band_samples=band_samples) as r:
            assert np.array_equal(r.render(p), first), (workers, band_samples)
            video = list(r.frames(motion * 2))
        assert np.array_equal(video[0], first) and np.array_equal(video[2], first)
        assert np.array_equal(video[1], video[3]) and not np.array_equal(video[0], video[1])


def test_supersampled_pixels_do_not_depend_on_bands():
    w, p = build("{latent_dim: 3, width: 12, depth: 3}", "{rotation: 10}")
    frames = [BandRenderer(w, 150, 101, supersample=2, workers=n, band_samples=b).render(p) for n, b in [(1, 1), (2, 999), (3, 1 << 22)]]
    assert all(np.array_equal(frames[0], f) for f in frames[1:])


def test_kernel_values_match_the_reference_closely():
    """Before quantisation: the float32 kernel within 1e-4 of the float64 network (tanh network)."""
    w, p = build("{latent_dim: 8, width: 32, depth: 8}")
    matrix, bias, view = render.first_layer(w, p)
    k = cpu_fused.compile_kernel(32, tuple(w.activations), 3, w.output)
    x, y = render.sample_grid(64, 48, 1, 0, 64 * 48)
    out = np.empty((3, len(x)), np.float32)
    k.run(cpu_fused.pack_frame(view, p.center, matrix, bias, w.out, w.out_bias), cpu_fused.pack_hidden(w.hidden), x.astype(np.float32), y.astype(np.float32), out)
    xv, yv = view[0, 0] * x + view[1, 0] * y + p.center[0], view[0, 1] * x + view[1, 1] * y + p.center[1]  # view = A^T
    ref = network.evaluate(w, network.features(xv, yv, w.inputs), p.z)
    assert np.abs(out.T - ref).max() < 1e-4


def test_no_process_wide_state_changes():
    w, p = build("{latent_dim: 3, width: 8, depth: 2}")
    threads, env, before = torch.get_num_threads(), dict(os.environ), threading.active_count()
    with BandRenderer(w, 64, 64, workers=3) as r:
        r.render(p)
        list(r.frames([p, p, p]))
    assert torch.get_num_threads() == threads and dict(os.environ) == env
    assert threading.active_count() == before


def test_unsupported_networks_say_why():
    w, _ = build(f"{{latent_dim: 2, width: {cpu_fused.MAX_WIDTH + 1}, depth: 1}}")
    assert "width" in unsupported(w)
    with pytest.raises(ValueError, match="width"):
        BandRenderer(w, 8, 8)
    with pytest.raises(ValueError, match="workers"):
        BandRenderer(build("{width: 4, depth: 1}")[0], 8, 8, workers=0)


def test_compiled_kernels_are_cached_on_disk(tmp_path, monkeypatch):
    """A shape compiled once is loaded by the next process (its machine code, checksummed, in
    $XDG_CACHE_HOME/cppn-anim/kernels): the same results bit for bit; a damaged entry is
    compiled again and replaced; a cache that cannot be written only costs the compile; kernels
    dropped and made again (an engine frees its target machine) go on working."""
    compile_uncached = cpu_fused.compile_kernel.__wrapped__  # past this process's own lru_cache
    shape = (7, ("relu", "tanh"), 1, "sin")

    def outputs(kernel):
        rng = np.random.default_rng(1)
        frame = rng.standard_normal(kernel.frame_size()).astype(np.float32)
        hidden = rng.standard_normal(kernel.hidden_size()).astype(np.float32)
        xs = np.linspace(-1, 1, kernel.tile * 3, dtype=np.float32)
        out = np.empty((1, len(xs)), np.float32)
        kernel.run(frame, hidden, xs, xs[::-1].copy(), out)
        return out

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh = outputs(compile_uncached(*shape))
    entries = list((tmp_path / "cppn-anim" / "kernels").glob("*"))
    assert len(entries) == 1 and entries[0].suffix == ".o"  # no temporary file left
    real_ir = cpu_fused._module_ir
    monkeypatch.setattr(cpu_fused, "_module_ir", lambda *a: pytest.fail("compiled instead of loaded"))
    for _ in range(3):  # loaded, dropped, loaded again
        assert np.array_equal(outputs(compile_uncached(*shape)), fresh)
    entries[0].write_bytes(entries[0].read_bytes()[:-100])  # a torn or edited entry
    monkeypatch.setattr(cpu_fused, "_module_ir", real_ir)
    assert np.array_equal(outputs(compile_uncached(*shape)), fresh)
    monkeypatch.setattr(cpu_fused, "_module_ir", lambda *a: pytest.fail("the entry was not replaced"))
    assert np.array_equal(outputs(compile_uncached(*shape)), fresh)
    monkeypatch.setattr(cpu_fused, "_module_ir", real_ir)
    monkeypatch.setenv("XDG_CACHE_HOME", str(entries[0]))  # a "folder" that is a file: nothing can be written
    assert np.array_equal(outputs(compile_uncached(*shape)), fresh)


def test_progress_and_cancel():
    """rows_done hears of every row once, in order, in the caller's thread; a cancel set while a
    still is computed stops it between bands (errors.Cancelled), on one worker or several."""
    from cppn_anim.errors import Cancelled

    w, p = build("{latent_dim: 2, width: 8, depth: 2}")
    for workers in (1, 2):
        with BandRenderer(w, 64, 90, workers=workers, band_samples=64 * 10) as r:
            seen = []
            r.render(p, rows_done=lambda n: seen.append((n, threading.current_thread())))
            assert sum(n for n, _ in seen) == 90 and {t for _, t in seen} == {threading.current_thread()}
            cancel = threading.Event()

            def stop_after_two(n, count=[0]):  # noqa: B006 - a counter for this call
                count[0] += 1
                if count[0] == 2:
                    cancel.set()

            with pytest.raises(Cancelled):
                r.render(p, rows_done=stop_after_two, cancel=cancel)
            with pytest.raises(Cancelled):
                list(r.frames([p, p, p], cancel=cancel))
