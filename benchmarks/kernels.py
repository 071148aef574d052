"""`make bench`, render speed: the render path against the peer, the machine's GEMM peak, today's
torch renderer and every candidate, in one interleaved run; one line per figure, with a verdict
where issue 20 sets a target.

    .venv/bin/python benchmarks/kernels.py [--rounds N] [--frames N] [--quick] [--compile] [--json]

Every side renders the same frames of bench720 (1280x720, 8 tanh layers of 32, latent 8, rgb,
fp32) to uint8 pixels. Sides run interleaved (A B C ... A B C ...) for ROUNDS rounds; a figure
is the median over rounds, a ratio the median of per-round ratios, so a burst of load on this
shared machine hits every side alike. The fp32 GEMM peak (a 2048^2 matmul on all of torch's
threads) is a side too, so shares of it come from the same rounds. `uptime`'s load averages are
printed at the start and the end: quote them with the figures.

Sides (720p):
  ours          what `cppn-anim render` runs (core.prepare: the fused CPU kernel, cpu_fused.py, in
                band workers, bands.py; as many workers as torch has threads), frames in order
  peer          benchmarks/baseline.py: whole frame, nn.Linear + torch.tanh (public CPPN code)
  today ACTIVE  the renderer before the fused kernel (torch's layer-by-layer path, what
                CPPN_ANIM_KERNEL=eager still runs), OMP_WAIT_POLICY=ACTIVE: its best quiet case
  today PASSIVE the same, OMP_WAIT_POLICY=PASSIVE (what the command line set for it)
  torch bands   candidate: torch's chunks run by band workers, each on one OpenMP thread
  bf16          candidate: torch's path in bf16 (AVX512_BF16 matmuls; the fused kernel is fp32)
  numba         candidate: a plain @njit(parallel=True, fastmath=True) fused kernel (--quick skips it)
  torch.compile candidate: inductor on the chunk network (--compile: ~40 s and a C++ compiler)
The "today" sides run in child processes of their own (the wait policy is read when torch loads).
Small frames (320x180): ours on every worker vs one worker, quiet and with two busy neighbours
(processes spinning on a core each, started here). OMP_WAIT_POLICY: ours and today's path,
PASSIVE vs ACTIVE, each in a child process, quiet and with two busy neighbours.

Notes on threads (measured, see the report of issue 20): in a Python thread, torch 2.13's
tanh_ runs on its OpenMP team from 4096 elements, sigmoid_ from 65536, and MKL's sgemm from
256 rows of a 32-wide addmm: torch ops cannot be kept on one thread per worker by chunk size.
A thread-local omp_set_num_threads(1) (libgomp's, per thread by the OpenMP spec) keeps them
there ("torch bands"), but only while no one called torch.set_num_threads. The fused kernel has
no such question: it starts no threads.
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

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the command line does, before torch loads
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _line  # noqa: E402
from cppn_anim import core, network, render, scene, trajectory  # noqa: E402

SCENE = "trajectory: {keyframes: [{at: 0, z: random}, {at: 4, z: random}]}"  # bench720's network: the defaults
W, H = 1280, 720
SMALL = (320, 180)
RESULTS: dict = {}
GEMM_N = 2048
TARGETS = {"vs_peer": 5.0, "share": 0.60, "vs_active": 1.0, "small_busy": 0.9}  # issue 20


def say(label: str, text: str, *, measured: float | None = None, want: str | None = None, **figures) -> None:
    """One figure line, `[label] text (want TARGET): VERDICT` (benchmarks/_line.py, recorded with the
    date, machine and load); its numbers also go to the JSON summary."""
    _line.line(label, text, measured=measured, want=want, source="kernels.py", **figures)
    RESULTS.update(figures)


def want(target: float, unit: str = "x") -> str:
    """`>= 5x`, `>= 60%`: a target as the line shows it (the measured value in the same unit)."""
    return f">= {100 * target:.0f}%" if unit == "%" else f">= {target:g}x"


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def setup(size=(W, H)):
    s = scene.parse(SCENE + f"\nsize: [{size[0]}, {size[1]}]")
    w = network.build(s.network, s.seed)
    return s, w, trajectory.Motion(s)


def frame_params(motion, count: int):
    return [motion.at(t) for t in np.linspace(0.3, 3.7, count)]


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


# ------------------------------------------------------------------ child processes: one wait policy each

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
import numpy as np, torch
import kernels
from cppn_anim import core, entry
s, w, motion = kernels.setup(({width}, {height}))
params = kernels.frame_params(motion, {count})
prepared = core.prepare(s, kernel={kernel!r}, pin=entry.Threads())  # as the command line prepares it
r = prepared.renderer
first = next(iter(r.frames(params[:1])))
np.save({dump!r}, first)
print(json.dumps({{"ready": os.environ.get("OMP_WAIT_POLICY"), "kind": r.kind, "threads": torch.get_num_threads()}}), flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    for _ in r.frames(params):
        pass
    print(json.dumps({{"seconds": time.perf_counter() - t}}), flush=True)
"""


class Child:
    """The render path (kernel auto) or today's (eager) in a process of its own with one
    OMP_WAIT_POLICY; `run()` renders the frames once and returns the seconds."""

    def __init__(self, policy: str, kernel: str, size: tuple[int, int], count: int, tmp: Path):
        self.dump = tmp / f"{kernel}-{policy}-{size[0]}.npy"
        code = CHILD.format(root=str(ROOT), bench=str(ROOT / "benchmarks"), width=size[0], height=size[1], count=count, kernel=kernel, dump=str(self.dump))
        env = dict(os.environ, OMP_WAIT_POLICY=policy)
        env.pop("CPPN_ANIM_KERNEL", None)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        hello = json.loads(self.proc.stdout.readline())
        assert hello["ready"] == policy, hello
        self.kind = hello["kind"]
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

CPU_SECONDS: dict[str, list[float]] = {}  # in-process sides: CPU seconds (all threads) per run


def gemm_side():
    a, b = torch.randn(GEMM_N, GEMM_N), torch.randn(GEMM_N, GEMM_N)
    a @ b

    def run() -> float:  # seconds of one matmul (best of 3: the peak, not the noise)
        best, cpu = float("inf"), float("inf")
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            a @ b
            best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
        CPU_SECONDS.setdefault("gemm", []).append(cpu)
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
                dx = x * view[0, 0] + y * view[1, 0]  # render.first_layer: r = |c| (in the bias) + delta
                dy = x * view[0, 1] + y * view[1, 1]
                px, py = dx + center[0], dy + center[1]
                den = np.sqrt(px * px + py * py) + np.sqrt(center[0] * center[0] + center[1] * center[1])
                two = np.float32(2)
                r = (dx * (dx + two * center[0]) + dy * (dy + two * center[1])) / den if den > 0 else np.float32(0)
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
        from cppn_anim.render import first_layer

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
            feats = torch.cat([grid, render.center_delta(grid @ view, center)], dim=1)
            out[start : start + chunk] = compiled(feats, first_w, first_b, last_w, last_b)
        return torch.clamp(out[:n] * 255 + 0.5, 0, 255).to(torch.uint8).reshape(height, width, 3).numpy()

    t = time.perf_counter()
    try:
        with torch.no_grad():
            render_frame(frame_params(setup((width, height))[2], 1)[0])
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


def timed(fn, cpu: str | None = None):
    """A side: fn's wall seconds per run; with `cpu`, its CPU seconds (every thread of this process) go to CPU_SECONDS[cpu]."""

    def run() -> float:
        t, c = time.perf_counter(), time.process_time()
        fn()
        if cpu:
            CPU_SECONDS.setdefault(cpu, []).append(time.process_time() - c)
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


def drain(frames) -> None:
    for _ in frames:
        pass


def section_720(args, s, w, motion, tmp: Path) -> None:
    workers = torch.get_num_threads()
    count = args.frames
    params = frame_params(motion, count)
    mp = W * H * count / 1e6
    flop = render.flop_per_sample(w)
    ours = core.prepare(s)  # as `cppn-anim render` prepares it (workers: torch's threads)
    r = ours.renderer
    say("720p setup", f"{W}x{H}, {count} frames a side, {args.rounds} interleaved rounds; ours: {r.kind} on {r.workers} workers; torch {workers} threads;"
        f" {flop} FLOP/pixel (render.flop_per_sample)")  # fmt: skip
    ref = reference(w, params[0], W, H)

    sides: dict = {}
    errors: dict = {}
    notes: dict = {}
    sides["gemm"] = gemm_side()
    errors["ours"] = max_off(next(iter(r.frames(params[:1]))), ref)
    sides["ours"] = timed(lambda: drain(r.frames(params)), cpu="ours")
    import baseline

    model = baseline.BaselineCPPN(w)
    sides["peer"] = timed(lambda: [baseline.render(model, p.z, W, H) for p in params])
    children = {f"today {policy}": Child(policy, "eager", (W, H), count, tmp) for policy in ("ACTIVE", "PASSIVE")}
    for name, child in children.items():
        sides[name] = child.run
        errors[name] = max_off(child.first(), ref)
    tb = TorchBands(w, W, H, workers)
    errors["torch bands"] = max_off(tb.render(params[0]), ref)
    sides["torch bands"] = timed(lambda: [tb.render(p) for p in params])
    bf16 = render.Renderer(w, W, H, device="cpu", precision="bf16")
    errors["bf16"] = max_off(bf16.render(params[0]), ref)
    sides["bf16"] = timed(lambda: [bf16.render(p) for p in params])
    if args.quick:
        notes["numba"] = "not measured (--quick)"
    else:
        kernel, info = numba_side(w)
        if kernel is None:
            notes["numba"] = f"not measured ({info})"
        else:
            nb = NumbaFrames(w, W, H, kernel)
            t = time.perf_counter()
            errors["numba"] = max_off(nb.render(params[0]), ref)
            notes["numba"] = f"JIT {time.perf_counter() - t:.1f} s, {info} numba threads"
            sides["numba"] = timed(lambda: [nb.render(p) for p in params])
    if args.compile:
        fn, info = compile_side(w, W, H)
        if fn is None:
            notes["torch.compile"] = f"not measured ({info})"
        else:
            with torch.no_grad():
                errors["torch.compile"] = max_off(fn(params[0]), ref)
            notes["torch.compile"] = f"compile {info:.0f} s (inductor, C++ compiler at run time)"
            sides["torch.compile"] = timed(lambda: [fn(p) for p in params])
    else:
        notes["torch.compile"] = "not measured (opt-in: --compile; ~40 s of inductor and a C++ compiler at run time)"
    errors["peer"] = peer_error(w, model, params[0])

    try:
        times = interleaved(sides, args.rounds)
    finally:
        for child in children.values():
            child.close()
        r.close()
    gemm_times = times.pop("gemm")
    peaks = [2 * GEMM_N**3 / t / 1e9 for t in gemm_times]
    peak = statistics.median(peaks)
    say("720p gemm peak", f"fp32 GEMM peak (2048^2 matmul, {workers} threads): {peak:.0f} GFLOP/s (median of {len(peaks)}; {min(peaks):.0f}..{max(peaks):.0f})",
        gemm_peak_gflops=round(peak, 1))  # fmt: skip

    def share(name: str) -> float:
        return statistics.median(flop * (mp / t) / 1e3 / pk for t, pk in zip(times[name], peaks))

    for name, ts in times.items():
        mps = statistics.median(mp / t for t in ts)
        label = {"ours": f"ours ({r.kind})", "peer": "peer (whole frame, unfused)"}.get(name, name)
        extra = f"; {notes[name]}" if name in notes else ""
        versus = f"{med_ratio(times, 'ours', 'peer'):.2f}x the peer" if name == "ours" else f"{med_ratio(times, name, 'ours'):.2f}x ours"
        say(f"720p {name}", f"{label}: {mps:.2f} MP/s, {flop * mps / 1e3:.0f} GFLOP/s = {100 * share(name):.0f}% of the GEMM peak,"
            f" {versus}, max error {errors.get(name, '?')}/255 vs float64{extra}",
            **{f"mps_{name}": round(mps, 3), f"share_{name}": round(share(name), 3), f"vs_ours_{name}": round(med_ratio(times, name, "ours"), 3),
               f"err255_{name}": errors.get(name)})  # fmt: skip
    for name, why in notes.items():
        if name not in times:
            say(f"720p {name}", f"{name}: {why}")
    # the same share per CPU second each side got: what a busy machine cannot skew (as much)
    per_cpu = statistics.median(flop * (mp * 1e6 / c) / (2 * GEMM_N**3 / g) for c, g in zip(CPU_SECONDS["ours"], CPU_SECONDS["gemm"]))
    say("720p share of peak per CPU second", f"ours {flop * mp * 1e6 / statistics.median(CPU_SECONDS['ours']) / 1e9:.0f} GFLOP per CPU second ="
        f" {100 * per_cpu:.0f}% of the GEMM's {2 * GEMM_N**3 / statistics.median(CPU_SECONDS['gemm']) / 1e9:.0f} (the kernel's efficiency, whatever"
        " share of the cores the load leaves it)", share_per_cpu_second=round(per_cpu, 3))  # fmt: skip
    vs_peer, vs_active = med_ratio(times, "ours", "peer"), med_ratio(times, "ours", "today ACTIVE")
    say("target 720p vs peer", f"ours {vs_peer:.2f}x the peer", measured=vs_peer, want=want(TARGETS["vs_peer"]), target_vs_peer=round(vs_peer, 2))
    say("target 720p share of peak", f"ours {100 * share('ours'):.0f}% of the GEMM peak measured in these rounds",
        measured=100 * share("ours"), want=want(TARGETS["share"], "%"), target_share=round(share("ours"), 3))  # fmt: skip
    say("target 720p quiet vs ACTIVE", f"ours {vs_active:.2f}x today's renderer under OMP_WAIT_POLICY=ACTIVE"
        " (a quiet window is what this target means; see the load)", measured=vs_active, want=want(TARGETS["vs_active"]), target_vs_active=round(vs_active, 2))  # fmt: skip


def peer_error(w, model, p) -> int:
    """The peer draws the frame without the view (zoom 1, no rotation, centre 0): compare it with the reference of that."""
    import dataclasses

    import baseline

    still = dataclasses.replace(p, rotation=0.0, zoom=1.0, center=np.zeros(2), z_scale=1.0, input_scale=1.0, contrast=1.0)
    with torch.no_grad():
        return max_off(baseline.render(model, still.z, W, H), reference(w, still, W, H))


def section_small(args) -> None:
    workers = max(2, torch.get_num_threads())
    sw, sh = SMALL
    s, w, motion = setup(SMALL)
    params = frame_params(motion, args.frames * 4)
    many, one = core.prepare(s, workers=workers).renderer, core.prepare(s, workers=1).renderer
    today = core.prepare(s, kernel="eager").renderer  # torch's path: one thread at this size (render.SMALL_FRAME_FLOP)
    say("small setup", f"{sw}x{sh}, {len(params)} frames a side, {args.rounds} interleaved rounds; ours ({many.kind}) on {workers} workers vs 1")
    assert np.array_equal(next(iter(many.frames(params[:1]))), next(iter(one.frames(params[:1]))))
    drain(today.frames(params[:1]))
    sides = {"many": timed(lambda: drain(many.frames(params))), "one": timed(lambda: drain(one.frames(params))),
             "today": timed(lambda: drain(today.frames(params)))}  # fmt: skip
    try:
        quiet = interleaved(sides, args.rounds)
        with Spinners(2):
            busy = interleaved(sides, args.rounds)
    finally:
        many.close()
    mp = sw * sh * len(params) / 1e6
    for label, times in (("quiet", quiet), ("busy", busy)):
        mps = statistics.median(mp / t for t in times["many"])
        r_one, r_today = med_ratio(times, "many", "one"), med_ratio(times, "many", "today")
        say(f"small {label}", f"{sw}x{sh}{', two busy neighbours' if label == 'busy' else ''}: ours on {workers} workers {mps:.2f} MP/s ="
            f" {r_one:.2f}x one worker, {r_today:.2f}x today's renderer (one thread at this size)",
            **{f"small_{label}_vs_one": round(r_one, 2), f"small_{label}_vs_today": round(r_today, 2)})  # fmt: skip
    r_busy = med_ratio(busy, "many", "one")
    say("target small busy vs one", f"ours {r_busy:.2f}x one worker with two busy neighbours", measured=r_busy, want=want(TARGETS["small_busy"]), target_small_busy=round(r_busy, 2))


def section_policy(args, tmp: Path) -> None:
    """OMP_WAIT_POLICY, which the command line sets to PASSIVE: what it costs each path, quiet and busy."""
    count = args.frames
    children = {f"{kernel} {policy}": Child(policy, kernel, (W, H), count, tmp) for kernel in ("auto", "eager") for policy in ("PASSIVE", "ACTIVE")}
    kinds = {kernel: children[f"{kernel} PASSIVE"].kind for kernel in ("auto", "eager")}
    say("policy setup", f"OMP_WAIT_POLICY: 720p, {count} frames a side, {min(args.rounds, 3)} interleaved rounds, each side a process of its own;"
        f" ours ({kinds['auto']}) and today's ({kinds['eager']})")  # fmt: skip
    sides = {name: child.run for name, child in children.items()}
    rounds = min(args.rounds, 3)  # four processes a round: enough for a ratio this large or this near 1
    try:
        quiet = interleaved(sides, rounds)
        with Spinners(2):
            busy = interleaved(sides, rounds)
    finally:
        for child in children.values():
            child.close()
    for label, times in (("quiet", quiet), ("busy", busy)):
        ours, today = med_ratio(times, "auto PASSIVE", "auto ACTIVE"), med_ratio(times, "eager PASSIVE", "eager ACTIVE")
        say(f"policy {label}", f"PASSIVE vs ACTIVE{', two busy neighbours' if label == 'busy' else ''}: ours {ours:.2f}x (no OpenMP: ~1 either way),"
            f" today's renderer {today:.2f}x", **{f"policy_{label}_ours": round(ours, 2), f"policy_{label}_today": round(today, 2)})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "3")))
    parser.add_argument("--frames", type=int, default=int(os.environ.get("BENCH_FRAMES", "3")), help="720p frames a side per round")
    parser.add_argument("--quick", action="store_true", help="skip numba (its JIT takes seconds) and the wait-policy section")
    parser.add_argument("--compile", action="store_true", help="also torch.compile (inductor: ~40 s to compile here, a C++ compiler at run time)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of every figure")
    args = parser.parse_args()
    import tempfile

    from cppn_anim import cpu_fused

    began = time.perf_counter()
    _line.context(__file__)
    say("render speed setup", f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')},"
        f" fused CPU kernel {'tiles ' + 'x'.join(map(str, cpu_fused.vector_shape())) if cpu_fused.available() else 'unavailable'}; start {load()}")  # fmt: skip
    RESULTS["load_start"] = os.getloadavg()
    s, w, motion = setup()
    with tempfile.TemporaryDirectory() as tmp:
        section_720(args, s, w, motion, Path(tmp))
        section_small(args)
        if not args.quick:
            section_policy(args, Path(tmp))
    say("render speed took", f"{time.perf_counter() - began:.0f} s; end {load()}")
    RESULTS["load_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(RESULTS))


if __name__ == "__main__":
    main()
