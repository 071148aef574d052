"""Frames: CPPN weights + per-frame parameters -> uint8 H x W x 3 pixels, with torch.

How it is fast (a CPPN is a tiny MLP run once per pixel, so it is all arithmetic):
- pixels are evaluated in fixed-size chunks that stay in cache (CHUNK samples on a CPU);
- the view (zoom, rotation, centre) is an affine map of the pixel grid, so it folds into
  the first layer's weights, and z's part of the first layer is one bias per frame;
- tanh(a) = 2 sigmoid(2a) - 1 and torch's sigmoid is several times faster than its tanh:
  tanh layers store sigmoid(2a) and the factors fold into the next layer's weights;
- every layer is one fused matmul-plus-bias into a preallocated buffer, activation in place;
- torch's own threads share each matmul and activation among the cores.

How it is exact: every chunk has the same shape and covers the same samples whatever the
band size, and a batch always holds the device's fixed number of frames (padded), so
matrix kernels (chosen by shape) compute every pixel the same way; a frame rendered alone
equals the same frame in a video.

On a GPU, frames go through GPU_BATCH at a time (batched matmuls), weights stay on the
device, pixels are quantised to uint8 there, and only uint8 is copied back.

Memory stays bounded: a frame is computed a band of rows at a time and only uint8 pixels
are kept, so a 16K still needs its uint8 frame plus a few MB.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from .network import SIN_HIGH, SIN_LOW, Weights, channels
from .trajectory import FrameParams

CHUNK = 16384  # CPU samples per chunk: 16384 x 32 floats = 2 MB per activation buffer, inside L2
GPU_CHUNK = 1 << 18  # on a GPU: chunks of GPU_BATCH frames at once keep the device busy between launches
GPU_BATCH = 8  # frames per batch on a GPU (a CPU is busy with one: its batch is 1)
BAND_SAMPLES = 1 << 20  # samples per band of rows and frame: bounds the float memory (CPU)
GPU_BAND_SAMPLES = 1 << 21  # on a GPU: fewer bands, fewer waits for the copy back
GRID_CACHE_SAMPLES = 1 << 23  # frames up to this many samples keep their base coordinates (64 MB)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceUnavailable(Exception):
    pass


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


@dataclass(frozen=True)
class _Layer:
    weight: torch.Tensor  # (fan_in, fan_out)
    bias: torch.Tensor  # (fan_out,)
    activation: str  # what runs after the matmul, in place ("sigmoid" for folded tanh)


class Renderer:
    """Renders frames of one network at one size."""

    def __init__(
        self,
        weights: Weights,
        width: int,
        height: int,
        supersample: int = 1,
        device: str = "auto",
        precision: str = "fp32",
        band_samples: int | None = None,
        batch: int | None = None,
    ):
        self.weights, self.width, self.height, self.k = weights, width, height, supersample
        self.device = pick_device(device)
        self.dtype = DTYPES[precision]
        # Fixed for a device and frame size, whatever the band size: exactness. A small frame
        # gets a smaller chunk rather than one mostly made of padding.
        samples = width * height * supersample * supersample
        self.chunk = min(CHUNK if self.device.type == "cpu" else GPU_CHUNK, -(-samples // 256) * 256)
        self.batch = batch or (1 if self.device.type == "cpu" else GPU_BATCH)  # fixed per device: exactness
        self.channels = channels(weights.color)
        samples_per_row = width * supersample * supersample
        band_samples = band_samples or (BAND_SAMPLES if self.device.type == "cpu" else GPU_BAND_SAMPLES)
        self.band_rows = max(1, band_samples // samples_per_row)  # output rows per band
        self._plan()
        self._bufs: tuple | None = None
        self._grids: dict[int, torch.Tensor] = {}
        self._cache_grid = samples <= GRID_CACHE_SAMPLES

    # ------------------------------------------------------------ the folded network

    def _plan(self) -> None:
        """Turn the weights into the layers we run: tanh folded into sigmoid, on the device.

        The hidden layers are fixed; the first and last are made per frame (`_batch_inputs`):
        the view, input_scale and z_scale fold into the first, contrast into the last.
        With bf16 or fp16 the first and last layers still run in fp32 (they are cheap: 3
        inputs, 1 or 3 outputs), which keeps the coordinates and the output's large
        spread exact; only the hidden layers round.
        """
        w = self.weights
        to = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
        layers = []
        mats = [(to(m), to(b)) for m, b in w.hidden] + [(to(w.out), to(w.out_bias))]
        acts = list(w.activations[1:]) + [None]
        first_tanh = w.activations[0] == "tanh"
        self._first_scale = 2.0 if first_tanh else 1.0
        prev_tanh = first_tanh  # did the previous layer store s = sigmoid(2a) instead of tanh(a)?
        for (m, b), act in zip(mats, acts):
            if prev_tanh:  # h = 2s - 1:  h @ m + b = s @ (2m) + (b - colsum(m))
                m, b = 2 * m, b - m.sum(dim=0)
            this_tanh = act == "tanh"
            if this_tanh:  # store sigmoid(2a)
                m, b = 2 * m, 2 * b
            if act is None:  # the output layer: contrast scales it per frame
                self._last = (m.numpy(), b.numpy())
            else:
                layers.append(_Layer(m.to(self.device, self.dtype), b.to(self.device, self.dtype), "sigmoid" if this_tanh else act))
            prev_tanh = this_tanh
        self._layers = layers
        self._first_act = "sigmoid" if first_tanh else w.activations[0]
        # the first layer's rows for x, y and r (zero where an input is not used), times the
        # style's coordinate gain; the offsets' share is a bias: (3, width) and (width,)
        rows = {name: w.first[i] for i, name in enumerate(w.inputs)}
        xyr = np.stack([rows.get(name, np.zeros(w.first.shape[1])) for name in "xyr"])
        self._first_xyr = xyr * w.coords[0][:, None]
        self._first_offset = w.coords[1] @ xyr
        self._palette = None
        if w.palette is not None:  # (N - 1, 6): colour k and colour k+1 - colour k
            steps = np.concatenate([w.palette[:-1], np.diff(w.palette, axis=0)], axis=1)
            self._palette = torch.as_tensor(steps, dtype=torch.float32, device=self.device)

    def _first_layer(self, p: FrameParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per frame: the first layer's weights for base (x, y, r') and its bias, the view folded in.

        With A the view's 2x2 map and c its centre, (x', y') = A (x, y) + c, so
        [x', y'] @ W_xy = (x, y) @ (A^T W_xy) + c @ W_xy. r' = |(x', y')| is computed per sample.
        input_scale multiplies the coordinate rows, z_scale the z term.
        Returns float64 (3, width) weights, (width,) bias and A^T (2, 2).
        """
        w = self.weights
        theta = math.radians(p.rotation)
        cos, sin = math.cos(theta) / p.zoom, math.sin(theta) / p.zoom
        # x' = x cos + y sin, y' = -x sin + y cos (rotate by minus `rotation`), then + centre
        a = np.array([[cos, sin], [-sin, cos]])
        w_xy, w_r = self._first_xyr[:2] * p.input_scale, self._first_xyr[2] * p.input_scale
        matrix = np.stack([a[0, 0] * w_xy[0] + a[1, 0] * w_xy[1], a[0, 1] * w_xy[0] + a[1, 1] * w_xy[1], w_r])  # (3, width)
        bias = p.center @ w_xy + p.input_scale * self._first_offset + p.z_scale * (p.z @ w.first_z) + w.first_bias
        return matrix * self._first_scale, bias * self._first_scale, a.T

    def _batch_inputs(self, group: list[FrameParams]) -> tuple:
        """Per-frame tensors of a batch, padded to self.batch frames (fixed shapes: exactness)."""
        group = group + [group[-1]] * (self.batch - len(group))
        parts = [self._first_layer(p) for p in group]
        f32 = lambda a: torch.as_tensor(np.asarray(a)).to(self.device, torch.float32)  # noqa: E731
        contrast = np.array([p.contrast for p in group])[:, None, None]
        return (
            f32([part[0] for part in parts]),  # (B, 3, width)
            f32([part[1] for part in parts])[:, None, :],  # (B, 1, width)
            f32([part[2] for part in parts]),  # (B, 2, 2): rows of (x, y) times A^T
            f32([p.center for p in group])[:, None, :],  # (B, 1, 2)
            f32(contrast * self._last[0][None]),  # (B, width, channels): the output layer, contrast folded in
            f32(contrast * self._last[1][None, None]),  # (B, 1, channels)
            f32([p.palette_shift - math.floor(p.palette_shift) for p in group])[:, None, None],  # (B, 1, 1)
        )

    # ------------------------------------------------------------ one chunk

    def _buffers(self) -> tuple:
        """Preallocated activations: (B, chunk, width) twice, ping-pong, in the working precision;
        with a low precision also (B, chunk, width) fp32 for the first and last layers."""
        if self._bufs is None:
            width = self.weights.first.shape[1]
            make = lambda n, dtype: torch.empty((self.batch, self.chunk, n), device=self.device, dtype=dtype)  # noqa: E731
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
        """Samples start..start+chunk-1 of every frame of a batch -> `out` (B, chunk, channels) fp32, in [0, 1].

        Every matmul is a batched one over frames: each frame's product has the same shape
        whatever the batch, so its pixels do not depend on the batch size.
        """
        first_w, first_b, view, center, last_w, last_b, _ = inputs
        grid = self._grid(start).expand(self.batch, -1, -1)  # (B, chunk, 2) base x, y
        moved = torch.baddbmm(center, grid, view)  # (B, chunk, 2) x', y': the view applied
        r = torch.linalg.vector_norm(moved, dim=2, keepdim=True)  # (B, chunk, 1)
        feats = torch.cat([grid, r], dim=2)  # (B, chunk, 3): x, y, r', fp32
        a, b, wide = self._buffers()
        first = wide if wide is not None else a
        torch.baddbmm(first_b, feats, first_w, out=first)  # (B, chunk, width)
        _activate(first, self._first_act)
        if wide is not None:
            a.copy_(wide)
        for layer in self._layers:
            torch.baddbmm(layer.bias, a, layer.weight.expand(self.batch, -1, -1), out=b)
            _activate(b, layer.activation)
            a, b = b, a
        if wide is not None:
            a = wide.copy_(a)
        torch.baddbmm(last_b, a, last_w, out=out)  # (B, chunk, channels)
        if self.weights.output == "sin":  # sigmoid(sin), stretched from [s(-1), s(1)] to [0, 1]
            torch.sigmoid_(out.sin_()).sub_(SIN_LOW).mul_(1 / (SIN_HIGH - SIN_LOW)).clamp_(0, 1)
        else:
            torch.sigmoid_(out)

    # ------------------------------------------------------------ frames

    def render(self, p: FrameParams, rows_done: Callable[[int], None] | None = None) -> np.ndarray:
        """One frame -> (H, W, 3) uint8. `rows_done(n)` hears of each finished band (progress of big stills)."""
        return self._render_batch([p], rows_done)[0]

    def frames(self, params: Iterable[FrameParams]) -> Iterator[np.ndarray]:
        """Frames in order, one (H, W, 3) uint8 array each, computed `batch` frames at a time."""
        group: list[FrameParams] = []
        for p in params:
            group.append(p)
            if len(group) == self.batch:
                yield from self._render_batch(group)
                group = []
        if group:
            yield from self._render_batch(group)

    def _render_batch(self, group: list[FrameParams], rows_done: Callable[[int], None] | None = None) -> list[np.ndarray]:
        inputs = self._batch_inputs(group)
        out = np.empty((len(group), self.height, self.width, 3), dtype=np.uint8)
        for r0 in range(0, self.height, self.band_rows):
            r1 = min(self.height, r0 + self.band_rows)
            out[:, r0:r1] = self._band(inputs, r0, r1)[: len(group)]
            if rows_done:
                rows_done(r1 - r0)
        return list(out)

    def _band(self, inputs: tuple, r0: int, r1: int) -> np.ndarray:
        """Output rows r0..r1-1 of every frame of a batch -> (B, r1-r0, W, 3) uint8."""
        k, gw = self.k, self.width * self.k
        first, last = k * r0 * gw, k * r1 * gw  # sample range of these rows
        starts = range(first - first % self.chunk, last, self.chunk)  # chunks sit on multiples of the chunk size
        values = torch.empty((self.batch, len(starts) * self.chunk, self.channels), device=self.device)  # float32
        for i, start in enumerate(starts):
            self._chunk(start, inputs, values[:, i * self.chunk : (i + 1) * self.chunk])
        values = values[:, first - starts[0] : last - starts[0]]  # (B, samples, channels)
        if self._palette is not None:  # each sample's colour, then the average (anti-aliasing in colour)
            colours = _lookup(values[..., 0], self._palette, inputs[6])  # (B, samples, 3)
        else:
            colours = _to_rgb(values, self.weights.color)
        colours = colours.reshape(self.batch, r1 - r0, k, self.width, k, 3)
        total = colours[:, :, 0, :, 0]
        for i in range(k):  # a fixed summation order, so the average is the same however we band
            for j in range(k):
                if i or j:
                    total = total + colours[:, :, i, :, j]
        rgb = total / (k * k)  # (B, rows, W, 3)
        return torch.clamp(rgb * 255 + 0.5, 0, 255).to(torch.uint8).cpu().numpy()  # only uint8 leaves the device


def _lookup(v: torch.Tensor, table: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """(B, S) values in [0, 1] -> (B, S, 3) colours, as network.lookup; shift (B, 1, 1) already in [0, 1).

    `table` is (N - 1, 6): each entry's colour and the step to the next, so one gather per sample.
    """
    t = v + shift[:, :, 0]
    t = torch.where(t > 1, t - 1, t).clamp_(0, 1)
    pos = t * len(table)  # in [0, N - 1]
    i = pos.long().clamp_(max=len(table) - 1)  # pos >= 0: truncation is floor
    entry = table.index_select(0, i.flatten()).view(*i.shape, 6)
    return torch.addcmul(entry[..., :3], entry[..., 3:], (pos - i)[..., None])


def _activate(a: torch.Tensor, name: str) -> None:
    """Apply an activation in place."""
    if name == "sigmoid":
        torch.sigmoid_(a)
    elif name == "tanh":
        torch.tanh_(a)
    elif name == "sin":
        torch.sin_(a)
    elif name == "cos":
        torch.cos_(a)
    elif name == "relu":
        torch.relu_(a)
    elif name == "softplus":
        a.copy_(torch.nn.functional.softplus(a))
    elif name == "gaussian":
        a.square_().neg_().exp_()
    elif name == "abs":
        a.abs_()
    elif name == "elu":
        torch.nn.functional.elu_(a)
    else:
        raise ValueError(f"unknown activation {name}")


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
