"""What long work and its caller tell each other: a Reporter hears progress, warnings and
notes; a cancel flag (a threading.Event the caller sets) asks the work to stop.

The work calls `check(cancel)` between frames and bands, and wherever it waits; it raises
errors.Cancelled once the flag is set, after which the work cleans up what it began (its
cleanup checks nothing, so a second request to stop never skips it). A signal handler that
only sets the flag (cli.py, through entry.py) makes a signal safe at every point.
"""
from __future__ import annotations

import threading

from .errors import Cancelled


class Reporter:
    """What a long piece of work tells its caller. Every method does nothing here: a caller
    (the command line's progress bar, the studio's page) overrides what it shows."""

    def progress(self, n: int) -> None:
        """n more frames (rows, for a still; stills, for a sheet) are done."""

    def warn(self, message: str) -> None:
        """Something the user should know (an odd size padded, a frame file kept)."""

    def note(self, message: str) -> None:
        """What the work did on the way (a preview written, segments kept or reused)."""

    def error(self, message: str) -> None:
        """A part that was refused while the rest went on (a bad scene among the previews)."""

    def starting(self) -> None:
        """Once every check has passed, just before the work itself."""


QUIET = Reporter()


def check(cancel: threading.Event | None) -> None:
    """Raise errors.Cancelled if the caller has asked the work to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("stopped")
