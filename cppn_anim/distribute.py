"""Segmented renders: split the frames, render and encode each segment anywhere, join without re-encoding.

distribute receives what it runs: a frame source (core.SceneFrames: a picklable
description, `description` and `(start, stop, cancel, pin) -> frames`), never the core
itself. Process set-up is not ours either: a local cluster's workers are set up by
dask_worker.py (an entry point: Ctrl-C and hang-ups ignored there, torch's threads as the
client asks), and Dask's logging is the command line's to quiet.

Render farms work by segments, and so do we. A segment is a run of frames encoded on its
own (so it starts with a keyframe): H.264 in MPEG-TS for mp4 (TS joins cleanly), VP9 in
WebM for webm, a tar of PNG files for png. Segments come back to the client as bytes (a worker on
another machine cannot write to our disk); the client keeps finished ones beside the
target, and ffmpeg's concat demuxer joins them with `-c copy`, muxed once with +faststart.

Where segments run:
- in this process, one after another (`--resume` alone): an interrupted render keeps its
  finished segments and `--resume` picks them up;
- on a Dask cluster: a local one with `--workers N`, or an existing one with
  `--scheduler ADDRESS`. Dask reschedules the segments of a lost worker elsewhere.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import math
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from . import encode, ffmpeg, targets
from .errors import EncodeError
from .report import QUIET, Reporter, check

SEGMENT_SUFFIX = {"mp4": ".ts", "webm": ".webm", "png": ".tar"}
MAX_SEGMENT_SECONDS = 2.0  # a segment is at most this long (or MIN_SEGMENT frames): an interruption loses little
MIN_SEGMENT = 8  # frames
MIN_SEGMENTS = 16  # a short render still has work for many workers
TEMP_PREFIX = "cppn-anim-segment-"  # a worker's scratch folder in its temp dir
WORKER_SETUP = "cppn_anim.dask_worker"  # preloaded in each worker of a local cluster (an entry point)


class FrameSource(Protocol):
    """What a segmented render runs: picklable, so a worker anywhere can make the frames."""

    @property
    def description(self) -> str:
        """What decides the frames: recorded in png segments, and the key of kept segments."""

    def __call__(self, start: int, stop: int, cancel: threading.Event | None = None, pin=None) -> Iterator[np.ndarray]:
        """Frames start..stop-1, in order, each (H, W, 3) uint8."""


_ADDRESS = re.compile(r"(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})")
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")  # Dask's network transports; no scheme means tcp


def scheduler_address(text: str) -> str:
    """A Dask scheduler address as Dask reads it, [SCHEME://]HOST:PORT; ValueError says what is wrong.

    Checked before any work: Dask itself would refuse a bad one only when the render
    starts, with a traceback.
    """
    m = _ADDRESS.fullmatch(text.strip())
    example = "write tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
    if not m:
        raise ValueError(f"'{text[:60]}' is not a scheduler address ({example})")
    if m["scheme"] and m["scheme"] not in SCHEMES:
        raise ValueError(f"'{text[:60]}': unknown transport '{m['scheme']}://' ({', '.join(s + '://' for s in SCHEMES)})")
    if not 1 <= int(m["port"]) <= 65535:
        raise ValueError(f"'{text[:60]}': port {int(m['port'])} is not 1..65535 ({example})")
    return text.strip()


@dataclass(frozen=True)
class Segment:
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{self.start:06d}-{self.stop:06d}"


def plan(start: int, stop: int, fps: float) -> list[Segment]:
    """Cut frames start..stop-1 into segments of equal length (+-1), none under MIN_SEGMENT frames
    (x264's B-frame delay needs a few frames: a 2-frame segment joins with a timestamp glitch),
    none over 2 seconds unless MIN_SEGMENT frames are longer (an interruption loses little);
    at least MIN_SEGMENTS of them once there are MIN_SEGMENTS * MIN_SEGMENT frames (work for
    many workers), else one per MIN_SEGMENT frames.
    The plan does not depend on the number of workers, so --resume works with any number."""
    count = stop - start
    size = max(MIN_SEGMENT, min(math.ceil(count / MIN_SEGMENTS), round(MAX_SEGMENT_SECONDS * fps)))
    pieces = max(1, min(math.ceil(count / size), count // MIN_SEGMENT))
    bounds = [start + count * i // pieces for i in range(pieces + 1)]
    return [Segment(a, b) for a, b in zip(bounds, bounds[1:])]


def render_segment(
    source: FrameSource, spec: targets.VideoSpec, start: int, stop: int, render_key: str = "", cancel: threading.Event | None = None, pin=None
) -> bytes:
    """Runs on a worker (or here): render frames start..stop-1 and return the encoded bytes of
    a segment of the render `spec` describes (for png: an uncompressed tar of the frame
    files). render_key names the scratch folder."""
    frames = iter(source(start, stop, cancel, pin))
    first = next(frames)  # the frames' own size decides the segment's (the spec's, when made from one scene)
    frames = itertools.chain([first], frames)
    height, width = first.shape[:2]
    # named from the render's key: the client removes what a killed worker left (same machine)
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{render_key}-") as tmp:
        if spec.format == "png":
            folder = Path(tmp) / "frames"
            piece = targets.VideoSpec(folder, "png", width, height, spec.fps, provenance=source.description, first_index=start, segment=True, digits=spec.digits)
            encode.write(frames, piece, cancel=cancel)
            packed = io.BytesIO()
            with tarfile.open(fileobj=packed, mode="w") as tar:  # PNGs are compressed already
                for path in sorted(folder.iterdir()):
                    tar.add(path, arcname=path.name)
            return packed.getvalue()
        out = Path(tmp) / f"segment{SEGMENT_SUFFIX[spec.format]}"
        piece = targets.VideoSpec(out, spec.format, width, height, spec.fps, crf=spec.crf, preset=spec.preset, segment=True)
        encode.write(frames, piece, cancel=cancel)
        return out.read_bytes()


def _unpack(data: bytes) -> list[tuple[str, bytes]]:
    """A png segment's tar -> [(file name, bytes)]; only plain files, named without folders."""
    files = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        for member in tar.getmembers():
            if member.isfile() and Path(member.name).name == member.name:
                files.append((member.name, tar.extractfile(member).read()))
    return files


class SegmentStore:
    """Finished segments beside the target, valid only for the same scene and settings (the
    key in its manifest). A partial png render (--frames A:B) has its own store, so disjoint
    ranges can run at once. Every file here is written whole or not at all (a temporary
    name, then os.replace); a damaged manifest or segment is found and made again."""

    FILES = re.compile(r"manifest\.json|\.manifest\.[0-9a-f]+\.part\.json|\.concat\.[0-9a-f]+\.txt|\d+-\d+\.\w+(\.part)?")  # ours, any width

    def __init__(self, spec: targets.VideoSpec, key: str):
        target = spec.path
        part = f".{spec.first_index}-{spec.stop}" if spec.format == "png" and spec.stop is not None else ""
        self.folder = target.parent / targets.hidden_name(target.parent, target.name + part, ".segments")
        self.key, self.spec = key, spec
        self.made: list[Path] = []

    def open(self, resume: bool, note: Callable[[str], None] = lambda message: None) -> None:
        """Ready to save segments: kept ones only when resuming under the same key."""
        manifest = self.folder / "manifest.json"
        if self.folder.exists() and not (resume and self._key(manifest, note) == self.key):
            self.remove()
        self.made = targets.make_folders(self.folder, self.spec.path)
        targets.write_bytes(json.dumps({"key": self.key}).encode(), manifest, claimed=True, shown=self.spec.path)  # the target's claim covers it

    def _key(self, manifest: Path, note: Callable[[str], None]) -> str | None:
        """The key the kept segments were made under; None (with a note) if the manifest is missing or damaged."""
        try:
            key = json.loads(manifest.read_bytes()).get("key")
            if isinstance(key, str):
                return key
        except FileNotFoundError:
            return None
        except (OSError, ValueError, AttributeError):  # half-written by an older version, or damaged: start over
            pass
        note(f"the manifest of the kept segments in {self.folder} is damaged: rendering every segment again")
        return None

    def path(self, segment: Segment, fmt: str) -> Path:
        return self.folder / f"{segment.name}{SEGMENT_SUFFIX[fmt]}"

    def done(self, segment: Segment, fmt: str) -> bool:
        return self.path(segment, fmt).exists()

    def damaged(self, segment: Segment, cancel: threading.Event | None = None) -> str | None:
        """What is wrong with a kept segment (None: it is whole): it must read back with exactly
        its frames (mp4: H.264 in MPEG-TS, webm: VP9), or for png hold exactly its frame files,
        each a whole PNG."""
        path, fmt = self.path(segment, self.spec.format), self.spec.format
        if fmt == "png":
            try:
                files = dict(_unpack(path.read_bytes()))
            except (OSError, tarfile.TarError, EOFError) as e:
                return f"not a whole tar ({e})"
            want = {targets.frame_name(i, self.spec.digits) for i in range(segment.start, segment.stop)}
            if set(files) != want:
                return f"holds {len(files)} of its {len(want)} frame files"
            broken = [name for name, data in files.items() if not targets.whole_png(data)]
            return f"{broken[0]} is not a whole PNG" if broken else None
        container, want = ("ts" if fmt == "mp4" else fmt), segment.stop - segment.start
        found = ffmpeg.inspect(path, container, cancel)
        if found.frames is None or found.codec is None:  # not readable: ffmpeg's own complaint, short
            return "it cannot be read" + (f" ({_short(found.problem)})" if found.problem else "")
        if found.codec != ffmpeg.READ_BACK[container][1]:
            return f"it holds {found.codec} video, not {ffmpeg.READ_BACK[container][1]}"
        if found.frames != want:
            return f"it holds {found.frames} of its {want} frames"
        return None

    def save(self, segment: Segment, fmt: str, data: bytes) -> None:
        final = self.path(segment, fmt)
        part = final.with_name(final.name + ".part")
        try:
            part.write_bytes(data)
            os.replace(part, final)  # a segment is there whole or not at all
        except OSError as e:
            part.unlink(missing_ok=True)
            raise targets.cannot_write(self.spec.path, e) from None

    def remove(self) -> None:
        """Our own files only (segments of any width, manifest, their temporary files), then the
        folder and the folders made for it."""
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if self.FILES.fullmatch(path.name):
                    path.unlink(missing_ok=True)
            try:
                self.folder.rmdir()
            except OSError:
                pass
        targets.remove_folders(self.made[:-1])


def _short(text: str, most: int = 80) -> str:
    return text if len(text) <= most else text[: most - 3].rstrip() + "..."


def settings_key(scene_yaml: str, fmt: str, crf, preset: str, segments: list[Segment], digits: int = 5) -> str:
    """What decides a segment's bytes (and a png segment's file names), hashed: finished
    segments are reused only under the same key."""
    text = json.dumps([scene_yaml, fmt, crf, preset, [(s.start, s.stop) for s in segments]] + ([digits] if digits != 5 else []))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render(
    source: FrameSource,
    spec: targets.VideoSpec,
    start: int,
    stop: int,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    report: Reporter = QUIET,
    cancel: threading.Event | None = None,
    pin=None,
    worker_threads: int | None = None,
    hold=None,
    claimed: bool = False,
) -> Path:
    """Render frames start..stop-1 of `source` in segments and join them at spec.path (holding its claim).

    Finished segments are kept for --resume after an interruption or a failure (a failed
    join too); they are removed once the target is written, or when none was finished.
    report hears of progress (frames) and notes (segments kept or reused); `cancel`, once
    set, stops the work (errors.Cancelled). pin: for segments rendered here; worker_threads:
    torch's threads in each worker of a local cluster (default: the cores shared out);
    hold: around starting a local cluster, the caller's way to hold signals back (see _client);
    claimed: the caller holds the target's claim already (taken before its own work)."""
    fmt = spec.format
    segments = plan(start, stop, spec.fps)
    with contextlib.nullcontext() if claimed else targets.claim_spec(spec):
        store = SegmentStore(spec, settings_key(source.description, fmt, spec.crf, spec.preset, segments, spec.digits))
        store.open(resume, report.note)
        todo = []
        for s in segments:
            check(cancel)
            why = store.damaged(s, cancel) if store.done(s, fmt) else "not rendered"
            if why not in (None, "not rendered"):
                report.note(f"kept segment {store.path(s, fmt).name} (frames {s.start}..{s.stop - 1}) is damaged: {why}; rendering it again")
                store.path(s, fmt).unlink(missing_ok=True)
            if why is not None:
                todo.append(s)
        kept = len(segments) - len(todo)
        if kept:
            report.note(f"resuming: {kept} of {len(segments)} segments already rendered")
            report.progress(sum(s.stop - s.start for s in segments if store.done(s, fmt)))
        try:
            if workers or scheduler:
                _run_on_dask(todo, source, spec, store, workers, scheduler, report, cancel, worker_threads, hold)
            else:
                for segment in todo:
                    store.save(segment, fmt, render_segment(source, spec, segment.start, segment.stop, store.key, cancel, pin))
                    report.progress(segment.stop - segment.start)
            _join([store.path(s, fmt) for s in segments], spec, stop - start, report.warn, cancel)
        except BaseException:
            done = sum(store.done(s, fmt) for s in segments)
            if done:
                report.note(f"kept {done} finished segments in {store.folder}: run again with --resume to continue")
            else:
                store.remove()
            raise
        store.remove()
    return spec.path


def _leftovers(key: str) -> None:
    """Scratch folders of this render's segments that a killed or lost worker left behind
    (on this machine; workers elsewhere clean their own unless killed)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}{key}-*"):
        shutil.rmtree(folder, ignore_errors=True)


def _client(workers: int | None, scheduler: str | None, key: str, threads: int | None, hold, cancel: threading.Event | None):
    """A client of the scheduler, or of a local cluster made for this render (and the cluster).

    hold: the caller's way to keep a terminal's Ctrl-C and hang-up from the workers while
    they start (they inherit it held, until their set-up, dask_worker.py, ignores it)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=30), None
        except MemoryError:  # something else answers there: Dask read its bytes as a message length
            raise OSError(f"{scheduler} does not answer as a Dask scheduler (is that the scheduler's address and port?)") from None
    from multiprocessing import resource_tracker

    threads = threads or max(1, (os.cpu_count() or 1) // workers)  # cores shared, not oversubscribed
    # Started here, before the hold: started later (by the first worker, from Dask's loop thread),
    # CPython's resource tracker would block and then *unblock* Ctrl-C in that thread, and every
    # worker it starts would inherit Ctrl-C unblocked (a traceback apiece while they import).
    resource_tracker.ensure_running()
    scratch = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{key}-dask-")  # removed with the segments' scratch (_leftovers)
    with hold() if hold else contextlib.nullcontext():
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=False,
            local_directory=scratch, scheduler_kwargs={"local_directory": scratch},  # Dask's dask-scratch-space in ours, not the temp folder
            preload=[WORKER_SETUP], preload_argv=["--threads", str(threads)],  # in each worker, a restarted one too
        )  # fmt: skip
    try:
        check(cancel)  # a stop asked for while the cluster started: it is shut down, not left half made
        return Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


def _run_on_dask(todo: list[Segment], source: FrameSource, spec: targets.VideoSpec, store: SegmentStore, workers, scheduler,
                 report: Reporter, cancel: threading.Event | None, threads: int | None, hold) -> None:  # fmt: skip
    from dask.distributed import as_completed

    client = cluster = None
    futures = {}
    try:
        client, cluster = _client(workers, scheduler, store.key, threads, hold, cancel)
        for segment in todo:
            check(cancel)
            future = client.submit(render_segment, source, spec, segment.start, segment.stop, store.key, key=f"cppn-anim-{store.key}-{segment.name}", pure=False)
            futures[future] = segment
        finished = as_completed(futures)
        while not finished.is_empty():
            check(cancel)
            if not finished.has_ready():
                time.sleep(0.05)
                continue
            for future in finished.next_batch(block=False):
                segment = futures[future]
                if future.status == "error":
                    raise EncodeError(f"segment {segment.start}..{segment.stop - 1} failed: {future.exception()}")
                store.save(segment, spec.format, future.result())
                report.progress(segment.stop - segment.start)
    finally:
        for future in futures:
            future.cancel()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        _leftovers(store.key)


def _join(paths: list[Path], spec: targets.VideoSpec, frames: int, warn: Callable[[str], None], cancel: threading.Event | None) -> None:
    """Segments -> the target: concat without re-encoding (read back, then atomically
    moved into place), or each PNG frame file written atomically into the folder."""
    if spec.format == "png":
        folder = targets.PngFolder(spec.path, digits=spec.digits)
        try:
            for path in paths:
                check(cancel)
                try:
                    files = _unpack(path.read_bytes())
                except (tarfile.TarError, EOFError) as e:
                    raise EncodeError(f"segment {path.name} in {path.parent} is not a whole tar ({e}): run again with --resume to render it again") from None
                for name, data in files:
                    folder.put(name, lambda f, data=data: f.write(data))
        except BaseException:
            folder.abandon()
            raise
        if spec.stop is None:
            folder.prune(spec.first_index + frames, warn)
        return
    ffmpeg.concat(paths, spec, frames, cancel)
