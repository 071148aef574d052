"""`cppn-anim watch`: the preview GIF made again whenever the scene file is saved."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterable

from . import core, previews
from .errors import EncodeError, OutputError, SceneError, TargetBusy, UsageError, said
from .report import QUIET, Reporter, check

MAX_INTERVAL = 86400.0  # seconds between looks at the file: a day at most (a wait must end)


def check_interval(interval: float) -> float:
    """The seconds between looks at the file: a number > 0 and at most MAX_INTERVAL, else UsageError."""
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not 0 < interval <= MAX_INTERVAL:
        raise UsageError(f"interval {interval}: the seconds between looks at the file are more than 0 and at most {MAX_INTERVAL:g}")
    return float(interval)


def watch(
    path: str | Path, out: str | Path | None = None, overrides: Iterable = (), interval: float = 0.5, *,
    report: Reporter = QUIET, cancel: threading.Event | None = None, pin=None,
) -> None:  # fmt: skip
    """Render the preview GIF again whenever the file changes (mtime or size), until stopped.

    A file missing at the start is a SceneError ("no such file"); later problems (a bad
    edit, the file gone for a moment) are reported by report.note(line), keeping the last
    good preview. Returns only by an exception: errors.Cancelled once `cancel` is set (the
    command line's Ctrl-C, SIGTERM or SIGHUP), or KeyboardInterrupt without one.
    """
    interval = check_interval(interval)
    core.check_named(out)
    path = Path(path)
    if not path.is_file():
        core.load(path, overrides)  # raises the one-line "no such file" (or "not a text file")
    seen = None
    while True:
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp != seen:
            seen = stamp
            report.note(_watch_once(path, out, overrides, cancel, pin))
        if cancel is None:
            time.sleep(interval)
        elif cancel.wait(interval):
            check(cancel)


def _watch_once(path: Path, out, overrides, cancel, pin) -> str:
    began = time.perf_counter()
    now = time.strftime("%H:%M:%S")
    try:
        done = previews.render_preview(core.load(path, overrides), out, cancel=cancel, pin=pin)
        return f"{now} updated {done.path} ({done.frames} frames) in {time.perf_counter() - began:.1f} s"
    except (SceneError, UsageError, OutputError) as e:
        return f"{now} {said(e, cli=True)} (kept the last good preview)"
    except (EncodeError, TargetBusy) as e:  # ffmpeg, the disk, another writer: the next save tries again
        return f"{now} cppn-anim: {said(e, cli=True)} (kept the last good preview)"
