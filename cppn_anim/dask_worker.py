"""Entry point: the set-up of each worker process of a local Dask cluster (distribute.py preloads it).

A worker is a process of its own, so this module owns what is process-wide there:
- Ctrl-C and hang-ups are ignored: a terminal sends SIGINT (and, when it closes, SIGHUP)
  to the whole process group, and stopping is the client's to handle (cancel, keep
  finished segments, shut the cluster down), not each worker's (a traceback apiece);
- torch computes on the number of threads the client passes (--threads: the cores shared
  out among the workers, or 1 for small frames), and numpy's BLAS on one;
- OpenMP threads wait passively (the client's environment, inherited, says so already);
- Dask's own logging stays quiet (the client's progress bar is the only output).
"""
from __future__ import annotations

import click


@click.command()
@click.option("--threads", type=int, default=None, help="torch's intra-op threads in this worker")
def dask_setup(worker, threads: int | None) -> None:
    import logging
    import os
    import signal
    import threading

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads its OpenMP runtime
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGHUP})  # held while the client started us
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    import numpy  # noqa: F401 - its BLAS loaded, so that the limit below finds it
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # for the life of this worker process
    if threads:
        import torch

        torch.set_num_threads(threads)  # task threads start later and take this count
