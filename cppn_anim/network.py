"""The CPPN: seeded random weights, and what the network computes per pixel.

    features (x, y, r) + z  ->  depth x [linear -> activation]  ->  linear -> output -> colour

Weights are drawn on the CPU with numpy's RandomState, whose output is fixed by its
documentation, so the same seed and network settings (style included) give the same
weights everywhere.
`evaluate` is the plain float64 reference of the network; the renderer runs the
same function faster and is tested against it.

Styles (network.style) say how the weights are drawn (and, in trajectory.py, the z a
keyframe generates), following the generators that made random CPPN pictures known:
- `cppn-anim`: our own. Normal weights at gain / sqrt(fan_in) per activation (the gains are
  in the activation table, activations.py), biases that
  absorb the previous activation's mean, and an output layer scaled to a fixed, large
  spread measured on a probe grid: crisp pictures with pure blacks and whites at any depth.
- `hardmaru`: as hardmaru/cppn-tensorflow (2016, model.py and ops.py there): every matrix
  and bias N(0, 1) with no 1/sqrt(fan_in); the x, y and r layers have no bias, z's layer
  has one; tanh hidden layers, sigmoid output; z ~ U(-1, 1); its `scale` (8 to 10)
  multiplies both the coordinates and z, which here is input_scale 10 and z_scale 10.
- `guibas`: as johnguibas/cppn-art (2017, the blog post behind this project): every
  weight U(-1, 1), no biases; z ~ U(0, 1) times 0.1; x and y in pixels times 0.1 from the
  top-left corner of a 256-pixel image (0 to 25.6), r from the centre; three tanh layers;
  output sin, then sigmoid, then stretched. Here resolution-independently: x_in = 12.8 (1 + x),
  y_in = 12.8 (1 - y), r_in = 12.8 r (`Weights.coords`), times input_scale.
The per-frame look (z_scale, input_scale, contrast, palette_shift) never touches the
weights: it multiplies z, the coordinates and the output layer, per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import activations, seeding
from .scene import Network as NetworkSpec

# Random stream per style: the same seed gives each style its own weights, and never z's numbers.
WEIGHT_STREAM = {"cppn-anim": 0x57, "hardmaru": 0x48, "guibas": 0x47}
# cppn-anim, standard deviations times weight_scale. Inputs span about [-1.5, 1.5] and
# z ~ N(0, 1): this first-layer spread gives a few smooth bands across the frame; hidden
# layers at gain / sqrt(width) keep tanh layers partly saturated, which draws the classic
# CPPN contours without turning into noise.
INPUT_STD = 2.0
LATENT_STD = 0.3
BIAS_STD = 0.5
FIRST_BIAS = 0.8  # the first layer's bias spread, relative to its weights
# The middle half of the output layer's values (on the probe) spans +-OUTPUT_SPREAD before
# the sigmoid (times contrast): with the tails beyond sigmoid's 5%/95%, a good share of
# the picture is pure black or white, which is what makes the look crisp and glossy.
OUTPUT_SPREAD = 2.5
PROBE = 24  # the probe grid is PROBE x PROBE points
PROBE_STREAM = 0x50
# guibas: pixel units times 0.1 of a 256-pixel image: the frame's [-1, 1] becomes [0, 25.6]
GUIBAS_HALF = 12.8
IDENTITY_COORDS = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])  # gain, offset of x, y, r


@dataclass(frozen=True)
class Weights:
    """Float64 numpy weights; matrices are (fan_in, fan_out) so a row of features times W works."""

    inputs: tuple[str, ...]  # which of x, y, r feed the network
    first: np.ndarray  # (n_inputs, width)
    first_z: np.ndarray  # (latent_dim, width)
    first_bias: np.ndarray  # (width,)
    hidden: tuple[tuple[np.ndarray, np.ndarray], ...]  # depth-1 of ((width, width), (width,))
    out: np.ndarray  # (width, channels)
    out_bias: np.ndarray  # (channels,)
    activations: tuple[str, ...]  # one per hidden layer
    color: str  # rgb | gray | hsv
    output: str  # the output layer's activation (activations.OUTPUTS: sigmoid | sin)
    coords: np.ndarray = field(default_factory=IDENTITY_COORDS.copy)  # (2, 3): x, y, r fed to the network = gain * coordinate + offset
    palette: np.ndarray | None = None  # (N, 3) colours in [0, 1] that the one channel is looked up in


def channels(color: str) -> int:
    return 1 if color == "gray" else 3


def shape(net) -> tuple[tuple[str, ...], str, int]:
    """(activations, output activation, width) of Weights or of a network spec (scene.Network):
    what decides whether a fused kernel can run it, known before any weight is drawn."""
    if isinstance(net, Weights):
        return tuple(net.activations), net.output, net.first.shape[1]
    return tuple(net.activations()), net.output, net.width


def build(spec: NetworkSpec, seed: int) -> Weights:
    """The weights for a seed and the network settings (style, shape, activations, inputs,
    color, weight_scale: the gains and corrections depend on the activations too)."""
    parts = {"cppn-anim": _cppn_anim, "hardmaru": _hardmaru, "guibas": _guibas}[spec.style](spec, seed)
    coords = np.array([[GUIBAS_HALF, -GUIBAS_HALF, GUIBAS_HALF], [GUIBAS_HALF, GUIBAS_HALF, 0.0]]) if spec.style == "guibas" else IDENTITY_COORDS
    palette = None
    if spec.palette is not None:
        from . import palettes

        palette = palettes.table(spec.palette)
    return Weights(tuple(spec.inputs), *parts, tuple(spec.activations()), spec.color, spec.output, coords, palette)


def _cppn_anim(spec: NetworkSpec, seed: int) -> tuple:
    """Random normal weights, then two corrections measured on a fixed probe grid (so they
    too depend only on seed and settings): each layer's bias absorbs the mean of the
    activation before it (relu, sigmoid, abs... are all positive, and their sum would
    otherwise push every output into saturation), and the output layer is scaled to a
    fixed spread, so every activation and seed draws with similar contrast.
    """
    rng = seeding.generator(WEIGHT_STREAM["cppn-anim"], seed)
    s, w = spec.weight_scale, spec.width
    n_in = len(spec.inputs)
    acts = spec.activations()
    gain = activations.get(acts[0]).first_gain
    first = rng.standard_normal((n_in, w)) * (INPUT_STD * gain * s)
    first_z = rng.standard_normal((spec.latent_dim, w)) * (LATENT_STD * s)
    # a bias as spread as the weights puts each unit's ridge anywhere in the frame (a small
    # one would run every ridge through the centre: a starburst)
    first_bias = rng.standard_normal(w) * (INPUT_STD * gain * FIRST_BIAS * s)
    probe = np.linspace(-1.5, 1.5, PROBE)
    px, py = (a.ravel() for a in np.meshgrid(probe, probe))
    # every probe point gets its own z, drawn as generated z are: the statistics are those of
    # typical frames, whatever z a frame shows (a stream of its own: the weights' stay as drawn)
    pz = seeding.generator(PROBE_STREAM, seed).standard_normal((len(px), spec.latent_dim))
    h = activations.get(acts[0]).numpy(features(px, py, tuple(spec.inputs)) @ first + pz @ first_z + first_bias)  # (PROBE^2, width)
    hidden = []
    for act, next_act in zip(acts[:-1], acts[1:]):  # this layer reads the output of `act`
        weight = rng.standard_normal((w, w)) * (activations.get(act).gain * s / np.sqrt(w))
        bias = rng.standard_normal(w) * (BIAS_STD * s) - h.mean(axis=0) @ weight
        hidden.append((weight, bias))
        h = activations.get(next_act).numpy(h @ weight + bias)
    c = channels(spec.color)
    out = rng.standard_normal((w, c))
    pre = h @ out  # (PROBE^2, channels)
    # the median goes to sigmoid's middle (half the probe dark, half light: no flat fields) and
    # the middle half of the values to +-OUTPUT_SPREAD: the tails beyond are near pure black or white
    low, mid, high = np.quantile(pre, [0.25, 0.5, 0.75], axis=0)
    half = (high - low) / 2
    gain = OUTPUT_SPREAD / np.where(half > 1e-12, half, 1.0)
    if activations.output(spec.output).wraps:  # sin wraps: its middle half to +-pi/2 draws bands, not noise
        gain = gain * (np.pi / 2 / OUTPUT_SPREAD)
    return first, first_z, first_bias, tuple(hidden), out * gain, -mid * gain


def _hardmaru(spec: NetworkSpec, seed: int) -> tuple:
    """Every matrix and bias N(0, 1) (times weight_scale); the x, y, r layers have no bias."""
    rng = seeding.generator(WEIGHT_STREAM["hardmaru"], seed)
    s, w, c = spec.weight_scale, spec.width, channels(spec.color)
    first_z = rng.standard_normal((spec.latent_dim, w)) * s
    first_bias = rng.standard_normal(w) * s  # z's layer is the one with a bias
    first = rng.standard_normal((len(spec.inputs), w)) * s
    hidden = tuple((rng.standard_normal((w, w)) * s, rng.standard_normal(w) * s) for _ in range(spec.depth - 1))
    return first, first_z, first_bias, hidden, rng.standard_normal((w, c)) * s, rng.standard_normal(c) * s


def _guibas(spec: NetworkSpec, seed: int) -> tuple:
    """Every weight U(-1, 1) (times weight_scale), no biases."""
    rng = seeding.generator(WEIGHT_STREAM["guibas"], seed)
    s, w, c = spec.weight_scale, spec.width, channels(spec.color)
    u = lambda *shape: rng.uniform(-1.0, 1.0, shape) * s  # noqa: E731
    first_z, first = u(spec.latent_dim, w), u(len(spec.inputs), w)
    hidden = tuple((u(w, w), np.zeros(w)) for _ in range(spec.depth - 1))
    return first, first_z, np.zeros(w), hidden, u(w, c), np.zeros(c)


def features(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(P,) CPPN coordinates -> (P, n_inputs) input features."""
    cols = {"x": x, "y": y, "r": np.sqrt(x * x + y * y)}
    return np.stack([cols[n] for n in names], axis=1) if names else np.zeros((len(x), 0))


SIN_LOW, SIN_HIGH = activations.SIN_LOW, activations.SIN_HIGH  # sigmoid(-1), sigmoid(1): the sin output's stretch


def evaluate(
    weights: Weights, feats: np.ndarray, z: np.ndarray,
    z_scale: float = 1.0, input_scale: float = 1.0, contrast: float = 1.0, palette_shift: float = 0.0,
) -> np.ndarray:  # fmt: skip
    """Reference forward pass: (P, n_inputs) features of the viewed x, y, r and z -> (P, 3) RGB in [0, 1], float64."""
    idx = ["xyr".index(n) for n in weights.inputs]
    feats = input_scale * (feats * weights.coords[0, idx] + weights.coords[1, idx])  # the style's coordinates
    h = feats @ weights.first + (z_scale * z @ weights.first_z + weights.first_bias)  # (P, width)
    h = activations.get(weights.activations[0]).numpy(h)
    for (w, b), act in zip(weights.hidden, weights.activations[1:]):
        h = activations.get(act).numpy(h @ w + b)
    pre = contrast * (h @ weights.out + weights.out_bias)  # (P, channels)
    out = output_value(pre, weights.output)
    if weights.palette is not None:
        return lookup(out[:, 0], weights.palette, palette_shift)
    return to_rgb(out, weights.color)


def output_value(pre: np.ndarray, output: str) -> np.ndarray:
    """The output layer's activation (activations.OUTPUTS): sigmoid, or sin then sigmoid stretched from [s(-1), s(1)] to [0, 1]."""
    return activations.output(output).numpy(pre)


def wrap(v: np.ndarray, shift: float) -> np.ndarray:
    """v in [0, 1] shifted by `shift` modulo 1: v itself at shift 0 (1 stays the top colour), wrapping past 1."""
    t = v + (shift - np.floor(shift))
    return np.where(t > 1, t - 1, t)


def lookup(v: np.ndarray, table: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """(P,) values in [0, 1] -> (P, 3) colours: linear interpolation in an (N, 3) table, shifted."""
    pos = np.clip(wrap(v, shift), 0, 1) * (len(table) - 1)
    i = np.clip(np.floor(pos).astype(int), 0, len(table) - 2)
    f = (pos - i)[:, None]
    return table[i] * (1 - f) + table[i + 1] * f


def to_rgb(out: np.ndarray, color: str) -> np.ndarray:
    """(P, channels) in [0, 1] -> (P, 3) RGB."""
    if color == "gray":
        return np.repeat(out, 3, axis=1)
    if color == "rgb":
        return out
    h, s, v = out[:, 0:1], out[:, 1:2], out[:, 2:3]
    k = np.array([5.0, 3.0, 1.0])
    # hsv -> rgb without branches: c = v - v*s*clip(min(k', 4-k'), 0, 1), k' = (n + 6h) mod 6
    kk = (k + 6 * h) % 6
    return v - v * s * np.clip(np.minimum(kk, 4 - kk), 0, 1)
