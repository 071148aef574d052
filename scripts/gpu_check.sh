#!/usr/bin/env bash
# On a CUDA machine: CPU/GPU agreement (largest pixel difference at fp32 <= 2) and bench
# figures at 1920x1080 and 3840x2160 for fp32 and bf16. Under 5 minutes.
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
a = Renderer(w, 1920, 1080, device="cuda", band_samples=1 << 18).render(m.at(1.0))  # many bands
b = Renderer(w, 1920, 1080, device="cuda", band_samples=1 << 22).render(m.at(1.0))
print("GPU band size independence:", "identical" if np.array_equal(a, b) else "DIFFERENT")
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
