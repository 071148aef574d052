"""torch's renderer: CPPN weights + per-frame parameters -> uint8 H x W x 3 pixels, layer by layer.

Which renderer runs is core.render_path's choice: on a CPU in fp32 the fused kernel's band
workers (bands.py, cpu_fused.py), on CUDA the fused Triton kernel (fused.FusedRenderer, which
is this Renderer with one kernel launch for the whole network); this one everywhere else
(bf16/fp16 on a CPU, networks wider than the fused kernels take, MPS, CPPN_ANIM_KERNEL=eager).
`first_layer` (every renderer's first layer, the view folded in) and `sample_grid` (every
renderer's coordinates) are shared.

How it is fast (a CPPN is a tiny MLP run once per pixel, so it is all arithmetic):
- pixels are evaluated in fixed-size chunks whose activation buffers stay in cache on a CPU
  (CPU_BUFFER_BYTES: 16384 samples of a 32-wide network), and within a fixed budget on a GPU;
- the view (zoom, rotation, centre) is an affine map of the pixel grid, so it folds into
  the first layer's weights, and z's part of the first layer is one bias per frame;
- tanh(a) = 2 sigmoid(2a) - 1 and torch's sigmoid is several times faster than its tanh:
  tanh layers store sigmoid(2a) and the factors fold into the next layer's weights (the
  activation table, activations.py, says which activation folds into which);
- every layer is one fused matmul-plus-bias into a preallocated buffer, activation in place;
- torch's own threads share each matmul and activation among the cores when a frame is
  big enough to pay for it (SMALL_FRAME_FLOP); a small frame runs on one thread, which is
  never slower and does not stall when another process holds a core (OpenMP threads that
  wait for each other at every matmul, with one of them off the CPU, can make a preview
  many times slower). The renderer never changes torch's threads itself: it says how many
  a frame wants (`Renderer.threads`) and a `pin` its caller passes (the command line's)
  holds torch to them; entry.py also sets OMP_WAIT_POLICY=PASSIVE before torch loads.

How it is exact: a frame is computed on its own, chunk after chunk, and every chunk has the
same shape and covers the same samples whatever the band size and however many frames a
batch holds, so matrix kernels (chosen by shape) compute every pixel the same way; a frame
rendered alone equals the same frame in a video, in any slot of any batch.

On a GPU, frames go through GPU_BATCH at a time (their kernels queued back to back and one
copy back per band), weights stay on the device, pixels are quantised to uint8 there, and
only uint8 is copied back.

Memory stays bounded: a frame is computed a band of rows at a time and only uint8 pixels
are kept, so a 16K still needs its uint8 frame plus a few MB; activation buffers are sized
from the network width (a budget in bytes, not a number of samples). resources.py
estimates the memory and time a render needs from the same sizes.
"""
from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterable, Iterator

import numpy as np
import torch

from . import activations
from .errors import DeviceUnavailable
from .network import Weights, channels
from .report import check
from .trajectory import FrameParams

CPU_BUFFER_BYTES = 2 << 20  # one activation buffer on a CPU, inside L2: 16384 samples x 32 floats
GPU_BUFFER_BYTES = 64 << 20  # on a GPU: big chunks keep the device busy between launches
MIN_CHUNK, CPU_MAX_CHUNK, GPU_MAX_CHUNK = 1024, 1 << 14, 1 << 18  # samples per chunk
GPU_BATCH = 8  # frames per batch on a GPU: queued back to back, one copy back (a CPU is busy with one: 1)
SMALL_FRAME_FLOP = 2e9  # a CPU frame under this much arithmetic runs on one thread (some 40 ms of one core)
BAND_SAMPLES = 1 << 20  # samples per band of rows and frame: bounds the float memory (CPU)
GPU_BAND_SAMPLES = 1 << 21  # on a GPU: fewer bands, fewer waits for the copy back
GRID_CACHE_SAMPLES = 1 << 23  # frames up to this many samples keep their base coordinates (64 MB)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


ThreadPin = Callable[[int | None], ContextManager]
"""pin(n): a context in which torch computes on n threads (None: as the process has them).
An entry point's to give (cli.py: set, then put back); library code never sets threads."""


def chunk_size(net_width: int, samples: int, device_type: str, precision: str = "fp32") -> int:
    """Samples per chunk: an activation buffer of a fixed size in bytes (the budget of the
    device), so a wide network gets fewer samples per chunk, never more memory; a small
    frame gets a chunk of its own size rather than one mostly made of padding. It depends
    only on these arguments, never on the free memory: a frame is computed the same way
    in every run (exactness)."""
    budget, top = (CPU_BUFFER_BYTES, CPU_MAX_CHUNK) if device_type == "cpu" else (GPU_BUFFER_BYTES, GPU_MAX_CHUNK)
    chunk = max(MIN_CHUNK, min(top, budget // (net_width * DTYPES[precision].itemsize) // 256 * 256))
    return min(chunk, -(-samples // 256) * 256)


def flop_per_sample(weights: Weights) -> int:
    """Multiply-adds x 2 the renderer runs per sample: x, y, r into the first layer, the
    hidden width x width layers, the output layer (the view and z are per-frame biases)."""
    return shape_flop(weights.first.shape[1], len(weights.hidden), weights.out.shape[1])


def shape_flop(width: int, hidden: int, outputs: int) -> int:
    """flop_per_sample from the shape alone: `hidden` width x width layers after the first."""
    return 2 * (3 * width + hidden * width * width + width * outputs)


def pick_device(name: str) -> torch.device:
    """auto: cuda if present, else mps, else cpu. A named device that is missing is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(f"{name} is not available here (this torch {torch.__version__} sees no CUDA GPU); use auto or cpu")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise DeviceUnavailable(f"{name} is not available here ({torch.cuda.device_count()} CUDA device(s))")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceUnavailable("mps is not available here; use auto or cpu")
    return torch.device(name)


def sample_grid(width: int, height: int, k: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Base CPPN coordinates (before the view) of samples start..stop-1 of the k*W x k*H grid.

    Samples are numbered row by row. Each sits at the centre of its sub-pixel; the shorter
    side of the frame spans [-1, 1] and y points up. Float64, so every sample's coordinate
    is the same however the grid is cut up.
    """
    gw, gh = width * k, height * k
    half = min(gw, gh) / 2
    idx = np.arange(start, stop, dtype=np.int64)
    col, row = idx % gw, idx // gw
    x = (col + 0.5 - gw / 2) / half
    y = -(row + 0.5 - gh / 2) / half
    return x, y


def first_layer(weights: Weights, p: FrameParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame's first layer for base coordinates, the view and z folded in: float64 (3, width)
    weights for (x, y, delta), the (width,) bias, and A^T (2, 2). Every renderer uses it.

    With A the view's 2x2 map (zoom, rotation) and c its centre, the sample at base (x, y) is
    seen at v = c + d, d = A (x, y); so v @ W_xy = (x, y) @ (A^T W_xy) + c @ W_xy, and
    r = |v| = |c| + delta, delta = (2 c.d + d.d) / (|c + d| + |c|) (0 where c + d = 0): the
    renderers compute x, y and delta per sample (in float32; all of the size of the frame's
    own extent, never of the centre's) and |c| W_r, c @ W_xy, z's share and the style's
    coordinate offsets are summed here, in float64, into the bias. A view centred far from
    the origin (1e5, 1e7) so keeps float32's precision where it matters. Where the first
    activation is periodic (sin, cos), the bias is reduced by its period (exact in float64),
    so float32 keeps its digits too. input_scale multiplies the coordinate rows, z_scale z's.
    """
    w = weights
    rows = {name: w.first[i] for i, name in enumerate(w.inputs)}
    xyr = np.stack([rows.get(name, np.zeros(w.first.shape[1])) for name in "xyr"])  # (3, width), zero for an unused input
    offset = w.coords[1] @ xyr  # the style's coordinate offsets (guibas: x from the frame's left edge)
    xyr = xyr * w.coords[0][:, None]  # and its coordinate gains
    theta = math.radians(p.rotation)
    cos, sin = math.cos(theta) / p.zoom, math.sin(theta) / p.zoom
    a = np.array([[cos, sin], [-sin, cos]])  # x' = x cos + y sin, y' = -x sin + y cos (rotate by minus `rotation`), then + centre
    w_xy, w_r = xyr[:2] * p.input_scale, xyr[2] * p.input_scale
    matrix = np.stack([a[0, 0] * w_xy[0] + a[1, 0] * w_xy[1], a[0, 1] * w_xy[0] + a[1, 1] * w_xy[1], w_r])  # (3, width)
    center = np.asarray(p.center, dtype=np.float64)
    # the centre's share, summed from the smallest term up (they may cancel: that is the point)
    bias = center @ w_xy + float(np.hypot(*center)) * w_r + p.input_scale * offset + p.z_scale * (np.asarray(p.z) @ w.first_z) + w.first_bias
    period = activations.get(w.activations[0]).period
    if period:
        bias = bias - period * np.round(bias / period)
    return matrix, bias, a.T


def center_delta(d: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """delta = |c + d| - |c| for each row of d (n, 2), c (1, 2), computed so that it keeps the
    precision of d however large c is (see first_layer): (n, 1); 0 where c + d is the origin."""
    num = (d * (d + 2 * center)).sum(dim=1, keepdim=True)
    den = torch.linalg.vector_norm(d + center, dim=1, keepdim=True) + torch.linalg.vector_norm(center)
    return torch.where(den > 0, num / den, torch.zeros_like(num))


@dataclass(frozen=True)
class _Layer:
    weight: torch.Tensor  # (fan_in, fan_out)
    bias: torch.Tensor  # (fan_out,)
    activation: Callable  # what runs after the matmul, in place (sigmoid for a folded tanh)


def threads_for(net_width: int, hidden: int, outputs: int, samples: int, device_type: str) -> int | None:
    """How many torch threads a frame of `samples` samples wants: 1 for a small frame on a CPU
    (see the module docstring), None (what the process has) otherwise."""
    small = device_type == "cpu" and samples * shape_flop(net_width, hidden, outputs) < SMALL_FRAME_FLOP
    return 1 if small else None


class Renderer:
    """Renders frames of one network at one size, layer by layer with torch (the eager path).

    threads: the torch threads its frames want (default: 1 for a small frame on a CPU, else
    None, what the process has); pin: the caller's way to hold torch to them while a batch
    is computed (render.ThreadPin; none: torch's threads are left as they are).
    `band_rows` and `batch` may be changed before rendering: they change no pixel, only the pace.
    """

    kind = "torch"  # what computes the network (bench reports it): torch's ops, layer by layer

    def __init__(
        self,
        weights: Weights,
        width: int,
        height: int,
        supersample: int = 1,
        device: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
        pin: ThreadPin | None = None,
    ):
        self.weights, self.width, self.height, self.k = weights, width, height, supersample
        self.device = pick_device(device)
        self.workers = 1  # frames are computed here, in the calling thread (torch's own threads share each op)
        self.dtype = DTYPES[precision]
        samples = width * height * supersample * supersample
        net_width = weights.first.shape[1]
        self.chunk = chunk_size(net_width, samples, self.device.type, precision)
        self.batch = 1 if self.device.type == "cpu" else GPU_BATCH  # frames per batch
        self.channels = channels(weights.color)
        default = threads_for(net_width, len(weights.hidden), weights.out.shape[1], samples, self.device.type)
        self.threads = threads if threads is not None else default
        self.pin = pin
        samples_per_row = width * supersample * supersample
        band_samples = BAND_SAMPLES if self.device.type == "cpu" else GPU_BAND_SAMPLES
        self.band_rows = max(1, band_samples // samples_per_row)  # output rows per band
        self._plan()
        self._palette = None
        if weights.palette is not None:  # (N - 1, 6): colour k and colour k+1 - colour k
            steps = np.concatenate([weights.palette[:-1], np.diff(weights.palette, axis=0)], axis=1)
            self._palette = torch.as_tensor(steps, dtype=torch.float32, device=self.device)
        self._bufs: tuple | None = None
        self._grids: dict[int, torch.Tensor] = {}
        self._cache_grid = samples <= GRID_CACHE_SAMPLES

    # ------------------------------------------------------------ the folded network

    def _plan(self) -> None:
        """Turn the weights into the layers we run, on the device: an activation with a
        `fold` (tanh) runs as the cheaper one it names (sigmoid), its factors in the weights.

        The hidden layers are fixed; the first and last are made per frame (`_frame_inputs`):
        the view, input_scale and z_scale fold into the first, contrast into the last.
        With bf16 or fp16 the first and last layers still run in fp32 (they are cheap: 3
        inputs, 1 or 3 outputs), which keeps the coordinates and the output's large
        spread exact; only the hidden layers round.
        """
        w = self.weights
        to = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
        layers = []
        mats = [(to(m), to(b)) for m, b in w.hidden] + [(to(w.out), to(w.out_bias))]
        acts = [activations.get(name) for name in w.activations[1:]] + [None]
        first = activations.get(w.activations[0])
        self._first_scale = first.fold.in_scale if first.fold else 1.0
        prev = first.fold  # how the previous layer's stored value g relates to its activation f
        for (m, b), act in zip(mats, acts):
            if prev:  # f = out_scale g + out_shift:  f @ m + b = g @ (out_scale m) + (b + out_shift colsum(m))
                m, b = prev.out_scale * m, b + prev.out_shift * m.sum(dim=0)
            fold = act.fold if act else None
            if fold:  # store g(in_scale a)
                m, b = fold.in_scale * m, fold.in_scale * b
            if act is None:  # the output layer: contrast scales it per frame
                self._last = (m.numpy(), b.numpy())
            else:
                runs = activations.get(fold.via) if fold else act
                layers.append(_Layer(m.to(self.device, self.dtype), b.to(self.device, self.dtype), runs.torch))
            prev = fold
        self._layers = layers
        self._first_act = activations.get(first.fold.via).torch if first.fold else first.torch
        self._output = activations.output(w.output).torch

    def _first_layer(self, p: FrameParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """first_layer's, times the fold of the first activation (tanh runs as sigmoid(2a))."""
        matrix, bias, view = first_layer(self.weights, p)
        return matrix * self._first_scale, bias * self._first_scale, view

    def _frame_inputs(self, p: FrameParams) -> tuple:
        """One frame's tensors on the device (fp32): the first layer's weights and bias, the view,
        its centre, the output layer with contrast folded in, the palette shift."""
        matrix, bias, view = self._first_layer(p)
        put = lambda a: torch.as_tensor(np.asarray(a)).to(self.device, torch.float32)  # noqa: E731
        return (
            put(matrix),  # (3, width)
            put(bias)[None, :],  # (1, width)
            put(view),  # (2, 2): rows of (x, y) times A^T
            put(np.asarray(p.center)[None, :]),  # (1, 2)
            put(p.contrast * self._last[0]),  # (width, channels)
            put(p.contrast * self._last[1])[None, :],  # (1, channels)
            p.palette_shift - math.floor(p.palette_shift),  # in [0, 1): always the last
        )

    # ------------------------------------------------------------ one chunk

    def _buffers(self) -> tuple:
        """Preallocated activations of one frame's chunk: (chunk, width) twice, ping-pong, in the
        working precision; with a low precision also (chunk, width) fp32 for the first and last layers."""
        if self._bufs is None:
            width = self.weights.first.shape[1]
            make = lambda n, dtype: torch.empty((self.chunk, n), device=self.device, dtype=dtype)  # noqa: E731
            wide = make(width, torch.float32) if self.dtype != torch.float32 else None
            self._bufs = (make(width, self.dtype), make(width, self.dtype), wide)
        return self._bufs

    def _grid(self, start: int) -> torch.Tensor:
        """Base coordinates of the chunk at `start`: (chunk, 2) float32 on the device, cached for small frames."""
        grid = self._grids.get(start)
        if grid is None:
            x, y = sample_grid(self.width, self.height, self.k, start, start + self.chunk)
            grid = torch.from_numpy(np.stack([x, y], axis=1)).to(self.device, torch.float32)
            if self._cache_grid:
                self._grids[start] = grid
        return grid

    def _chunk(self, start: int, inputs: tuple, out: torch.Tensor) -> None:
        """Samples start..start+chunk-1 of one frame -> `out` (chunk, channels), in [0, 1].

        One frame at a time, with the same shapes for every chunk of every frame: what a
        frame gets cannot depend on the other frames of its batch.
        """
        first_w, first_b, view, center, last_w, last_b, _ = inputs
        grid = self._grid(start)  # (chunk, 2) base x, y
        delta = center_delta(grid @ view, center)  # (chunk, 1): r' - |c| (first_layer)
        feats = torch.cat([grid, delta], dim=1)  # (chunk, 3): x, y, delta, fp32
        a, b, wide = self._buffers()
        first = wide if wide is not None else a
        torch.addmm(first_b, feats, first_w, out=first)  # (chunk, width)
        self._first_act(first)
        if wide is not None:
            a.copy_(wide)
        for layer in self._layers:
            torch.addmm(layer.bias, a, layer.weight, out=b)
            layer.activation(b)
            a, b = b, a
        if wide is not None:
            a = wide.copy_(a)
        torch.addmm(last_b, a, last_w, out=out)  # (chunk, channels), fp32
        self._output(out)  # the output activation, in place: values in [0, 1]

    # ------------------------------------------------------------ frames

    def render(self, p: FrameParams, rows_done: Callable[[int], None] | None = None, cancel: threading.Event | None = None) -> np.ndarray:
        """One frame -> (H, W, 3) uint8. `rows_done(n)` hears of each finished band (progress of
        big stills); `cancel`, once set, stops the work between bands (errors.Cancelled)."""
        return self._render_batch([p], rows_done, cancel)[0]

    def frames(self, params: Iterable[FrameParams], cancel: threading.Event | None = None) -> Iterator[np.ndarray]:
        """Frames in order, one (H, W, 3) uint8 array each, computed `batch` frames at a time."""
        group: list[FrameParams] = []
        for p in params:
            group.append(p)
            if len(group) == self.batch:
                yield from self._render_batch(group, None, cancel)
                group = []
        if group:
            yield from self._render_batch(group, None, cancel)

    def _render_batch(self, group: list[FrameParams], rows_done=None, cancel: threading.Event | None = None) -> list[np.ndarray]:
        """Up to `batch` frames (never padded: a still computes one frame) -> (H, W, 3) uint8 each."""
        inputs = [self._frame_inputs(p) for p in group]
        out = np.empty((len(group), self.height, self.width, 3), dtype=np.uint8)
        with self.pin(self.threads) if self.pin else contextlib.nullcontext():
            for r0 in range(0, self.height, self.band_rows):
                check(cancel)
                r1 = min(self.height, r0 + self.band_rows)
                out[:, r0:r1] = self._band(inputs, r0, r1)
                if rows_done:
                    rows_done(r1 - r0)
        return list(out)

    def _values(self, inputs: list[tuple], first: int, last: int) -> torch.Tensor:
        """Samples first..last-1 of every frame of a batch -> (B, samples, channels) float32 in [0, 1]."""
        starts = range(first - first % self.chunk, last, self.chunk)  # chunks sit on multiples of the chunk size
        values = torch.empty((len(inputs), len(starts) * self.chunk, self.channels), device=self.device)  # float32
        for i, start in enumerate(starts):
            for f, frame in enumerate(inputs):
                self._chunk(start, frame, values[f, i * self.chunk : (i + 1) * self.chunk])
        return values[:, first - starts[0] : last - starts[0]]

    def _band(self, inputs: list[tuple], r0: int, r1: int) -> np.ndarray:
        """Output rows r0..r1-1 of every frame of a batch -> (B, r1-r0, W, 3) uint8."""
        k, gw, n = self.k, self.width * self.k, len(inputs)
        values = self._values(inputs, k * r0 * gw, k * r1 * gw)  # (B, samples, channels)
        # Every sub-sample to RGB first, then the average: a colour conversion is not linear
        # (averaging hues as numbers turns red and magenta into green), nor is a palette.
        if self._palette is not None:
            shifts = torch.tensor([frame[-1] for frame in inputs], device=self.device)[:, None]  # (B, 1)
            rgb = _lookup(values[..., 0], self._palette, shifts)
        else:
            rgb = _to_rgb(values, self.weights.color)
        rgb = rgb.reshape(n, r1 - r0, k, self.width, k, 3)
        total = rgb[:, :, 0, :, 0]
        for i in range(k):  # a fixed summation order, so the average is the same however we band
            for j in range(k):
                if i or j:
                    total = total + rgb[:, :, i, :, j]
        mean = total / (k * k) if k > 1 else total  # (B, rows, W, 3)
        return torch.clamp(mean * 255 + 0.5, 0, 255).to(torch.uint8).cpu().numpy()  # only uint8 leaves the device


def _lookup(v: torch.Tensor, table: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """(B, S) values in [0, 1] -> (B, S, 3) colours, as network.lookup; shift (B, 1) already in [0, 1).

    `table` is (N - 1, 6): each entry's colour and the step to the next, so one gather per sample.
    """
    t = v + shift
    t = torch.where(t > 1, t - 1, t).clamp_(0, 1)
    pos = t * len(table)  # in [0, N - 1]
    i = pos.long().clamp_(max=len(table) - 1)  # pos >= 0: truncation is floor
    entry = table.index_select(0, i.flatten()).view(*i.shape, 6)
    return torch.addcmul(entry[..., :3], entry[..., 3:], (pos - i)[..., None])


def _to_rgb(out: torch.Tensor, color: str) -> torch.Tensor:
    """(..., channels) in [0, 1] -> (..., 3) RGB, as network.to_rgb."""
    if color == "gray":
        return out.expand(*out.shape[:-1], 3)
    if color == "rgb":
        return out
    h, s, v = out[..., 0:1], out[..., 1:2], out[..., 2:3]
    k = torch.tensor([5.0, 3.0, 1.0], device=out.device)
    kk = torch.remainder(k + 6 * h, 6)
    return v - v * s * torch.clamp(torch.minimum(kk, 4 - kk), 0, 1)
