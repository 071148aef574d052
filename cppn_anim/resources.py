"""Resources: what a render needs (memory, time) and what this machine has free.

`memory_needed` estimates a render's peak memory from the renderer's own sizes (chunks,
bands, batches: render.py); `available_memory` probes what is free (MemAvailable, a cgroup's
limit, an address-space limit, a CUDA device); `check_fits` refuses, before any work, a
render that cannot fit (errors.OutOfMemory: exit 1, the scene is valid); `out_of_memory`
tells an allocation failure from other errors; `estimate_seconds` is the rough time a
command announces before a long render (computing the frames and encoding them). Estimates only: nothing here changes a pixel.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import DeviceUnavailable, OutOfMemory, option
from .network import channels
from .network import shape as network_shape
from .render import BAND_SAMPLES, DTYPES, GPU_BAND_SAMPLES, GPU_BATCH, GRID_CACHE_SAMPLES, chunk_size, pick_device, shape_flop


def memory_needed(net, width: int, height: int, supersample: int = 1, device_type: str = "cpu", precision: str = "fp32",
                  path: str | None = None) -> tuple[int, int]:  # fmt: skip
    """Peak bytes a render of a network spec (scene.Network) at a size needs: (host, device).

    path: the renderer (core.render_path: fused-cpu, fused-triton or torch; default: the one
    auto picks). Host (RAM): the float64 weights network.build draws, two float64 copies of
    one width x width layer while drawing and folding them, the uint8 frames in flight and one
    more copy of a frame for the encoder. torch's path on the device: the weights at
    `precision`, two activation buffers (chunk x width) and a band of float32 outputs with the
    colour conversion's temporaries; the fused Triton kernel the same without the activation
    buffers; the fused CPU kernel: its float32 weights, the frame's sample grid (kept up to
    GRID_CACHE_SAMPLES) and one band of values and temporaries per worker (at most one per
    core). On a CPU the device is the host: add them up. An estimate (within ~15% of the peak
    RSS over what torch itself takes), not a promise.
    """
    w, depth, k = net.width, net.depth, supersample
    c = channels(net.color)
    params = (len(net.inputs) + net.latent_dim + 1) * w + (depth - 1) * (w * w + w) + (w + 1) * c
    itemsize = DTYPES[precision].itemsize
    cpu = device_type == "cpu"
    path = path or _default_path(net, device_type, precision)
    samples = width * height * k * k
    row = width * k * k
    host = params * 8 + 2 * w * w * 8
    if path == "fused-cpu":
        from .bands import BAND_SAMPLES as FUSED_BAND, LOOKAHEAD

        frames = (LOOKAHEAD + 1) * width * height * 3  # frames in flight, and the encoder's copy
        grid = samples * 8 if samples <= GRID_CACHE_SAMPLES else 0  # float32 x, y
        band = max(row, FUSED_BAND // row * row) + 64  # samples of one band, whole tiles
        per_band = band * (c * 4 + 8 + 16 + 3 * 8 * 3)  # values; x, y float32 and float64; rgb temporaries
        device = params * 4 + grid + (os.cpu_count() or 1) * per_band
        return host + frames + device, 0
    batch = 1 if cpu else GPU_BATCH
    chunk = chunk_size(w, samples, device_type, precision)
    band = max(1, (BAND_SAMPLES if cpu else GPU_BAND_SAMPLES) // row) * row + chunk  # samples of one band, chunk-aligned
    grid = -(-samples // chunk) * chunk * 2 * 4 if samples <= GRID_CACHE_SAMPLES else chunk * 2 * 4
    host += (batch + 1) * width * height * 3
    wide = 0 if precision == "fp32" else w * chunk * 4  # low precision: the first and last layers' fp32 buffer
    activations = 0 if path == "fused-triton" else 2 * w * chunk * itemsize + wide + c * chunk * 4
    device = params * itemsize + activations + batch * band * 3 * 4 * 6 + grid
    return (host + device, 0) if cpu else (host, device)


def _default_path(net, device_type: str, precision: str) -> str:
    """What core.render_path picks by itself, from the spec alone (no triton import: CUDA's
    fused path is assumed where its shape fits; its estimate is the smaller one)."""
    from . import cpu_fused
    from .fused import MAX_WIDTH as GPU_WIDTH, padded_width

    acts, output, width = network_shape(net)
    if device_type == "cpu":
        return "fused-cpu" if precision == "fp32" and cpu_fused.supported(acts, output, width) is None else "torch"
    if device_type == "cuda":
        return "fused-triton" if precision in ("fp32", "bf16") and padded_width(width) <= GPU_WIDTH else "torch"
    return "torch"


def available_memory(device: torch.device) -> int | None:
    """Free bytes for this render: RAM on a CPU (MemAvailable, within a cgroup's limit and an
    address-space limit), the free memory of a CUDA device; None where we cannot tell (the
    check is then skipped)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type != "cpu":
        return None
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except OSError:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    for limit, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):  # fmt: skip
        try:
            text = Path(limit).read_text().strip()
            if text != "max" and int(text) < 1 << 60:
                found.append(int(text) - int(Path(used).read_text()))
        except (OSError, ValueError):
            pass
    try:  # an address-space limit (ulimit -v) counts against what this process has mapped already
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            mapped = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmSize:"))
            found.append(limit - mapped)
    except (ImportError, OSError, StopIteration, ValueError):
        pass
    return min(found) if found else None


def check_fits(net, width: int, height: int, supersample: int, device: str, precision: str, path: str | None = None) -> None:
    """Refuse, before any work, a render whose estimate (memory_needed) exceeds the free memory.

    Raises OutOfMemory; the command exits 1 with its one line. Exit 1, not 2: the scene is
    valid (`validate` accepts it) and renders on a machine with more memory; what failed
    is this machine's resources, which is a failure to do the work, not bad input.
    """
    dev = pick_device(device)
    host, on_device = memory_needed(net, width, height, supersample, dev.type, precision, path)
    for need, free, what in ((host, available_memory(torch.device("cpu")), "memory (RAM)"), (on_device, available_memory(dev) if on_device else None, f"{dev.type} memory")):
        if free is not None and need > free:
            size = f"{width}x{height}" + (f" x{supersample} supersampled" if supersample > 1 else "")
            raise OutOfMemory(
                f"not enough {what}: a network {net.width} wide and {net.depth} deep at {size} ({precision}) needs about"
                f" {_gb(need)}, {_gb(free)} is free; use a smaller network.width or network.depth, {option('size')} or render.supersample"
                + (", or render.precision bf16" if precision == "fp32" else "")
            )


def out_of_memory(exc: BaseException) -> str | None:
    """What ran out, if `exc` is an allocation failure (numpy's, torch's on a CPU or a GPU)."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return "GPU memory"
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)):
        return "memory (RAM)"
    return None


# Rough sustained arithmetic per second on each path, for estimates only: the fused CPU kernel
# runs a 32-wide tanh network at ~75-95 GFLOP per CPU second on the development machine
# (benchmarks/kernels.py, `[720p share of peak per CPU second]`; less when the machine is
# shared), torch's path ~40 GFLOP/s per thread; a GPU, some TFLOP/s.
THROUGHPUT = {"fused-cpu": 70e9, "cpu": 40e9, "cuda": 5e12, "mps": 1e12}  # per CPU worker or thread; per device


# What encoding costs, in CPU seconds per megapixel of each frame, measured on the development
# machine (2 cores): libx264 `medium` crf 18 at 720p, 0.067 (600 frames of pulse: 37 CPU s,
# ~29 fps with both cores free); VP9 as we run it (`good`, cpu-used 4, row-mt), 0.08; a GIF's
# palette mapping and a PNG's zlib a few hundredths. x264's other presets relative to
# `medium`; and what a soundtrack adds per second of video (AAC / Opus, the mux). Rough, as
# THROUGHPUT is.
ENCODE_CPU_S_PER_MP = {"mp4": 0.07, "webm": 0.09, "gif": 0.03, "png": 0.04}
PRESET_FACTOR = {"ultrafast": 0.15, "superfast": 0.25, "veryfast": 0.35, "faster": 0.6, "fast": 0.8, "medium": 1.0,
                 "slow": 1.5, "slower": 2.5, "veryslow": 5.0, "placebo": 12.0}  # fmt: skip
AUDIO_CPU_S_PER_S = 0.02


def encode_cpu_seconds(width: int, height: int, frames: int, fmt: str | None, preset: str = "medium", audio_seconds: float = 0.0) -> float:
    """Rough CPU seconds to encode `frames` frames of width x height as `fmt` (None: nothing
    encoded, a still), with `audio_seconds` of soundtrack muxed in."""
    if fmt is None:
        return 0.0
    per_frame = ENCODE_CPU_S_PER_MP.get(fmt, ENCODE_CPU_S_PER_MP["mp4"]) * width * height / 1e6
    if fmt == "mp4":
        per_frame *= PRESET_FACTOR.get(preset, 1.0)
    return per_frame * frames + AUDIO_CPU_S_PER_S * audio_seconds


def estimate_seconds(
    net, width: int, height: int, supersample: int, frames: int, device: str, precision: str = "fp32",
    fmt: str | None = None, preset: str = "medium", audio_seconds: float = 0.0,
) -> float:  # fmt: skip
    """Rough seconds for a render of `frames` frames of a network spec (scene.Network) at a
    size into `fmt` (None: frames only, as a still): computing them, FLOPs per sample
    (width^2 x depth dominates) x samples x frames / THROUGHPUT (of the path core.render_path
    picks), plus encoding them (encode_cpu_seconds). On a CPU both share the same cores, so
    their CPU seconds add up (a 720p mp4 of a small network is encode-bound); on a GPU the
    encoder's CPU work overlaps the device's. Good to a factor of two or three: enough to
    say "this takes hours"."""
    flop = shape_flop(net.width, net.depth - 1, channels(net.color))
    try:
        kind = pick_device(device).type
    except DeviceUnavailable:  # said elsewhere, at the scene's render.device; an estimate does not fail
        kind = device.split(":")[0]
    key = "fused-cpu" if kind == "cpu" and _default_path(net, kind, precision) == "fused-cpu" else kind
    cores = torch.get_num_threads() if kind == "cpu" else 1
    speed = THROUGHPUT.get(key, THROUGHPUT["cpu"]) * cores
    rendering = flop * width * height * supersample * supersample * frames / speed
    encoding = encode_cpu_seconds(width, height, frames, fmt, preset, audio_seconds)
    if kind == "cpu":
        return rendering + encoding / max(1, cores)
    return max(rendering, encoding / max(1, os.cpu_count() or 1))


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"
