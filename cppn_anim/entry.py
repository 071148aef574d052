"""The process set-up of the command line (cli.py; `cppn-anim studio` and segmented renders run
under it): what a process that runs cppn-anim's work decides for itself, and only an
entry point decides.

- Signals: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed) only set a flag
  (`Stop`): the work checks it between frames and wherever it waits (report.check), stops
  with errors.Cancelled, and cleans up (ffmpeg stopped, temporary files removed). A
  handler never raises, so a second signal during that cleanup cannot cut it short. The
  first signal decides the exit status: 130, 143 or 129.
- OpenMP's wait policy: threads that wait for each other sleep instead of spinning
  (OMP_WAIT_POLICY=PASSIVE, unless the user set it): with another process busy on a core,
  a spinning wait burns the time slice its partner needs. Read once, when torch loads its
  OpenMP runtime, so it is set before anything imports torch. It is for torch's path (the
  fallback: networks the fused kernel cannot run, bf16/fp16 on a CPU, segments of old
  versions): the fused CPU kernel's band workers use no OpenMP, so it costs the render path
  nothing, quiet or busy (benchmarks/kernels.py, `[policy quiet]` and `[policy busy]`), while
  ACTIVE made torch's path many times slower beside busy neighbours.
- numpy's BLAS on one thread: the network's matrices are tiny, and on a busy machine BLAS
  threads mostly wait to be scheduled (benchmarks/blas_threads.py: 30-130x slower).
- torch's threads: read once when a command starts (`Threads`): that many band workers
  for the CPU renderer (bands.py), which never changes torch's threads; for torch's path
  (unsupported networks, bf16/fp16 on a CPU), `torch_threads(n)` is the pin the command line
  lends the renderer (render.ThreadPin): a small frame on one thread, then the threads put back.
- Warnings: shown as our own one line (the caller's `show`).
- Dask (segmented renders): its logging and warnings quiet (`quiet_dask`), and Ctrl-C and
  hang-ups held back while a local cluster's workers start (`held_signals`).

`process()` sets all of these for the duration of a command and puts back what it found,
so main() called in-process (as the tests do) leaves the caller's process as it was. The
process's own command (`keep_signals`) keeps its handlers to the end, and once a signal has
stopped it, ignores the ones that follow: a signal that comes after the cleanup, while the
interpreter exits, changes nothing either.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from typing import Callable, Iterator

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}  # 128 + the signal's number
SAID = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


class Stop:
    """Signals as a flag: `event` is set by the first of SIGINT, SIGTERM or SIGHUP, and
    `signum` keeps which one (it decides the exit status). The event is the cancel flag
    the work is given."""

    def __init__(self):
        self.event = threading.Event()
        self.signum: int | None = None

    def __call__(self, signum: int, frame=None) -> None:  # the signal handler: a flag, never an exception
        if self.signum is None:
            self.signum = signum
        self.event.set()

    @property
    def exit_status(self) -> int:
        return EXIT.get(self.signum, 130)

    @property
    def said(self) -> str:
        return SAID.get(self.signum, "interrupted")


@contextlib.contextmanager
def process(stop: Stop, show: Callable[[str], None], keep_signals: bool = False) -> Iterator[None]:
    """The process as cppn-anim's work wants it (see the module docstring), for the duration."""
    with contextlib.ExitStack() as undo:
        if "OMP_WAIT_POLICY" not in os.environ:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            undo.callback(os.environ.pop, "OMP_WAIT_POLICY", None)
        undo.enter_context(_signals(stop, keep_signals))
        undo.enter_context(warnings.catch_warnings())  # filters and showwarning, put back after
        warnings.showwarning = lambda message, category, *_: show(str(message))
        undo.enter_context(one_blas_thread())
        yield


@contextlib.contextmanager
def _signals(stop: Stop, keep: bool) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # only the main thread may handle signals
        yield
        return
    before = {sig: signal.signal(sig, stop) for sig in EXIT}
    try:
        yield
    finally:
        if not keep:
            for sig, handler in before.items():
                signal.signal(sig, handler)
        elif stop.signum is not None:  # stopped by a signal and cleaned up: more of them change nothing now,
            for sig in before:  # not even while the interpreter exits (which puts back the default handlers)
                signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS on one thread for a while (threadpoolctl), then as it was."""
    import numpy  # noqa: F401 - its BLAS loaded, so that the limit finds it
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Ctrl-C and hang-ups held back for a while (delivered after, to the Stop flag): processes
    started meanwhile (a local Dask cluster's workers) inherit them held, so a terminal's
    signal to the whole process group cannot reach them before their own set-up
    (dask_worker.py) ignores it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


class Threads:
    """What the command line lends the work about threads, one per command: `workers`, the band
    workers of the CPU renderer (bands.py), is torch.get_num_threads() as the process has it
    (so OMP_NUM_THREADS=1 means one worker), read once, when first asked (the renderer's
    set-up, before anything could hold torch's threads; a command that fails its checks never
    loads torch for it); nothing changes torch's threads while a band renderer runs. Called as
    a pin (render.ThreadPin), it holds torch's threads to n for a while, for torch's path
    (torch_threads). core.prepare reads `workers` from the pin it gets."""

    def __init__(self, workers: int | None = None):
        self._workers = workers

    @property
    def workers(self) -> int:
        if self._workers is None:
            import torch

            self._workers = torch.get_num_threads()
        return max(1, int(self._workers))

    def __call__(self, n: int | None) -> contextlib.AbstractContextManager:
        return torch_threads(n)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """The pin (render.ThreadPin) the command line lends the renderer: torch's intra-op threads
    set to n for a while (None: left as they are), then put back. The command line renders
    on one thread at a time, so setting and putting back cannot interleave."""
    import torch

    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def quiet_dask() -> Iterator[None]:
    """Dask's own logging (nanny restarts, a slow event loop on a busy machine, ports) and
    warnings are not for our user: the progress bar is the only output. Errors still reach
    us as exceptions. Local workers inherit the environment (and dask_worker.py quiets them too)."""
    import logging

    with contextlib.ExitStack() as undo:
        old = os.environ.get("DASK_LOGGING__DISTRIBUTED")
        os.environ["DASK_LOGGING__DISTRIBUTED"] = "critical"
        undo.callback(lambda: os.environ.pop("DASK_LOGGING__DISTRIBUTED", None) if old is None else os.environ.__setitem__("DASK_LOGGING__DISTRIBUTED", old))
        for name in ("distributed", "dask"):
            logger = logging.getLogger(name)
            undo.callback(logger.setLevel, logger.level)
            logger.setLevel(logging.CRITICAL)
        undo.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", module=r"(dask|distributed)(\.|$)")
        yield
