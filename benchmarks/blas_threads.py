"""`make bench`: network.build with numpy's BLAS threads as they come vs on one thread
(as the entry points run it: entry.one_blas_thread), on an idle machine and under load.

The load is other renders: LOAD processes (default 3) doing torch matrix products on as
many threads as there are CPUs, as tests and renders of other users of a shared machine
do. (Single-threaded busy loops barely hurt; spinning thread pools do.)
The two ways run interleaved (A B A B ..., ROUNDS rounds of REPEATS builds each), so a
burst of load hits both alike. Under load most builds take the same time either way; a
few, with BLAS threads, wait 100 ms and more for a thread to be scheduled: each line
gives the mean (what a command pays on average), the median and the worst build.
The weights are checked to be bit for bit the same both ways.

    python benchmarks/blas_threads.py [--rounds N] [--repeats N] [--scene scenes/spiral.yaml]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _line import context, line as figure  # noqa: E402

from cppn_anim import core, entry, network  # noqa: E402


LOAD = """
import os, time, torch
torch.set_num_threads(os.cpu_count() or 1)
a = torch.randn(512, 512)
a @ a
print("ready", flush=True)
end = time.monotonic() + 300  # killed when the benchmark is done; this only bounds an orphan
while time.monotonic() < end:
    a @ a
"""


def start_load(n: int) -> list:
    load = [subprocess.Popen([sys.executable, "-c", LOAD], stdout=subprocess.PIPE, text=True) for _ in range(n)]
    for p in load:
        p.stdout.readline()  # torch imported, the products running
    return load


def times_ms(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1e3)
    return times


def compare(scene, rounds: int, repeats: int) -> tuple[list[float], list[float]]:
    """Every build's time in ms, both ways, interleaved round by round."""
    free, one = [], []
    for _ in range(rounds):
        free += times_ms(lambda: network.build(scene.network, scene.seed), repeats)
        with entry.one_blas_thread():
            one += times_ms(lambda: core.build_weights(scene), repeats)
    return free, one


def line(free: list[float], one: list[float]) -> str:
    """Mean (what a command pays on average: the slow builds are rare but long), median, worst."""
    mean = statistics.fmean
    return (f"network.build mean {mean(free):.2f} ms (median {statistics.median(free):.2f}, worst {max(free):.1f}), "
            f"on one BLAS thread mean {mean(one):.2f} ms (median {statistics.median(one):.2f}, worst {max(one):.1f}): "
            f"{mean(free) / mean(one):.1f}x on the mean")  # fmt: skip


def same(a, b) -> bool:
    fields = ("first", "first_z", "first_bias", "out", "out_bias", "coords")
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields) and all(
        np.array_equal(x, y) for (wa, ba), (wb, bb) in zip(a.hidden, b.hidden) for x, y in ((wa, wb), (ba, bb))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--scene", default=str(ROOT / "scenes" / "spiral.yaml"))
    parser.add_argument("--load", type=int, default=3, help="busy processes, each on every CPU (default 3)")
    args = parser.parse_args()
    scene = core.load(args.scene)
    with entry.one_blas_thread():
        one = core.build_weights(scene)
    assert same(network.build(scene.network, scene.seed), one), "weights differ"
    from threadpoolctl import threadpool_info

    threads = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    context(__file__)
    figure("blas threads", f"{Path(args.scene).name}, numpy BLAS threads as they come: {threads}, {os.cpu_count()} CPUs; weights bit for bit identical")
    idle = compare(scene, args.rounds, args.repeats)
    figure("blas threads idle", line(*idle), measured=statistics.fmean(idle[0]) / statistics.fmean(idle[1]), want=">= 0.8x (one thread costs nothing idle)")
    load = start_load(args.load)
    try:
        time.sleep(1)
        loaded = compare(scene, args.rounds, args.repeats)
    finally:
        for p in load:
            p.kill()
            p.wait()
    figure("blas threads loaded", f"{len(load)} processes of torch matrix products beside: {line(*loaded)}",
           measured=statistics.fmean(loaded[0]) / statistics.fmean(loaded[1]), want=">= 0.9x (one thread no slower under load, within noise)")  # fmt: skip


if __name__ == "__main__":
    main()
