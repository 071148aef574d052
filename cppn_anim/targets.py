"""Targets: what a render writes (VideoSpec) and how a target is written without losing a user's work.

The output-path rules (docs/outputs.md) in one place:
- path policy: a path is checked before any rendering (`check_output`, `check_file`,
  `check_folder`: nothing is created; a name over the file system's NAME_MAX is refused);
  a scene's own output.path is filled in and kept inside the folder it is rendered from
  (`output_path`, by scene.fill_output_path's rules);
- one writer per target: an OS lock (flock: released when the process ends, even by
  kill -9) on a file in a private per-user folder under the system temp folder, named from
  the target's real path and frame range (`claim`): png renders of disjoint ranges share a
  folder; lock files are removed with their locks, so they do not pile up;
- atomic writes: a file is written beside its target (`temp_beside`: a name that always
  fits) and moved into place only when whole (`atomic`); folders are made only when
  something is written into them, and taken back on failure;
- png folders: only our own frame files (`frame_name`: frame_NNNNN.png, wider past
  100,000 frames, `frame_digits`) are added, replaced (each atomically) or, past a full
  render's end, removed, and only if cppn-anim wrote them: their text chunks say so
  (`png_info` writes them, `written_by_us` reads them with Pillow); another tool's file
  with a frame's name is never replaced (`foreign_frames`, `_replace_ours`).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import secrets
import stat as statmod
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import EncodeError, OutputError, TargetBusy
from .scene import fill_output_path
from .version import __version__

FRAME_FILE = re.compile(r"frame_(\d{5,})\.png")
NAME_MAX = 255  # bytes in a file name, where the file system does not say


def frame_digits(count: int) -> int:
    """How wide the frame numbers of a render of `count` frames are: 5 (frame_00000.png) up to
    100,000 frames, else the width of the last index, so that every name of the render has
    the same width and the names sort in frame order (frame_099999.png, frame_100000.png)."""
    return max(5, len(str(max(count, 1) - 1)))


def frame_name(index: int, digits: int = 5) -> str:
    return f"frame_{index:0{digits}d}.png"


@dataclass(frozen=True)
class Soundtrack:
    """The audio an mp4 or webm carries: `duration` seconds of the file at `path` from its
    second `start` (padded with silence past its end), the first sample with the first frame."""

    path: Path
    start: float
    duration: float
    sha256: str = ""


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
    audio: Soundtrack | None = None  # mp4 / webm: the soundtrack muxed in (a segment never has one: the join adds it)
    digits: int = 5  # png: width of the frame numbers in the file names (frame_digits of the scene's frame count)


def output_path(template: str, name: str, fmt: str) -> Path:
    """Fill {name}, {ext}, {format} (scene.fill_output_path). For png the path is a folder."""
    try:
        return fill_output_path(template, name, fmt)
    except ValueError as e:
        raise OutputError(f"output path '{template}': {e}") from None


# ------------------------------------------------------------------ one writer per target

LOCK_FOLDER = "cppn-anim-locks-{uid}"  # under the system temp folder: private to its user (0700)
LOCK_WAIT = 30.0  # seconds to wait for a target's short guard lock (held only while claims are looked at)
_LOCK_NAME = re.compile(r"(?P<key>[0-9a-f]{20})(?:\.(?P<a>\d+)-(?P<b>\d+|end))?\.lock")


def _busy(path: Path) -> TargetBusy:
    return TargetBusy(f"another render is writing {path}")


def lock_folder() -> int:
    """The private per-user folder of the lock files, opened (a descriptor: every name in it is
    reached through it, so the folder cannot be swapped under us). Made 0700 if missing; one
    that is not a real folder owned by this user (a link, a file, another user's folder: a
    leftover or a plant) is refused; ours with looser permissions is made private again."""
    folder = Path(tempfile.gettempdir()) / LOCK_FOLDER.format(uid=os.getuid())
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise EncodeError(f"cannot make the lock folder {folder}: {e.strerror or e}") from None
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        what = "a link" if os.path.islink(folder) else "not a folder" if e.errno == errno.ENOTDIR else (e.strerror or str(e))
        raise EncodeError(f"the lock folder {folder} is {what}, not a private folder of yours: remove it, or set TMPDIR to another folder") from None
    st = os.fstat(fd)
    if st.st_uid != os.getuid():
        os.close(fd)
        raise EncodeError(
            f"the lock folder {folder} belongs to another user (uid {st.st_uid}), not to you: remove it, or set TMPDIR to another folder"
        )
    if st.st_mode & 0o077:
        os.fchmod(fd, 0o700)
    return fd


def _open_lock(folder: int, name: str, create: bool) -> int | None:
    """A lock file of ours in the lock folder, opened; None if it is not there (create False).
    A link or another user's file in its place (a plant, or one from before the folder was
    private) is removed: the folder is ours."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    for _ in range(5):
        try:
            fd = os.open(name, flags, 0o600, dir_fd=folder)
        except FileNotFoundError:
            if create:
                raise
            return None
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.EACCES, errno.EPERM, errno.EISDIR):
                raise
            _remove_planted(folder, name)
            continue
        st = os.fstat(fd)
        if st.st_uid == os.getuid() and statmod.S_ISREG(st.st_mode):
            return fd
        os.close(fd)
        _remove_planted(folder, name)
    raise EncodeError(f"cannot make the lock file {name} in the lock folder (something keeps putting another file there)")


def _remove_planted(folder: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except IsADirectoryError:
        os.rmdir(name, dir_fd=folder)  # an empty one; anything more is left for its owner to see
    except FileNotFoundError:
        pass


def _lock(folder: int, name: str, wait: float = 0.0, create: bool = True) -> int | None:
    """An exclusive OS lock (flock: released when the process ends, even by kill -9) on the
    lock file `name`: its descriptor, or None if another process holds it (after `wait`
    seconds) or, with create False, there is no such file.

    Lock files are removed by whoever holds them (`_unlock`), so a lock taken on a file
    that its holder removed meanwhile is worth nothing: the file locked must still be the one
    at the name (device and inode), else the lock is taken again on the one there now."""
    deadline = time.monotonic() + wait
    while True:
        fd = _open_lock(folder, name, create)
        if fd is None:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)
            continue
        try:
            there = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            there = None
        held = os.fstat(fd)
        if there is not None and (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # removed by its holder after we opened it: lock the one at the name now


def _held(folder: int, name: str) -> bool:
    """Does a live claim hold the lock file `name`? One whose render has ended (even by
    kill -9: the OS released its lock) is removed."""
    fd = _lock(folder, name, create=False)
    if fd is None:
        return _exists(folder, name)  # held by a live claim (or gone: then nothing holds it)
    _unlock(folder, name, fd)
    return False


def _exists(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _unlock(folder: int, name: str, fd: int) -> None:
    """Release a lock we hold and remove its file (while still holding it: see `_lock`), so
    lock files do not pile up."""
    try:
        os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def _overlaps(a: int, b: int | None, start: int, stop: int | None) -> bool:
    return (b is None or start < b) and (stop is None or a < stop)


def _sweep(folder: int, skip: str, most: int = 64) -> None:
    """Remove lock files that renders killed by a signal left behind (their locks released by
    the OS), each under its target's guard, so that no live claim is ever taken for stale."""
    for name in os.listdir(folder)[: most * 4]:
        m = _LOCK_NAME.fullmatch(name)
        if not m or m["key"] == skip:
            continue
        guard = _lock(folder, f"{m['key']}.lock")
        if guard is None:  # another process is claiming that target right now
            continue
        try:
            if m["a"] is not None:
                _held(folder, name)
        finally:
            _unlock(folder, f"{m['key']}.lock", guard)
        most -= 1
        if most <= 0:
            return


def lock_key(path: Path) -> str:
    """The name of a target's locks: a hash of its real path (symlinks resolved, any bytes)."""
    return hashlib.sha256(os.fsencode(os.path.realpath(path))).hexdigest()[:20]


@contextmanager
def claim(path: Path, start: int = 0, stop: int | None = None) -> Iterator[None]:
    """Hold the target `path` (frames start..stop-1 of it; stop None: all from start on) while writing.

    Each claim is an OS lock on a file `KEY.A-B.lock` in a private per-user folder under the
    system temp folder (`lock_folder`), KEY a hash of the target's real path (a folder
    reached through a symlink is the same target): never beside the target, so a folder of
    frames stays ours to fill and a read-only folder can still be locked. A short lock on
    `KEY.lock` makes "look at the other claims, then take ours" one step: a claim whose
    range overlaps a held one fails at once (TargetBusy), so png renders of disjoint
    --frames ranges share a folder, and anything else is one writer at a time. Every lock
    file is removed when its lock is released (a killed render's, by the next claim), so
    they do not pile up.
    """
    key = lock_key(path)
    end = "end" if stop is None else str(stop)
    guard_name, mine_name = f"{key}.lock", f"{key}.{start}-{end}.lock"
    folder = lock_folder()
    try:
        guard = _lock(folder, guard_name, wait=LOCK_WAIT)
        if guard is None:
            raise _busy(path)
        try:
            for name in os.listdir(folder):
                m = _LOCK_NAME.fullmatch(name)
                if not m or m["key"] != key or m["a"] is None:
                    continue
                if _overlaps(int(m["a"]), None if m["b"] == "end" else int(m["b"]), start, stop) and _held(folder, name):
                    raise _busy(path)
            mine = _lock(folder, mine_name)
            if mine is None:
                raise _busy(path)
            _sweep(folder, key)
        finally:
            _unlock(folder, guard_name, guard)
        try:
            yield
        finally:
            _unlock(folder, mine_name, mine)
    finally:
        os.close(folder)


def claim_spec(spec: VideoSpec):
    """The claim a render of `spec` holds: a video is all of its target; png frames their range."""
    if spec.format != "png":
        return claim(spec.path)
    return claim(spec.path, spec.first_index, spec.stop)


# ------------------------------------------------------------------ paths and atomic writes


def _check_path(path: Path, folder: bool) -> None:
    """Can `path` (a file, or a folder for png) be written? Nothing is created here."""
    for part in path.parts:  # a name the file system cannot hold (temporary names beside it are made to fit)
        size, most = len(os.fsencode(part)), name_max(path.parent)
        if size > most:
            raise OutputError(f"{path}: the name {part[:24]}... is {size} bytes long, over the file system's {most}; choose a shorter name")
    for i, part in enumerate(path.parts):  # `sub/..` needs a real folder sub: mkdir -p cannot make one "through" it
        before = Path(*path.parts[:i]) if i else Path(".")
        if part == ".." and not before.is_dir():
            why = "does not exist" if not before.exists() else "is not a folder"
            raise OutputError(f"{path}: {before} {why}, so '{before}/..' leads nowhere; write the path without it")
    if path.exists() and path.is_dir() != folder:
        kind = "a folder" if path.is_dir() else "a file"
        raise OutputError(f"{path}: is {kind}; choose another output path")
    real = through_links(path)  # a symlink is written through: the checks are of where it points
    parent = real if folder and real.is_dir() else real.parent  # where the first new file (or folder) goes
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot write there ({parent} is a file)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write there (permission denied in {parent})")
    refused = _cannot_create(parent)
    if refused:  # access() says yes for root, and knows nothing of /proc, /sys or a full inode table
        raise OutputError(f"{path}: cannot write there ({parent} takes no new files: {refused})")


def _cannot_create(folder: Path) -> str | None:
    """Why a new file cannot be made in `folder` (the operating system's words), or None: a
    hidden probe file is made and removed at once, so nothing is left behind."""
    probe = folder / f".cppn-anim-probe.{secrets.token_hex(4)}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        return _words(e)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return None


def _words(e: OSError) -> str:
    """An OSError's cause in words, without the file name it carries (a temporary name of ours)."""
    return e.strerror or type(e).__name__


def cannot_write(target: Path, e: OSError) -> EncodeError:
    """A failure while writing `target` (its temporary file, its folder): one line naming the
    target, never our hidden temporary name, with the cause in words (exit 1)."""
    return EncodeError(f"cannot write {target}: {_words(e)}")


def name_max(folder: Path) -> int:
    """The longest file name (bytes) the file system of `folder` (or its nearest existing parent) takes."""
    while folder != folder.parent and not _exists_path(folder):
        folder = folder.parent
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return NAME_MAX


def _exists_path(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long to look up is not there
        return False


def _shorten(name: str, budget: int) -> str:
    """`name` if it fits in `budget` bytes, else its beginning (whole characters) and a hash
    of all of it: still unique to the name, and never over the file system's limit."""
    raw = os.fsencode(name)
    if len(raw) <= budget:
        return name
    tag = "~" + hashlib.sha256(raw).hexdigest()[:10]
    cut = raw[: max(0, budget - len(tag))]
    for drop in range(4):  # never half a UTF-8 character
        try:
            return cut[: len(cut) - drop].decode("utf-8") + tag
        except UnicodeDecodeError:
            continue
    return os.fsdecode(cut) + tag


def hidden_name(folder: Path, name: str, suffix: str) -> str:
    """`.NAME{suffix}` for a file of ours beside the target `name` (a segments folder), with
    NAME shortened where the whole would not fit in a file name."""
    return "." + _shorten(name, name_max(folder) - 1 - len(os.fsencode(suffix))) + suffix


def temp_beside(folder: Path, name: str, suffix: str, shown: Path | None = None) -> tuple[int, Path]:
    """A new temporary file `.NAME.XXXXXXXX{suffix}` in `folder` (so os.replace is atomic),
    open for writing; NAME is shortened where the whole would not fit in a file name (a
    target's name may be as long as the file system allows). Unlike mkstemp's 0600 it
    gets the usual permissions (0666 less the umask), which the finished file keeps.
    One that cannot be made is an EncodeError naming `shown` (default folder/name, the
    target), never the temporary name (`cannot_write`)."""
    if len(os.fsencode(suffix)) > 24:  # a long made-up extension: the temporary file does without it
        suffix = ".part"
    stem = _shorten(name, name_max(folder) - len(os.fsencode(suffix)) - 10)
    while True:
        path = folder / f".{stem}.{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue
        except OSError as e:
            raise cannot_write(shown or folder / name, e) from None


def make_folders(folder: Path, shown: Path | None = None) -> list[Path]:
    """mkdir -p, returning the folders it made (deepest last), so a failure can take them back.
    A failure names `shown` (what is being written) where given, else the folder."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    made = []
    try:
        for f in reversed(missing):
            try:
                f.mkdir()
            except FileExistsError:
                if f.is_dir():  # made meanwhile by another writer (a png range beside ours): not ours to take back
                    continue
                raise
            made.append(f)
    except OSError as e:
        remove_folders(made)
        if shown is not None:
            raise EncodeError(f"cannot write {shown}: cannot make the folder {f} ({_words(e)})") from None
        raise EncodeError(f"cannot make the folder {f}: {_words(e)}") from None
    return made


def remove_folders(made: list[Path]) -> None:
    """Take back folders we made, deepest first, as long as they are empty."""
    for f in reversed(made):
        try:
            f.rmdir()
        except OSError:
            return


def through_links(path: Path) -> Path:
    """Where writing `path` lands: a symlink (or a chain of them, or a folder above that is
    one) resolved to the file it names, as an editor saves through a link; `path` itself
    where it is no link."""
    return Path(os.path.realpath(path)) if _links_above(path) else path


def _links_above(path: Path) -> bool:
    try:
        return path.is_symlink() or os.path.realpath(path.parent) != os.path.abspath(path.parent)
    except OSError:
        return False


@contextmanager
def atomic(path: Path, shown: Path | None = None) -> Iterator[Path]:
    """Yields a temporary file beside `path`; moved into place if the block succeeds, removed if not.

    A `path` that is a symlink stays one: the file it points to is replaced (through_links).
    The block writes the temporary file and checks it (read back) before returning. An
    OSError while making or writing it is one line naming `shown` (default `path`), never
    the temporary name (cannot_write: exit 1)."""
    shown = shown or path
    path = through_links(path)
    made = make_folders(path.parent, shown)
    fd, temp = temp_beside(path.parent, path.stem, f".part{path.suffix}", shown)
    os.close(fd)
    try:
        yield temp
        if temp.stat().st_size == 0:
            raise EncodeError("ffmpeg wrote an empty file")
        os.replace(temp, path)
    except BaseException as e:
        temp.unlink(missing_ok=True)
        remove_folders(made)
        if isinstance(e, OSError):
            raise cannot_write(shown, e) from None
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


def check_folder(path: Path) -> None:
    """Refuse a folder target (the previews page's) that cannot be written; create nothing."""
    _check_path(path, folder=True)


def user_cache(kind: str) -> Path | None:
    """The per-user cache folder for one kind of entry ("audio", "kernels"):
    $XDG_CACHE_HOME/cppn-anim/KIND (an absolute XDG_CACHE_HOME only, as the XDG spec says),
    else ~/.cache/cppn-anim/KIND; None where there is no home to cache in. Nothing is created."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    try:
        root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    except RuntimeError:  # no home directory
        return None
    return root / "cppn-anim" / kind


def write_bytes(data: bytes, path: Path, claimed: bool = False, shown: Path | None = None) -> Path:
    """A finished file's bytes, atomically (holding its claim, unless the caller does: `claimed`);
    a failure names `shown` (default `path`)."""
    with nullcontext() if claimed else claim(path), atomic(path, shown) as temp:
        temp.write_bytes(data)
    return path


# ------------------------------------------------------------------ png folders


class PngFolder:
    """The target folder of a png render: only our frame files are ever added or replaced,
    each through a temporary file beside it, so the folder holds whole frames only. A file
    with a frame's name that cppn-anim did not write is never replaced (`foreign_frames`
    finds them before any work; `put` refuses one that turned up since)."""

    def __init__(self, folder: Path, provenance: str = "", digits: int = 5):
        self.shown = folder  # what messages name: the folder as the user gave it
        self.folder, self.written, self.made, self.digits = through_links(folder), 0, None, digits
        self.info = png_info(provenance)

    def put_frame(self, index: int, frame: np.ndarray) -> None:
        from PIL import Image

        self.put(frame_name(index, self.digits), lambda f: Image.fromarray(frame).save(f, format="PNG", pnginfo=self.info, compress_level=4))

    def put(self, name: str, write: Callable) -> None:
        """Write frame file `name` (write(file object)) atomically into the folder."""
        if not FRAME_FILE.fullmatch(name):
            raise EncodeError(f"refusing to write {name!r} into {self.shown}: not a frame file")
        if self.made is None:  # the folder is made when its first frame is written
            self.made = make_folders(self.folder, self.shown / name)
        final = self.folder / name
        fd, temp = temp_beside(self.folder, name, ".part", self.shown / name)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            _replace_ours(temp, final)
        except BaseException as e:
            Path(temp).unlink(missing_ok=True)
            if isinstance(e, OSError):
                raise cannot_write(self.shown / name, e) from None
            raise
        self.written += 1

    def prune(self, stop: int, warn: Callable[[str], None] = lambda message: None) -> list[Path]:
        """A full render: remove our own frame files numbered stop and above (left by a longer
        render), and our own frame files of its frames written at another width (a render of
        another length: frame_000003.png beside frame_00003.png). Ours means a PNG that
        cppn-anim wrote (written_by_us); any other file with a frame name is kept, and warn()
        names what was kept past the end. Returns the kept paths."""
        kept = []
        for path in sorted(self.folder.glob("frame_*.png")):
            m = FRAME_FILE.fullmatch(path.name)
            if not m:
                continue
            past = int(m.group(1)) >= stop
            if not past and path.name == frame_name(int(m.group(1)), self.digits):
                continue  # one of this render's own frames
            if written_by_us(path):
                path.unlink(missing_ok=True)
            elif past:
                kept.append(path)
        if kept:
            shown = ", ".join(p.name for p in kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
            warn(f"kept {shown} in {self.shown}: numbered past the last frame, but not written by cppn-anim")
        return kept

    def abandon(self) -> None:
        """Nothing was written: take back the folders we made."""
        if self.made and not self.written:
            remove_folders(self.made)


def _replace_ours(temp: Path, final: Path) -> None:
    """Move a finished frame file into place, but never over a file cppn-anim did not write:
    where there is none, a hard link puts it there only if there is still none."""
    try:
        os.link(temp, final)
    except FileExistsError:
        if not written_by_us(final):
            raise EncodeError(f"{final} was not written by cppn-anim: not replacing it (move it away, or render into another folder)") from None
        os.replace(temp, final)
        return
    except OSError:  # a file system without hard links
        if final.exists() and not written_by_us(final):
            raise EncodeError(f"{final} was not written by cppn-anim: not replacing it (move it away, or render into another folder)") from None
        os.replace(temp, final)
        return
    os.unlink(temp)


def foreign_frames(folder: Path, start: int, stop: int, digits: int = 5) -> list[Path]:
    """The files in `folder` with the names of frames start..stop-1 that cppn-anim did not
    write (another tool's, a link, anything not ours): a render must not replace them."""
    if not folder.is_dir():
        return []
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            m = FRAME_FILE.fullmatch(entry.name)
            if m and start <= int(m.group(1)) < stop and entry.name == frame_name(int(m.group(1)), digits):
                if not written_by_us(Path(entry.path)):
                    found.append(Path(entry.path))
    return sorted(found)


def whole_png(data: bytes) -> bool:
    """Are these bytes a whole PNG file (its signature first, its IEND chunk last)?"""
    return data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")


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
    if provenance:  # a name from a non-UTF-8 file name: its bytes as \xNN (iTXt is UTF-8)
        info.add_itxt("cppn-anim:scene", provenance.encode("utf-8", "backslashreplace").decode("utf-8"), zip=True)
    return info


def png_bytes(frame: np.ndarray, provenance: str = "", level: int = 4) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes with our text chunks (lossless: the same pixels at any level)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", pnginfo=png_info(provenance), compress_level=level)
    return buffer.getvalue()
