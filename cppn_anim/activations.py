"""The one activation table: everything about each activation, by name.

Scene validation and the JSON Schema take their names from NAMES; network.py draws weights
with each activation's gains and computes the float64 reference with its numpy function;
render.py runs its torch function in place, or the cheaper activation its `fold` names.
No other module names an activation: adding one is one Activation(...) line below.

Per-backend kernel bodies (a fused Triton or Numba kernel) go in `bodies`, keyed by the
backend's name ("triton", "numba"): the kernel module looks them up here, so a new backend
needs no change anywhere else.

Importing this module does not import torch: the torch functions are tensor methods
(torch.nn.functional is imported by the two that need it, when they first run).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

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
    bodies: Mapping[str, Any] = field(default_factory=dict)  # per-backend kernel bodies, e.g. {"triton": ...}


def _softplus_(a) -> None:
    import torch.nn.functional as F

    a.copy_(F.softplus(a))


def _elu_(a) -> None:
    import torch.nn.functional as F

    F.elu_(a)


# Gains: every activation draws with similar contrast. Bounded ones saturate a little,
# unbounded ones keep variance (gain); saturating ones get steep ridges in the first layer,
# so that even one layer draws crisp edges instead of a blur (first_gain).
TABLE: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("tanh", np.tanh, lambda a: a.tanh_(), gain=2.3, first_gain=2.0, fold=Fold("sigmoid", 2.0, 2.0, -1.0)),
        Activation("sin", np.sin, lambda a: a.sin_(), gain=1.3, first_gain=1.0),
        Activation("cos", np.cos, lambda a: a.cos_(), gain=1.3, first_gain=1.0),
        Activation("sigmoid", lambda a: 1 / (1 + np.exp(-a)), lambda a: a.sigmoid_(), gain=8.0, first_gain=4.0),
        Activation("relu", lambda a: np.maximum(a, 0), lambda a: a.relu_(), gain=2.0, first_gain=1.0),
        Activation("softplus", lambda a: np.logaddexp(0, a), _softplus_, gain=2.2, first_gain=1.0),
        Activation("gaussian", lambda a: np.exp(-a * a), lambda a: a.square_().neg_().exp_(), gain=1.5, first_gain=1.0),
        Activation("abs", np.abs, lambda a: a.abs_(), gain=1.1, first_gain=1.0),
        Activation("elu", lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0))), _elu_, gain=1.8, first_gain=1.0),
    )
}
NAMES: tuple[str, ...] = tuple(TABLE)  # in the order the format documents them


def get(name: str) -> Activation:
    """The activation called `name` (KeyError for a name the scene format does not know)."""
    return TABLE[name]
