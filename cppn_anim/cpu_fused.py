"""A fused CPU kernel for the whole network: every layer of a tile of pixels in registers and L1.

What it computes, per sample (the same network as network.evaluate, in float32):

    d = (x, y) @ view,  delta = |c + d| - |c|           the sample is seen at c + d (c: the view's centre)
    h = act0((x, y, delta) @ first + first_bias)         the view, z and the centre's share folded in per frame
                                                          (render.first_layer, in float64: far centres keep precision)
    h = act_i(h @ W_i + b_i)                              the hidden layers
    out = output_act(h @ last + last_bias)               contrast folded in per frame; in [0, 1]

How it is fast: torch runs a layer as a matmul into memory and then an activation as a second
pass over it; with 32-wide layers the activation pass costs as much as the matmul (see
benchmarks/kernels.py). Here each tile of TILE pixels (64 with AVX-512) goes through every layer
with its activations in registers: a block of 4 outputs x 4 vectors of 16 pixels is 16
accumulators, each weight is broadcast from L1 once per 4 vectors, and the activation (a
rational or polynomial approximation, accurate to a few float32 ulps: each activation's `llvm`
body in the activation table, activations.py) runs over the layer's outputs in L1 before the
next layer reads them. No memory traffic between layers, no thread barriers, no Python per
layer. Measured in CPU time (benchmarks/kernels.py), a 32-wide tanh network runs at ~75-95
GFLOP per CPU second on the development machine's Xeon, the matmuls alone (relu) at ~140: the
tanh's rational approximation is most of the rest.

How it is built: the kernel is LLVM IR generated here for one network shape (width, depth,
activations, channels; not the weights, which are arguments) and compiled for this CPU with
llvmlite, the LLVM binding numba is built on (a wheel with LLVM inside: nothing to compile on
the user's side, no C compiler). It is a plain C function called through ctypes, which releases
the GIL: Python threads can run it on several bands at once (bands.py).

How it is exact: pixels are the lanes of the vectors and every tile runs the same machine code,
so a sample's arithmetic does not depend on where its tile starts, how a frame is cut into
bands, or which thread runs it. Multiply-adds are explicit fused `llvm.fma` calls and no
fast-math flags are used, so the compiler cannot reassociate anything. The approximations
(tanh, exp, log, sin) are deterministic polynomials; the only hardware estimate is AVX-512's
rcp14 (refined by a Newton step): the same bits on a given CPU, possibly different in the last
bit on another vendor's (docs/determinism.md allows 2/255 across machines).

Accuracy: the float32 values are within ~1e-6 of network.evaluate's float64 ones for a tanh
network (tanh's rational approximation is within 6e-7 of tanh); pixels within 1/255.

Cost: compiling a network shape takes 0.3-0.7 s here (the IR built in Python, then LLVM's code
generator; no IR passes). Once per process and shape (compile_kernel's lru_cache), and once per
machine: the object code goes to an on-disk cache (cache_folder(), keyed by the shape, this CPU,
llvmlite's version and the source of this module and the activation table; checksummed,
written atomically), from which a later process loads it in about a millisecond.

Public API: `available()`, `supported(activations, output, width)`, `compile_kernel(width,
activations, channels, output)` -> Kernel (`.run(frame, hidden, xs, ys, out)`, `.tile`),
`pack_frame(...)`, `pack_hidden(...)`, `vector_shape()`, `cache_folder()`.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import activations as _act
from . import targets
from .errors import EncodeError

try:  # optional: without llvmlite the renderer keeps its torch path
    import llvmlite.binding as _llvm
    import llvmlite.ir as _ir
except ImportError:  # pragma: no cover - depends on the environment
    _llvm = _ir = None

MAX_WIDTH = 256  # wider networks are matmul-bound: torch's GEMMs do as well, and the scratch outgrows L2
UNROLL_INPUTS = 64  # layers with up to this many inputs are fully unrolled; wider ones loop
K_STEP = 16  # inputs per loop step in a wider layer
_LOCK = threading.Lock()
_STATE: dict = {}


def available() -> bool:
    """True where llvmlite imports and can compile for this CPU."""
    if _llvm is None:
        return False
    try:
        _target()
    except Exception:  # noqa: BLE001 - any failure to set LLVM up means "not here"
        return False
    return True


def _target():
    """The LLVM target machine for this CPU (made once): the code generator of every kernel."""
    with _LOCK:
        if "tm" not in _STATE:
            _llvm.initialize_native_target()
            _llvm.initialize_native_asmprinter()
            _STATE["tm"] = _new_target_machine()
            _STATE["avx512"] = "+avx512f" in _llvm.get_host_cpu_features().flatten().split(",")
        return _STATE["tm"]


def _new_target_machine():
    features = _llvm.get_host_cpu_features().flatten()
    target = _llvm.Target.from_triple(_llvm.get_process_triple())
    return target.create_target_machine(cpu=_llvm.get_host_cpu_name(), features=features, opt=3)


def vector_shape() -> tuple[int, int, int]:
    """(lanes, vectors per tile, outputs per block) for this CPU: 16 x 4 x 4 with AVX-512 (16
    accumulators of 32 registers), 8 x 2 x 4 otherwise (8 of 16 AVX2 registers)."""
    _target()
    return (16, 4, 4) if _STATE["avx512"] else (8, 2, 4)


def supported(activations, output: str, width: int) -> str | None:
    """None if this kernel can run a network of this width with these activations; else why not (one line)."""
    if not available():
        return "llvmlite is not installed or cannot compile for this CPU"
    if width > MAX_WIDTH:
        return f"network width {width} is over the fused kernel's {MAX_WIDTH}"
    missing = sorted({a for a in activations if _act.get(a).llvm is None} | ({output} if _act.output(output).llvm is None else set()))
    return f"no fused CPU body for {', '.join(missing)} (activations.py)" if missing else None


class _Emit:
    """Vector arithmetic for activation bodies: an IRBuilder plus the math we need, no fast-math flags."""

    def __init__(self, b, vec, lanes: int, avx512: bool, intrinsics: dict):
        self.b, self.vec, self.lanes, self.avx512, self.fn = b, vec, lanes, avx512, intrinsics
        self.ivec = _ir.VectorType(_ir.IntType(32), lanes)

    def const(self, v: float):
        return _ir.Constant(self.vec, [float(np.float32(v))] * self.lanes)

    def iconst(self, v: int):
        return _ir.Constant(self.ivec, [int(v)] * self.lanes)

    def _c(self, v):
        return self.const(v) if isinstance(v, (int, float)) else v

    def add(self, a, b):
        return self.b.fadd(a, self._c(b))

    def sub(self, a, b):
        return self.b.fsub(a, self._c(b))

    def mul(self, a, b):
        return self.b.fmul(a, self._c(b))

    def neg(self, a):
        return self.b.fneg(a)

    def fma(self, a, b, c):
        return self.b.call(self.fn["fma"], [self._c(a), self._c(b), self._c(c)])

    def min(self, a, b):
        return self.b.call(self.fn["minnum"], [a, self._c(b)])

    def max(self, a, b):
        return self.b.call(self.fn["maxnum"], [a, self._c(b)])

    def clamp(self, x, lo, hi):
        return self.max(self.min(x, hi), lo)

    def abs(self, x):
        return self.b.call(self.fn["fabs"], [x])

    def gt(self, a, b):
        return self.b.fcmp_ordered(">", a, self._c(b))

    def select(self, cond, a, b):
        return self.b.select(cond, a, b)

    def poly(self, x, coeffs):
        """coeffs[0] + coeffs[1] x + ... by Horner, with fused multiply-adds."""
        acc = self.const(coeffs[-1])
        for c in coeffs[-2::-1]:
            acc = self.fma(acc, x, c)
        return acc

    def recip(self, q):
        """1 / q: AVX-512's 14-bit estimate and one Newton step (~1 ulp), else a division."""
        if not self.avx512:
            return self.b.fdiv(self.const(1.0), q)
        r = self.b.call(self.fn["rcp14"], [q, self.const(0.0), _ir.Constant(_ir.IntType(16), -1)])
        e = self.fma(self.neg(q), r, 1.0)  # 1 - q r
        return self.fma(r, e, r)

    def _pow2(self, n):
        """2**n for integral float n in [-126, 127], by building the exponent bits."""
        i = self.b.fptosi(n, self.ivec)
        bits = self.b.shl(self.b.add(i, self.iconst(127)), self.iconst(23))
        return self.b.bitcast(bits, self.vec)

    def exp(self, x):
        """e**x (Cephes expf: 2**n times a degree-6 polynomial on [-ln2/2, ln2/2]); ~1 ulp."""
        x = self.clamp(x, -87.33654475, 88.0)
        n = self.b.call(self.fn["rint"], [self.mul(x, 1.44269504088896341)])
        r = self.fma(n, -0.693359375, x)
        r = self.fma(n, 2.12194440e-4, r)
        p = self.poly(r, [5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4])
        p = self.fma(p, self.mul(r, r), r)
        return self.mul(self.add(p, 1.0), self._pow2(n))

    def log(self, v):
        """ln v for positive normal v (Cephes logf); ~1 ulp."""
        bits = self.b.bitcast(v, self.ivec)
        e = self.b.sitofp(self.b.sub(self.b.lshr(bits, self.iconst(23)), self.iconst(126)), self.vec)
        m = self.b.bitcast(self.b.or_(self.b.and_(bits, self.iconst(0x807FFFFF)), self.iconst(0x3F000000)), self.vec)  # [0.5, 1)
        small = self.b.fcmp_ordered("<", m, self.const(0.707106781186547524))
        e = self.select(small, self.sub(e, 1.0), e)
        m = self.select(small, self.sub(self.add(m, m), 1.0), self.sub(m, 1.0))
        z = self.mul(m, m)
        y = self.poly(m, [3.3333331174e-1, -2.4999993993e-1, 2.0000714765e-1, -1.6668057665e-1, 1.4249322787e-1,
                          -1.2420140846e-1, 1.1676998740e-1, -1.1514610310e-1, 7.0376836292e-2])  # fmt: skip
        y = self.mul(self.mul(y, m), z)
        y = self.fma(e, -2.12194440e-4, y)
        y = self.fma(z, -0.5, y)
        return self.fma(e, 0.693359375, self.add(m, y))

    def _sincos(self, x, quarter_turns: int):
        """sin(x + quarter_turns * pi/2) (Cephes sinf/cosf: reduction by pi/2 in three parts)."""
        j = self.b.call(self.fn["rint"], [self.mul(x, 0.636619772367581343)])
        r = self.fma(j, -1.5703125, x)
        r = self.fma(j, -4.837512969970703125e-4, r)
        r = self.fma(j, -7.54978995489188216e-8, r)
        z = self.mul(r, r)
        s = self.fma(self.mul(self.poly(z, [-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4]), z), r, r)
        c = self.add(self.fma(z, -0.5, self.mul(self.mul(z, z), self.poly(z, [4.166664568298827e-2, -1.388731625493765e-3, 2.443315711809948e-5]))), 1.0)
        q = self.b.add(self.b.fptosi(j, self.ivec), self.iconst(quarter_turns))
        odd = self.b.icmp_signed("!=", self.b.and_(q, self.iconst(1)), self.iconst(0))
        flip = self.b.icmp_signed("!=", self.b.and_(q, self.iconst(2)), self.iconst(0))
        v = self.select(odd, c, s)
        return self.select(flip, self.neg(v), v)

    def sin(self, x):
        return self._sincos(x, 0)

    def cos(self, x):
        return self._sincos(x, 1)


@dataclass(frozen=True)
class Kernel:
    """A compiled network shape. Call `run` with float32 C-contiguous numpy arrays."""

    width: int
    depth: int
    channels: int
    tile: int  # samples per tile: `run` takes a multiple of it
    _fn: object
    _engine: object  # keeps the machine code alive
    pixels: bool = False  # it writes uint8 RGB pixels (see run)

    def frame_size(self) -> int:
        """Floats in the per-frame parameter block (see pack_frame)."""
        return 6 + 4 * self.width + self.width * self.channels + self.channels

    def hidden_size(self) -> int:
        return (self.depth - 1) * (self.width * self.width + self.width)

    def run(self, frame: np.ndarray, hidden: np.ndarray, xs: np.ndarray, ys: np.ndarray, out: np.ndarray) -> None:
        """out[c, i] = the network's output channel c for base coordinates (xs[i], ys[i]); for a
        `pixels` kernel, out[3 i + c] = floor(clamp(255 v + 0.5, 0, 255)) of channel c (gray: of
        the one channel, thrice), uint8 RGB as an (H, W, 3) frame holds them.

        frame: pack_frame's block; hidden: pack_hidden's; xs, ys: (n,) with n a multiple of
        `tile`; out: float32 (channels, n) or wider rows (its row stride is used), or for a
        `pixels` kernel C-contiguous uint8 of at least 3 n. Releases the GIL.
        """
        n = len(xs)
        if self.pixels:
            shape_ok = out.dtype == np.uint8 and out.flags.c_contiguous and out.size >= 3 * n
        else:
            shape_ok = out.ndim == 2 and out.shape[0] == self.channels and out.shape[1] >= n and out.dtype == np.float32 and out.strides[1] == 4
        if n % self.tile or len(ys) != n or not shape_ok:
            raise ValueError(f"bad shapes: {n} samples (tile {self.tile}), out {out.dtype} {out.shape}")
        for a in (frame, hidden, xs, ys):
            if a.dtype != np.float32 or not a.flags.c_contiguous:
                raise ValueError("inputs must be C-contiguous float32")
        if len(frame) != self.frame_size() or len(hidden) != self.hidden_size():
            raise ValueError("parameter blocks of the wrong size for this kernel")
        stride = 0 if self.pixels else out.strides[0] // 4
        self._fn(frame.ctypes.data, hidden.ctypes.data, xs.ctypes.data, ys.ctypes.data, out.ctypes.data, n // self.tile, stride)


def pack_frame(view: np.ndarray, center, first: np.ndarray, first_bias: np.ndarray, last: np.ndarray, last_bias: np.ndarray) -> np.ndarray:
    """One frame's parameters as the kernel reads them: the view (2, 2) (rows of (x, y) times A^T),
    the centre (2,), the first layer (3, width) for x, y, r' and its bias (width,), the output
    layer (width, channels) and its bias (channels,)."""
    parts = [np.asarray(view).ravel(), np.asarray(center).ravel(), np.asarray(first).ravel(), np.asarray(first_bias).ravel(),
             np.asarray(last).ravel(), np.asarray(last_bias).ravel()]  # fmt: skip
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def pack_hidden(hidden) -> np.ndarray:
    """The hidden layers ((width, width) matrix, (width,) bias) ... as one float32 block."""
    parts = [np.concatenate([np.asarray(m).ravel(), np.asarray(b).ravel()]) for m, b in hidden]
    return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0), dtype=np.float32)


@functools.lru_cache(maxsize=32)
def compile_kernel(width: int, activations: tuple[str, ...], channels: int, output: str, pixels: bool = False) -> Kernel:
    """The kernel for a network shape: `activations` has one name per layer (depth of them),
    `output` the output layer's (activations.OUTPUTS). pixels: it writes uint8 RGB pixels
    (channels 3: rgb; 1: gray) instead of float32 values (Kernel.run).

    Once per process and shape (lru_cache); its machine code also goes to the on-disk cache
    (cache_folder()), so the next process loads it in about a millisecond instead of
    compiling it (0.3-0.7 s)."""
    why = supported(activations, output, width)
    if why:
        raise ValueError(why)
    tm = _target()
    lanes, vecs, block = vector_shape()
    if pixels and channels not in (1, 3):
        raise ValueError(f"pixels from {channels} channels: 1 (gray) or 3 (rgb)")
    shape = (width, tuple(activations), channels, output, bool(pixels), lanes, vecs, block, _STATE["avx512"])
    folder = cache_folder()
    try:
        _code_identity()
    except OSError:  # without the source there is no telling a stale entry: compile every time
        folder = None
    engine, address = None, None
    with _LOCK:  # LLVM's global state is not ours to race on
        obj = _read_cached(folder, shape) if folder else None
        if obj is not None:
            try:
                engine, address = _load(obj)
            except Exception:  # noqa: BLE001 - an entry LLVM cannot load is compiled again
                engine = None
        if engine is None:
            mod = _llvm.parse_assembly(_module_ir(*shape))
            mod.verify()
            # no IR optimisation passes: the IR is already what we want run (half the compile time,
            # the same speed, measured); the code generator still optimises at -O3
            obj = tm.emit_object(mod)
            engine, address = _load(obj)  # the same path as a cached entry: the same machine code
            if folder:
                _write_cached(folder, shape, obj)
    proto = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 5), ctypes.c_int64, ctypes.c_int64)
    return Kernel(width, len(activations), channels, lanes * vecs, proto(address), engine, bool(pixels))


def _load(obj: bytes):
    """(engine, address of cppn_tiles) for an object file's machine code. Each engine gets a
    target machine of its own: an engine owns the one it is given and frees it with itself
    (llvmlite), so a kernel dropped from the lru_cache must not take the shared one along."""
    engine = _llvm.create_mcjit_compiler(_llvm.parse_assembly(""), _new_target_machine())
    engine.add_object_file(_llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    address = engine.get_function_address("cppn_tiles")
    if not address:
        raise ValueError("no cppn_tiles in the object file")
    return engine, address


# ------------------------------------------------------------------ the on-disk cache of machine code
# One file per shape and machine: MAGIC, the sha256 of the object file, the object file. The
# key covers everything the machine code depends on: the shape, this CPU (name, features,
# vector shape), llvmlite's version (its LLVM) and the source of the code that writes the IR
# (this module and the activation table), so an entry is never stale, only unused. Written
# atomically (a temporary file, then renamed), so a reader sees a whole entry or none; an
# entry that does not check out (truncated, edited) is compiled again and replaced. A folder
# that cannot be written costs the compile, nothing else.

CACHE_MAGIC = b"cppnk\x00\x01\n"


def cache_folder() -> Path | None:
    """The kernel cache: targets.user_cache("kernels") ($XDG_CACHE_HOME or ~/.cache, then
    cppn-anim/kernels); None where there is no home to cache in."""
    return targets.user_cache("kernels")


@functools.lru_cache(maxsize=1)
def _code_identity() -> str:
    """What else the machine code depends on: this CPU, llvmlite, and the IR writer's source."""
    import llvmlite

    from . import activations

    h = hashlib.sha256()
    for path in (Path(__file__), Path(activations.__file__)):
        h.update(path.read_bytes())  # OSError (no source installed): no caching (cache_folder's caller)
    h.update(repr((llvmlite.__version__, _llvm.get_process_triple(), _llvm.get_host_cpu_name(), _llvm.get_host_cpu_features().flatten())).encode())
    return h.hexdigest()


def _cache_path(folder: Path, shape: tuple) -> Path:
    key = hashlib.sha256(repr((shape, _code_identity())).encode()).hexdigest()
    return folder / f"{key[:40]}.o"


def _read_cached(folder: Path, shape: tuple) -> bytes | None:
    try:
        data = _cache_path(folder, shape).read_bytes()
    except OSError:
        return None
    head, digest, obj = data[: len(CACHE_MAGIC)], data[len(CACHE_MAGIC) : len(CACHE_MAGIC) + 32], data[len(CACHE_MAGIC) + 32 :]
    if head != CACHE_MAGIC or hashlib.sha256(obj).digest() != digest:
        return None
    return obj


def _write_cached(folder: Path, shape: tuple, obj: bytes) -> None:
    """One entry, whole or not at all (targets.atomic: a temporary file beside it, then os.replace)."""
    try:
        with targets.atomic(_cache_path(folder, shape)) as temp:
            temp.write_bytes(CACHE_MAGIC + hashlib.sha256(obj).digest() + obj)
    except (OSError, EncodeError):
        pass  # a cache that cannot be written costs the next process the compile


def _module_ir(width: int, activations: tuple[str, ...], channels: int, output: str, pixels: bool, lanes: int, vecs: int, block: int,
               avx512: bool) -> str:  # fmt: skip
    """The LLVM IR of `cppn_tiles(frame, hidden, xs, ys, out, ntiles, out_stride)` (pixels: `out`
    is uint8 RGB, interleaved, 3 bytes a sample, and out_stride is not used)."""
    ir = _ir
    f32, i64 = ir.FloatType(), ir.IntType(64)
    vec = ir.VectorType(f32, lanes)
    pf, pv = f32.as_pointer(), vec.as_pointer()
    mod = ir.Module("cppn")
    mod.triple = _llvm.get_process_triple()
    suffix = f"v{lanes}f32"
    decl = lambda name, n: ir.Function(mod, ir.FunctionType(vec, [vec] * n), f"llvm.{name}.{suffix}")  # noqa: E731
    intr = {"fma": decl("fma", 3), "minnum": decl("minnum", 2), "maxnum": decl("maxnum", 2), "fabs": decl("fabs", 1),
            "rint": decl("rint", 1), "sqrt": decl("sqrt", 1)}  # fmt: skip
    if avx512:
        intr["rcp14"] = ir.Function(mod, ir.FunctionType(vec, [vec, vec, ir.IntType(16)]), "llvm.x86.avx512.rcp14.ps.512")
    c64 = lambda v: ir.Constant(i64, v)  # noqa: E731
    attrs = ("nounwind",)

    def splat(b, scalar):
        one = b.insert_element(ir.Constant(vec, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
        return b.shuffle_vector(one, ir.Constant(vec, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))

    def finish(fn):
        for a in attrs:
            fn.attributes.add(a)
        return fn

    dense_cache: dict = {}

    def dense(k_in: int, j_out: int, act, tag: str):
        """void dense(vec* hin, float* w, float* bias, vec* hout): hout = act(hin @ w + bias) for one tile.

        hin holds k_in rows of `vecs` vectors (feature-major: row k is feature k of the tile's
        samples), w is (k_in, j_out) row-major. Outputs are made `block` at a time: block x vecs
        accumulators in registers, each weight broadcast once per block row, stored to hout (L1);
        then the activation runs over hout in place, `vecs` independent vectors a step (one copy
        of its code per layer; as fast as applying it to each accumulator, measured)."""
        key = (k_in, j_out, tag)
        if key in dense_cache:
            return dense_cache[key]
        fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [pv, pf, pf, pv]), f"dense_{k_in}_{j_out}_{tag}")
        fn.linkage = "internal"
        hin, w, bias, hout = fn.args
        for a in fn.args:
            a.add_attribute("noalias")
        entry = fn.append_basic_block("entry")
        b = ir.IRBuilder(entry)
        m = _Emit(b, vec, lanes, avx512, intr)
        full = j_out - j_out % block

        def accumulate(accs, j0, k, nj):
            """accs += row k of hin times w[k, j0 .. j0+nj-1] (k an i64 value)."""
            hs = [b.load(b.gep(hin, [b.add(b.mul(k, c64(vecs)), c64(p))]), align=4) for p in range(vecs)]
            for jj in range(nj):
                wk = splat(b, b.load(b.gep(w, [b.add(b.mul(k, c64(j_out)), b.add(j0, c64(jj)))]), align=4))
                for p in range(vecs):
                    accs[jj][p] = m.fma(wk, hs[p], accs[jj][p])

        def emit_block(j0, nj):
            """Outputs j0 .. j0+nj-1 (j0 an i64 value): accumulate over every input, store."""
            accs = [[splat(b, b.load(b.gep(bias, [b.add(j0, c64(jj))]), align=4)) for _ in range(vecs)] for jj in range(nj)]
            looped = k_in - k_in % K_STEP if k_in > UNROLL_INPUTS else 0
            if looped:  # a loop over the inputs, K_STEP at a time, the accumulators carried in phis
                before, body, after = b.block, fn.append_basic_block("inputs"), fn.append_basic_block("inputs_done")
                b.branch(body)
                b.position_at_end(body)
                k0 = b.phi(i64)
                k0.add_incoming(c64(0), before)
                phis = [[b.phi(vec) for _ in range(vecs)] for _ in range(nj)]
                for jj in range(nj):
                    for p in range(vecs):
                        phis[jj][p].add_incoming(accs[jj][p], before)
                accs = [row[:] for row in phis]
                for step in range(K_STEP):
                    accumulate(accs, j0, b.add(k0, c64(step)), nj)
                nxt, end = b.add(k0, c64(K_STEP)), b.block
                for jj in range(nj):
                    for p in range(vecs):
                        phis[jj][p].add_incoming(accs[jj][p], end)
                k0.add_incoming(nxt, end)
                b.cbranch(b.icmp_unsigned("<", nxt, c64(looped)), body, after)
                b.position_at_end(after)  # reached only from the loop body, so its values are in scope
            for k in range(looped, k_in):
                accumulate(accs, j0, c64(k), nj)
            for jj in range(nj):
                for p in range(vecs):
                    index = b.add(b.mul(b.add(j0, c64(jj)), c64(vecs)), c64(p))
                    b.store(accs[jj][p], b.gep(hout, [index]), align=4)

        if full:
            loop, after = fn.append_basic_block("blocks"), fn.append_basic_block("tail")
            b.branch(loop)
            b.position_at_end(loop)
            j0 = b.phi(i64)
            j0.add_incoming(c64(0), entry)
            emit_block(j0, block)
            nxt = b.add(j0, c64(block))
            j0.add_incoming(nxt, b.block)
            b.cbranch(b.icmp_unsigned("<", nxt, c64(full)), loop, after)
            b.position_at_end(after)
        if j_out % block:
            emit_block(c64(full), j_out % block)
        # the activation, in place over the stored outputs, `vecs` vectors a step: one copy of its
        # code per layer (not one per accumulator), and independent vectors for the CPU to overlap
        before, body, after = b.block, fn.append_basic_block("activate"), fn.append_basic_block("done")
        b.branch(body)
        b.position_at_end(body)
        i = b.phi(i64)
        i.add_incoming(c64(0), before)
        slots = [b.gep(hout, [b.add(i, c64(p))]) for p in range(vecs)]
        values = [act(m, b.load(slot, align=64)) for slot in slots]
        for slot, v in zip(slots, values):
            b.store(v, slot, align=64)
        nxt = b.add(i, c64(vecs))
        i.add_incoming(nxt, body)
        b.cbranch(b.icmp_unsigned("<", nxt, c64(j_out * vecs)), body, after)
        b.position_at_end(after)
        b.ret_void()
        dense_cache[key] = finish(fn)
        return fn

    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [pf, pf, pf, pf, pf, i64, i64]), "cppn_tiles")
    frame, hidden, xs, ys, out, ntiles, stride = fn.args
    for a in (xs, ys, out):
        a.add_attribute("noalias")
    entry, loop, done = fn.append_basic_block("entry"), fn.append_basic_block("tile"), fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    rows = max(width, 3)
    buf_a, buf_b = b.alloca(vec, size=rows * vecs), b.alloca(vec, size=rows * vecs)
    buf_in = b.alloca(vec, size=3 * vecs)
    for buf in (buf_a, buf_b, buf_in):
        buf.align = 64
    scalar = lambda i: splat(b, b.load(b.gep(frame, [c64(i)]), align=4))  # noqa: E731
    v00, v01, v10, v11, cx, cy = (scalar(i) for i in range(6))
    first_w, first_b = b.gep(frame, [c64(6)]), b.gep(frame, [c64(6 + 3 * width)])
    last_w, last_b = b.gep(frame, [c64(6 + 4 * width)]), b.gep(frame, [c64(6 + 4 * width + width * channels)])
    m = _Emit(b, vec, lanes, avx512, intr)
    c_norm = b.call(intr["sqrt"], [m.fma(cy, cy, m.mul(cx, cx))])  # |c|
    cx2, cy2 = m.add(cx, cx), m.add(cy, cy)
    b.cbranch(b.icmp_unsigned(">", ntiles, c64(0)), loop, done)
    b.position_at_end(loop)
    t = b.phi(i64)
    t.add_incoming(c64(0), entry)
    m = _Emit(b, vec, lanes, avx512, intr)
    base = b.mul(t, c64(lanes * vecs))
    for p in range(vecs):
        at = b.add(base, c64(p * lanes))
        x = b.load(b.bitcast(b.gep(xs, [at]), pv), align=4)
        y = b.load(b.bitcast(b.gep(ys, [at]), pv), align=4)
        dx = m.fma(y, v10, m.mul(x, v00))  # d = A (x, y) (view = A^T); the sample is seen at c + d
        dy = m.fma(y, v11, m.mul(x, v01))
        px, py = m.add(dx, cx), m.add(dy, cy)
        seen = b.call(intr["sqrt"], [m.fma(py, py, m.mul(px, px))])  # |c + d|
        # r - |c| = (2 c.d + d.d) / (|c + d| + |c|): of the size of d, however far the centre
        # (render.first_layer puts |c| in the bias, in float64); 0 where the sample is the origin
        num = m.fma(dy, m.add(dy, cy2), m.mul(dx, m.add(dx, cx2)))
        den = m.add(seen, c_norm)
        delta = m.select(m.gt(den, 0.0), b.fdiv(num, den), m.const(0.0))
        for row, v in enumerate((x, y, delta)):
            b.store(v, b.gep(buf_in, [c64(row * vecs + p)]), align=64)
    acts = [_act.get(a).llvm for a in activations]
    b.call(dense(3, width, acts[0], activations[0]), [buf_in, first_w, first_b, buf_a])
    src, dst = buf_a, buf_b
    offset = 0
    for act, name in zip(acts[1:], activations[1:]):
        b.call(dense(width, width, act, name), [src, b.gep(hidden, [c64(offset)]), b.gep(hidden, [c64(offset + width * width)]), dst])
        offset += width * width + width
        src, dst = dst, src
    b.call(dense(width, channels, _act.output(output).llvm, "out_" + output), [src, last_w, last_b, buf_in])
    if pixels:  # uint8 RGB, interleaved: pixel = floor(clamp(v 255 + 0.5, 0, 255)) per channel (gray: the one channel thrice)
        i8, i32 = ir.IntType(8), ir.IntType(32)
        bytes_out = b.bitcast(out, i8.as_pointer())
        for p in range(vecs):
            levels = []
            for c in range(channels):
                v = b.load(b.gep(buf_in, [c64(c * vecs + p)]), align=64)
                q = m.clamp(m.fma(v, 255.0, 0.5), 0.0, 255.0)
                levels.append(b.trunc(b.fptosi(q, ir.VectorType(i32, lanes)), ir.VectorType(i8, lanes)))
            v8 = ir.VectorType(i8, lanes)
            if channels == 3:
                rg = b.shuffle_vector(levels[0], levels[1], ir.Constant(ir.VectorType(i32, 2 * lanes), list(range(2 * lanes))))
                bb = b.shuffle_vector(levels[2], ir.Constant(v8, [0] * lanes), ir.Constant(ir.VectorType(i32, 2 * lanes), list(range(2 * lanes))))
                mask = [c * lanes + j for j in range(lanes) for c in range(3)]
                rgb = b.shuffle_vector(rg, bb, ir.Constant(ir.VectorType(i32, 3 * lanes), mask))
            else:
                rgb = b.shuffle_vector(levels[0], levels[0], ir.Constant(ir.VectorType(i32, 3 * lanes), [j for j in range(lanes) for _ in range(3)]))
            at = b.mul(b.add(base, c64(p * lanes)), c64(3))
            b.store(rgb, b.bitcast(b.gep(bytes_out, [at]), ir.VectorType(i8, 3 * lanes).as_pointer()), align=1)
    else:
        for c in range(channels):
            row = b.mul(c64(c), stride)
            for p in range(vecs):
                v = b.load(b.gep(buf_in, [c64(c * vecs + p)]), align=64)
                b.store(v, b.bitcast(b.gep(out, [b.add(row, b.add(base, c64(p * lanes)))]), pv), align=4)
    nxt = b.add(t, c64(1))
    t.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_unsigned("<", nxt, ntiles), loop, done)
    ir.IRBuilder(done).ret_void()
    finish(fn)
    text = str(mod)
    if lanes == 16:  # every function may use 512-bit registers (LLVM may otherwise split them on some Intel CPUs)
        wide = ' "min-legal-vector-width"="512" "prefer-vector-width"="512"'
        text = "\n".join(line + wide if line.startswith("define") and line.endswith("nounwind") else line for line in text.splitlines())
    return text
