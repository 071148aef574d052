"""`make bench` (after benchmarks/kernels.py, the render speed): precision, encoding, x264
presets and memory, through the render path (core.prepare, what `cppn-anim render` runs).

The machine is shared and noisy, so absolute times drift between runs. Wherever two ways
are compared, they run interleaved (A B A B ..., ROUNDS rounds, default 3) and the line
gives the median of the per-round ratios, so a burst of load hits both sides alike.
Every figure is one line, `[label] value (want TARGET): PASS|FAIL|INFO` (benchmarks/_line.py,
which also records it in benchmarks/figures.json with the date, machine and load): the docs
name the label of every figure they quote.

Optional, slower sections (not in `make bench`):
  --still-16k   a 16384x16384 still: time and peak memory (minutes)
  --dask        one process vs `--workers 2` on 90 frames of 720p (a few minutes)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the command does: before torch loads its OpenMP runtime
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cppn_anim import core, encode, scene, targets, trajectory  # noqa: E402

import _line  # noqa: E402

W, H = 1280, 720
FRAMES = int(os.environ.get("BENCH_FRAMES", "6"))
ROUNDS = max(3, int(os.environ.get("BENCH_ROUNDS", "3")))
SCENE = "trajectory: {keyframes: [{at: 0, z: random}, {at: 4, z: random}]}"  # the contract's defaults: depth 8, width 32, tanh, z 8, rgb
CLI = [str(ROOT / ".venv" / "bin" / "cppn-anim")] if (ROOT / ".venv" / "bin" / "cppn-anim").exists() else [sys.executable, "-m", "cppn_anim"]
RESULTS: dict = {}


def say(label: str, text: str, *, measured: float | None = None, want: str | None = None, ok: bool | None = None, **figures) -> None:
    """One figure line: `[label] text`; its numbers also go to the JSON summary."""
    _line.line(label, text, measured=measured, want=want, ok=ok, source="run.py", **figures)
    RESULTS.update(figures)


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(sides: dict, rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Each side once per round, in turn (A B C A B C ...): {name: [seconds per round]}."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            times[name].append(seconds(fn))
    return times


def median_ratio(times: dict, a: str, b: str) -> float:
    """Median over rounds of time(b) / time(a): how many times faster a is than b."""
    return statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))


def peak_rss_mb(args: list[str], env=None) -> tuple[float, float]:
    """Peak resident memory (MB) and wall seconds of a command, as /usr/bin/time -v reports them."""
    start = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024, took


def section_precision(s, params) -> None:
    """bf16 and fp16 (torch's path on a CPU: the fused kernel is fp32) against fp32 (the render path)."""
    # f"precision (CPU, 1 frame a side, {ROUNDS} interleaved rounds; largest pixel difference from fp32)"
    renderers = {name: core.prepare(scenes_with(s, precision=name)).renderer for name in ("fp32", "bf16", "fp16")}
    for r in renderers.values():
        r.render(params[0])
    times = interleaved({name: (lambda r=r: r.render(params[1])) for name, r in renderers.items()})
    exact = renderers["fp32"].render(params[0]).astype(int)
    for name in ("bf16", "fp16"):
        diff = int(np.abs(renderers[name].render(params[0]).astype(int) - exact).max())
        ratio = median_ratio(times, name, "fp32")
        say(f"precision {name}", f"{name} ({renderers[name].kind}): {ratio:.2f}x the speed of fp32 ({renderers['fp32'].kind}), largest pixel difference {diff}/255",
            **{f"{name}_speed_vs_fp32": round(ratio, 2), f"{name}_pixel_difference": diff})  # fmt: skip


def scenes_with(s, **render_keys):
    """The scene with render.KEY set (precision), validated again."""
    return core.parse(s.resolved_yaml(), "<bench>", [(f"render.{k}", v) for k, v in render_keys.items()])


def section_encode(ours, motion, s) -> None:
    count = max(FRAMES * 3, 12)
    e_params = [motion.at(t) for t in np.linspace(0, 4, count, endpoint=False)]
    rendered = [ours.render(p) for p in e_params]
    # f"encode (libx264 {s.output.preset}, crf 18), {count} frames of {W}x{H}, {ROUNDS} interleaved rounds"
    with tempfile.TemporaryDirectory() as tmp:
        spec = targets.VideoSpec(Path(tmp) / "bench.mp4", "mp4", W, H, 30, preset=s.output.preset)
        times = interleaved({
            "render": lambda: [ours.render(p) for p in e_params],
            "encode": lambda: encode.write(iter(rendered), spec),
            "both": lambda: encode.write((ours.render(p) for p in e_params), spec),
        })  # fmt: skip
    ratios = [b / (r + e) for r, e, b in zip(times["render"], times["encode"], times["both"])]
    med = {k: statistics.median(v) for k, v in times.items()}
    say("encode times", f"render only {med['render']:.2f} s, encode only {med['encode']:.2f} s, end to end {med['both']:.2f} s (medians)",
        render_s=round(med["render"], 2), encode_s=round(med["encode"], 2), end_to_end_s=round(med["both"], 2))  # fmt: skip
    say("encode overlap", f"end to end / (render + encode) = {statistics.median(ratios):.2f} (median of {ROUNDS})",
        measured=statistics.median(ratios), want="<= 1.10",
        end_to_end_over_sum=round(statistics.median(ratios), 2))  # fmt: skip


def section_presets() -> None:
    """x264 presets on 30 frames of spiral at 720p: encode-only speed, end-to-end speed, size, PSNR."""
    spiral = core.load(ROOT / "scenes" / "spiral.yaml", {"size": [W, H]})
    r = core.prepare(spiral).renderer  # what `render` runs
    m = trajectory.Motion(spiral)
    frames_p = [m.at(t) for t in trajectory.frame_times(spiral, 0, 30)]
    rendered = [r.render(p) for p in frames_p]
    # "x264 presets: 30 frames of spiral at 1280x720, crf 18 (encode only, end to end = render + encode, size, PSNR vs the rendered frames)"
    with tempfile.TemporaryDirectory() as tmp:
        for preset in ("ultrafast", "veryfast", "medium", "slow"):
            spec = targets.VideoSpec(Path(tmp) / f"{preset}.mp4", "mp4", W, H, spiral.fps, preset=preset)
            t_enc = seconds(lambda: encode.write(iter(rendered), spec))
            t_both = seconds(lambda: encode.write((r.render(p) for p in frames_p), spec))
            size = spec.path.stat().st_size
            decoded = _decode(spec.path)
            mse = np.mean((decoded.astype(float) - np.stack(rendered).astype(float)) ** 2)
            psnr = 10 * np.log10(255**2 / mse)
            say(f"preset {preset}", f"{preset:9} encode {30 / t_enc:6.1f} fps, end to end {30 / t_both:5.2f} fps, {size / 1e6:.2f} MB, PSNR {psnr:.1f} dB",
                **{f"preset_{preset}": {"encode_fps": round(30 / t_enc, 1), "end_to_end_fps": round(30 / t_both, 2), "mb": round(size / 1e6, 2), "psnr_db": round(psnr, 1)}})  # fmt: skip


def _decode(path: Path) -> np.ndarray:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen])


def section_memory() -> None:
    scene_file = Path(tempfile.mkdtemp()) / "bench.yaml"
    scene_file.write_text(SCENE + "\nduration: 60\n")
    with tempfile.TemporaryDirectory() as tmp:
        rss_8k, _ = peak_rss_mb([*CLI, "still", str(scene_file), "--frame", "0", "--size", "7680x4320", "-o", f"{tmp}/8k.png", "--quiet"])
        short, _ = peak_rss_mb([*CLI, "render", str(scene_file), "--size", "320x180", "--frames", "0:20", "-o", f"{tmp}/a.mp4", "--quiet"])
        long, _ = peak_rss_mb([*CLI, "render", str(scene_file), "--size", "320x180", "--frames", "0:200", "-o", f"{tmp}/b.mp4", "--quiet"])
    # "memory (peak RSS, /usr/bin/time -v)"
    say("memory 8k still", f"still 7680x4320: peak {rss_8k:.0f} MB", measured=rss_8k, want="<= 1536 MB", still_8k_peak_rss_mb=round(rss_8k))
    say("memory video", f"video 320x180: {short:.0f} MB for 20 frames, {long:.0f} MB for 200 ({long / short:.2f}x for 10x the frames)",
        measured=long / short, want="<= 1.2x",
        video_rss_mb_20_vs_200_frames=[round(short), round(long)])  # fmt: skip


def section_still_16k() -> None:
    scene_file = Path(tempfile.mkdtemp()) / "bench.yaml"
    scene_file.write_text(SCENE + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        rss, took = peak_rss_mb([*CLI, "still", str(scene_file), "--frame", "0", "--size", "16384x16384", "-o", f"{tmp}/16k.png", "--quiet"])
    # "a 16K still (--still-16k)"
    say("still 16k", f"still 16384x16384: {took:.0f} s, peak {rss / 1024:.1f} GB (the uint8 frame alone is {16384 * 16384 * 3 / 2**30:.2f} GB)",
        still_16k_s=round(took), still_16k_peak_rss_gb=round(rss / 1024, 2))  # fmt: skip


def section_dask() -> None:
    scene_file = Path(tempfile.mkdtemp()) / "spiral.yaml"
    scene_file.write_text((ROOT / "scenes" / "spiral.yaml").read_text())
    # f"Dask (--dask): spiral, 90 frames at 1280x720, mp4; one process vs --workers 2, {ROUNDS} interleaved rounds"
    with tempfile.TemporaryDirectory() as tmp:
        base = [*CLI, "render", str(scene_file), "--frames", "0:90", "--quiet"]
        times = interleaved({
            "one": lambda: subprocess.run([*base, "-o", f"{tmp}/one.mp4"], check=True),
            "two": lambda: subprocess.run([*base, "-o", f"{tmp}/two.mp4", "--workers", "2"], check=True),
            "resume": lambda: subprocess.run([*base, "-o", f"{tmp}/seg.mp4", "--resume"], check=True),
        })  # fmt: skip
    med = {k: statistics.median(v) for k, v in times.items()}
    say("dask speed-up", f"one process {med['one']:.1f} s, --workers 2 {med['two']:.1f} s, --resume (segments in one process) {med['resume']:.1f} s;"
        f" speed-up of 2 workers {median_ratio(times, 'two', 'one'):.2f}x", dask_speedup=round(median_ratio(times, "two", "one"), 2))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--still-16k", action="store_true", help="also a 16384x16384 still (minutes, ~2 GB)")
    parser.add_argument("--dask", action="store_true", help="also one process vs --workers 2 (minutes)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of every figure")
    args = parser.parse_args()
    began = time.perf_counter()
    s = scene.parse(SCENE + f"\nsize: [{W}, {H}]")
    motion = trajectory.Motion(s)
    params = [motion.at(t) for t in trajectory.frame_times(s, 0, FRAMES)]
    _line.context(__file__)
    warnings.simplefilter("ignore", core.DraftPrecision)  # bf16/fp16 on purpose
    ours = core.prepare(s).renderer  # what `cppn-anim render` runs (render speed: benchmarks/kernels.py)
    say("bench network", f"depth {s.network.depth}, width {s.network.width}, tanh, latent {s.network.latent_dim}, rgb, {W}x{H}; torch {torch.__version__},"
        f" {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; render path: {ours.kind} on {ours.workers} worker(s)")  # fmt: skip
    section_precision(s, params)
    section_encode(ours, motion, s)
    section_presets()
    section_memory()
    if args.still_16k:
        section_still_16k()
    if args.dask:
        section_dask()
    say("bench took", f"{time.perf_counter() - began:.0f} s")
    if args.json:
        print(json.dumps(RESULTS))


if __name__ == "__main__":
    main()
