"""Targets: what a render writes (VideoSpec) and how a target is written without losing a user's work.

The contract (shared cli.md, "Output paths") in one place:
- path policy: a path is checked before any rendering (`check_output`, `check_file`:
  nothing is created); a scene's own output.path is filled in and kept inside the folder
  it is rendered from (`output_path`, by scene.fill_output_path's rules);
- one writer per target: an OS lock (filelock: released when the process ends, even by
  kill -9) on a file in the system temp folder named from the target's absolute path and
  frame range (`claim`): png renders of disjoint ranges share a folder;
- atomic writes: a file is written beside its target and moved into place only when
  whole (`atomic`); folders are made only when something is written into them, and
  taken back on failure;
- png folders: only our own frame_NNNNN.png files are added, replaced (each atomically)
  or, past a full render's end, removed, and only if cppn-anim wrote them: their text
  chunks say so (`png_info` writes them, `written_by_us` reads them with Pillow).
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import EncodeError, OutputError, TargetBusy
from .scene import fill_output_path
from .version import __version__

FRAME_FILE = re.compile(r"frame_(\d{5,})\.png")


@dataclass(frozen=True)
class VideoSpec:
    path: Path  # the final output path (a folder for png)
    format: str  # mp4 | gif | webm | png
    width: int
    height: int
    fps: float
    crf: int | None = None
    preset: str = "medium"
    provenance: str = ""  # the resolved scene, recorded in the file
    first_index: int = 0  # png: number of the first frame written
    colors: int = 256  # gif: palette size (fewer colours, smaller file)
    segment: bool = False  # a piece of a segmented render, in a scratch folder: mp4 -> H.264 in MPEG-TS, no metadata
    stop: int | None = None  # png --frames A:B: B; None = a full render, which also removes its stale frames past its end


def output_path(template: str, name: str, fmt: str) -> Path:
    """Fill {name}, {ext}, {format} (scene.fill_output_path). For png the path is a folder."""
    try:
        return fill_output_path(template, name, fmt)
    except ValueError as e:
        raise OutputError(f"output path '{template}': {e}") from None


# ------------------------------------------------------------------ one writer per target


def _busy(path: Path) -> TargetBusy:
    return TargetBusy(f"another render is writing {path}")


@contextmanager
def claim(path: Path, start: int = 0, stop: int | None = None) -> Iterator[None]:
    """Hold the target `path` (frames start..stop-1 of it; stop None: all from start on) while writing.

    Each claim is a lock file in the system temp folder, `cppn-anim-HASH.A-B.lock`, named
    from the target's absolute path and the frame range (never beside the target: a
    folder of frames stays ours to fill, and a read-only folder can still be locked). A
    short lock on `cppn-anim-HASH.lock` makes "look at the other claims, then take ours"
    one step: a claim whose range overlaps a held one fails at once, so png renders of
    disjoint --frames ranges share a folder, and anything else is one writer at a time.
    """
    from filelock import FileLock, Timeout

    key = hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:20]  # a name need not be UTF-8
    base = Path(tempfile.gettempdir()) / f"cppn-anim-{key}"
    end = "end" if stop is None else str(stop)
    mine = FileLock(f"{base}.{start}-{end}.lock", timeout=0)
    with FileLock(f"{base}.lock", timeout=30):
        for other in base.parent.glob(f"{base.name}.*-*.lock"):
            m = re.fullmatch(r"\.(\d+)-(\d+|end)\.lock", other.name[len(base.name) :])
            if not m:
                continue
            a, b = int(m.group(1)), (None if m.group(2) == "end" else int(m.group(2)))
            if (b is None or start < b) and (stop is None or a < stop):  # the ranges overlap
                probe = FileLock(other, timeout=0)
                try:
                    probe.acquire()
                except Timeout:
                    raise _busy(path) from None
                probe.release()
                other.unlink(missing_ok=True)  # a claim whose render has ended (even by kill -9)
        try:
            mine.acquire()
        except Timeout:
            raise _busy(path) from None
    try:
        yield
    finally:
        with FileLock(f"{base}.lock", timeout=30):
            mine.release()
            Path(mine.lock_file).unlink(missing_ok=True)


def claim_spec(spec: VideoSpec):
    """The claim a render of `spec` holds: a video is all of its target; png frames their range."""
    if spec.format != "png":
        return claim(spec.path)
    return claim(spec.path, spec.first_index, spec.stop)


# ------------------------------------------------------------------ paths and atomic writes


def _check_path(path: Path, folder: bool) -> None:
    """Can `path` (a file, or a folder for png) be written? Nothing is created here."""
    for i, part in enumerate(path.parts):  # `sub/..` needs a real folder sub: mkdir -p cannot make one "through" it
        before = Path(*path.parts[:i]) if i else Path(".")
        if part == ".." and not before.is_dir():
            why = "does not exist" if not before.exists() else "is not a folder"
            raise OutputError(f"{path}: {before} {why}, so '{before}/..' leads nowhere; write the path without it")
    if path.exists() and path.is_dir() != folder:
        kind = "a folder" if path.is_dir() else "a file"
        raise OutputError(f"{path}: is {kind}; choose another output path")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot write there ({parent} is a file)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write there (permission denied in {parent})")


def temp_beside(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new temporary file in `folder` (so os.replace is atomic), open for writing. Unlike
    mkstemp's 0600 it gets the usual permissions (0666 less the umask), which the
    finished file keeps."""
    while True:
        path = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue


def make_folders(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders it made (deepest last), so a failure can take them back."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    made = []
    try:
        for f in reversed(missing):
            f.mkdir()
            made.append(f)
    except OSError as e:
        remove_folders(made)
        raise EncodeError(f"cannot make the folder {f}: {e.strerror}") from None
    return made


def remove_folders(made: list[Path]) -> None:
    """Take back folders we made, deepest first, as long as they are empty."""
    for f in reversed(made):
        try:
            f.rmdir()
        except OSError:
            return


@contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """Yields a temporary file beside `path`; moved into place if the block succeeds, removed if not.

    The block writes the temporary file and checks it (read back) before returning."""
    made = make_folders(path.parent)
    fd, temp = temp_beside(path.parent, f".{path.stem}.", f".part{path.suffix}")
    os.close(fd)
    try:
        yield temp
        if temp.stat().st_size == 0:
            raise EncodeError("ffmpeg wrote an empty file")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        remove_folders(made)
        raise


def check_output(spec: VideoSpec) -> None:
    """Refuse a path that cannot be written before any rendering starts (and create nothing)."""
    if spec.format != "png" and spec.path.name in ("", ".."):  # `.`, `/`, `..`: a folder, never a file's name
        raise OutputError(f"{spec.path}: is a folder; name the {spec.format} file in it, e.g. {spec.path / ('NAME.' + spec.format)}")
    if spec.format != "png" and spec.path.suffix.lower() != f".{spec.format}":
        raise OutputError(
            f"{spec.path}: a {spec.format} file must end in .{spec.format}"
            f" (name it {spec.path.with_suffix('.' + spec.format).name}, or choose the format that matches)"
        )
    _check_path(spec.path, spec.format == "png")


def check_file(path: Path) -> None:
    """Refuse a single-file target (a still, a sheet) that cannot be written; create nothing."""
    _check_path(path, folder=False)


def write_bytes(data: bytes, path: Path) -> Path:
    """A finished file's bytes, atomically."""
    with claim(path), atomic(path) as temp:
        temp.write_bytes(data)
    return path


# ------------------------------------------------------------------ png folders


class PngFolder:
    """The target folder of a png render: only our frame files are ever added or replaced,
    each through a temporary file beside it, so the folder holds whole frames only."""

    def __init__(self, folder: Path, provenance: str = ""):
        self.folder, self.written, self.made = folder, 0, None
        self.info = png_info(provenance)

    def put_frame(self, index: int, frame: np.ndarray) -> None:
        from PIL import Image

        self.put(f"frame_{index:05d}.png", lambda f: Image.fromarray(frame).save(f, format="PNG", pnginfo=self.info, compress_level=4))

    def put(self, name: str, write: Callable) -> None:
        """Write frame file `name` (write(file object)) atomically into the folder."""
        if not FRAME_FILE.fullmatch(name):
            raise EncodeError(f"refusing to write {name!r} into {self.folder}: not a frame file")
        if self.made is None:  # the folder is made when its first frame is written
            self.made = make_folders(self.folder)
        fd, temp = temp_beside(self.folder, f".{name}.", ".part")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(temp, self.folder / name)
        except BaseException as e:
            Path(temp).unlink(missing_ok=True)
            if isinstance(e, OSError):
                raise EncodeError(f"cannot write {self.folder / name}: {e.strerror or e}") from None
            raise
        self.written += 1

    def prune(self, stop: int, warn: Callable[[str], None] = lambda message: None) -> list[Path]:
        """A full render: remove our own frame files numbered stop and above (left by a longer
        render). Ours means a PNG that cppn-anim wrote (written_by_us); any other file with a
        frame name is kept, and warn() names what was kept. Returns the kept paths."""
        kept = []
        for path in sorted(self.folder.glob("frame_*.png")):
            m = FRAME_FILE.fullmatch(path.name)
            if not m or int(m.group(1)) < stop:
                continue
            if written_by_us(path):
                path.unlink(missing_ok=True)
            else:
                kept.append(path)
        if kept:
            shown = ", ".join(p.name for p in kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
            warn(f"kept {shown} in {self.folder}: numbered past the last frame, but not written by cppn-anim")
        return kept

    def abandon(self) -> None:
        """Nothing was written: take back the folders we made."""
        if self.made and not self.written:
            remove_folders(self.made)


def written_by_us(path: Path) -> bool:
    """Is `path` a PNG file (not a link) that cppn-anim wrote? Its text chunks before the image
    data say so: Software "cppn-anim ..." or our `cppn-anim:scene` iTXt (png_info). Pillow reads
    the chunks up to the image data, never the pixels (the plugin itself, not Image.open: a
    foreign file's size is no concern of ours, so no decompression-bomb check and its warning)."""
    from PIL import PngImagePlugin

    try:
        if path.is_symlink() or not path.is_file():
            return False
        with open(path, "rb") as f:
            info = PngImagePlugin.PngImageFile(f).info
    except (OSError, ValueError, SyntaxError, EOFError):  # not a PNG, a broken or oversized chunk
        return False
    return "cppn-anim:scene" in info or str(info.get("Software", "")).startswith("cppn-anim")


def png_info(provenance: str = ""):
    """The text chunks of every PNG we write: Software (what `written_by_us` looks for) and the
    resolved scene (iTXt `cppn-anim:scene`)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"cppn-anim {__version__}")
    if provenance:
        info.add_itxt("cppn-anim:scene", provenance, zip=True)
    return info


def png_bytes(frame: np.ndarray, provenance: str = "", level: int = 4) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes with our text chunks (lossless: the same pixels at any level)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", pnginfo=png_info(provenance), compress_level=level)
    return buffer.getvalue()
