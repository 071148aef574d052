"""A fused GPU kernel for the whole network (Triton): one launch per band of samples, every layer
of a tile of pixels in registers.

The torch path on a GPU runs each layer as a matmul into memory and an activation over it: two
round trips to device memory per layer. Here a program takes BLOCK samples, computes the first
layer from their coordinates (the view folded in), runs every hidden layer as a `tl.dot` of its
(BLOCK, WIDTH) activations with the layer's (WIDTH, WIDTH) weights (loaded once per program,
from L2), applies the activation in registers, and writes only the output channels (already
through the output activation, in [0, 1]). Same inputs and outputs as the torch path: the
colour conversion, supersampling and uint8 quantisation stay in render.py.

Precision: fp32 multiplies exactly in fp32 (`input_precision="ieee"`: no TF32 rounding, the
same arithmetic as cuBLAS at torch's default); bf16 rounds the activations and weights of the
hidden layers to bf16 and accumulates in fp32 (as render.py's bf16 does). Under the interpreter
the bf16 dot is emulated (operands rounded to bf16, multiplied in fp32: the same products),
because Triton 3.9's interpreter multiplies bf16 operands as their uint16 bit patterns.

Widths are padded to a power of two of at least 16 (tl.dot's smallest tile); padded units get
zero weights out, so they change nothing.

Optional: triton is an extra (`pip install cppn-anim[gpu]`), imported when first used. On a CPU
it runs only under Triton's interpreter (TRITON_INTERPRET=1, set before triton is imported), which
is how tests/test_fused.py checks it against the float64 reference.

Public API: `unusable(device)`, `unsupported(weights)`, FusedNetwork(weights, device, precision)
with `.values(params, xs, ys) -> (n, channels)` and `render(...)` for a whole frame.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from .network import Weights, channels

BLOCK = 128  # samples per program: (128, 32) fp32 activations are 32 registers a thread at 4 warps
MIN_DOT = 16  # tl.dot's smallest dimension
MAX_WIDTH = 128  # wider: (BLOCK, width) activations spill out of registers; the eager path's GEMMs do well there


def interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def unusable(device) -> str | None:
    """None if the fused kernel can run on this torch device; else why not (one line)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return "triton is not installed (pip install 'cppn-anim[gpu]')"
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cuda" or (kind == "cpu" and interpreted()):
        return None
    return f"the fused kernel runs on CUDA (here: {kind}; on a CPU only under TRITON_INTERPRET=1)"


def unsupported(weights: Weights) -> str | None:
    """None if the kernel has a body for every activation of these weights and their width fits; else why not."""
    if padded_width(weights.first.shape[1]) > MAX_WIDTH:
        return f"network width {weights.first.shape[1]} is over the fused kernel's {MAX_WIDTH} (its activations would not stay in registers)"
    names = set(weights.activations)
    missing = sorted(names - set(_table()[0])) + ([weights.output] if weights.output not in _table()[1] else [])
    return f"no fused body for {', '.join(missing)}" if missing else None


@functools.lru_cache(maxsize=1)
def _table():
    """(activation bodies, output bodies, kernel): built on first use, so importing this module never imports triton."""
    import triton
    import triton.language as tl

    # ==================================================================================
    # THE ACTIVATION TABLE OF THIS KERNEL (the one place its bodies are written): name ->
    # a @triton.jit function of the pre-activation block. When cppn_anim/activations.py
    # lands, these entries move there as its `triton` field; the kernel below only looks
    # them up by name (ACTS is the tuple of this network's bodies, layer by layer).
    # ==================================================================================
    @triton.jit
    def _tanh(x):
        t = tl.exp(-2.0 * tl.abs(x))  # in (0, 1]: no overflow
        v = (1.0 - t) / (1.0 + t)
        return tl.where(x < 0, -v, v)

    @triton.jit
    def _sigmoid(x):
        return tl.sigmoid(x)

    @triton.jit
    def _sin(x):
        return tl.sin(x)

    @triton.jit
    def _cos(x):
        return tl.cos(x)

    @triton.jit
    def _relu(x):
        return tl.maximum(x, 0.0)

    @triton.jit
    def _abs(x):
        return tl.abs(x)

    @triton.jit
    def _gaussian(x):
        return tl.exp(-x * x)

    @triton.jit
    def _softplus(x):
        return tl.maximum(x, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(x)))

    @triton.jit
    def _elu(x):
        return tl.where(x > 0, x, tl.exp(tl.minimum(x, 0.0)) - 1.0)

    @triton.jit
    def _out_sin(x):  # network.output_value's "sin": sigmoid(sin), stretched from [s(-1), s(1)] to [0, 1]
        # SIN_LOW = sigmoid(-1) and 1 / (SIN_HIGH - SIN_LOW) as literals: a jit function reads only
        # constexpr globals (tests/test_fused.py checks them against network.py's)
        return tl.minimum(tl.maximum((tl.sigmoid(tl.sin(x)) - 0.2689414213699951) * 2.163953413738653, 0.0), 1.0)

    activations = {"tanh": _tanh, "sigmoid": _sigmoid, "sin": _sin, "cos": _cos, "relu": _relu,
                   "abs": _abs, "gaussian": _gaussian, "softplus": _softplus, "elu": _elu}  # fmt: skip
    outputs = {"sigmoid": _sigmoid, "sin": _out_sin}
    # ==================================================================================

    @triton.jit
    def _cppn(xs, ys, frame, hidden, out, n, stride,
              WIDTH: tl.constexpr, DEPTH: tl.constexpr, CHANNELS: tl.constexpr, BLOCK_: tl.constexpr,
              ACTS: tl.constexpr, OUTPUT: tl.constexpr, BF16: tl.constexpr, EMULATE_BF16: tl.constexpr):  # fmt: skip
        """out[c, i] for samples i of this program's block: see the module docstring.

        frame (fp32): view (2, 2), centre (2,), first layer (3, WIDTH) and bias (WIDTH,),
        output layer (WIDTH, CHANNELS) and bias (CHANNELS,); hidden: DEPTH - 1 x ((WIDTH, WIDTH), (WIDTH,))."""
        offs = tl.program_id(0) * BLOCK_ + tl.arange(0, BLOCK_)
        mask = offs < n
        x = tl.load(xs + offs, mask=mask, other=0.0)
        y = tl.load(ys + offs, mask=mask, other=0.0)
        mx = x * tl.load(frame + 0) + y * tl.load(frame + 2) + tl.load(frame + 4)
        my = x * tl.load(frame + 1) + y * tl.load(frame + 3) + tl.load(frame + 5)
        r = tl.sqrt(mx * mx + my * my)
        cols = tl.arange(0, WIDTH)
        h = (x[:, None] * tl.load(frame + 6 + cols)[None, :] + y[:, None] * tl.load(frame + 6 + WIDTH + cols)[None, :]
             + r[:, None] * tl.load(frame + 6 + 2 * WIDTH + cols)[None, :] + tl.load(frame + 6 + 3 * WIDTH + cols)[None, :])  # fmt: skip
        h = ACTS[0](h)
        rows = tl.arange(0, WIDTH)
        for i in tl.static_range(DEPTH - 1):
            base = hidden + i * (WIDTH * WIDTH + WIDTH)
            w = tl.load(base + rows[:, None] * WIDTH + cols[None, :])
            b = tl.load(base + WIDTH * WIDTH + cols)
            if BF16 and EMULATE_BF16:  # Triton 3.9's interpreter multiplies bf16 bit patterns as integers
                a = tl.dot(h.to(tl.bfloat16).to(tl.float32), w.to(tl.bfloat16).to(tl.float32), input_precision="ieee")
            elif BF16:
                a = tl.dot(h.to(tl.bfloat16), w.to(tl.bfloat16), out_dtype=tl.float32)
            else:
                a = tl.dot(h, w, input_precision="ieee")
            h = ACTS[i + 1](a + b[None, :])
        last = frame + 6 + 4 * WIDTH
        for c in tl.static_range(CHANNELS):
            wc = tl.load(last + cols * CHANNELS + c)
            v = tl.sum(h * wc[None, :], axis=1) + tl.load(last + WIDTH * CHANNELS + c)
            tl.store(out + c * stride + offs, OUTPUT(v), mask=mask)

    return activations, outputs, _cppn


SIN_LITERALS = (0.2689414213699951, 2.163953413738653)  # what _out_sin writes: SIN_LOW, 1 / (SIN_HIGH - SIN_LOW)


def padded_width(width: int) -> int:
    return max(MIN_DOT, 1 << (width - 1).bit_length())


class FusedNetwork:
    """One network on one device for the fused kernel: weights padded and uploaded once;
    `values` runs it on a band of samples for one frame's parameters."""

    def __init__(self, weights: Weights, device="cuda", precision: str = "fp32", block: int = BLOCK, num_warps: int = 4):
        import torch

        why = unusable(torch.device(device)) or unsupported(weights)
        if why:
            raise ValueError(why)
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"the fused kernel runs fp32 or bf16, not {precision}")
        if block < MIN_DOT or block & (block - 1):
            raise ValueError(f"block must be a power of two >= {MIN_DOT}, not {block}")
        self.weights, self.device, self.precision = weights, torch.device(device), precision
        self.block, self.num_warps = block, num_warps  # launch shape: scripts/gpu_check.sh tries a few
        self.width, self.channels = weights.first.shape[1], channels(weights.color)
        self.padded = padded_width(self.width)
        wp = self.padded
        blocks = []
        for m, b in weights.hidden:
            mp = np.zeros((wp, wp))
            mp[: self.width, : self.width] = m
            blocks += [mp.ravel(), np.pad(b, (0, wp - self.width))]
        flat = np.concatenate(blocks) if blocks else np.zeros(1)
        self.hidden = torch.as_tensor(flat, dtype=torch.float32, device=self.device)
        activations, outputs, self._kernel = _table()
        self._acts = tuple(activations[a] for a in weights.activations)
        self._output = outputs[weights.output]

    def frame_block(self, p):
        """One frame's first and last layers (view, z, look folded in), padded, on the device."""
        import torch

        from .bands import first_layer

        matrix, bias, view = first_layer(self.weights, p)
        wp, pad = self.padded, self.padded - self.width
        last = np.zeros((wp, self.channels))
        last[: self.width] = p.contrast * self.weights.out
        parts = [view.ravel(), np.asarray(p.center, dtype=float), np.pad(matrix, ((0, 0), (0, pad))).ravel(), np.pad(bias, (0, pad)),
                 last.ravel(), p.contrast * self.weights.out_bias]  # fmt: skip
        return torch.as_tensor(np.concatenate(parts), dtype=torch.float32, device=self.device)

    def values(self, p, xs, ys, out=None):
        """(n,) base coordinates (float32 tensors on the device) -> (channels, n) float32 in [0, 1]."""
        import torch

        n = xs.numel()
        if out is None:
            out = torch.empty((self.channels, n), dtype=torch.float32, device=self.device)
        grid = (-(-n // self.block),)
        launch = {} if interpreted() else {"num_warps": self.num_warps, "enable_fp_fusion": True}  # fused multiply-adds, as cuBLAS
        self._kernel[grid](xs, ys, self.frame_block(p), self.hidden, out, n, out.stride(0),
                           WIDTH=self.padded, DEPTH=len(self.weights.activations), CHANNELS=self.channels, BLOCK_=self.block,
                           ACTS=self._acts, OUTPUT=self._output, BF16=self.precision == "bf16", EMULATE_BF16=interpreted(), **launch)  # fmt: skip
        return out


def grid(width: int, height: int, supersample: int = 1, device="cuda"):
    """Base x, y of every sample of a frame, float32 on the device (render.sample_grid's)."""
    import torch

    from .render import sample_grid

    x, y = sample_grid(width, height, supersample, 0, width * height * supersample * supersample)
    return torch.as_tensor(x, dtype=torch.float32, device=device), torch.as_tensor(y, dtype=torch.float32, device=device)


def render(weights: Weights, p, width: int, height: int, supersample: int = 1, device="cuda", precision: str = "fp32",
           net: FusedNetwork | None = None, samples=None):  # fmt: skip
    """A whole frame -> (H, W, 3) uint8, with render.py's colour conversion, averaging and
    quantisation (the same steps as Renderer._band) on the fused kernel's values. `net` and
    `samples` (grid's) may be passed in to reuse them from frame to frame."""
    import torch

    from .render import _lookup, _to_rgb

    net = net or FusedNetwork(weights, device, precision)
    k = supersample
    xs, ys = samples if samples is not None else grid(width, height, k, net.device)
    values = net.values(p, xs, ys).T[None]  # (1, samples, channels)
    if weights.palette is not None:
        table = np.concatenate([weights.palette[:-1], np.diff(weights.palette, axis=0)], axis=1)
        shift = torch.tensor([[p.palette_shift - np.floor(p.palette_shift)]], dtype=torch.float32, device=net.device)
        rgb = _lookup(values[..., 0], torch.as_tensor(table, dtype=torch.float32, device=net.device), shift)
    else:
        rgb = _to_rgb(values, weights.color)
    rgb = rgb.reshape(1, height, k, width, k, 3)
    total = rgb[:, :, 0, :, 0]
    for i in range(k):
        for j in range(k):
            if i or j:
                total = total + rgb[:, :, i, :, j]
    mean = total / (k * k) if k > 1 else total
    return torch.clamp(mean * 255 + 0.5, 0, 255).to(torch.uint8)[0].cpu().numpy()
