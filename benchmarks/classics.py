"""Plain numpy references of the two generators that made random CPPN pictures known.

Written from the published facts of each (what is drawn from which distribution, which
layers, which coordinates), not from their code, to check that network.style reproduces
their look. Each draws its own weights and z from its own RandomState(seed), evaluates the
whole size x size frame at once and returns (size, size, 3) floats in [0, 1].

hardmaru/cppn-tensorflow (2016): z ~ U(-1, 1); x and y evenly spaced over [-scale, scale]
(the ends included), r = sqrt(x^2 + y^2); the first layer sums a layer of z (with a bias)
and layers of x, y and r (no bias); every matrix and bias ~ N(0, 1); then three more tanh
layers of net_size; the output layer (with a bias) goes through a sigmoid.

johnguibas/cppn-art (2017): z ~ U(0, 1) times 0.1; x and y are the pixel's column and row
indices times 0.1, r its distance from the image centre in the same units; one layer of
all inputs, no biases, weights ~ U(-1, 1); three tanh layers of 32, the last one maps to
the output, then sin, then sigmoid. The picture is then stretched to the full range; like
network.style guibas we stretch by the constant map [sigmoid(-1), sigmoid(1)] -> [0, 1].
"""
from __future__ import annotations

import numpy as np


def _gray_or_rgb(out: np.ndarray, size: int) -> np.ndarray:
    out = out.reshape(size, size, -1)
    return np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out


def hardmaru(seed: int, size: int = 256, channels: int = 1, z_dim: int = 8, net_size: int = 32, scale: float = 10.0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    z = rng.uniform(-1.0, 1.0, z_dim) * scale
    axis = np.linspace(-scale, scale, size)
    x, y = np.meshgrid(axis, axis)  # rows are y, columns x
    x, y = x.ravel()[:, None], y.ravel()[:, None]
    r = np.sqrt(x * x + y * y)
    normal = rng.standard_normal
    u = z @ normal((z_dim, net_size)) + normal(net_size)  # z's layer, with its bias
    u = u + x @ normal((1, net_size)) + y @ normal((1, net_size)) + r @ normal((1, net_size))
    h = np.tanh(u)  # (P, net_size)
    for _ in range(3):
        h = np.tanh(h @ normal((net_size, net_size)) + normal(net_size))
    out = 1 / (1 + np.exp(-(h @ normal((net_size, channels)) + normal(channels))))
    return _gray_or_rgb(out, size)


def guibas(seed: int, size: int = 256, channels: int = 1, z_dim: int = 8, width: int = 32, scale: float = 0.1) -> np.ndarray:
    rng = np.random.RandomState(seed)
    z = rng.uniform(0.0, 1.0, z_dim) * scale
    col, row = np.meshgrid(np.arange(size, dtype=float), np.arange(size, dtype=float))
    x, y = col.ravel() * scale, row.ravel() * scale
    half = size * scale / 2
    r = np.sqrt((x - half) ** 2 + (y - half) ** 2)
    inputs = np.concatenate([np.broadcast_to(z, (len(x), z_dim)), x[:, None], y[:, None], r[:, None]], axis=1)
    u = lambda *shape: rng.uniform(-1.0, 1.0, shape)  # noqa: E731
    h = np.tanh(inputs @ u(z_dim + 3, width))
    for _ in range(2):
        h = np.tanh(h @ u(width, width))
    s = 1 / (1 + np.exp(-np.sin(h @ u(width, channels))))
    low, high = 1 / (1 + np.exp(1.0)), 1 / (1 + np.exp(-1.0))
    return _gray_or_rgb((s - low) / (high - low), size)
