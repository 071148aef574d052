"""Render-speed candidates for issue 20, side by side in one interleaved run.

    .venv/bin/python benchmarks/kernels.py [--rounds N] [--frames N] [--quick] [--json]

Every candidate renders the same frames of bench720 (1280x720, 8 tanh layers of 32, latent 8,
rgb) to uint8 pixels. They run interleaved (A B C ... A B C ...) for ROUNDS rounds, and every
figure is the median over rounds, ratios the median of per-round ratios: a burst of load on
this shared machine hits every side alike. The fp32 GEMM peak (a 2048^2 matmul on all of
torch's threads) is one of the sides, so each candidate's share of it comes from the same
rounds. `uptime`'s load averages are printed at the start and the end.

Sides at 720p:
  today PASSIVE / ACTIVE  render.Renderer (chunks, tanh via sigmoid folded into the next layer,
                          torch's threads), OMP_WAIT_POLICY read when torch loads: each policy in
                          its own child process
  peer                    benchmarks/baseline.py: whole frame, nn.Linear + torch.tanh
  fused bands             bands.BandRenderer: the fused LLVM kernel (cpu_fused.py), Python
                          threads over bands of rows (the candidate we ship)
  torch bands             Renderer's torch chunks run by band workers, one per core, each kept on
                          one thread by a thread-local OpenMP setting (see --help's notes)
  numba                   a straightforward @njit(parallel=True, fastmath=True) kernel: all
                          layers per tile of 64 pixels, prange over tiles, rational tanh
  torch.compile           inductor on the chunk network (--compile; a C++ compiler at run time)
  bf16                    render.Renderer(precision="bf16"), PASSIVE
Small frames (320x180): fused bands on all workers vs one worker, quiet and with two busy
neighbours (processes spinning on a core each, started here).
Chunks: today's renderer on one thread with 1024 .. 65536-sample chunks (L1, L2, beyond).
Activations: torch's sigmoid_ vs tanh_ on a 1024x32 chunk, and their error.

Notes on threads (measured, see the report of issue 20): in a Python thread, torch 2.13's
tanh_ runs on its OpenMP team from 4096 elements, sigmoid_ from 65536, and MKL's sgemm from
256 rows of a 32-wide addmm: torch ops cannot be kept on one thread per worker by chunk size.
A thread-local omp_set_num_threads(1) (libgomp's, per thread by the OpenMP spec) keeps them
there, but only while no one called torch.set_num_threads (which also sets MKL's per-thread
count in every thread torch starts to use). The fused kernel has no such question: it starts
no threads.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the command does, before torch loads
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cppn_anim import network, render, scene, trajectory  # noqa: E402

SCENE = "trajectory: {keyframes: [{at: 0, z: random}, {at: 4, z: random}]}"  # bench720's network: the defaults
W, H = 1280, 720
SMALL = (320, 180)
RESULTS: dict = {}
GEMM_N = 2048


def say(label: str, text: str, **figures) -> None:
    print(f"[{label}] {text}", flush=True)
    RESULTS.update(figures)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def setup():
    s = scene.parse(SCENE)
    w = network.build(s.network, s.seed)
    motion = trajectory.Motion(s)
    return s, w, motion


def frame_params(motion, count: int):
    return [motion.at(t) for t in np.linspace(0.3, 3.7, count)]


# ------------------------------------------------------------------ the reference

def reference(w, p, width, height) -> np.ndarray:
    """network.evaluate (float64) on the frame's samples, quantised as the renderers do."""
    import math

    x, y = render.sample_grid(width, height, 1, 0, width * height)
    th = math.radians(p.rotation)
    c, s = math.cos(th) / p.zoom, math.sin(th) / p.zoom
    xv, yv = c * x + s * y + p.center[0], -s * x + c * y + p.center[1]
    out = np.empty((height * width, 3))
    step = 1 << 16
    for i in range(0, len(x), step):  # in pieces: bounded memory
        feats = network.features(xv[i : i + step], yv[i : i + step], w.inputs)
        out[i : i + step] = network.evaluate(w, feats, p.z, p.z_scale, p.input_scale, p.contrast, p.palette_shift)
    return np.clip(np.floor(out * 255 + 0.5), 0, 255).astype(np.uint8).reshape(height, width, 3)


def max_off(img: np.ndarray, ref: np.ndarray) -> int:
    return int(np.abs(img.astype(int) - ref.astype(int)).max())


# ------------------------------------------------------------------ child processes: today's renderer per policy

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
import numpy as np, torch
import kernels
from cppn_anim.render import Renderer
s, w, motion = kernels.setup()
width, height, count = {width}, {height}, {count}
params = kernels.frame_params(motion, count)
r = Renderer(w, width, height, device="cpu")
first = r.render(params[0])
np.save({dump!r}, first)
print(json.dumps({{"ready": os.environ.get("OMP_WAIT_POLICY"), "threads": torch.get_num_threads()}}), flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    for p in params:
        r.render(p)
    print(json.dumps({{"seconds": time.perf_counter() - t}}), flush=True)
"""


class Child:
    """today's renderer in a process of its own with one OMP_WAIT_POLICY; `run()` renders the frames once."""

    def __init__(self, policy: str, width: int, height: int, count: int, tmp: Path):
        self.dump = tmp / f"today-{policy}-{width}.npy"
        code = CHILD.format(root=str(ROOT), bench=str(ROOT / "benchmarks"), width=width, height=height, count=count, dump=str(self.dump))
        env = dict(os.environ, OMP_WAIT_POLICY=policy)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        hello = json.loads(self.proc.stdout.readline())
        assert hello["ready"] == policy, hello
        # Stopped between its runs: with OMP_WAIT_POLICY=ACTIVE an idle OpenMP thread spins for
        # seconds after each parallel region (libgomp: 3e10 spins), which would load every other side.
        self.proc.send_signal(signal.SIGSTOP)

    def first(self) -> np.ndarray:
        return np.load(self.dump)

    def run(self) -> float:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        seconds = json.loads(self.proc.stdout.readline())["seconds"]
        self.proc.send_signal(signal.SIGSTOP)
        return seconds

    def close(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ------------------------------------------------------------------ candidates in this process

def gemm_side():
    a, b = torch.randn(GEMM_N, GEMM_N), torch.randn(GEMM_N, GEMM_N)
    a @ b

    def run() -> float:  # seconds of one matmul (best of 3: the peak, not the noise)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
        return best

    return run


_GOMP = None


def one_thread_here() -> None:
    """This thread's OpenMP team size to 1 (an OpenMP ICV of the calling thread only; torch's
    get_num_threads in this thread then says 1 and MKL follows it). Not process-wide."""
    global _GOMP
    if _GOMP is None:
        _GOMP = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libgomp.so.1"))
    torch.zeros(1).add_(1)  # torch's lazy per-thread set-up first, or it would undo ours
    _GOMP.omp_set_num_threads(1)


class TorchBands:
    """Renderer's torch chunks (tanh via sigmoid, chunk of `chunk` samples) in band workers,
    one Renderer (own buffers) per worker, bands from a shared queue."""

    def __init__(self, w, width, height, workers: int, chunk: int = 1024, band_rows: int = 16):
        from concurrent.futures import ThreadPoolExecutor

        self.workers = workers
        self.pool = ThreadPoolExecutor(workers, initializer=one_thread_here)
        self.local = threading.local()
        self.w, self.width, self.height, self.chunk, self.band_rows = w, width, height, chunk, band_rows

    def _renderer(self):
        r = getattr(self.local, "r", None)
        if r is None:
            from cppn_anim.render import Renderer

            r = self.local.r = Renderer(self.w, self.width, self.height, device="cpu")
            r.chunk, r.threads = self.chunk, None  # chunk fixed for every band: the same pixels whatever the band
        return r

    def render(self, p) -> np.ndarray:
        out = np.empty((self.height, self.width, 3), np.uint8)

        def band(r0):
            r = self._renderer()
            r1 = min(self.height, r0 + self.band_rows)
            out[r0:r1] = r._band([r._frame_inputs(p)], r0, r1)[0]

        list(self.pool.map(band, range(0, self.height, self.band_rows)))
        return out


def numba_side(w):
    """A plain numba kernel (what @njit gives without hand-made vector code): tanh networks only."""
    try:
        import numba
    except ImportError:
        return None, "numba is not installed"
    if set(w.activations) != {"tanh"} or w.color != "rgb" or w.output != "sigmoid":
        return None, "the numba kernel here does tanh/rgb/sigmoid only"
    from numba import njit, prange

    tile = 64

    @njit(fastmath=True, inline="always")
    def rtanh(x):
        x = min(max(x, np.float32(-7.905311)), np.float32(7.905311))
        x2 = x * x
        p = np.float32(-2.76076847742355e-16)
        for c in (2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03):
            p = p * x2 + np.float32(c)
        q = np.float32(1.19825839466702e-06)
        for c in (1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03):
            q = q * x2 + np.float32(c)
        return x * p / q

    @njit(parallel=True, fastmath=True)
    def frame(xs, ys, view, center, first, fb, hidden_w, hidden_b, last, lb, out):
        n = xs.shape[0]
        width = first.shape[1]
        for t in prange(n // tile):
            h = np.empty((width, tile), np.float32)
            g = np.empty((width, tile), np.float32)
            for p in range(tile):
                i = t * tile + p
                x, y = xs[i], ys[i]
                mx = x * view[0, 0] + y * view[1, 0] + center[0]
                my = x * view[0, 1] + y * view[1, 1] + center[1]
                r = np.sqrt(mx * mx + my * my)
                for j in range(width):
                    h[j, p] = rtanh(x * first[0, j] + y * first[1, j] + r * first[2, j] + fb[j])
            for layer in range(hidden_w.shape[0]):
                for j in range(width):
                    for p in range(tile):
                        g[j, p] = hidden_b[layer, j]
                    for k in range(width):
                        wk = hidden_w[layer, k, j]
                        for p in range(tile):
                            g[j, p] += wk * h[k, p]
                    for p in range(tile):
                        g[j, p] = rtanh(g[j, p])
                h, g = g, h
            for c in range(3):
                for p in range(tile):
                    acc = lb[c]
                    for k in range(width):
                        acc += last[k, c] * h[k, p]
                    out[t * tile + p, c] = 1 / (1 + np.exp(-acc))

    return frame, numba.config.NUMBA_NUM_THREADS


class NumbaFrames:
    def __init__(self, w, width, height, kernel):
        from cppn_anim.bands import first_layer

        self.w, self.width, self.height, self.kernel, self.first_layer = w, width, height, kernel, first_layer
        n = width * height
        padded = -(-n // 64) * 64
        x, y = render.sample_grid(width, height, 1, 0, padded)
        self.xs, self.ys = x.astype(np.float32), y.astype(np.float32)
        self.hw = np.stack([m for m, _ in w.hidden]).astype(np.float32)
        self.hb = np.stack([b for _, b in w.hidden]).astype(np.float32)
        self.out = np.empty((padded, 3), np.float32)

    def render(self, p) -> np.ndarray:
        matrix, bias, view = self.first_layer(self.w, p)
        f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
        self.kernel(self.xs, self.ys, f32(view), f32(p.center), f32(matrix), f32(bias), self.hw, self.hb,
                    f32(p.contrast * self.w.out), f32(p.contrast * self.w.out_bias), self.out)  # fmt: skip
        v = self.out[: self.width * self.height]
        return np.clip(v * 255 + 0.5, 0, 255).astype(np.uint8).reshape(self.height, self.width, 3)


def compile_side(w, width, height):
    """torch.compile (inductor) of Renderer's chunk network, fixed shapes: the chunk's matmuls
    and activations as one compiled graph. Needs a working C++ compiler at run time."""
    import shutil

    if not shutil.which(os.environ.get("CXX", "g++")) and not shutil.which("c++"):
        return None, "no C++ compiler on PATH (inductor needs one at run time)"
    from cppn_anim.render import Renderer

    r = Renderer(w, width, height, device="cpu")
    layers = r._layers

    def net(feats, first_w, first_b, last_w, last_b):
        h = torch.sigmoid(torch.addmm(first_b, feats, first_w))
        for layer in layers:
            h = torch.sigmoid(torch.addmm(layer.bias, h, layer.weight))
        return torch.sigmoid(torch.addmm(last_b, h, last_w))

    compiled = torch.compile(net, dynamic=False)
    chunk = r.chunk

    def render_frame(p) -> np.ndarray:
        first_w, first_b, view, center, last_w, last_b, _ = r._frame_inputs(p)
        n = width * height
        out = torch.empty((-(-n // chunk) * chunk, 3))
        for start in range(0, n, chunk):
            grid = r._grid(start)
            moved = torch.addmm(center, grid, view)
            feats = torch.cat([grid, torch.linalg.vector_norm(moved, dim=1, keepdim=True)], dim=1)
            out[start : start + chunk] = compiled(feats, first_w, first_b, last_w, last_b)
        return torch.clamp(out[:n] * 255 + 0.5, 0, 255).to(torch.uint8).reshape(height, width, 3).numpy()

    t = time.perf_counter()
    try:
        with torch.no_grad():
            render_frame(frame_params(setup()[2], 1)[0])
    except Exception as exc:  # noqa: BLE001 - a compiler problem is a figure, not a crash
        return None, f"torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return render_frame, time.perf_counter() - t


# ------------------------------------------------------------------ the run

def interleaved(sides: dict, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            times[name].append(fn())
    return times


def timed(fn):
    def run() -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    return run


def med_ratio(times, a: str, b: str) -> float:
    """Median over rounds of time(b)/time(a): how many times faster a is than b."""
    return statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))


class Spinners:
    """n busy neighbours: processes spinning on a core each, started and stopped here."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def section_720(args, w, motion, tmp: Path) -> None:
    from cppn_anim.bands import BandRenderer

    workers = torch.get_num_threads()
    count = args.frames
    params = frame_params(motion, count)
    mp = W * H * count / 1e6
    flop = render.flop_per_sample(w)
    print(f"720p: {W}x{H}, {count} frames a side, {args.rounds} interleaved rounds, {workers} threads/workers, {flop} FLOP/pixel (render.flop_per_sample)")
    ref = reference(w, params[0], W, H)

    sides: dict = {}
    errors: dict = {}
    notes: dict = {}
    sides["gemm"] = gemm_side()
    children = {policy: Child(policy, W, H, count, tmp) for policy in ("PASSIVE", "ACTIVE")}
    for policy, child in children.items():
        sides[f"today {policy}"] = child.run
        errors[f"today {policy}"] = max_off(child.first(), ref)
    import baseline

    model = baseline.BaselineCPPN(w)
    sides["peer"] = timed(lambda: [baseline.render(model, p.z, W, H) for p in params])
    bands = BandRenderer(w, W, H, workers=workers)
    errors["fused bands"] = max_off(bands.render(params[0]), ref)
    sides["fused bands"] = timed(lambda: list(bands.frames(params)))
    tb = TorchBands(w, W, H, workers)
    errors["torch bands"] = max_off(tb.render(params[0]), ref)
    sides["torch bands"] = timed(lambda: [tb.render(p) for p in params])
    bf16 = render.Renderer(w, W, H, device="cpu", precision="bf16")
    errors["bf16"] = max_off(bf16.render(params[0]), ref)
    sides["bf16"] = timed(lambda: [bf16.render(p) for p in params])
    if not args.quick:
        kernel, info = numba_side(w)
        if kernel is None:
            notes["numba"] = info
        else:
            nb = NumbaFrames(w, W, H, kernel)
            t = time.perf_counter()
            errors["numba"] = max_off(nb.render(params[0]), ref)
            notes["numba"] = f"first call (JIT) {time.perf_counter() - t:.1f} s, {info} numba threads"
            sides["numba"] = timed(lambda: [nb.render(p) for p in params])
    if args.compile:
        fn, info = compile_side(w, W, H)
        if fn is None:
            notes["torch.compile"] = info
        else:
            with torch.no_grad():
                errors["torch.compile"] = max_off(fn(params[0]), ref)
            notes["torch.compile"] = f"compile {info:.0f} s (inductor, C++ compiler at run time)"
            sides["torch.compile"] = timed(lambda: [fn(p) for p in params])
    else:
        notes["torch.compile"] = "not asked (--compile)"
    errors["peer"] = peer_error(w, model, params[0])

    try:
        times = interleaved(sides, args.rounds)
    finally:
        for child in children.values():
            child.close()
        bands.close()
    gemm_times = times.pop("gemm")
    peaks = [2 * GEMM_N**3 / t / 1e9 for t in gemm_times]
    peak = statistics.median(peaks)
    say("720p gemm peak", f"fp32 GEMM peak (2048^2 matmul, {workers} threads): {peak:.0f} GFLOP/s (median of {len(peaks)}; {min(peaks):.0f}..{max(peaks):.0f})", gemm_peak_gflops=round(peak, 1))
    rows = {}
    for name, ts in times.items():
        mps = statistics.median(mp / t for t in ts)
        shares = [flop * (mp / t) / 1e3 / pk for t, pk in zip(ts, peaks)]
        rows[name] = mps
        err = errors.get(name)
        extra = f"; {notes[name]}" if name in notes else ""
        say(f"720p {name}", f"{name}: {mps:.2f} MP/s, {flop * mps / 1e3:.0f} GFLOP/s = {100 * statistics.median(shares):.0f}% of the GEMM peak,"
            f" {med_ratio(times, name, 'peer'):.2f}x the peer, {med_ratio(times, name, 'today ACTIVE'):.2f}x today ACTIVE,"
            f" max error {err if err is not None else '?'}/255 vs float64{extra}",
            **{f"mps_{name}": round(mps, 3), f"share_{name}": round(statistics.median(shares), 3), f"vs_peer_{name}": round(med_ratio(times, name, "peer"), 2),
               f"vs_active_{name}": round(med_ratio(times, name, "today ACTIVE"), 2), f"err255_{name}": err})  # fmt: skip
    for name, why in notes.items():
        if name not in times:
            say(f"720p {name}", f"{name}: not measured ({why})")
    share = statistics.median(flop * (mp / t) / 1e3 / pk for t, pk in zip(times["fused bands"], peaks))
    vs_peer, vs_active = med_ratio(times, "fused bands", "peer"), med_ratio(times, "fused bands", "today ACTIVE")
    say("target 720p vs peer", f"fused bands {vs_peer:.2f}x the peer (want >= 5): {verdict(vs_peer >= 5)}", target_vs_peer=round(vs_peer, 2))
    say("target 720p share of peak", f"fused bands {100 * share:.0f}% of the GEMM peak measured in this run (want >= 60%): {verdict(share >= 0.6)}", target_share=round(share, 3))
    say("target 720p quiet vs ACTIVE", f"fused bands {vs_active:.2f}x today's ACTIVE policy (want >= 1.0): {verdict(vs_active >= 1.0)}", target_vs_active=round(vs_active, 2))
    passive = med_ratio(times, "today ACTIVE", "today PASSIVE")
    say("720p today ACTIVE vs PASSIVE", f"today's renderer with OMP_WAIT_POLICY=ACTIVE is {passive:.2f}x PASSIVE in this run (quiet machine: above 1, the cost of"
        " the passive wait; busy: far below 1, spinning threads fight the neighbours; the quiet-vs-ACTIVE target means a quiet window)", active_vs_passive=round(passive, 2))


def peer_error(w, model, p) -> int:
    """The peer draws the frame without the view (zoom 1, no rotation, centre 0): compare it with the reference of that."""
    import dataclasses

    import baseline

    still = dataclasses.replace(p, rotation=0.0, zoom=1.0, center=np.zeros(2), z_scale=1.0, input_scale=1.0, contrast=1.0)
    with torch.no_grad():
        return max_off(baseline.render(model, still.z, W, H), reference(w, still, W, H))


def section_small(args, w, motion) -> None:
    from cppn_anim.bands import BandRenderer

    workers = max(2, torch.get_num_threads())
    sw, sh = SMALL
    params = frame_params(motion, args.frames * 4)
    print(f"small frames: {sw}x{sh}, {len(params)} frames a side, {args.rounds} interleaved rounds")
    many, one = BandRenderer(w, sw, sh, workers=workers), BandRenderer(w, sw, sh, workers=1)
    today = render.Renderer(w, sw, sh, device="cpu")
    assert np.array_equal(many.render(params[0]), one.render(params[0]))
    today.render(params[0])
    sides = {"bands": timed(lambda: list(many.frames(params))), "one": timed(lambda: list(one.frames(params))),
             "today": timed(lambda: [today.render(p) for p in params])}  # fmt: skip
    try:
        quiet = interleaved(sides, args.rounds)
        with Spinners(2):
            busy = interleaved(sides, args.rounds)
    finally:
        many.close()
    mp = sw * sh * len(params) / 1e6
    for label, times in (("quiet", quiet), ("busy", busy)):
        mps = statistics.median(mp / t for t in times["bands"])
        r_one, r_today = med_ratio(times, "bands", "one"), med_ratio(times, "bands", "today")
        want = " (want >= 0.9)" if label == "busy" else ""
        ok = f": {verdict(r_one >= 0.9)}" if label == "busy" else ""
        say(f"small {label}", f"{sw}x{sh}{', two busy neighbours' if label == 'busy' else ''}: fused bands on {workers} workers {mps:.2f} MP/s ="
            f" {r_one:.2f}x one worker{want}{ok}; {r_today:.2f}x today's renderer (one thread at this size)",
            **{f"small_{label}_vs_one": round(r_one, 2), f"small_{label}_vs_today": round(r_today, 2)})  # fmt: skip


def section_activations(args) -> None:
    """torch's activations on one 1024x32 chunk, one thread: time per element and error."""
    a = torch.randn(1024, 32) * 3
    ref = np.tanh(a.double().numpy())
    work = a.clone()

    def tanh_():
        work.copy_(a)
        torch.tanh_(work)

    def sigmoid_():
        work.copy_(a)
        torch.sigmoid_(work.mul_(2))

    def copy():
        work.copy_(a)

    before = torch.get_num_threads()
    sides = {"copy": timed(lambda: [copy() for _ in range(200)]), "tanh": timed(lambda: [tanh_() for _ in range(200)]),
             "sigmoid": timed(lambda: [sigmoid_() for _ in range(200)])}  # fmt: skip
    times = interleaved(sides, args.rounds)
    net = {k: statistics.median(t - c for t, c in zip(times[k], times["copy"])) / 200 / a.numel() * 1e9 for k in ("tanh", "sigmoid")}
    work.copy_(a)
    err_tanh = float(np.abs(torch.tanh(a).double().numpy() - ref).max())
    err_sig = float(np.abs((2 * torch.sigmoid(2 * a) - 1).double().numpy() - ref).max())
    assert torch.get_num_threads() == before
    say("activation tanh vs sigmoid", f"torch on a 1024x32 chunk: tanh_ {net['tanh']:.2f} ns/element (max error {err_tanh:.1e}),"
        f" sigmoid_(2a) {net['sigmoid']:.2f} ns/element incl. the x2 (2s-1 max error {err_sig:.1e}): tanh_ is {net['sigmoid'] / net['tanh']:.2f}x as fast",
        tanh_ns=round(net["tanh"], 3), sigmoid_ns=round(net["sigmoid"], 3))  # fmt: skip
    from cppn_anim import cpu_fused

    if cpu_fused.available():
        # the fused kernel's tanh against float64 over a wide range (its accuracy, not speed)
        x = np.linspace(-12, 12, 64 * 4001).astype(np.float32)
        k = cpu_fused.compile_kernel(1, ("tanh",), 1, "sigmoid")
        out = np.empty((1, len(x)), np.float32)
        frame = cpu_fused.pack_frame(np.eye(2), [0, 0], [[1.0], [0.0], [0.0]], [0.0], [[1.0]], [0.0])
        k.run(frame, cpu_fused.pack_hidden([]), x, np.zeros_like(x), out)
        # out = sigmoid(tanh(x)): invert the sigmoid in float64 to see tanh's error
        got = -np.log(1 / out[0].astype(np.float64) - 1)
        say("activation fused tanh", f"fused kernel's rational tanh (in registers, ~17 vector ops): max error {np.abs(got - np.tanh(x.astype(np.float64))).max():.1e} on [-12, 12] (through a sigmoid: an upper bound)")


def section_chunks(args, w, motion) -> None:
    """Today's torch chunks on one thread, by chunk size: where the activations stop fitting in L2."""
    from cppn_anim.render import Renderer

    params = frame_params(motion, 1)
    sizes = (1024, 4096, 16384, 65536)
    renderers = {}
    for chunk in sizes:
        r = Renderer(w, W, H, device="cpu")
        r.chunk, r.threads = chunk, 1
        r.render(params[0])
        renderers[chunk] = r
    times = interleaved({c: timed(lambda r=r: r.render(params[0])) for c, r in renderers.items()}, args.rounds)
    mps = {c: W * H / statistics.median(t) / 1e6 for c, t in times.items()}
    say("720p chunk size", "today's renderer on 1 thread by chunk (samples; activations chunk x 32 x 4 bytes): "
        + ", ".join(f"{c} ({c * 128 // 1024} KB) {mps[c]:.2f} MP/s" for c in sizes)
        + f"; the fused kernel needs none: a 64-sample tile's activations are 16 KB, in L1",
        **{f"chunk_{c}_mps": round(mps[c], 3) for c in sizes})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    parser.add_argument("--frames", type=int, default=int(os.environ.get("BENCH_FRAMES", "3")), help="720p frames a side per round")
    parser.add_argument("--quick", action="store_true", help="skip numba (its JIT takes seconds)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile (inductor: ~40 s to compile here, a C++ compiler at run time)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of every figure")
    args = parser.parse_args()
    import tempfile

    from cppn_anim import cpu_fused

    began = time.perf_counter()
    print(f"kernels bench: torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')},"
          f" cpu_fused {'on ' + str(cpu_fused.vector_shape()) if cpu_fused.available() else 'unavailable'}; start {load()}")  # fmt: skip
    s, w, motion = setup()
    with tempfile.TemporaryDirectory() as tmp:
        section_720(args, w, motion, Path(tmp))
    section_small(args, w, motion)
    section_chunks(args, w, motion)
    section_activations(args)
    print(f"end {load()}; took {time.perf_counter() - began:.0f} s")
    RESULTS["load_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(RESULTS))


if __name__ == "__main__":
    main()
