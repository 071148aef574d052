"""The one error hierarchy: every error cppn_anim raises on purpose is a CppnAnimError.

    CppnAnimError
    +-- SceneError (also ValueError)      a scene that breaks the format: FILE:LINE:COL: key.path: message
    +-- UsageError (also ValueError)      a request that cannot be done as asked (a time outside
    |                                     the scene, a bad frame range, an unknown format...)
    +-- OutputError (also ValueError)     an output path or target that cannot be written
    +-- ArgumentError (also TypeError)    a Python API argument of the wrong type
    +-- RenderError (also RuntimeError)   a failure while working:
    |   +-- EncodeError                   ffmpeg or the disk failed while writing
    |   +-- TargetBusy                    another render is writing the same target
    |   +-- DeviceUnavailable             the device asked for is not there
    |   +-- OutOfMemory (also MemoryError)  the work does not fit this machine's free memory
    +-- Cancelled                         the caller's cancel flag was set (a signal, the studio's cancel)

The command line maps them to exit statuses (cli.py): 2 for SceneError, UsageError and
OutputError (bad input: nothing written), 1 for a RenderError, 130 / 143 / 129 for a
Cancelled that a signal asked for. Nothing here imports anything of the package: every stage may raise these.

An error becomes text (str()) as one line: user text in it (a name written with a line
break, an ESC sequence, a file name that is not UTF-8) is escaped there, once (`one_line`).

A message that names one of the caller's own options (the output path, the format, the
size, a time or a frame) writes `option(role)` in its place, never a flag: str() says it in
the Python API's words (`path`, `format`...), `said(error, cli=True)` in the command line's
(`-o`, `--format`...), so `render("y.avi")` never tells a Python caller to add `--format`.
"""
from __future__ import annotations

import re

# role: (the Python API's words, the command line's)
OPTION_WORDS = {
    "path": ("path", "-o"),
    "format": ("format", "--format"),
    "choose-format": ("pass format='mp4', 'gif', 'webm' or 'png'", "add --format mp4|gif|webm|png"),
    "size": ("size", "--size"),
    "time": ("time", "--time"),
    "frame": ("frame", "--frame"),
}
_OPTION = re.compile("\ue000([a-z-]+)\ue001")  # private-use marks: never in a path (nor in any text a user writes by chance)


def option(role: str) -> str:
    """A mark for one of the caller's options in a message (OPTION_WORDS), said in the words of
    whoever reads the error: str() the API's, said(e, cli=True) the command line's."""
    if role not in OPTION_WORDS:
        raise KeyError(role)
    return f"\ue000{role}\ue001"


def worded(text: str, cli: bool = False) -> str:
    """text with every option(role) mark said in the API's words (or, cli, the command line's)."""
    return _OPTION.sub(lambda m: OPTION_WORDS[m[1]][cli], text)


def said(error: BaseException, cli: bool = False) -> str:
    """An error as one line, its options in the command line's words where `cli`."""
    if isinstance(error, CppnAnimError):
        return error.text(cli)
    return one_line(str(error))


def one_line(text: str) -> str:
    """text as one line that a terminal shows as it is: every character that is not printable
    (C0 controls such as a line break or ESC, DEL, C1 controls, U+2028 / U+2029 and other
    separators and format characters) written as its escape (\\n, \\x1b, \\u2028); a byte
    of a file name that is not UTF-8 (a lone surrogate from surrogateescape) as \\xNN."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    return repr(c)[1:-1]  # \n, \t, \x1b, \x7f, \x85, \u2028


class CppnAnimError(Exception):
    """Base of every error cppn_anim raises on purpose. str(): one line (`one_line`), in the
    Python API's words; text(cli=True): in the command line's (`option`)."""

    def text(self, cli: bool = False) -> str:
        return one_line(worded(super().__str__(), cli))

    def __str__(self) -> str:
        return self.text()


class SceneError(CppnAnimError, ValueError):
    """A scene that breaks the format: where, which key, what is wrong.

    source: the file (for an override: the file and the --set that was wrong); line, col:
    1-based as in FILE:LINE:COL, None for an override or a file that cannot be read;
    key_path: e.g. 'network.depth' ('' when the whole file is wrong); message: what is
    wrong. str(): the one line the CLI prints. errors: every error found in the file, in
    file order, this one first (what `validate` prints, one line each).
    """

    def __init__(self, source: str, message: str, path: str = "", line: int | None = None, col: int | None = None):
        self.source, self.message, self.path, self.line, self.col = source, message, path, line, col
        self.errors: list[SceneError] = [self]
        super().__init__(str(self))

    @property
    def key_path(self) -> str:
        """The dotted key path of the wrong value (the same as .path, kept for older callers)."""
        return self.path

    def text(self, cli: bool = False) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}:{self.col}"
        return one_line(worded(f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}", cli))

    def __str__(self) -> str:
        return self.text()


class UsageError(CppnAnimError, ValueError):
    """A request that cannot be done as asked (a time outside the scene, a bad frame range...): exit 2."""


class OutputError(CppnAnimError, ValueError):
    """The output path cannot be written (refused before any rendering): exit 2."""


class ArgumentError(CppnAnimError, TypeError):
    """A Python API argument of the wrong type (a size that is not two numbers, a path that is not a path)."""


class RenderError(CppnAnimError, RuntimeError):
    """A failure while working (the request was fine): exit 1."""


class EncodeError(RenderError):
    """ffmpeg or the disk failed while writing."""


class TargetBusy(RenderError):
    """Another render holds the target ("another render is writing PATH")."""


class DeviceUnavailable(RenderError):
    """The device a scene names (cuda, cuda:N, mps) is not there."""


class OutOfMemory(RenderError, MemoryError):
    """A render that cannot fit in this machine's free memory (from the estimate, before any
    work): one line saying what to change."""


class Cancelled(CppnAnimError):
    """The work stopped because its caller set the cancel flag it was given (a signal in the
    command line, `cancel` in the studio). Everything it had begun is cleaned up first."""
