"""Segmented renders: split the frames, render and encode each segment anywhere, join without re-encoding.

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

import hashlib
import io
import json
import math
import os
import re
import shutil
import signal
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import encode
from .scene import Scene

SEGMENT_SUFFIX = {"mp4": ".ts", "webm": ".webm", "png": ".tar"}
MAX_SEGMENT_SECONDS = 2.0  # a segment is at most this long (or MIN_SEGMENT frames): an interruption loses little
MIN_SEGMENT = 8  # frames
MIN_SEGMENTS = 16  # a short render still has work for many workers
TEMP_PREFIX = "cppn-anim-segment-"  # a worker's scratch folder in its temp dir


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


def render_segment(scene_yaml: str, fmt: str, crf, preset: str, start: int, stop: int, render_key: str = "") -> bytes:
    """Runs on a worker: render frames start..stop-1 of the scene and return the encoded bytes
    (for png: an uncompressed tar of the frame files). render_key names the scratch folder."""
    from . import pipeline

    scene = pipeline.parse(scene_yaml, "<segment>")
    if os.environ.get("CPPN_ANIM_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["CPPN_ANIM_THREADS"]))
    frames = pipeline.prepare(scene).frames(start, stop)
    # named from the render's key: the client removes what a killed worker left (same machine)
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{render_key}-") as tmp:
        if fmt == "png":
            folder = Path(tmp) / "frames"
            encode.write(frames, encode.VideoSpec(folder, "png", scene.width, scene.height, scene.fps, provenance=scene_yaml, first_index=start, segment=True))
            packed = io.BytesIO()
            with tarfile.open(fileobj=packed, mode="w") as tar:  # PNGs are compressed already
                for path in sorted(folder.iterdir()):
                    tar.add(path, arcname=path.name)
            return packed.getvalue()
        out = Path(tmp) / f"segment{SEGMENT_SUFFIX[fmt]}"
        spec = encode.VideoSpec(out, fmt, scene.width, scene.height, scene.fps, crf=crf, preset=preset, segment=True)
        encode.write(frames, spec)
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
    """Finished segments beside the target, valid only for the same scene and settings.
    A partial png render (--frames A:B) has its own store, so disjoint ranges can run at once."""

    def __init__(self, spec: encode.VideoSpec, key: str):
        target = spec.path
        part = f".{spec.first_index}-{spec.stop}" if spec.format == "png" and spec.stop is not None else ""
        self.folder = target.parent / f".{target.name}{part}.segments"
        self.key = key
        self.made: list[Path] = []

    def open(self, resume: bool) -> None:
        manifest = self.folder / "manifest.json"
        if self.folder.exists() and not (resume and manifest.exists() and json.loads(manifest.read_text()).get("key") == self.key):
            self.remove()
        self.made = encode._make_folders(self.folder)
        manifest.write_text(json.dumps({"key": self.key}))

    def path(self, segment: Segment, fmt: str) -> Path:
        return self.folder / f"{segment.name}{SEGMENT_SUFFIX[fmt]}"

    def done(self, segment: Segment, fmt: str) -> bool:
        return self.path(segment, fmt).exists()

    def save(self, segment: Segment, fmt: str, data: bytes) -> None:
        final = self.path(segment, fmt)
        part = final.with_name(final.name + ".part")
        part.write_bytes(data)
        os.replace(part, final)  # a segment is there whole or not at all

    def remove(self) -> None:
        """Our own files only (segments, manifest), then the folder and the folders made for it."""
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.name == "manifest.json" or re.fullmatch(r"\d{6}-\d{6}\.\w+(\.part)?", path.name):
                    path.unlink(missing_ok=True)
            try:
                self.folder.rmdir()
            except OSError:
                pass
        encode._remove_folders(self.made[:-1])


def settings_key(scene_yaml: str, fmt: str, crf, preset: str, segments: list[Segment]) -> str:
    """What decides a segment's bytes, hashed: finished segments are reused only under the same key."""
    text = json.dumps([scene_yaml, fmt, crf, preset, [(s.start, s.stop) for s in segments]])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render(
    scene: Scene,
    spec: encode.VideoSpec,
    start: int,
    stop: int,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: Callable[[int], None] = lambda frames: None,
    note: Callable[[str], None] = lambda message: None,
    warn: Callable[[str], None] = lambda message: None,
) -> Path:
    """Render frames start..stop-1 in segments and join them at spec.path (holding its claim).

    Finished segments are kept for --resume after an interruption or a failure (a failed
    join too); they are removed once the target is written, or when none was finished."""
    fmt = spec.format
    segments = plan(start, stop, scene.fps)
    scene_yaml = scene.resolved_yaml()  # what workers receive, and what keys the kept segments
    with encode.claim_spec(spec):
        store = SegmentStore(spec, settings_key(scene_yaml, fmt, spec.crf, spec.preset, segments))
        store.open(resume)
        todo = [s for s in segments if not store.done(s, fmt)]
        kept = len(segments) - len(todo)
        if kept:
            note(f"resuming: {kept} of {len(segments)} segments already rendered")
            progress(sum(s.stop - s.start for s in segments if store.done(s, fmt)))
        args = (scene_yaml, fmt, spec.crf, spec.preset)
        try:
            if workers or scheduler:
                _run_on_dask(todo, args, store, fmt, workers, scheduler, progress)
            else:
                for segment in todo:
                    store.save(segment, fmt, render_segment(*args, segment.start, segment.stop, store.key))
                    progress(segment.stop - segment.start)
            _join([store.path(s, fmt) for s in segments], spec, stop - start, warn)
        except BaseException:
            done = sum(store.done(s, fmt) for s in segments)
            if done:
                note(f"kept {done} finished segments in {store.folder}: run again with --resume to continue")
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


def _quiet_dask() -> None:
    """Dask's own logging (nanny restarts, a slow event loop on a busy machine, ports) is not
    for our user: the progress bar is the only output. Errors still reach us as exceptions."""
    import logging
    import warnings

    os.environ["DASK_LOGGING__DISTRIBUTED"] = "critical"  # local workers inherit it
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", module=r"(dask|distributed)(\.|$)")


def _client(workers: int | None, scheduler: str | None, key: str):
    _quiet_dask()
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=30), None
        except MemoryError:  # something else answers there: Dask read its bytes as a message length
            raise OSError(f"{scheduler} does not answer as a Dask scheduler (is that the scheduler's address and port?)") from None
    threads = max(1, (os.cpu_count() or 1) // workers)
    os.environ["CPPN_ANIM_THREADS"] = str(threads)  # workers inherit it: cores shared, not oversubscribed
    # A Ctrl-C or SIGTERM that comes while the cluster starts is raised once it has started,
    # so that it is shut down, not left half made.
    main = threading.current_thread() is threading.main_thread()
    stopped: list[int] = []
    if main:
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        old_term = signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))
    try:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50,
            local_directory=tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{key}-dask-"),  # removed with the segments' scratch
            preload=[__name__],  # dask_setup below, in each worker (a restarted one too)
        )  # fmt: skip
    finally:
        if main:
            signal.signal(signal.SIGTERM, old_term)
    try:
        if main:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)  # a Ctrl-C that came meanwhile is raised here
            if stopped:
                signal.raise_signal(signal.SIGTERM)
        return Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


def dask_setup(worker) -> None:
    """Preloaded in each worker of our local cluster: Ctrl-C is ignored there. A terminal
    sends SIGINT to the whole process group, and the interrupt is the client's to handle
    (cancel, keep finished segments, shut the cluster down), not each worker's (a
    traceback apiece)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_on_dask(todo: list[Segment], args: tuple, store: SegmentStore, fmt: str, workers, scheduler, progress) -> None:
    from dask.distributed import as_completed

    client = cluster = None
    futures = {}
    try:
        client, cluster = _client(workers, scheduler, store.key)
        for segment in todo:
            future = client.submit(render_segment, *args, segment.start, segment.stop, store.key, key=f"cppn-anim-{store.key}-{segment.name}", pure=False)
            futures[future] = segment
        for future in as_completed(futures):
            segment = futures[future]
            if future.status == "error":
                raise encode.EncodeError(f"segment {segment.start}..{segment.stop - 1} failed: {future.exception()}")
            store.save(segment, fmt, future.result())
            progress(segment.stop - segment.start)
    finally:
        for future in futures:
            future.cancel()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        _leftovers(store.key)


def _join(paths: list[Path], spec: encode.VideoSpec, frames: int, warn: Callable[[str], None]) -> None:
    """Segments -> the target: concat without re-encoding (read back, then atomically
    moved into place), or each PNG frame file written atomically into the folder."""
    if spec.format == "png":
        folder = encode.PngFolder(spec.path)
        try:
            for path in paths:
                for name, data in _unpack(path.read_bytes()):
                    folder.put(name, lambda f, data=data: f.write(data))
        except BaseException:
            folder.abandon()
            raise
        if spec.stop is None:
            folder.prune(spec.first_index + frames, warn)
        return
    encode.concat(paths, spec, frames)
