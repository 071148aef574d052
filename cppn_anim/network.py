"""The CPPN: seeded random weights, and what the network computes per pixel.

    features (x, y, r) + z  ->  depth x [linear -> activation]  ->  linear -> sigmoid -> color

Weights are drawn on the CPU with numpy's RandomState, whose output is fixed by its
documentation, so the same seed and network settings give the same weights everywhere.
`evaluate` is the plain float64 reference of the network; the renderer runs the
same function faster and is tested against it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import seeding
from .scene import Network as NetworkSpec

WEIGHT_STREAM = 0x57  # keeps the weights' random stream apart from z's for the same seed
# Standard deviations, times weight_scale. Inputs span about [-1.5, 1.5] and z ~ N(0, 1):
# this first-layer spread gives a few smooth bands across the frame; hidden layers at
# gain / sqrt(width) keep tanh layers partly saturated, which draws the classic CPPN
# contours without turning into noise.
INPUT_STD = 1.6
LATENT_STD = 0.6
BIAS_STD = 0.5
OUTPUT_STD = 1.8  # spread of the output layer before its sigmoid
PROBE = 24  # the probe grid is PROBE x PROBE points
# Gain of the hidden and output layers after each activation, so that every activation
# draws with similar contrast: bounded ones saturate a little, unbounded ones keep variance.
HIDDEN_GAIN = {"tanh": 3.0, "sin": 1.3, "cos": 1.3, "sigmoid": 8.0, "relu": 1.7, "softplus": 1.7,
               "gaussian": 1.5, "abs": 1.1, "elu": 1.6}


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


def channels(color: str) -> int:
    return 1 if color == "gray" else 3


def build(spec: NetworkSpec, seed: int) -> Weights:
    """The weights for a seed and the network settings (shape, activations, inputs, color,
    weight_scale: the gains and corrections below depend on the activations too).

    Random normal weights, then two corrections measured on a fixed probe grid (so they
    too depend only on seed and settings): each layer's bias absorbs the mean of the
    activation before it (relu, sigmoid, abs... are all positive, and their sum would
    otherwise push every output into saturation), and the output layer is scaled to a
    fixed spread, so every activation and seed draws with similar contrast.
    """
    rng = seeding.generator(WEIGHT_STREAM, seed)
    s, w = spec.weight_scale, spec.width
    n_in = len(spec.inputs)
    acts = spec.activations()
    first = rng.standard_normal((n_in, w)) * (INPUT_STD * s)
    first_z = rng.standard_normal((spec.latent_dim, w)) * (LATENT_STD * s)
    first_bias = rng.standard_normal(w) * (BIAS_STD * s)
    probe = np.linspace(-1.5, 1.5, PROBE)
    px, py = (a.ravel() for a in np.meshgrid(probe, probe))
    h = ACTIVATIONS[acts[0]](features(px, py, tuple(spec.inputs)) @ first + first_bias)  # (PROBE^2, width)
    hidden = []
    for act, next_act in zip(acts[:-1], acts[1:]):  # this layer reads the output of `act`
        weight = rng.standard_normal((w, w)) * (HIDDEN_GAIN[act] * s / np.sqrt(w))
        bias = rng.standard_normal(w) * (BIAS_STD * s) - h.mean(axis=0) @ weight
        hidden.append((weight, bias))
        h = ACTIVATIONS[next_act](h @ weight + bias)
    c = channels(spec.color)
    out = rng.standard_normal((w, c))
    pre = h @ out
    spread = pre.std(axis=0)
    out = out * (OUTPUT_STD / np.where(spread > 1e-12, spread, 1.0))
    out_bias = -pre.mean(axis=0) * (OUTPUT_STD / np.where(spread > 1e-12, spread, 1.0))
    return Weights(tuple(spec.inputs), first, first_z, first_bias, tuple(hidden), out, out_bias, tuple(acts), spec.color)


# Activations as float64 numpy functions (the renderer has its own torch versions).
ACTIVATIONS = {
    "tanh": np.tanh,
    "sin": np.sin,
    "cos": np.cos,
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
    "relu": lambda a: np.maximum(a, 0),
    "softplus": lambda a: np.logaddexp(0, a),
    "gaussian": lambda a: np.exp(-a * a),
    "abs": np.abs,
    "elu": lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0))),
}


def features(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(P,) CPPN coordinates -> (P, n_inputs) input features."""
    cols = {"x": x, "y": y, "r": np.sqrt(x * x + y * y)}
    return np.stack([cols[n] for n in names], axis=1) if names else np.zeros((len(x), 0))


def evaluate(weights: Weights, feats: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Reference forward pass: (P, n_inputs) features and z -> (P, 3) RGB in [0, 1], float64."""
    h = feats @ weights.first + (z @ weights.first_z + weights.first_bias)  # (P, width)
    h = ACTIVATIONS[weights.activations[0]](h)
    for (w, b), act in zip(weights.hidden, weights.activations[1:]):
        h = ACTIVATIONS[act](h @ w + b)
    out = 1 / (1 + np.exp(-(h @ weights.out + weights.out_bias)))  # (P, channels)
    return to_rgb(out, weights.color)


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
