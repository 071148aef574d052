"""`make bench`: every figure measured side by side in this one run, reported as ratios.

The machine is shared and noisy, so absolute times drift between runs; the ratios
(ours / baseline, share of the GEMM peak, end-to-end / (render + encode)) are what to compare.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cppn_anim import encode, network, scene, trajectory  # noqa: E402
from cppn_anim.render import Renderer  # noqa: E402

import baseline  # noqa: E402

W, H = 1280, 720
FRAMES = int(os.environ.get("BENCH_FRAMES", "6"))
SCENE = "trajectory: {keyframes: [{at: 0, z: random}, {at: 4, z: random}]}"  # the contract's defaults: depth 8, width 32, tanh, z 8, rgb


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_peak() -> float:
    """fp32 GFLOP/s of a large square matmul on all threads: the machine's practical peak."""
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    seconds = timed(lambda: [a @ b for _ in range(5)], repeat=3) / 5
    return 2 * n**3 / seconds / 1e9


def flops_per_pixel(w) -> int:
    """Multiply-adds we actually run per pixel (the view and z are folded into per-frame biases)."""
    width = w.first.shape[1]
    return 2 * (3 * width + len(w.hidden) * width * width + width * w.out.shape[1])


def peak_rss_mb(args: list[str]) -> float:
    """Peak resident memory of a command, as /usr/bin/time -v reports it."""
    if os.path.exists("/usr/bin/time"):
        r = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    import resource

    subprocess.run(args, check=True, capture_output=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    s = scene.parse(SCENE)
    w = network.build(s.network, s.seed)
    motion = trajectory.Motion(s)
    params = [motion.at(t) for t in trajectory.frame_times(s, 0, FRAMES)]
    mp = W * H * FRAMES / 1e6
    print(f"cppn-anim bench: {W}x{H}, depth {s.network.depth}, width {s.network.width}, tanh, latent {s.network.latent_dim}, rgb;"
          f" {FRAMES} frames; torch {torch.__version__}, {torch.get_num_threads()} threads\n")

    ours = Renderer(w, W, H, device="cpu")
    ours.render(params[0])
    t_ours = timed(lambda: [ours.render(p) for p in params], repeat=2)
    model = baseline.BaselineCPPN(w)
    baseline.render(model, params[0].z, W, H)
    t_base = timed(lambda: [baseline.render(model, p.z, W, H) for p in params], repeat=2)
    diff = np.abs(ours.render(params[0]).astype(int) - baseline.render(model, params[0].z, W, H)).max()
    peak = gemm_peak()
    flops = flops_per_pixel(w)
    ours_mps, base_mps = mp / t_ours, mp / t_base
    print("render (fp32, no encoding)           MP/s   frames/s")
    print(f"  baseline (whole frame, unfused)   {base_mps:6.2f}   {FRAMES / t_base:6.2f}")
    print(f"  cppn-anim                         {ours_mps:6.2f}   {FRAMES / t_ours:6.2f}")
    print(f"  speed-up                          {ours_mps / base_mps:6.2f}x   (same pixels within {diff}/255)")
    print(f"  GEMM peak {peak:.0f} GFLOP/s; our {flops} FLOP/pixel x {ours_mps:.2f} MP/s = {flops * ours_mps / 1e3:.0f} GFLOP/s"
          f" = {100 * flops * ours_mps / 1e3 / peak:.0f}% of peak\n")

    exact = ours.render(params[0]).astype(int)
    print("precision   MP/s   vs fp32   largest pixel difference")
    for precision in ("fp32", "bf16", "fp16"):
        r = Renderer(w, W, H, device="cpu", precision=precision)
        r.render(params[0])
        t = timed(lambda: [r.render(p) for p in params[:2]])
        speed = W * H * 2 / t / 1e6
        print(f"  {precision}     {speed:6.2f}   {speed / ours_mps:5.2f}x   {np.abs(r.render(params[0]).astype(int) - exact).max()}")
    print()

    # encoding: the same 720p frames, render-only vs encode-only vs both overlapped
    count = max(FRAMES * 3, 12)
    e_params = [motion.at(t) for t in np.linspace(0, 4, count, endpoint=False)]
    rendered: list = []
    t_render = timed(lambda: rendered.extend(ours.render(p) for p in e_params))
    with tempfile.TemporaryDirectory() as tmp:
        spec = encode.VideoSpec(Path(tmp) / "bench.mp4", "mp4", W, H, 30, preset=s.output.preset)
        t_encode = timed(lambda: encode.write(iter(rendered), spec))
        t_both = timed(lambda: encode.write((ours.render(p) for p in e_params), spec))
    print(f"encode (libx264 {s.output.preset}, crf 18), {count} frames of {W}x{H}")
    print(f"  render only {t_render:6.2f} s   encode only {t_encode:6.2f} s   end to end {t_both:6.2f} s")
    print(f"  end to end / (render + encode) = {t_both / (t_render + t_encode):.2f}  (must be <= 1.10);"
          f" / slower of the two = {t_both / max(t_render, t_encode):.2f}\n")

    # memory: an 8K still, and videos of two lengths
    cli = [str(ROOT / ".venv" / "bin" / "cppn-anim")] if (ROOT / ".venv" / "bin" / "cppn-anim").exists() else [sys.executable, "-m", "cppn_anim"]
    scene_file = Path(tempfile.mkdtemp()) / "bench.yaml"
    scene_file.write_text(SCENE + "\nduration: 60\n")
    with tempfile.TemporaryDirectory() as tmp:
        rss_8k = peak_rss_mb([*cli, "still", str(scene_file), "--frame", "0", "--size", "7680x4320", "-o", f"{tmp}/8k.png", "--quiet"])
        short = peak_rss_mb([*cli, "render", str(scene_file), "--size", "320x180", "--frames", "0:20", "-o", f"{tmp}/a.mp4", "--quiet"])
        long = peak_rss_mb([*cli, "render", str(scene_file), "--size", "320x180", "--frames", "0:200", "-o", f"{tmp}/b.mp4", "--quiet"])
    print("memory (peak RSS, /usr/bin/time -v)")
    print(f"  still 7680x4320            {rss_8k:7.0f} MB   (budget 1536 MB)")
    print(f"  video 320x180, 20 frames   {short:7.0f} MB")
    print(f"  video 320x180, 200 frames  {long:7.0f} MB   ({long / short:.2f}x for 10x the frames)\n")

    print(json.dumps({
        "megapixels_per_s": round(ours_mps, 3), "baseline_megapixels_per_s": round(base_mps, 3),
        "speedup": round(ours_mps / base_mps, 2), "gemm_peak_gflops": round(peak, 1),
        "share_of_peak": round(flops * ours_mps / 1e3 / peak, 3),
        "render_s": round(t_render, 2), "encode_s": round(t_encode, 2), "end_to_end_s": round(t_both, 2),
        "still_8k_peak_rss_mb": round(rss_8k), "video_rss_mb_20_vs_200_frames": [round(short), round(long)],
    }))


if __name__ == "__main__":
    main()
