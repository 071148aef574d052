#!/usr/bin/env bash
# On a CUDA machine, one run tells all (each figure one line; under 10 minutes on one GPU):
#   1. the torch path: CPU/GPU agreement (largest pixel difference at fp32 <= 2), a frame the
#      same whatever the band size and in every batch slot, CUDA out of memory as exit 1 with one line;
#   2. the fused Triton kernel (cppn_anim/fused.py) against the torch path ("eager"): agreement
#      (max abs diff /255, fused vs eager and vs the CPU at fp32) and timings at 1920x1080 and
#      3840x2160, fp32 and bf16, and a few launch shapes (block, warps) at 1080p fp32.
# Every section runs even when another fails; the end lists what failed or could not be done.
# Exit 0 only when everything ran and passed.
# Usage: bash scripts/gpu_check.sh   (after `make test` has made .venv; triton: pip install -e '.[gpu]')
set -u
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
failed=()

section() {  # section NAME: runs stdin as Python, records a failure by name
  local name=$1
  echo "== $name"
  if ! "$PY" -; then
    failed+=("$name")
  fi
}

section "environment" <<'PYEOF'
import sys, torch
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)
try:
    import triton
    print("triton", triton.__version__)
except ImportError as exc:
    print("triton: not installed (pip install -e '.[gpu]'):", exc)
if not torch.cuda.is_available():
    print("NO CUDA DEVICE: nothing below can run"); sys.exit(1)
p = torch.cuda.get_device_properties(0)
print(f"device: {p.name}, {p.total_memory / 2**30:.0f} GiB, sm_{p.major}{p.minor}, {p.multi_processor_count} SMs")
PYEOF

section "torch path: agreement, bands, batch slots" <<'PYEOF'
import numpy as np, torch
from cppn_anim import scene, network, trajectory
from cppn_anim.render import Renderer
if not torch.cuda.is_available():
    print("could not run: no CUDA device"); raise SystemExit(1)
s = scene.parse("trajectory: {keyframes: [{at: 0, z: random}, {at: 4, z: random}]}\nview: {rotation: 20, zoom: 1.3}")
w = network.build(s.network, s.seed)
m = trajectory.Motion(s)
ok = True
worst = 0
for t in (0.0, 1.7, 3.3):
    cpu = Renderer(w, 640, 360, device="cpu").render(m.at(t)).astype(int)
    gpu = Renderer(w, 640, 360, device="cuda").render(m.at(t)).astype(int)
    worst = max(worst, int(np.abs(cpu - gpu).max()))
print(f"[torch CPU vs GPU] fp32, 640x360, 3 frames: largest pixel difference {worst}/255 (want <= 2): {'PASS' if worst <= 2 else 'FAIL'}")
ok &= worst <= 2
def banded(samples):  # a renderer with bands of about `samples` samples (its pace, never its pixels)
    r = Renderer(w, 1920, 1080, device="cuda")
    r.band_rows = max(1, samples // 1920)
    return r
a = banded(1 << 18).render(m.at(1.0))
b = banded(1 << 22).render(m.at(1.0))
same = np.array_equal(a, b)
print(f"[torch bands] 1080p, band 2^18 vs 2^22 samples: {'identical: PASS' if same else 'DIFFERENT: FAIL'}")
ok &= same
r = Renderer(w, 640, 360, device="cuda", supersample=2)
others = [m.at(0.1 * i) for i in range(1, 8)]
p = m.at(2.5)
alone = r.render(p)
slots = all(np.array_equal(list(r.frames(others[:i] + [p] + others[i:]))[i], alone)
            and np.array_equal(list(r.frames((others[:i] + [p])))[i], alone) for i in range(r.batch))
print(f"[torch batch slots] a frame alone equals it in each of the {r.batch} slots, full or short batch: {'PASS' if slots else 'FAIL'}")
ok &= slots
raise SystemExit(0 if ok else 1)
PYEOF

echo "== torch path: CUDA out of memory"
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "could not run: no CUDA device"
  failed+=("torch path: CUDA out of memory")
else
tmp=$(mktemp -d)
printf 'network: {width: 4096, depth: 32}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n' > "$tmp/big.yaml"
"$PY" -c "import sys, torch; torch.cuda.set_per_process_memory_fraction(0.01); from cppn_anim.cli import main; sys.exit(main(sys.argv[1:]))" \
  still "$tmp/big.yaml" --frame 0 --size 3840x2160 --device cuda --quiet -o "$tmp/big.png" 2> "$tmp/err"
code=$?
lines=$(wc -l < "$tmp/err")
if [ "$code" = 1 ] && [ "$lines" = 1 ] && ! grep -q Traceback "$tmp/err" && [ ! -e "$tmp/big.png" ]; then
  echo "[torch out of memory] exit 1, one line: PASS ($(cat "$tmp/err"))"
else
  echo "[torch out of memory] exit $code, $lines line(s) on stderr: FAIL"; head -3 "$tmp/err"
  failed+=("torch path: CUDA out of memory")
fi
rm -rf "$tmp"
fi

section "fused kernel vs eager" <<'PYEOF'
import sys, time, numpy as np, torch
from cppn_anim import scene, network, trajectory
from cppn_anim.render import Renderer
try:
    from cppn_anim import fused
except ImportError as exc:
    print("cannot import cppn_anim.fused (an older checkout?):", exc); sys.exit(1)
if not torch.cuda.is_available():
    print("could not run: no CUDA device"); raise SystemExit(1)
why = fused.unusable(torch.device("cuda"))
if why:
    print("fused kernel unusable here:", why); sys.exit(1)
s = scene.parse("trajectory: {keyframes: [{at: 0, z: random}, {at: 4, z: random}]}\nview: {rotation: 20, zoom: 1.3}")
w = network.build(s.network, s.seed)  # bench720's network: 8 tanh layers of 32, latent 8, rgb
m = trajectory.Motion(s)
ok = True

def timed(fn, n):
    fn(0); torch.cuda.synchronize()  # compile / warm up
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / n

# agreement at a small size against the CPU (fp32): the contract's bound across devices is 2/255
cpu = Renderer(w, 640, 360, device="cpu").render(m.at(1.3)).astype(int)
small = fused.render(w, m.at(1.3), 640, 360, device="cuda").astype(int)
d = int(np.abs(cpu - small).max())
print(f"[fused vs CPU] fp32 640x360: max abs diff {d}/255 (want <= 2): {'PASS' if d <= 2 else 'FAIL'}"); ok &= d <= 2
for (W, H) in ((1920, 1080), (3840, 2160)):
    n = 20 if W == 1920 else 6
    for precision in ("fp32", "bf16"):
        label = f"{W}x{H} {precision}"
        try:
            eager = Renderer(w, W, H, device="cuda", precision=precision)
            net = fused.FusedNetwork(w, "cuda", precision)
            samples = fused.grid(W, H, 1, "cuda")
            a = eager.render(m.at(0.7)).astype(int)
            b = fused.render(w, m.at(0.7), W, H, net=net, samples=samples).astype(int)
            diff = np.abs(a - b)
            te = timed(lambda i: eager.render(m.at(i / 30)), n)
            tf = timed(lambda i: fused.render(w, m.at(i / 30), W, H, net=net, samples=samples), n)
            bound = 2 if precision == "fp32" else 255  # bf16: reported, not bounded (both round differently)
            good = int(diff.max()) <= bound
            print(f"[fused {label}] eager {W * H / te / 1e6:8.1f} MP/s, fused {W * H / tf / 1e6:8.1f} MP/s = {te / tf:5.2f}x eager;"
                  f" max abs diff {int(diff.max())}/255 (mean {diff.mean():.3f}, {100 * (diff > 1).mean():.2f}% of values off by > 1)"
                  f"{' (want <= 2)' if precision == 'fp32' else ''}: {'PASS' if good else 'FAIL'}")
            ok &= good
        except Exception as exc:  # one size or precision failing must not hide the others
            print(f"[fused {label}] could not run: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"); ok = False
# launch shapes at 1080p fp32: which block of samples and how many warps (FusedNetwork's default: 128, 4)
samples = fused.grid(1920, 1080, 1, "cuda")
for block, warps in ((64, 2), (64, 4), (128, 4), (128, 8), (256, 8)):
    try:
        net = fused.FusedNetwork(w, "cuda", "fp32", block=block, num_warps=warps)
        t = timed(lambda i: net.values(m.at(i / 30), *samples), 20)
        print(f"[fused shape] 1080p fp32 block {block:3d} warps {warps}: {1920 * 1080 / t / 1e6:8.1f} MP/s (kernel only)")
    except Exception as exc:
        print(f"[fused shape] block {block} warps {warps}: could not run: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
raise SystemExit(0 if ok else 1)
PYEOF

if [ ${#failed[@]} -eq 0 ]; then
  echo "gpu_check: all checks ran and passed"
else
  echo "gpu_check: FAILED or could not run: $(printf '%s; ' "${failed[@]}")"
  exit 1
fi
