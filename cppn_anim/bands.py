"""Band-parallel CPU frames: every core busy without waiting, on a quiet or a busy machine.

A frame is cut into bands of rows. `workers` Python threads take the next band from one
shared queue (a ThreadPoolExecutor's) and run the fused kernel (cpu_fused.py: all layers of a
tile of 64 pixels in registers) on it, then turn its values into uint8 pixels with numpy.
Neither the kernel (a C function called through ctypes) nor numpy's array loops hold the GIL,
and neither starts threads of its own: there is no OpenMP team and no barrier per layer, so a
worker whose core is taken by another process just takes fewer bands, and on a quiet machine
every worker computes all the time. `frames` keeps the next frame's bands in the queue while
the last bands of a frame finish, so a slow band never leaves the other workers idle.

The worker count is the caller's: the entry point reads it once (torch.get_num_threads() at
start-up, so OMP_NUM_THREADS=1 means one worker) and passes it in. One worker computes in the
calling thread, with no thread at all. Nothing here changes process-wide state (no torch or
OpenMP thread settings, no environment).

Exactness: every sample is one lane of the kernel's vectors and every tile runs the same
machine code, so a pixel does not depend on the band size, the worker count or which worker
ran it: a frame is bit-identical however it is cut up (tests/test_bands.py), and within 1/255
of network.evaluate (the float64 reference), as the torch renderer is.

Where the kernel cannot run (llvmlite missing, an activation without a fused body),
`unsupported(weights)` says why and the caller keeps render.Renderer.
"""
from __future__ import annotations

import collections
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import numpy as np

from . import cpu_fused
from .network import Weights, channels, lookup, to_rgb
from .network import shape as network_shape
from .report import check
from .render import GRID_CACHE_SAMPLES, first_layer, sample_grid
from .trajectory import FrameParams

BAND_SAMPLES = 1 << 15  # samples per band: ~5 ms of one core at 32 wide and 8 deep; many bands per frame to share
MIN_BANDS_PER_WORKER = 4  # a small frame is still cut finely enough for every worker to get a share
LOOKAHEAD = 2  # frames whose bands are queued at once by `frames`


def unsupported(net) -> str | None:
    """None if BandRenderer can render these weights (or this network spec) on this machine; else why not (one line)."""
    return cpu_fused.supported(*network_shape(net))


class BandRenderer:
    """Frames of one network at one size on the CPU, `workers` threads over bands of rows.

    Same interface as render.Renderer's `render` and `frames`. Raises ValueError (with
    `unsupported`'s reason) where the fused kernel cannot run these weights. Call `close()`
    (or use it as a context manager) to stop its threads; they also end with the process.
    """

    kind = "fused-cpu"  # what computes the network (bench reports it): cpu_fused's kernel

    def __init__(self, weights: Weights, width: int, height: int, supersample: int = 1, workers: int = 1, band_samples: int | None = None):
        why = unsupported(weights)
        if why:
            raise ValueError(why)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.weights, self.width, self.height, self.k, self.workers = weights, width, height, supersample, workers
        self.device = "cpu"  # as render.Renderer's (what bench reports)
        self.channels = channels(weights.color)
        net_width = weights.first.shape[1]
        # rgb and gray at one sample a pixel: the kernel writes the uint8 pixels itself; hsv, a
        # palette or supersampling need the values (converted, then averaged, here)
        self._pixels = supersample == 1 and weights.palette is None and weights.color in ("rgb", "gray")
        self.kernel = cpu_fused.compile_kernel(net_width, tuple(weights.activations), self.channels, weights.output, self._pixels)
        self._hidden = cpu_fused.pack_hidden(weights.hidden)
        row = width * supersample * supersample  # samples per output row
        rows = max(1, (band_samples or BAND_SAMPLES) // row)
        self.band_rows = max(1, min(rows, -(-height // (MIN_BANDS_PER_WORKER * workers)))) if workers > 1 else rows
        self._bands = [(r0, min(height, r0 + self.band_rows)) for r0 in range(0, height, self.band_rows)]
        self._cache_grid = width * height * supersample * supersample <= GRID_CACHE_SAMPLES
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------ frames

    def render(self, p: FrameParams, rows_done: Callable[[int], None] | None = None, cancel: threading.Event | None = None) -> np.ndarray:
        """One frame -> (H, W, 3) uint8. `rows_done(n)` hears of each finished band, in the
        calling thread and in order (progress of big stills); `cancel`, once set, stops the
        work between bands (errors.Cancelled): bands not started are dropped, a running one
        finishes (a few milliseconds)."""
        out = np.empty((self.height, self.width, 3), dtype=np.uint8)
        block = self._frame_block(p)
        if self.workers == 1:
            for r0, r1 in self._bands:
                check(cancel)
                self._band(block, p, r0, r1, out)
                if rows_done:
                    rows_done(r1 - r0)
            return out
        futures = self._submit(block, p, out, cancel)
        try:
            for future, (r0, r1) in zip(futures, self._bands):
                future.result()
                check(cancel)
                if rows_done:
                    rows_done(r1 - r0)
        finally:  # cancelled, or a band failed: the bands still queued are dropped
            for f in futures:
                f.cancel()
        return out

    def frames(self, params: Iterable[FrameParams], cancel: threading.Event | None = None) -> Iterator[np.ndarray]:
        """Frames in order, one (H, W, 3) uint8 array each; the bands of the next LOOKAHEAD - 1
        frames are already queued while a frame finishes. `cancel` as in render."""
        if self.workers == 1:
            for p in params:
                yield self.render(p, cancel=cancel)
            return
        pending: collections.deque = collections.deque()
        try:
            for p in params:
                check(cancel)
                out = np.empty((self.height, self.width, 3), dtype=np.uint8)
                pending.append((out, self._submit(self._frame_block(p), p, out, cancel)))
                if len(pending) >= LOOKAHEAD:
                    yield self._finish(*pending.popleft(), cancel)
            while pending:
                yield self._finish(*pending.popleft(), cancel)
        finally:  # a consumer that stops early, a cancel: let queued bands go, wait for none
            for _, futures in pending:
                for f in futures:
                    f.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "BandRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # its threads end with it (a renderer dropped without close())
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ bands

    def _submit(self, block: np.ndarray, p: FrameParams, out: np.ndarray, cancel: threading.Event | None = None) -> list[Future]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="cppn-band")
        return [self._pool.submit(self._band, block, p, r0, r1, out, cancel) for r0, r1 in self._bands]

    @staticmethod
    def _finish(out: np.ndarray, futures: list[Future], cancel: threading.Event | None = None) -> np.ndarray:
        for f in futures:
            f.result()  # a band's exception is raised here, in the caller's thread
            check(cancel)
        return out

    def _frame_block(self, p: FrameParams) -> np.ndarray:
        """The kernel's per-frame parameters: first layer with the view, output layer with contrast."""
        matrix, bias, view = first_layer(self.weights, p)
        w = self.weights
        return cpu_fused.pack_frame(view, p.center, matrix, bias, p.contrast * w.out, p.contrast * w.out_bias)

    def _grid(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """Base x, y (float32) of the samples of rows r0..r1-1, padded to whole tiles."""
        grid = self._grids.get((r0, r1))
        if grid is None:
            k, gw = self.k, self.width * self.k
            first, last = k * r0 * gw, k * r1 * gw
            padded = -(-(last - first) // self.kernel.tile) * self.kernel.tile
            x, y = sample_grid(self.width, self.height, k, first, first + padded)
            grid = (x.astype(np.float32), y.astype(np.float32))
            if self._cache_grid:
                self._grids[(r0, r1)] = grid  # the same value whichever thread stores it
        return grid

    def _band(self, block: np.ndarray, p: FrameParams, r0: int, r1: int, out: np.ndarray, cancel: threading.Event | None = None) -> None:
        """Output rows r0..r1-1 of one frame -> out[r0:r1] (uint8); nothing once `cancel` is set."""
        if cancel is not None and cancel.is_set():
            return
        with np.errstate(all="ignore"):  # huge scales overflow: the flat-picture warning (core) says it in one line
            self._band_pixels(block, p, r0, r1, out)

    def _band_pixels(self, block: np.ndarray, p: FrameParams, r0: int, r1: int, out: np.ndarray) -> None:
        xs, ys = self._grid(r0, r1)
        if self._pixels:  # the kernel's own uint8 RGB (its last tile may run past the band: into `scratch`, not `out`)
            scratch = np.empty(3 * len(xs), dtype=np.uint8)
            self.kernel.run(block, self._hidden, xs, ys, scratch)
            out[r0:r1] = scratch[: 3 * (r1 - r0) * self.width].reshape(r1 - r0, self.width, 3)
            return
        values = np.empty((self.channels, len(xs)), dtype=np.float32)
        self.kernel.run(block, self._hidden, xs, ys, values)
        k, n = self.k, (r1 - r0) * self.k * self.k * self.width
        v = values[:, :n].T  # (samples, channels) in [0, 1]
        # Every sub-sample to RGB first, then the average: a colour conversion is not linear.
        rgb = lookup(v[:, 0], self.weights.palette, p.palette_shift) if self.weights.palette is not None else to_rgb(v, self.weights.color)
        if k > 1:
            rgb = rgb.reshape(r1 - r0, k, self.width, k, 3)
            total = rgb[:, 0, :, 0]
            for i in range(k):  # a fixed summation order, so the average is the same however we band
                for j in range(k):
                    if i or j:
                        total = total + rgb[:, i, :, j]
            rgb = total / (k * k)
        rgb = rgb.reshape(r1 - r0, self.width, 3)
        np.clip(rgb * 255 + 0.5, 0, 255, out=out[r0:r1], casting="unsafe")
