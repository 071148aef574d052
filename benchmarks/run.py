"""`make bench`: the renderer's figures the docs quote, measured side by side in this one run.

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
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the command does: before torch loads its OpenMP runtime
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cppn_anim import core, encode, entry, network, render, scene, targets, trajectory  # noqa: E402
from cppn_anim.render import Renderer  # noqa: E402

import _line  # noqa: E402
import baseline  # noqa: E402

W, H = 1280, 720
FRAMES = int(os.environ.get("BENCH_FRAMES", "6"))
ROUNDS = max(3, int(os.environ.get("BENCH_ROUNDS", "3")))
SCENE = "trajectory: {keyframes: [{at: 0, z: random}, {at: 4, z: random}]}"  # the contract's defaults: depth 8, width 32, tanh, z 8, rgb
CLI = [str(ROOT / ".venv" / "bin" / "cppn-anim")] if (ROOT / ".venv" / "bin" / "cppn-anim").exists() else [sys.executable, "-m", "cppn_anim"]
RESULTS: dict = {}


def say(label: str, text: str, *, measured: float | None = None, want: str | None = None, ok: bool | None = None, **figures) -> None:
    """One figure line, `[label] text (want TARGET): VERDICT` (_line.py); its numbers also go to the JSON summary."""
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


def gemm_peak() -> float:
    """fp32 GFLOP/s of a large square matmul on all threads: the machine's practical peak."""
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(seconds(lambda: [a @ b for _ in range(5)]) for _ in range(3)) / 5
    return 2 * n**3 / best / 1e9


def peak_rss_mb(args: list[str], env=None) -> tuple[float, float]:
    """Peak resident memory (MB) and wall seconds of a command, as /usr/bin/time -v reports them."""
    start = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024, took


class Spinner:
    """A busy neighbour: another process spinning on one core, started and stopped here."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def section_render(w, params, peak_holder) -> Renderer:
    # f"render (fp32, no encoding, {W}x{H}, {FRAMES} frames a side, {ROUNDS} interleaved rounds)"
    ours = Renderer(w, W, H, device="cpu")
    model = baseline.BaselineCPPN(w)
    ours.render(params[0])
    baseline.render(model, params[0].z, W, H)
    times = interleaved({
        "baseline": lambda: [baseline.render(model, p.z, W, H) for p in params],
        "ours": lambda: [ours.render(p) for p in params],
    })  # fmt: skip
    mp = W * H * len(params) / 1e6
    base_mps, ours_mps = mp / statistics.median(times["baseline"]), mp / statistics.median(times["ours"])
    speedup = median_ratio(times, "ours", "baseline")
    diff = int(np.abs(ours.render(params[0]).astype(int) - baseline.render(model, params[0].z, W, H)).max())
    say("render baseline", f"baseline (whole frame, unfused)  {base_mps:6.2f} MP/s  {len(params) / statistics.median(times['baseline']):5.2f} frames/s (median)", baseline_megapixels_per_s=round(base_mps, 3))
    say("render cppn-anim", f"cppn-anim                        {ours_mps:6.2f} MP/s  {len(params) / statistics.median(times['ours']):5.2f} frames/s (median)", megapixels_per_s=round(ours_mps, 3))
    say("render speed-up", f"{speedup:.2f}x (median of {ROUNDS} per-round ratios: {', '.join(f'{b / a:.2f}' for a, b in zip(times['ours'], times['baseline']))}); same pixels within {diff}/255",
        measured=speedup, want=">= 5x", speedup=round(speedup, 2), baseline_pixel_difference=diff)  # fmt: skip
    peak = gemm_peak()
    flops = render.flop_per_sample(w)
    share = flops * ours_mps / 1e3 / peak
    say("gemm peak", f"fp32 GEMM peak (2048^2 matmul, {torch.get_num_threads()} threads) {peak:.0f} GFLOP/s", gemm_peak_gflops=round(peak, 1))
    say("share of peak", f"{flops} FLOP/pixel x {ours_mps:.2f} MP/s = {flops * ours_mps / 1e3:.0f} GFLOP/s = {100 * share:.0f}% of the GEMM peak",
        measured=100 * share, want=">= 60%", flop_per_pixel=flops, share_of_peak=round(share, 3))  # fmt: skip
    peak_holder.append(peak)
    return ours


def section_profile(ours: Renderer, p) -> None:
    """Where one 720p frame's time goes, by torch operator (torch.profiler, CPU)."""
    from torch.profiler import ProfilerActivity, profile

    ours.render(p)
    with _line.quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:  # no profiler chatter
        ours.render(p)
    groups = {"matmul (addmm)": 0.0, "sigmoid": 0.0, "other": 0.0}
    total = 0.0
    for e in prof.key_averages():
        if e.key in ("aten::addmm",):
            groups["matmul (addmm)"] += e.self_cpu_time_total
        elif e.key in ("aten::sigmoid_", "aten::sigmoid"):
            groups["sigmoid"] += e.self_cpu_time_total
        else:
            groups["other"] += e.self_cpu_time_total
        total += e.self_cpu_time_total
    # "profile (one 720p frame, torch.profiler self CPU time by operator)"
    say("profile shares", ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in groups.items()),
        profile_shares={k: round(v / total, 3) for k, v in groups.items()})  # fmt: skip


def section_activations() -> None:
    """Why tanh layers store sigmoid(2a): torch's CPU sigmoid against its tanh, in place on one chunk."""
    a = torch.randn(16384, 32)
    times = interleaved({"sigmoid": lambda: [torch.sigmoid_(a.clone()) for _ in range(50)], "tanh": lambda: [torch.tanh_(a.clone()) for _ in range(50)]})
    say("sigmoid vs tanh", f"torch.sigmoid_ is {median_ratio(times, 'sigmoid', 'tanh'):.1f}x as fast as torch.tanh_ on a 16384x32 chunk",
        sigmoid_vs_tanh=round(median_ratio(times, "sigmoid", "tanh"), 1))  # fmt: skip


def section_precision(w, params, ours: Renderer) -> None:
    # f"precision (CPU, 1 frame a side, {ROUNDS} interleaved rounds; largest pixel difference from fp32)"
    renderers = {name: Renderer(w, W, H, device="cpu", precision=name) for name in ("fp32", "bf16", "fp16")}
    for r in renderers.values():
        r.render(params[0])
    times = interleaved({name: (lambda r=r: r.render(params[1])) for name, r in renderers.items()})
    exact = renderers["fp32"].render(params[0]).astype(int)
    for name in ("bf16", "fp16"):
        diff = int(np.abs(renderers[name].render(params[0]).astype(int) - exact).max())
        ratio = median_ratio(times, name, "fp32")
        say(f"precision {name}", f"{name}: {ratio:.2f}x the speed of fp32, largest pixel difference {diff}/255", **{f"{name}_speed_vs_fp32": round(ratio, 2), f"{name}_pixel_difference": diff})


def section_encode(ours: Renderer, motion, s) -> None:
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
        measured=statistics.median(ratios), want="<= 1.10", end_to_end_over_sum=round(statistics.median(ratios), 2))  # fmt: skip


def section_presets(ours: Renderer, motion) -> None:
    """x264 presets on 30 frames of spiral at 720p: encode-only speed, end-to-end speed, size, PSNR."""
    spiral = scene.load(ROOT / "scenes" / "spiral.yaml")
    weights = network.build(spiral.network, spiral.seed)
    r = Renderer(weights, W, H, device="cpu")
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
        measured=long / short, want="<= 1.2x", video_rss_mb_20_vs_200_frames=[round(short), round(long)])  # fmt: skip


def section_threads() -> None:
    """Small frames on a busy machine: one thread, chosen by work size, vs forcing either count."""
    lava = scene.load(ROOT / "scenes" / "lava.yaml")
    small = core.preview_scene(lava)
    # f"threads (torch threads by work size; a busy neighbour = another process spinning on one core; {ROUNDS} interleaved rounds)"
    with tempfile.TemporaryDirectory() as tmp:
        gif = Path(tmp) / "lava.preview.gif"

        def preview(threads: int | None, small_flop: float = render.SMALL_FRAME_FLOP):
            def run():
                before, saved = torch.get_num_threads(), render.SMALL_FRAME_FLOP
                render.SMALL_FRAME_FLOP = small_flop
                if threads:
                    torch.set_num_threads(threads)
                try:
                    core.render(small, gif, "gif", pin=entry.torch_threads)  # as the command line renders
                finally:
                    torch.set_num_threads(before)
                    render.SMALL_FRAME_FLOP = saved

            return run

        cores = torch.get_num_threads()
        with Spinner():
            times = interleaved({"auto": preview(None), "one": preview(1), "all": preview(cores, small_flop=0)})
    med = {k: statistics.median(v) for k, v in times.items()}
    say("threads preview busy", f"render scenes/lava.yaml --preview, busy neighbour: auto {med['auto']:.2f} s, 1 thread {med['one']:.2f} s,"
        f" {cores} threads {med['all']:.2f} s; auto is {median_ratio(times, 'auto', 'one'):.2f}x the speed of 1 thread,"
        f" {median_ratio(times, 'auto', 'all'):.2f}x that of {cores} threads",
        measured=median_ratio(times, "auto", "one"), want=">= 0.9x (auto vs 1 thread)", preview_busy_auto_vs_one=round(median_ratio(times, "auto", "one"), 2), preview_busy_auto_vs_all=round(median_ratio(times, "auto", "all"), 2))  # fmt: skip

    s = scene.parse(SCENE)
    w = network.build(s.network, s.seed)
    m = trajectory.Motion(s)
    params = [m.at(t) for t in np.linspace(0, 4, 4, endpoint=False)]
    r = Renderer(w, W, H, device="cpu")
    r.render(params[0])

    def frames(threads: int | None):
        def run():
            before = torch.get_num_threads()
            if threads:
                torch.set_num_threads(threads)
            try:
                for p in params:
                    r.render(p)
            finally:
                torch.set_num_threads(before)

        return run

    times = interleaved({"auto": frames(None), "one": frames(1)})
    say("threads 720p idle", f"720p frames, no neighbour: auto ({r.threads or cores} threads) is {median_ratio(times, 'auto', 'one'):.2f}x the speed of 1 thread",
        measured=median_ratio(times, "auto", "one"), want=f">= {0.8 * cores:g}x", hd_idle_auto_vs_one=round(median_ratio(times, "auto", "one"), 2))  # fmt: skip
    with Spinner():
        times = interleaved({"auto": frames(None), "one": frames(1)})
    say("threads 720p busy", f"720p frames, busy neighbour: auto is {median_ratio(times, 'auto', 'one'):.2f}x the speed of 1 thread",
        measured=median_ratio(times, "auto", "one"), want=">= 0.9x", hd_busy_auto_vs_one=round(median_ratio(times, "auto", "one"), 2))  # fmt: skip


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
    s = scene.parse(SCENE)
    w = network.build(s.network, s.seed)
    motion = trajectory.Motion(s)
    params = [motion.at(t) for t in trajectory.frame_times(s, 0, FRAMES)]
    _line.context(__file__)
    say("bench network", f"depth {s.network.depth}, width {s.network.width}, tanh, latent {s.network.latent_dim}, rgb, {W}x{H};"
        f" torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")  # fmt: skip
    peak: list = []
    ours = section_render(w, params, peak)
    section_profile(ours, params[0])
    section_activations()
    section_precision(w, params, ours)
    section_encode(ours, motion, s)
    section_presets(ours, motion)
    section_memory()
    section_threads()
    if args.still_16k:
        section_still_16k()
    if args.dask:
        section_dask()
    say("bench took", f"{time.perf_counter() - began:.0f} s")
    if args.json:
        print(json.dumps(RESULTS))


if __name__ == "__main__":
    main()
