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

The first layer comes from render.first_layer (the view, z and the centre's share summed in
float64 into the bias), so a view centred far from the origin keeps its precision here too.

Public API: `unusable(device)`, `unsupported(weights)`, FusedRenderer(weights, width, height,
supersample, device, precision) (render.Renderer's interface: what core.prepare uses on CUDA),
FusedNetwork(weights, device, precision) with `.values(params, xs, ys) -> (channels, n)`, and
`render(...)` for one whole frame.
"""
from __future__ import annotations

import functools
import math
import os

import numpy as np

from . import activations
from .network import Weights, channels
from .network import shape as network_shape
from .render import Renderer, sample_grid

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


def unsupported(net) -> str | None:
    """None if the kernel has a body for every activation of these weights (or network spec) and
    their width fits; else why not (one line)."""
    acts, output, width = network_shape(net)
    if padded_width(width) > MAX_WIDTH:
        return f"network width {width} is over the fused GPU kernel's {MAX_WIDTH} (its activations would not stay in registers)"
    missing = sorted({a for a in acts if activations.get(a).triton is None})
    missing += [output] if activations.output(output).triton is None else []
    return f"no fused GPU body for {', '.join(missing)} (activations.py)" if missing else None


@functools.cache
def _body(kind: str, name: str):
    """The @triton.jit body of an activation ("hidden") or output activation ("output"), from
    the activation table, made once per process (importing triton then)."""
    import triton
    import triton.language as tl

    entry = activations.get(name) if kind == "hidden" else activations.output(name)
    body = entry.triton(triton, tl)
    if interpreted():  # the interpreter wants triton.language among a body's module globals (the compiler reads its closure)
        body.fn.__globals__.setdefault("tl", tl)
    return body


@functools.lru_cache(maxsize=1)
def _kernel():
    """The kernel, built on first use, so importing this module never imports triton."""
    import triton
    import triton.language as tl

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
        cx, cy = tl.load(frame + 4), tl.load(frame + 5)
        dx = x * tl.load(frame + 0) + y * tl.load(frame + 2)  # d = A (x, y); the sample is seen at c + d
        dy = x * tl.load(frame + 1) + y * tl.load(frame + 3)
        px, py = dx + cx, dy + cy
        # r - |c| = (2 c.d + d.d) / (|c + d| + |c|): of the size of d however far the centre
        # (render.first_layer: |c| is in the bias, summed in float64); 0 at the origin
        den = tl.sqrt(px * px + py * py) + tl.sqrt(cx * cx + cy * cy)
        num = dx * (dx + 2.0 * cx) + dy * (dy + 2.0 * cy)
        r = tl.where(den > 0, num / tl.where(den > 0, den, 1.0), 0.0)
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

    return _cppn


SIN_LITERALS = activations.SIN_LITERALS  # what the sin output's Triton body writes


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
        self._kernel = _kernel()
        self._acts = tuple(_body("hidden", a) for a in weights.activations)
        self._output = _body("output", weights.output)

    def frame_block(self, p):
        """One frame's first and last layers (view, z, look folded in), padded, on the device."""
        import torch

        from .render import first_layer

        matrix, bias, view = first_layer(self.weights, p)
        wp, pad = self.padded, self.padded - self.width
        last = np.zeros((wp, self.channels))
        last[: self.width] = p.contrast * self.weights.out
        parts = [view.ravel(), np.asarray(p.center, dtype=float), np.pad(matrix, ((0, 0), (0, pad))).ravel(), np.pad(bias, (0, pad)),
                 last.ravel(), p.contrast * self.weights.out_bias]  # fmt: skip
        return torch.as_tensor(np.concatenate(parts), dtype=torch.float32, device=self.device)

    def values(self, p, xs, ys, out=None):
        """(n,) base coordinates (float32 tensors on the device) -> (channels, n) float32 in [0, 1]."""
        return self.run(self.frame_block(p), xs, ys, out)

    def run(self, block, xs, ys, out=None):
        """values() for a frame_block made already (one per frame, reused for every band)."""
        import torch

        n = xs.numel()
        if out is None:
            out = torch.empty((self.channels, n), dtype=torch.float32, device=self.device)
        grid = (-(-n // self.block),)
        launch = {} if interpreted() else {"num_warps": self.num_warps, "enable_fp_fusion": True}  # fused multiply-adds, as cuBLAS
        self._kernel[grid](xs, ys, block, self.hidden, out, n, out.stride(0),
                           WIDTH=self.padded, DEPTH=len(self.weights.activations), CHANNELS=self.channels, BLOCK_=self.block,
                           ACTS=self._acts, OUTPUT=self._output, BF16=self.precision == "bf16", EMULATE_BF16=interpreted(), **launch)  # fmt: skip
        return out


class FusedRenderer(Renderer):
    """render.Renderer with the fused kernel computing the network: the same bands, batches,
    colour conversion, averaging and uint8 quantisation on the device, the same interface
    (render, frames, cancel, rows_done); only the network's values come from one kernel launch
    per frame and band instead of two ops per layer. core.prepare uses it on CUDA where
    `unusable` and `unsupported` say nothing. ValueError (their reason) where it cannot run."""

    kind = "fused-triton"  # what computes the network (bench reports it)

    def __init__(self, weights: Weights, width: int, height: int, supersample: int = 1, device="cuda", precision: str = "fp32",
                 block: int = BLOCK, num_warps: int = 4):  # fmt: skip
        self.precision, self._launch = precision, (block, num_warps)
        super().__init__(weights, width, height, supersample, device, precision)
        self._samples: dict[tuple[int, int], tuple] = {}

    def _plan(self) -> None:
        self.net = FusedNetwork(self.weights, self.device, self.precision, *self._launch)

    def _frame_inputs(self, p) -> tuple:
        return self.net.frame_block(p), p.palette_shift - math.floor(p.palette_shift)  # the palette shift last, as Renderer's

    def _values(self, inputs: list[tuple], first: int, last: int):
        import torch

        xs, ys = self._band_samples(first, last)
        out = torch.empty((len(inputs), self.channels, last - first), dtype=torch.float32, device=self.device)
        for f, frame in enumerate(inputs):
            self.net.run(frame[0], xs, ys, out[f])
        return out.transpose(1, 2)  # (B, samples, channels)

    def _band_samples(self, first: int, last: int):
        """Base x, y of samples first..last-1, float32 on the device; kept for frames up to GRID_CACHE_SAMPLES."""
        import torch

        found = self._samples.get((first, last))
        if found is None:
            x, y = sample_grid(self.width, self.height, self.k, first, last)
            found = (torch.as_tensor(x, dtype=torch.float32, device=self.device), torch.as_tensor(y, dtype=torch.float32, device=self.device))
            if self._cache_grid:
                self._samples[(first, last)] = found
        return found


def render(weights: Weights, p, width: int, height: int, supersample: int = 1, device="cuda", precision: str = "fp32") -> np.ndarray:
    """A whole frame -> (H, W, 3) uint8 through FusedRenderer (tests and scripts/gpu_check.sh)."""
    return FusedRenderer(weights, width, height, supersample, device, precision).render(p)
