#!/usr/bin/env bash
# On a CUDA machine: CPU/GPU agreement (largest pixel difference at fp32 <= 2), a frame the
# same in every batch slot, CUDA out of memory as exit 1 with one line, and bench figures at
# 1920x1080 and 3840x2160 for fp32 and bf16. Under 5 minutes.
# Usage: bash scripts/gpu_check.sh   (after `make test` has created .venv, or with cppn_anim importable)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
$PY - <<'PYEOF'
import time, numpy as np, torch
from cppn_anim import scene, network, trajectory
from cppn_anim.render import Renderer
assert torch.cuda.is_available(), "no CUDA device"
print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
s = scene.parse("trajectory: {keyframes: [{at: 0, z: random}, {at: 4, z: random}]}\nview: {rotation: 20, zoom: 1.3}")
w = network.build(s.network, s.seed)
m = trajectory.Motion(s)
worst = 0
for t in (0.0, 1.7, 3.3):
    cpu = Renderer(w, 640, 360, device="cpu").render(m.at(t)).astype(int)
    gpu = Renderer(w, 640, 360, device="cuda").render(m.at(t)).astype(int)
    worst = max(worst, int(np.abs(cpu - gpu).max()))
print(f"CPU vs GPU, fp32, 640x360, 3 frames: largest pixel difference {worst} (must be <= 2)")
assert worst <= 2
def banded(samples):  # a renderer with bands of about `samples` samples (its pace, never its pixels)
    r = Renderer(w, 1920, 1080, device="cuda")
    r.band_rows = max(1, samples // 1920)
    return r
a = banded(1 << 18).render(m.at(1.0))  # many bands
b = banded(1 << 22).render(m.at(1.0))
print("GPU band size independence:", "identical" if np.array_equal(a, b) else "DIFFERENT")
assert np.array_equal(a, b)
# A frame is the same alone (a still: one frame, no padding) and in every slot of a batch of 8.
r = Renderer(w, 640, 360, device="cuda", supersample=2)
assert r.batch == 8, r.batch
others = [m.at(0.1 * i) for i in range(1, 8)]
p = m.at(2.5)
alone = r.render(p)
for slot in range(8):
    group = others[:slot] + [p] + others[slot:]
    assert np.array_equal(list(r.frames(group))[slot], alone), f"slot {slot} differs"
    assert np.array_equal(list(r.frames(group[: slot + 1]))[slot], alone), f"slot {slot} of a short batch differs"
print("GPU batch slots: a frame alone equals it in each of the 8 slots, full or short batch: identical")
print(f"{'size':>10} {'precision':>9} {'MP/s':>9} {'frames/s':>9}")
for (W, H) in ((1920, 1080), (3840, 2160)):
    for precision in ("fp32", "bf16"):
        r = Renderer(w, W, H, device="cuda", precision=precision)
        r.render(m.at(0)); torch.cuda.synchronize()
        n = 20 if W == 1920 else 8
        start = time.perf_counter()
        for i in range(n):
            r.render(m.at(i / 30))
        torch.cuda.synchronize()
        dt = time.perf_counter() - start
        print(f"{W}x{H:<5} {precision:>9} {W * H * n / dt / 1e6:9.1f} {n / dt:9.2f}")
PYEOF
# CUDA out of memory: exit 1 with one line, no traceback. The process may use 1% of the GPU;
# a network 4096 wide and 32 deep needs 2 GB for its weights alone.
tmp=$(mktemp -d)
printf 'network: {width: 4096, depth: 32}\ntrajectory: {keyframes: [{at: 0, z: random}]}\n' > "$tmp/big.yaml"
set +e
$PY -c "import sys, torch; torch.cuda.set_per_process_memory_fraction(0.01); from cppn_anim.cli import main; sys.exit(main(sys.argv[1:]))" \
  still "$tmp/big.yaml" --frame 0 --size 3840x2160 --device cuda --quiet -o "$tmp/big.png" 2> "$tmp/err"
code=$?
set -e
echo "CUDA out of memory: exit $code, stderr: $(cat "$tmp/err")"
test "$code" = 1 && test "$(wc -l < "$tmp/err")" = 1 && ! grep -q Traceback "$tmp/err" && test ! -e "$tmp/big.png"
rm -rf "$tmp"
echo "gpu_check: all checks passed"
