"""The one activation table: everything about each activation, by name.

Scene validation and the JSON Schema take their names from NAMES (and OUTPUT_NAMES);
network.py draws weights with each activation's gains and computes the float64 reference
with its numpy function; render.py runs its torch function in place, or the cheaper
activation its `fold` names; the fused kernels take their bodies from here: `llvm` for the
CPU kernel (cpu_fused.py), `triton` for the GPU one (fused.py). No other module names an
activation (tests/test_layout.py checks): adding one is one Activation(...) line below,
with a body for each backend (a backend without one falls back to the torch path).

The output layer's activations (network.output: sigmoid, or sin then sigmoid stretched to
[0, 1]) are the OUTPUTS table, the same way.

Kernel bodies:
- `llvm(m, x)`: x is a vector of float32 pre-activations, m cpu_fused's emitter (m.fma,
  m.exp, m.recip, m.clamp, m.const, ...; no fast-math, so the result is the same bits
  wherever the vector sits). Accurate to a few float32 ulps.
- `triton(triton, tl)`: makes the @triton.jit body (called once, by fused.py, when the GPU
  kernel is first built), so importing this module never imports triton.

Importing this module does not import torch: the torch functions are tensor methods
(torch.nn.functional is imported by the two that need it, when they first run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Fold:
    """f(a) = out_scale * g(in_scale * a) + out_shift, with g the activation named `via`.

    The renderer runs g instead of f when g is cheaper: in_scale folds into this layer's
    weights, out_scale and out_shift into the next layer's (tanh(a) = 2 sigmoid(2a) - 1,
    and torch's sigmoid is several times faster than its tanh)."""

    via: str
    in_scale: float
    out_scale: float
    out_shift: float


@dataclass(frozen=True)
class Activation:
    name: str
    numpy: Callable[[np.ndarray], np.ndarray]  # float64, the reference (network.evaluate)
    torch: Callable[[Any], None]  # in place on a tensor (render.py)
    gain: float  # cppn-anim style: gain of the layer after this activation (hidden and output)
    first_gain: float  # cppn-anim style: gain of the first layer when this is its activation
    fold: Fold | None = None  # a cheaper activation the renderer runs instead (see Fold)
    llvm: Callable | None = None  # body(m, x) for the fused CPU kernel (cpu_fused.py)
    triton: Callable | None = None  # make(triton, tl) -> @triton.jit body, for the fused GPU kernel (fused.py)
    period: float | None = None  # f(a + period) = f(a): a renderer may reduce a large bias by it (exactly, in float64)


@dataclass(frozen=True)
class Output:
    """An activation of the output layer: (..., channels) pre-activations -> values in [0, 1]."""

    name: str
    numpy: Callable[[np.ndarray], np.ndarray]  # float64, the reference (network.output_value)
    torch: Callable[[Any], None]  # in place on a float32 tensor (render.py)
    llvm: Callable | None = None
    triton: Callable | None = None
    wraps: bool = False  # periodic in the pre-activation (network.py spreads its weights differently)


def _softplus_(a) -> None:
    import torch.nn.functional as F

    a.copy_(F.softplus(a))


def _elu_(a) -> None:
    import torch.nn.functional as F

    F.elu_(a)


# ------------------------------------------------------------------ fused CPU kernel bodies (llvm)


def _tanh_llvm(m, x):
    # a minimax rational approximation of tanh on [-7.9, 7.9], clamped outside (tanh(7.9) is
    # 1 - 2.8e-7): x P(x^2) / Q(x^2) with P of degree 4 and Q of degree 3 in x^2, fitted here
    # (Lawson's iteration on 20000 points of [0, 7.9]): within 5.1e-7 of tanh in float32, as
    # accurate as Eigen's degree 6/3 (ptanh_float) and two multiply-adds cheaper, which is ~5%
    # of a 32-wide tanh network's time (benchmarks/kernels.py)
    x = m.clamp(x, -7.9, 7.9)
    x2 = m.mul(x, x)
    p = m.poly(x2, [0.9999991580380981, 0.1270873422784508, 0.002693550122354968, 7.150874132802585e-06, -6.140348964073692e-09])
    q = m.poly(x2, [1.0, 0.4604175843659914, 0.022836079203119943, 0.00019645731234298918])
    return m.mul(m.mul(x, p), m.recip(q))


def _sigmoid_llvm(m, x):
    return m.recip(m.add(m.exp(m.neg(x)), m.const(1.0)))


def _softplus_llvm(m, x):  # max(x, 0) + log(1 + exp(-|x|)): no overflow; exact to float32 rounding
    return m.add(m.max(x, m.const(0.0)), m.log(m.add(m.exp(m.neg(m.abs(x))), m.const(1.0))))


def _elu_llvm(m, x):
    return m.select(m.gt(x, m.const(0.0)), x, m.sub(m.exp(m.min(x, m.const(0.0))), m.const(1.0)))


# ------------------------------------------------------------------ fused GPU kernel bodies (triton)
# Each make(triton, tl) returns a @triton.jit function of the pre-activation block; they are
# made when fused.py first builds its kernel (a jit function reads only constexpr globals, so
# constants are written as literals).


def _tanh_triton(triton, tl):
    @triton.jit
    def tanh(x):
        t = tl.exp(-2.0 * tl.abs(x))  # in (0, 1]: no overflow
        v = (1.0 - t) / (1.0 + t)
        return tl.where(x < 0, -v, v)

    return tanh


def _sigmoid_triton(triton, tl):
    @triton.jit
    def sigmoid(x):
        return tl.sigmoid(x)

    return sigmoid


def _sin_triton(triton, tl):
    @triton.jit
    def sin(x):
        return tl.sin(x)

    return sin


def _cos_triton(triton, tl):
    @triton.jit
    def cos(x):
        return tl.cos(x)

    return cos


def _relu_triton(triton, tl):
    @triton.jit
    def relu(x):
        return tl.maximum(x, 0.0)

    return relu


def _softplus_triton(triton, tl):
    @triton.jit
    def softplus(x):
        return tl.maximum(x, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(x)))

    return softplus


def _gaussian_triton(triton, tl):
    @triton.jit
    def gaussian(x):
        return tl.exp(-x * x)

    return gaussian


def _abs_triton(triton, tl):
    @triton.jit
    def absolute(x):
        return tl.abs(x)

    return absolute


def _elu_triton(triton, tl):
    @triton.jit
    def elu(x):
        return tl.where(x > 0, x, tl.exp(tl.minimum(x, 0.0)) - 1.0)

    return elu


# Gains: every activation draws with similar contrast. Bounded ones saturate a little,
# unbounded ones keep variance (gain); saturating ones get steep ridges in the first layer,
# so that even one layer draws crisp edges instead of a blur (first_gain).
TABLE: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("tanh", np.tanh, lambda a: a.tanh_(), gain=2.3, first_gain=2.0, fold=Fold("sigmoid", 2.0, 2.0, -1.0),
                   llvm=_tanh_llvm, triton=_tanh_triton),
        Activation("sin", np.sin, lambda a: a.sin_(), gain=1.3, first_gain=1.0, llvm=lambda m, x: m.sin(x), triton=_sin_triton, period=2 * math.pi),
        Activation("cos", np.cos, lambda a: a.cos_(), gain=1.3, first_gain=1.0, llvm=lambda m, x: m.cos(x), triton=_cos_triton, period=2 * math.pi),
        Activation("sigmoid", lambda a: 1 / (1 + np.exp(-a)), lambda a: a.sigmoid_(), gain=8.0, first_gain=4.0, llvm=_sigmoid_llvm, triton=_sigmoid_triton),
        Activation("relu", lambda a: np.maximum(a, 0), lambda a: a.relu_(), gain=2.0, first_gain=1.0,
                   llvm=lambda m, x: m.max(x, m.const(0.0)), triton=_relu_triton),
        Activation("softplus", lambda a: np.logaddexp(0, a), _softplus_, gain=2.2, first_gain=1.0, llvm=_softplus_llvm, triton=_softplus_triton),
        Activation("gaussian", lambda a: np.exp(-a * a), lambda a: a.square_().neg_().exp_(), gain=1.5, first_gain=1.0,
                   llvm=lambda m, x: m.exp(m.neg(m.mul(x, x))), triton=_gaussian_triton),
        Activation("abs", np.abs, lambda a: a.abs_(), gain=1.1, first_gain=1.0, llvm=lambda m, x: m.abs(x), triton=_abs_triton),
        Activation("elu", lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0))), _elu_, gain=1.8, first_gain=1.0, llvm=_elu_llvm, triton=_elu_triton),
    )
}  # fmt: skip
NAMES: tuple[str, ...] = tuple(TABLE)  # in the order the format documents them


def get(name: str) -> Activation:
    """The activation called `name` (KeyError for a name the scene format does not know)."""
    return TABLE[name]


# ------------------------------------------------------------------ the output layer's activations

SIN_LOW, SIN_HIGH = 1 / (1 + np.exp(1.0)), 1 / (1 + np.exp(-1.0))  # sigmoid(-1), sigmoid(1)
SIN_LITERALS = (0.2689414213699951, 2.163953413738653)  # what the Triton body writes: SIN_LOW, 1 / (SIN_HIGH - SIN_LOW)


def _sin_out_numpy(pre: np.ndarray) -> np.ndarray:
    return (1 / (1 + np.exp(-np.sin(pre))) - SIN_LOW) / (SIN_HIGH - SIN_LOW)


def _sin_out_torch(out) -> None:  # sigmoid(sin), stretched from [s(-1), s(1)] to [0, 1]
    import torch

    torch.sigmoid_(out.sin_()).sub_(SIN_LOW).mul_(1 / (SIN_HIGH - SIN_LOW)).clamp_(0, 1)


def _sin_out_llvm(m, x):
    return m.clamp(m.mul(m.sub(_sigmoid_llvm(m, m.sin(x)), m.const(SIN_LOW)), m.const(1 / (SIN_HIGH - SIN_LOW))), 0.0, 1.0)


def _sin_out_triton(triton, tl):
    @triton.jit
    def sin_output(x):  # sigmoid(sin), stretched: SIN_LITERALS as literals (tests/test_fused.py checks them)
        return tl.minimum(tl.maximum((tl.sigmoid(tl.sin(x)) - 0.2689414213699951) * 2.163953413738653, 0.0), 1.0)

    return sin_output


OUTPUTS: dict[str, Output] = {
    o.name: o
    for o in (
        Output("sigmoid", lambda pre: 1 / (1 + np.exp(-pre)), lambda out: out.sigmoid_(), llvm=_sigmoid_llvm, triton=_sigmoid_triton),
        Output("sin", _sin_out_numpy, _sin_out_torch, llvm=_sin_out_llvm, triton=_sin_out_triton, wraps=True),
    )
}  # fmt: skip
OUTPUT_NAMES: tuple[str, ...] = tuple(OUTPUTS)


def output(name: str) -> Output:
    """The output activation called `name` (KeyError for a name the scene format does not know)."""
    return OUTPUTS[name]
