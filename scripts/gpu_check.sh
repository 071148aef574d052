#!/usr/bin/env bash
# On a CUDA machine, one run tells all (each figure one line; under 10 minutes on one GPU):
#   1. the torch path (eager): CPU/GPU agreement (largest pixel difference at fp32 <= 2), a
#      frame the same whatever the band size and in every batch slot, CUDA out of memory as
#      exit 1 with one line;
#   2. the render path on CUDA, as `render` runs it (core.prepare: the fused Triton kernel,
#      cppn_anim/fused.py, chosen by itself; CPPN_ANIM_KERNEL=eager|fused forces either):
#      which kernel `auto` picks, agreement (fused vs eager, and vs the CPU's render path at
#      fp32) and timings of batched frames (uint8 copied back, as a video's) at 1920x1080 and
#      3840x2160, fp32 and bf16, one line each; a few launch shapes (block, warps) at 1080p;
#   3. `cppn-anim bench --device cuda` at 1080p with each kernel (the command line's path).
# Every section runs even when another fails; the end lists what failed or could not be done.
# Exit 0 only when everything ran and passed.
# Usage: bash scripts/gpu_check.sh   (after `make test` has made .venv; triton: pip install -e '.[gpu]')
# Dry run on a CPU (the script's own logic, tiny sizes, Triton's interpreter for the launch
# shapes, the fused CPU kernel as "fused"): GPU_CHECK_DEVICE=cpu bash scripts/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
CLI=${CLI:-$( [ -x .venv/bin/cppn-anim ] && echo .venv/bin/cppn-anim || echo "$PY -m cppn_anim" )}
export GPU_CHECK_DEVICE=${GPU_CHECK_DEVICE:-cuda}
if [ "$GPU_CHECK_DEVICE" = cpu ]; then export TRITON_INTERPRET=1; fi
unset CPPN_ANIM_KERNEL  # each check says which kernel it wants
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # as the command line sets it (torch's path on the CPU side)
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
import os
if os.environ.get("GPU_CHECK_DEVICE") == "cpu":
    print("dry run on the CPU (GPU_CHECK_DEVICE=cpu): the CUDA-only checks are skipped"); sys.exit(0)
if not torch.cuda.is_available():
    print("NO CUDA DEVICE: nothing below can run"); sys.exit(1)
p = torch.cuda.get_device_properties(0)
print(f"device: {p.name}, {p.total_memory / 2**30:.0f} GiB, sm_{p.major}{p.minor}, {p.multi_processor_count} SMs")
PYEOF

section "torch path: agreement, bands, batch slots" <<'PYEOF'
import os, numpy as np, torch
from cppn_anim import scene, network, trajectory
from cppn_anim.render import Renderer
if os.environ["GPU_CHECK_DEVICE"] == "cpu":
    print("skipped in a dry run"); raise SystemExit(0)
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
if [ "$GPU_CHECK_DEVICE" = cpu ]; then
  echo "skipped in a dry run"
elif ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
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

section "render path on $GPU_CHECK_DEVICE: fused vs eager" <<'PYEOF'
import os, sys, time, warnings
import numpy as np, torch
from cppn_anim import core, render, scene
warnings.simplefilter("ignore")  # bf16's draft-mode warning: measured here on purpose
device = os.environ["GPU_CHECK_DEVICE"]
dry = device == "cpu"
if not dry and not torch.cuda.is_available():
    print("could not run: no CUDA device"); raise SystemExit(1)
sync = torch.cuda.synchronize if not dry else (lambda: None)
try:
    from cppn_anim import fused
except ImportError as exc:
    print("cannot import cppn_anim.fused (an older checkout?):", exc); raise SystemExit(1)
why = fused.unusable(torch.device(device))
print(f"fused kernel here: {'usable' if why is None else 'UNUSABLE: ' + why}")
want_kind = "fused-cpu" if dry else "fused-triton"
SCENE = "trajectory: {keyframes: [{at: 0, z: random}, {at: 4, z: random}]}\nview: {rotation: 20, zoom: 1.3}\n"  # bench720's network: 8 tanh layers of 32, latent 8, rgb
sizes = ((96, 54), (192, 108)) if dry else ((1920, 1080), (3840, 2160))
ok = True

def scene_at(w, h, precision="fp32", dev=device):
    return scene.parse(SCENE + f"size: [{w}, {h}]\nrender: {{device: '{dev}', precision: {precision}}}\n")

def frames_per_s(prepared, n):
    for _ in prepared.frames(0, 1):  # compile, allocations
        pass
    sync()
    start = time.perf_counter()
    for _ in prepared.frames(0, n):  # as `render` computes a video: batched, uint8 copied back
        pass
    sync()
    return n / (time.perf_counter() - start)

# which kernel the render path picks by itself, and agreement with the CPU's render path (fp32)
w0, h0 = (64, 36) if dry else (640, 360)
auto = core.prepare(scene_at(w0, h0))
picked = auto.renderer.kind
good = picked == want_kind
print(f"[render path auto] {device}: {picked}{'' if good else ' (want ' + want_kind + '; why not: ' + str(auto.renderer.why_not_fused) + ')'}: {'PASS' if good else 'FAIL'}")
ok &= good
cpu = core.prepare(scene_at(w0, h0, dev="cpu"))
worst = max(int(np.abs(cpu.still(t).astype(int) - auto.still(t)).max()) for t in (0.0, 1.7, 3.3))
print(f"[render path vs CPU] fp32 {w0}x{h0}, 3 frames: {cpu.renderer.kind} vs {picked}: largest pixel difference {worst}/255 (want <= 2): {'PASS' if worst <= 2 else 'FAIL'}")
ok &= worst <= 2
for (W, H) in sizes:
    n = 6 if dry else (30 if W == 1920 else 10)
    for precision in ("fp32",) if dry else ("fp32", "bf16"):  # the fused CPU kernel is fp32 only
        label = f"{W}x{H} {precision}"
        try:
            s = scene_at(W, H, precision)
            eager, fast = core.prepare(s, kernel="eager"), core.prepare(s, kernel="fused")
            a, b = eager.still(0.7).astype(int), fast.still(0.7).astype(int)
            diff = np.abs(a - b)
            fe, ff = frames_per_s(eager, n), frames_per_s(fast, n)
            bound = 2 if precision == "fp32" else 255  # bf16: reported, not bounded (the two round differently)
            good = int(diff.max()) <= bound and fast.renderer.kind == want_kind
            print(f"[fused {label}] eager ({eager.renderer.kind}) {W * H * fe / 1e6:8.1f} MP/s, fused ({fast.renderer.kind}) {W * H * ff / 1e6:8.1f} MP/s"
                  f" = {ff / fe:5.2f}x eager; max abs diff {int(diff.max())}/255 (mean {diff.mean():.3f}, {100 * (diff > 1).mean():.2f}% off by > 1)"
                  f"{' (want <= 2)' if precision == 'fp32' else ''}: {'PASS' if good else 'FAIL'}")
            ok &= good
        except Exception as exc:  # one size or precision failing must not hide the others
            print(f"[fused {label}] could not run: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"); ok = False
# launch shapes at 1080p fp32: samples per program and warps (FusedNetwork's default: 128, 4), kernel only
if why is None:
    W, H = (48, 32) if dry else (1920, 1080)
    s = scene_at(W, H)
    prepared = core.prepare(s, kernel="eager")  # weights and motion; the kernel is called directly below
    x, y = render.sample_grid(W, H, 1, 0, W * H)
    samples = (torch.as_tensor(x, dtype=torch.float32, device=device), torch.as_tensor(y, dtype=torch.float32, device=device))
    for block, warps in ((64, 2), (64, 4), (128, 4), (128, 8), (256, 8)):
        try:
            net = fused.FusedNetwork(prepared.renderer.weights, device, "fp32", block=block, num_warps=warps)
            net.values(prepared.motion.at(0.0), *samples)
            sync()
            start, reps = time.perf_counter(), 2 if dry else 20
            for i in range(reps):
                net.values(prepared.motion.at(i / 30), *samples)
            sync()
            t = (time.perf_counter() - start) / reps
            print(f"[fused shape] {W}x{H} fp32 block {block:3d} warps {warps}: {W * H / t / 1e6:8.1f} MP/s (kernel only)")
        except Exception as exc:
            print(f"[fused shape] block {block} warps {warps}: could not run: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
raise SystemExit(0 if ok else 1)
PYEOF

echo "== cppn-anim bench on $GPU_CHECK_DEVICE (the command line's path)"
if [ "$GPU_CHECK_DEVICE" = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "could not run: no CUDA device"
  failed+=("cppn-anim bench")
else
  size=$([ "$GPU_CHECK_DEVICE" = cpu ] && echo 96x54 || echo 1920x1080)
  for kernel in auto eager fused; do
    out=$(CPPN_ANIM_KERNEL=$kernel $CLI bench --size "$size" --device "$GPU_CHECK_DEVICE" --frames 8 --json 2>&1 | tail -1)
    if line=$(printf '%s' "$out" | "$PY" -c 'import json, sys; r = json.loads(sys.stdin.read()); print("{kernel}: {megapixels_per_s} MP/s, {frames_per_s} frames/s ({width}x{height} {precision} on {device}; why not fused: {why})".format(why=r.get("why_not_fused"), **r))' 2>/dev/null); then
      echo "[bench $kernel] $line"
    else
      echo "[bench $kernel] FAIL: $out"; failed+=("cppn-anim bench ($kernel)")
    fi
  done
fi

if [ ${#failed[@]} -eq 0 ]; then
  echo "gpu_check: all checks ran and passed"
else
  echo "gpu_check: FAILED or could not run: $(printf '%s; ' "${failed[@]}")"
  exit 1
fi
