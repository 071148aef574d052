import math

import numpy as np
import pytest
import torch

from cppn_anim import errors, network, render, scene, trajectory
from cppn_anim.render import Renderer

SCENE = """\
seed: 12
network: {latent_dim: 4, width: 16, depth: 4, activation: [tanh, sin, tanh, gaussian], color: %s}
view: {zoom: %s, rotation: %s, center: %s}
trajectory: {keyframes: [{at: 0, z: random}]}
"""
STYLES = ["cppn-anim", "hardmaru", "guibas"]
# each style at its defaults, and one with every look key away from its default
LOOKS = {style: f"{{style: {style}}}" for style in STYLES} | {
    "look": "{style: guibas, z_scale: 0.7, input_scale: 1.3, contrast: 2.5, output: sigmoid, palette: twilight, palette_shift: 0.4}"
}


def setup(color="rgb", zoom=1.0, rotation=0.0, center="[0, 0]", look=None):
    text = SCENE % (color, zoom, rotation, center)
    if look:  # the style's own network: latent 4, width 16, the style's depth and activation
        text = text.replace("{latent_dim: 4, width: 16, depth: 4, activation: [tanh, sin, tanh, gaussian], color: %s}" % color,
                            "{latent_dim: 4, width: 16, %s%s}" % (LOOKS[look][1:-1], "" if "palette" in LOOKS[look] else f", color: {color}"))
    s = scene.parse(text)
    w = network.build(s.network, s.seed)
    return w, trajectory.Motion(s).at(0.0)


def reference(w, p, width, height) -> np.ndarray:
    """The float64 network on the contract's coordinates, quantised."""
    x, y = render.sample_grid(width, height, 1, 0, width * height)
    th = math.radians(p.rotation)
    c, s = math.cos(th) / p.zoom, math.sin(th) / p.zoom
    xv, yv = c * x + s * y + p.center[0], -s * x + c * y + p.center[1]
    rgb = network.evaluate(w, network.features(xv, yv, w.inputs), p.z, p.z_scale, p.input_scale, p.contrast, p.palette_shift)
    return np.clip(np.floor(rgb * 255 + 0.5), 0, 255).astype(np.uint8).reshape(height, width, 3)


# numpy's RandomState is frozen: the same seed gives these numbers on every machine, for every
# style (seed 5, latent_dim 2, width 3, depth 2): the first layer's x row, row 1 of the hidden
# matrix, z's second row; hardmaru's output bias (all drawn, none measured on the probe)
PINNED = {
    "cppn-anim": {"first": [-6.839403126671571, 1.7733477477728017, 3.26117897384472],  # the same stream as before the look retune, times 2.5
                  "hidden": [0.32393386033875743, -1.7056171120871362, -1.3057251804207886],
                  "first_z": [-0.23788759712597787, 0.3480354417781127, -0.06326986980266097]},
    "hardmaru": {"first": [0.9066032320881044, -0.2922733107418258, 1.481969845777213],
                 "hidden": [-1.3431203909489582, -0.34966474162077277, -0.6822615335302703],
                 "first_z": [0.9628610803192605, 0.8036284258215891, 1.3650538263229557],
                 "out_bias": [-1.2214184233174716, -0.9612095960715625, -0.43495260097853283]},
    "guibas": {"first": [0.11133249447112026, 0.46043130042928326, 0.30469133643681867],
               "hidden": [0.23424396194052943, -0.9176001192661962, 0.6201490606923983],
               "first_z": [0.4603532287489345, -0.4689155200453905, -0.581081537010607]},
}  # fmt: skip
PINNED_FIRST_ROW = PINNED["cppn-anim"]["first"]


@pytest.mark.parametrize("style", STYLES)
def test_pinned_weights(style):
    s = scene.parse(f"seed: 5\nnetwork: {{latent_dim: 2, width: 3, depth: 2, style: {style}}}\ntrajectory: {{keyframes: [{{at: 0, z: random}}]}}")
    w = network.build(s.network, s.seed)
    got = {"first": w.first[0], "hidden": w.hidden[0][0][1], "first_z": w.first_z[1], "out_bias": w.out_bias}
    for key, values in PINNED[style].items():
        np.testing.assert_allclose(got[key], values, rtol=0, atol=1e-12, err_msg=key)
    again = network.build(s.network, s.seed)
    assert all(np.array_equal(a, b) for a, b in zip(w.hidden[0], again.hidden[0]))


def test_seeds_past_32_bits_are_their_own():
    s = scene.parse("network: {width: 4, depth: 1}\ntrajectory: {keyframes: [{at: 0, z: random}]}")
    small, big = network.build(s.network, 5), network.build(s.network, 2**32 + 5)
    assert not np.array_equal(small.first, big.first)


@pytest.mark.parametrize("color, look", [("rgb", None), ("gray", None), ("hsv", None), *[("rgb", k) for k in LOOKS], ("gray", "hardmaru")])
def test_matches_the_float64_reference(color, look):
    w, p = setup(color, zoom=1.7, rotation=33, center="[0.2, -0.4]", look=look)
    img = Renderer(w, 61, 37, device="cpu").render(p)
    assert img.shape == (37, 61, 3) and img.dtype == np.uint8
    assert np.abs(img.astype(int) - reference(w, p, 61, 37)).max() <= 1
    if color == "gray" and look is None:
        assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2])


def test_pictures_have_contrast_not_flat_gray():
    for seed in range(4):
        s = scene.parse(f"seed: {seed}\ntrajectory: {{keyframes: [{{at: 0, z: random}}]}}")
        img = Renderer(network.build(s.network, s.seed), 64, 36, device="cpu").render(trajectory.Motion(s).at(0))
        assert img.std() > 25 and len(np.unique(img.reshape(-1, 3), axis=0)) > 200


def _banded(r: Renderer, band_samples: int) -> Renderer:
    """The renderer with bands of about band_samples samples (its pace, never its pixels)."""
    r.band_rows = max(1, band_samples // (r.width * r.k * r.k))
    return r


def _batched(r: Renderer, frames: int) -> Renderer:
    """The renderer computing `frames` frames per batch (as a GPU does)."""
    r.batch = frames
    return r


@pytest.mark.parametrize("k", [1, 2, 3])
def test_pixels_do_not_depend_on_band_size(k):
    w, p = setup(rotation=10)
    frames = [_banded(Renderer(w, 150, 101, supersample=k, device="cpu"), b).render(p) for b in (1, 999, 20000, 1 << 22)]
    for other in frames[1:]:
        assert np.array_equal(frames[0], other)


def test_same_scene_twice_gives_identical_pixels():
    a = Renderer(*_args()).render(setup()[1])
    b = Renderer(*_args()).render(setup()[1])
    assert np.array_equal(a, b)


def _args():
    return setup()[0], 40, 30, 1, "cpu"


def test_supersample_equals_rendering_larger_and_averaging():
    w, p = setup(rotation=20)
    small = Renderer(w, 50, 30, supersample=2, device="cpu").render(p).astype(float)
    big = Renderer(w, 100, 60, device="cpu").render(p).astype(float)
    averaged = big.reshape(30, 2, 50, 2, 3).mean(axis=(1, 3))
    assert np.abs(small - averaged).max() <= 1.0  # quantising before or after averaging


@pytest.mark.parametrize("size", [(1, 1), (1, 9), (9, 1), (2, 3), (13, 11), (97, 89)])
def test_odd_and_tiny_sizes(size):
    w, p = setup()
    img = Renderer(w, *size, device="cpu").render(p)
    assert img.shape == (size[1], size[0], 3)
    assert np.abs(img.astype(int) - reference(w, p, *size)).max() <= 1


@pytest.mark.parametrize("look", [None, *LOOKS])
def test_resolution_independence_consequences(look):
    w, p = setup(look=look)
    r = lambda wd, ht, q=p: Renderer(w, wd, ht, device="cpu").render(q)  # noqa: E731
    small, big = r(20, 12), r(60, 36)
    assert np.abs(big[1::3, 1::3].astype(int) - small).max() <= 1  # 3x3 block centres
    wide = r(40, 12)
    assert np.abs(wide[:, 10:30].astype(int) - small).max() <= 1  # middle W columns of 2W x H
    w2, zoomed = setup(zoom=2.0, look=look)
    double = Renderer(w2, 40, 24, device="cpu").render(setup(look=look)[1])
    assert np.abs(Renderer(w2, 20, 12, device="cpu").render(zoomed).astype(int) - double[6:18, 10:30]).max() <= 1
    _, turned = setup(rotation=90.0, look=look)
    square, rotated = r(24, 24), r(24, 24, turned)
    assert np.abs(rotated.astype(int) - np.rot90(square)).max() <= 1  # a quarter counter-clockwise


@pytest.mark.parametrize("precision, tolerance", [("bf16", 80), ("fp16", 40)])
def test_low_precision_renders_close(precision, tolerance):
    w, p = setup()
    exact = Renderer(w, 48, 32, device="cpu").render(p).astype(int)
    low = Renderer(w, 48, 32, device="cpu", precision=precision).render(p).astype(int)
    assert np.abs(low - exact).max() <= tolerance
    assert np.abs(low - exact).mean() < 4


def test_missing_device_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(errors.DeviceUnavailable, match="cuda"):
        render.pick_device("cuda")
    assert render.pick_device("auto").type in ("cpu", "mps")


def test_pixels_do_not_depend_on_frames_per_batch():
    """A GPU renders several frames per batch; the same code on the CPU shows batching changes no pixel."""
    s = scene.parse(SCENE % ("hsv", 1.3, 0, "[0, 0]") + "duration: 1\nanimate:\n  view.rotation: [{at: 0, value: 0}, {at: 1, value: 90}]\n")
    w, motion = network.build(s.network, s.seed), trajectory.Motion(s)
    params = [motion.at(t) for t in np.linspace(0, 1, 7)]
    one = list(_batched(Renderer(w, 45, 31, supersample=2, device="cpu"), 1).frames(params))
    three = list(_batched(Renderer(w, 45, 31, supersample=2, device="cpu"), 3).frames(params))  # 3 + 3 + 1 padded
    assert len(three) == 7 and all(np.array_equal(a, b) for a, b in zip(one, three))
    assert not np.array_equal(one[0], one[3])  # the frames do differ


def _reference_supersampled(w, p, width, height, k) -> np.ndarray:
    """The float64 network on every sub-sample, each converted to RGB, then averaged and quantised."""
    x, y = render.sample_grid(width, height, k, 0, width * height * k * k)
    th = math.radians(p.rotation)
    c, s = math.cos(th) / p.zoom, math.sin(th) / p.zoom
    xv, yv = c * x + s * y + p.center[0], -s * x + c * y + p.center[1]
    rgb = network.evaluate(w, network.features(xv, yv, w.inputs), p.z).reshape(height, k, width, k, 3).mean(axis=(1, 3))
    return np.clip(np.floor(rgb * 255 + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("k", [2, 3])
def test_hsv_supersampled_averages_colours_not_hues(k):
    """Hue is an angle: averaging it as a number turns red next to magenta into green.
    Each sub-sample becomes RGB first (the float64 reference), then the average."""
    w, p = setup("hsv", zoom=0.6, rotation=15)
    img = Renderer(w, 40, 27, supersample=k, device="cpu").render(p)
    assert np.abs(img.astype(int) - _reference_supersampled(w, p, 40, 27, k)).max() <= 1


ACTIVATIONS = ["tanh", "sin", "cos", "sigmoid", "relu", "softplus", "gaussian", "abs", "elu"]
INPUT_SUBSETS = [[], ["x"], ["y"], ["r"], ["x", "y"], ["x", "r"], ["y", "r"], ["r", "y", "x"]]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_and_input_subset_matches_the_float64_reference(activation):
    """Each activation (as the first, a middle and the last hidden layer, after tanh and
    before it: the folding of tanh into sigmoid touches its neighbours) and each subset of
    inputs, in any order, against network.evaluate."""
    for inputs in INPUT_SUBSETS:
        acts = [activation, "tanh", activation, activation]
        s = scene.parse(
            f"seed: 7\nnetwork: {{latent_dim: 3, width: 12, depth: 4, activation: [{', '.join(acts)}], inputs: [{', '.join(inputs)}]}}\n"
            "view: {zoom: 1.4, rotation: 21, center: [0.3, -0.1]}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n"
        )
        w, p = network.build(s.network, s.seed), trajectory.Motion(s).at(0.0)
        img = Renderer(w, 29, 19, device="cpu").render(p)
        assert np.abs(img.astype(int) - reference(w, p, 29, 19)).max() <= 1, (activation, inputs)


def test_a_frame_alone_equals_it_in_every_slot_of_a_batch():
    """A still computes one frame, not a padded batch: the same pixels as in any slot of a batch."""
    s = scene.parse(SCENE % ("hsv", 1.3, 0, "[0, 0]") + "duration: 1\nanimate:\n  view.rotation: [{at: 0, value: 0}, {at: 1, value: 90}]\n")
    w, motion = network.build(s.network, s.seed), trajectory.Motion(s)
    params = [motion.at(t) for t in np.linspace(0, 1, 5)]
    batched = _batched(Renderer(w, 37, 23, supersample=2, device="cpu"), 3)
    in_batches = list(batched.frames(params))  # slots 0, 1, 2 then 0, 1
    for i, p in enumerate(params):
        assert np.array_equal(batched.render(p), in_batches[i]), i  # alone, same renderer
        assert np.array_equal(_batched(Renderer(w, 37, 23, supersample=2, device="cpu"), 1).render(p), in_batches[i]), i
    assert len({frame.tobytes() for frame in in_batches}) == 5  # five different frames


def test_buffers_are_sized_from_the_network_width():
    """Activation buffers hold a fixed number of bytes: a wide network gets fewer samples per chunk."""
    narrow, wide = render.chunk_size(32, 1 << 20, "cpu"), render.chunk_size(4096, 1 << 20, "cpu")
    assert narrow == 16384 and wide < narrow and wide * 4096 * 4 <= 16 << 20
    gpu = render.chunk_size(4096, 1 << 24, "cuda")
    assert gpu * 4096 * 4 <= render.GPU_BUFFER_BYTES and gpu >= 1024
    assert render.chunk_size(32, 100, "cpu") == 256  # a tiny frame: its own size, rounded up
    s = scene.parse("seed: 1\nnetwork: {width: 300, depth: 2}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n")
    r = Renderer(network.build(s.network, s.seed), 64, 48, device="cpu")
    a, b, wide = r._buffers()
    assert a.shape == b.shape == (r.chunk, 300) and wide is None  # one frame's chunk, no batch axis
    low = Renderer(network.build(s.network, s.seed), 64, 48, device="cpu", precision="bf16")
    a, _, wide = low._buffers()  # bf16: the first and last layers run in an fp32 buffer
    assert a.dtype == torch.bfloat16 and wide.dtype == torch.float32 and wide.shape == (low.chunk, 300)


# ------------------------------------------------------------------ the render path (issues 18, 20)

FAR_NETS = ["{latent_dim: 4, width: 16, depth: 4, activation: [sin, tanh, tanh, gaussian]}",
            "{latent_dim: 4, width: 16, depth: 3, style: hardmaru, activation: [cos, tanh, sigmoid], color: hsv}"]


def _scene_at(net: str, view: str, size=(64, 48)):
    s = scene.parse(f"seed: 12\nsize: [{size[0]}, {size[1]}]\nnetwork: {net}\nview: {view}\ntrajectory: {{keyframes: [{{at: 0, z: random}}]}}\n")
    return s, network.build(s.network, s.seed), trajectory.Motion(s).at(0.0)


@pytest.mark.parametrize("center", ["[1e5, 2e3]", "[-3e3, 1e7]"])
@pytest.mark.parametrize("net", FAR_NETS)
def test_a_view_far_from_the_origin_keeps_its_precision(net, center):
    """A centre at 1e5 or 1e7: float32 coordinates there are steps of 0.008 or 1 (stair steps,
    up to 255/255 off a sin layer's float64 value); every renderer takes only the frame's own
    extent per pixel (render.first_layer sums the centre's share in float64), so each stays
    within 1/255 of network.evaluate, and the picture is not flat."""
    from cppn_anim import core

    s, w, p = _scene_at(net, f"{{zoom: 0.8, rotation: 30, center: {center}}}")
    ref = reference(w, p, 64, 48)
    assert np.ptp(ref.reshape(-1, 3), axis=0).max() > 100  # a picture, not one colour
    assert np.abs(Renderer(w, 64, 48, device="cpu").render(p).astype(int) - ref).max() <= 1
    assert np.abs(core.prepare(s).still(0.0).astype(int) - ref).max() <= 1  # the product's path (the fused CPU kernel here)


def test_same_pixels_on_any_number_of_workers_or_threads():
    """Above the small-frame size (640x360: torch's path runs it on every thread it has): the
    renderer the commands use gives the same bits on 1, 2 or 3 band workers, as a still and
    in a video; torch's path the same on 1 or 2 threads; the two paths within 1/255."""
    from cppn_anim import core, entry

    s = scene.parse("seed: 3\nsize: [640, 360]\nnetwork: {width: 32, depth: 4, color: hsv}\nview: {zoom: 0.7, rotation: 20}\n"
                    "duration: 0.25\nfps: 8\ntrajectory: {keyframes: [{at: 0, z: random}, {at: 0.25, z: random}]}\n")  # fmt: skip
    one = core.prepare(s, workers=1)
    still = one.still(s.frame_time(1))
    video = list(one.frames())
    assert np.array_equal(video[1], still) and not np.array_equal(video[0], video[1])
    for n in (2, 3):
        many = core.prepare(s, workers=n)
        assert many.renderer.workers == n
        assert np.array_equal(many.still(s.frame_time(1)), still)
        assert all(np.array_equal(a, b) for a, b in zip(many.frames(), video))
    eager = [core.prepare(s, kernel="eager", threads=n, pin=entry.torch_threads).still(s.frame_time(1)) for n in (1, 2)]
    assert np.array_equal(eager[0], eager[1])
    assert np.abs(eager[0].astype(int) - still).max() <= 1


def test_the_render_path_is_the_fastest_that_runs_the_scene(monkeypatch):
    from cppn_anim import core
    from cppn_anim.errors import UsageError

    def path(net="{width: 8, depth: 2}", precision="fp32", kernel=None):
        s, w, _ = _scene_at(net, "{zoom: 1}")
        return core.render_path(w, torch.device("cpu"), precision, kernel)

    assert path() == ("fused-cpu", None)
    assert path(precision="bf16")[0] == "torch" and "fp32" in path(precision="bf16")[1]
    assert path("{width: 300, depth: 2}")[0] == "torch"  # over the fused kernel's width: torch's GEMMs
    assert path(kernel="eager")[0] == "torch"
    monkeypatch.setenv("CPPN_ANIM_KERNEL", "eager")
    assert path()[0] == "torch"
    monkeypatch.setenv("CPPN_ANIM_KERNEL", "fused")
    assert path() == ("fused-cpu", None)
    with pytest.raises(UsageError, match="CPPN_ANIM_KERNEL=fused: bf16"):
        path(precision="bf16")
    monkeypatch.setenv("CPPN_ANIM_KERNEL", "fast")
    with pytest.raises(UsageError, match="auto, fused, eager"):
        path()
