"""The Triton fused kernel (fused.py), run by Triton's interpreter on the CPU (TRITON_INTERPRET=1):
the same pictures as the float64 reference and the torch path, for every activation, output,
colour, style and padded width; bf16 as close as the torch path's bf16."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

# Triton's interpreter must be chosen before triton is imported (it patches triton.language
# then): this test process runs every Triton kernel interpreted from here on (none but ours).
if "triton" not in sys.modules:
    os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton")

from cppn_anim import fused, network  # noqa: E402
from cppn_anim.render import Renderer  # noqa: E402

from test_bands import build, off, reference  # noqa: E402

if not fused.interpreted():
    pytest.skip("triton was imported before this module, without TRITON_INTERPRET=1", allow_module_level=True)

ALL = ["tanh", "sin", "cos", "sigmoid", "relu", "softplus", "gaussian", "abs", "elu"]


def frame(w, p, width, height, **kw):
    return fused.render(w, p, width, height, device="cpu", **kw)


@pytest.mark.parametrize("order", [ALL, pytest.param(ALL[::-1], marks=pytest.mark.slow)])
def test_every_activation_matches_the_float64_reference(order):
    w, p = build(f"{{latent_dim: 3, width: 12, depth: 9, activation: [{', '.join(order)}], inputs: [r, x]}}")
    assert off(frame(w, p, 29, 19), reference(w, p, 29, 19)) <= 1


@pytest.mark.parametrize("net", [
    "{latent_dim: 4, width: 16, depth: 3, color: hsv}",
    "{latent_dim: 4, width: 16, depth: 3, color: gray}",
    "{latent_dim: 4, width: 16, style: guibas}",
    "{latent_dim: 4, width: 16, style: hardmaru}",
    "{latent_dim: 4, width: 16, style: guibas, z_scale: 0.7, input_scale: 1.3, contrast: 2.5, output: sigmoid, palette: twilight, palette_shift: 0.4}",
    "{latent_dim: 2, width: 5, depth: 2}",
    "{latent_dim: 2, width: 33, depth: 2}",
])  # fmt: skip
def test_outputs_colours_styles_and_padded_widths(net):
    w, p = build(net, "{zoom: 1.7, rotation: 33, center: [0.2, -0.4]}", seed=12)
    assert off(frame(w, p, 23, 17), reference(w, p, 23, 17)) <= 1


def test_same_values_as_the_torch_path():
    """Before quantisation: the fused values and the torch renderer's pixels agree."""
    w, p = build("{latent_dim: 8, width: 32, depth: 8}")
    torch_path = Renderer(w, 40, 30, device="cpu").render(p)
    assert off(frame(w, p, 40, 30), torch_path) <= 1
    assert off(frame(w, p, 20, 15, supersample=2), Renderer(w, 20, 15, supersample=2, device="cpu").render(p)) <= 1


@pytest.mark.slow
def test_bf16_is_as_close_as_the_torch_paths_bf16():
    w, p = build("{latent_dim: 8, width: 32, depth: 8}")
    ref = reference(w, p, 40, 30).astype(int)
    ours = np.abs(frame(w, p, 40, 30, precision="bf16").astype(int) - ref)
    theirs = np.abs(Renderer(w, 40, 30, device="cpu", precision="bf16").render(p).astype(int) - ref)
    assert ours.mean() <= 2 * theirs.mean() + 1 and np.percentile(ours, 99) <= 2 * np.percentile(theirs, 99) + 2


def test_too_wide_networks_say_why():
    assert "width" in fused.unsupported(build(f"{{latent_dim: 2, width: {fused.MAX_WIDTH + 1}, depth: 1}}")[0])


def test_sin_output_literals_are_networks():
    assert fused.SIN_LITERALS == (float(network.SIN_LOW), float(1 / (network.SIN_HIGH - network.SIN_LOW)))


def test_where_it_runs():
    assert fused.unusable("cpu") is None  # under the interpreter
    os.environ["TRITON_INTERPRET"] = "0"
    try:
        assert "CUDA" in fused.unusable("cpu")
        with pytest.raises(ValueError, match="CUDA"):
            fused.FusedNetwork(build("{width: 4, depth: 1}")[0], "cpu")
    finally:
        os.environ["TRITON_INTERPRET"] = "1"


def test_importing_it_does_not_import_triton():
    code = "import sys, cppn_anim.fused; assert 'triton' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_view_far_from_the_origin_keeps_its_precision():
    """The centre's share of the first layer is summed in float64 (render.first_layer): at 1e7 the
    kernel only ever sees the frame's own extent per sample."""
    w, p = build("{latent_dim: 4, width: 16, depth: 4, activation: [sin, tanh, tanh, gaussian]}", "{zoom: 0.8, rotation: 30, center: [-3e3, 1e7]}")
    assert off(frame(w, p, 23, 17), reference(w, p, 23, 17)) <= 1
