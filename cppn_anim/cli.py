"""The command line (the contract: shared cli.md). It only wires the stages together.

Exit status: 0 done; 2 bad scene or arguments (one line, nothing written);
1 a failure while working (ffmpeg, disk, memory: out of it while rendering, or refused
before any work because the estimate does not fit the free memory; the scene is valid,
another machine renders it); 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from . import __version__, encode, scene as scenes

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
LONG_RENDER_SECONDS = 60  # a render estimated longer than this says so before it starts
PREVIEW_LONG_SIDE = 256
PREVIEW_MAX_FPS = 15


class UsageError(Exception):
    """Bad arguments: exit 2 with this one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too)
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# ------------------------------------------------------------------ arguments


def _overrides_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("overrides (applied before validation)")
    g.add_argument("--seed", type=str, help="the scene's seed")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any scene value by key path, VALUE read as YAML; repeatable")
    g.add_argument("--size", metavar="WxH", help="frame size, e.g. 1920x1080")
    g.add_argument("--fps", type=str, help="frames per second")
    g.add_argument("--duration", type=str, help="seconds")
    g.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps")
    g.add_argument("--precision", help="fp32 | bf16 | fp16")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _overrides_parser()
    parser = _Parser(prog="cppn-anim", description="Render random CPPNs as animations.")
    parser.add_argument("--version", action="version", version=f"cppn-anim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("render", parents=[common], help="render a scene to mp4, gif, webm or png frames")
    p.add_argument("scene")
    p.add_argument("-o", "--output", help="output path (default: the scene's output.path)")
    p.add_argument("--format", choices=encode.EXTENSIONS, help="default: from -o's extension, else output.format")
    p.add_argument("--frames", metavar="A:B", help="render frames A..B-1 only")
    p.add_argument("--preview", action="store_true", help=f"a small fast GIF (long side {PREVIEW_LONG_SIDE}, <= {PREVIEW_MAX_FPS} fps)")
    p.add_argument("--preset", help="x264 preset for mp4 (default: output.preset, medium)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no summary")
    g = p.add_argument_group("segmented renders (mp4, webm, png)")
    g.add_argument("--workers", type=int, metavar="N", help="render segments on a local Dask cluster of N worker processes")
    g.add_argument("--scheduler", metavar="ADDRESS", help="render segments on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    g.add_argument("--resume", action="store_true", help="render in segments and reuse the finished segments of an interrupted render")

    p = sub.add_parser("still", parents=[common], help="one frame as PNG, at any size")
    p.add_argument("scene")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", type=float, metavar="T", help="seconds")
    when.add_argument("--frame", type=int, metavar="I", help="the frame at t = I / fps")
    p.add_argument("-o", "--output", required=True, help="PATH.png")
    p.add_argument("--quiet", "-q", action="store_true")

    p = sub.add_parser("validate", parents=[common], help="check scene files")
    p.add_argument("scenes", nargs="+")

    sub.add_parser("schema", help="print the JSON Schema of the scene format")

    p = sub.add_parser("explore", parents=[common], help="a labelled contact sheet over seeds or settings")
    p.add_argument("scene")
    p.add_argument("--seeds", metavar="A-B", help="one still per seed A..B (default 0-7 when nothing is varied)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...", help="values of a scene key (or size=WxH,...); two --vary make a grid")
    p.add_argument("--time", type=float, default=0.0, help="time of every still (default 0)")
    p.add_argument("--cell", type=int, default=192, help="long side of a cell in pixels (default 192)")
    p.add_argument("-o", "--output", help="SHEET.png (default out/NAME.explore.png)")
    p.add_argument("--quiet", "-q", action="store_true")

    p = sub.add_parser("previews", parents=[common], help="every scene in a folder as a preview GIF, an index.html and a contact sheet")
    p.add_argument("folder", nargs="?", default="scenes")
    p.add_argument("-o", "--output", default="out/previews", help="folder (default out/previews)")
    p.add_argument("--quiet", "-q", action="store_true")

    p = sub.add_parser("watch", parents=[common], help="re-render the preview whenever the scene file changes")
    p.add_argument("scene")
    p.add_argument("-o", "--output", help="default out/NAME.preview.gif")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between looks at the file")

    p = sub.add_parser("bench", parents=[common], help="render-only throughput (no encoding)")
    p.add_argument("scene", nargs="?")
    p.add_argument("--frames", type=int, default=8, help="frames to time (default 8)")
    p.add_argument("--json", action="store_true", help="last line of stdout: one JSON object")
    return parser


def _overrides(args) -> list[tuple]:
    out: list[tuple] = []  # (key path, value, how it was written)
    simple = {"seed": "seed", "fps": "fps", "duration": "duration", "device": "render.device", "precision": "render.precision"}
    for flag, key in simple.items():
        value = getattr(args, flag, None)
        if value is not None:
            out.append((key, _yaml_value(value, f"--{flag}"), f"--{flag} {value}"))
    if getattr(args, "size", None):
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", args.size)
        if not m:
            raise UsageError(f"--size {args.size}: write WIDTHxHEIGHT, e.g. 1280x720")
        out.append(("size", [int(m.group(1)), int(m.group(2))], f"--size {args.size}"))
    for item in getattr(args, "set", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item}: write KEY=VALUE, e.g. --set network.activation=sin")
        out.append((key.strip(), _yaml_value(value, f"--set {key}"), f"--set {item}"))
    return out


def _yaml_value(text: str, flag: str):
    try:
        return scenes.read_value(text)
    except ValueError as e:
        raise UsageError(f"{flag}={text}: {e}") from None


def _load(path: str, args) -> scenes.Scene:
    return scenes.load(path, _overrides(args))


def _frame_range(spec: str | None, count: int) -> tuple[int, int]:
    if spec is None:
        return 0, count
    m = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", spec)
    if not m:
        raise UsageError(f"--frames {spec}: write A:B (frames A..B-1), e.g. 0:30")
    a = int(m.group(1)) if m.group(1) else 0
    b = int(m.group(2)) if m.group(2) else count
    if not 0 <= a < b <= count:
        raise UsageError(f"--frames {spec}: the scene has frames 0..{count - 1}; need 0 <= A < B <= {count}")
    return a, b


# ------------------------------------------------------------------ commands


def cmd_validate(args) -> int:
    bad = 0
    for path in args.scenes:
        try:
            _load(path, args)
            print(f"{path}: ok", flush=True)
        except scenes.SceneError as e:
            print(e, file=sys.stderr, flush=True)
            bad += 1
    return EXIT_BAD_INPUT if bad else EXIT_OK


def cmd_schema(args) -> int:
    print(json.dumps(scenes.json_schema(), indent=2))
    return EXIT_OK


def preview_scene(scene: scenes.Scene) -> scenes.Scene:
    """The same scene, small and light: long side 256 px, at most 15 fps, as a GIF."""
    return scenes.changed(scene, size=_fit(scene.size, PREVIEW_LONG_SIDE), fps=min(scene.fps, PREVIEW_MAX_FPS))


def _fit(size, long_side: int) -> list[int]:
    """A size scaled so that its long side is `long_side`, keeping the aspect ratio."""
    w, h = size
    f = long_side / max(w, h)
    return [max(1, round(w * f)), max(1, round(h * f))]


def _format_for(args, scene: scenes.Scene) -> str:
    if args.format:
        return args.format
    if args.output:
        ext = Path(args.output).suffix.lstrip(".").lower()
        if ext in encode.EXTENSIONS:
            return ext
        if ext:
            raise UsageError(f"-o {args.output}: cannot tell the format from '.{ext}'; add --format mp4|gif|webm|png")
    return scene.output.format


def _renderer(scene: scenes.Scene, width: int | None = None, height: int | None = None):
    """Weights, motion and renderer for a scene (torch is imported only here)."""
    from . import network, render, trajectory

    try:
        device = render.pick_device(scene.render.device)
    except render.DeviceUnavailable as e:
        raise scene.error(("render", "device"), str(e)) from None
    width, height = width or scene.width, height or scene.height
    render.check_fits(scene.network, width, height, scene.render.supersample, str(device), scene.render.precision)  # before the weights
    weights = network.build(scene.network, scene.seed)
    renderer = render.Renderer(
        weights,
        width,
        height,
        supersample=scene.render.supersample,
        device=str(device),
        precision=scene.render.precision,
    )
    return trajectory.Motion(scene), renderer


def _progress(iterable, total: int, quiet: bool, what: str = "frame"):
    """A bar with count, rate and ETA on a terminal; nothing with --quiet or without a terminal."""
    import os

    from tqdm import tqdm

    try:  # a terminal of size 0 x 0 (`script`, some CI) would hide tqdm's bar
        sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (OSError, ValueError):
        sized = False
    return tqdm(
        iterable, total=total, unit=what, disable=quiet or not sys.stderr.isatty(), leave=False,
        dynamic_ncols=sized, ncols=None if sized else 80, nrows=None if sized else 24,
    )  # fmt: skip


def cmd_render(args) -> int:
    scene = _load(args.scene, args)
    if args.preview:
        scene = preview_scene(scene)
        fmt = "gif"
        if args.format and args.format != "gif":
            raise UsageError("--preview writes a GIF; leave out --format or use --format gif")
        path = Path(args.output) if args.output else Path(f"out/{scene.name}.preview.gif")
    else:
        fmt = _format_for(args, scene)
        path = Path(args.output) if args.output else encode.output_path(scene.output.path, scene.name, fmt)
    presets = scenes.Output.model_fields["preset"].annotation.__args__
    if args.preset and args.preset not in presets:
        raise UsageError(f"--preset {args.preset}: use one of {', '.join(presets)}")
    start, stop = _frame_range(args.frames, scene.frame_count)
    _say_if_long(scene, stop - start, args.quiet)
    began = time.perf_counter()
    if args.workers is not None or args.scheduler or args.resume:
        count = _render_segmented(scene, fmt, path, start, stop, args)
    else:
        count = render_video(scene, fmt, path, start, stop, args.quiet, args.preset)
    if not args.quiet:
        took = time.perf_counter() - began
        print(f"wrote {path} ({count} frames, {scene.width}x{scene.height}, {fmt}) in {took:.1f} s", file=sys.stderr)
    return EXIT_OK


def _say_if_long(scene: scenes.Scene, frames: int, quiet: bool) -> None:
    """One line before a long render starts (estimated over LONG_RENDER_SECONDS): frames and
    time, so a huge job is no surprise. On a terminal or not (a log shows it too); not with
    --quiet, which asks for no output but errors."""
    from . import render

    if quiet:
        return
    seconds = render.estimate_seconds(scene.network, scene.width, scene.height, scene.render.supersample, frames, scene.render.device)
    if seconds > LONG_RENDER_SECONDS:
        what = f"{frames} frames of {scene.width}x{scene.height}" if frames > 1 else f"a {scene.width}x{scene.height} still"
        print(f"cppn-anim: {what}: about {_duration(seconds)} of rendering (estimated); --preview or --frames A:B for a quick look", file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def _render_segmented(scene: scenes.Scene, fmt: str, path: Path, start: int, stop: int, args) -> int:
    """--workers / --scheduler / --resume: segments rendered apart and joined without re-encoding."""
    from . import distribute

    if fmt == "gif":
        raise UsageError("gif cannot be rendered in segments: one palette spans the whole animation; use mp4, webm or png")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: at least 1")
    if (args.workers is not None or args.scheduler) and not _has_dask():
        raise UsageError("--workers and --scheduler need Dask: pip install 'cppn-anim[cluster]' (or: pip install 'dask[distributed]')")
    spec = _video_spec(scene, fmt, path, start, args.preset)
    if fmt in ("mp4", "webm") and (scene.width % 2 or scene.height % 2):
        _warn(f"{scene.width}x{scene.height} has an odd side; the video is padded to even sides (edge repeated)")
    bar = _progress(None, stop - start, args.quiet)
    try:
        distribute.render(
            scene, spec, start, stop, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
            progress=bar.update, note=lambda m: (bar.write(f"cppn-anim: {m}", file=sys.stderr) if not args.quiet else None),
        )  # fmt: skip
    finally:
        bar.close()
    return stop - start


def _has_dask() -> bool:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return False
    return True


def render_video(
    scene: scenes.Scene, fmt: str, path: Path, start: int = 0, stop: int | None = None, quiet: bool = True, preset: str | None = None, colors: int = 256
) -> int:
    """Render frames start..stop-1 of a scene into one output; returns the number of frames."""
    stop = scene.frame_count if stop is None else stop
    spec = _video_spec(scene, fmt, path, start, preset, colors)
    motion, renderer = _renderer(scene)
    from .trajectory import frame_times

    times = frame_times(scene, start, stop)
    frames = _progress(renderer.frames(motion.at(t) for t in times), len(times), quiet)

    def palette_frames():
        return [renderer.render(motion.at(times[i])) for i in encode.sample_indices(len(times))]

    encode.write(frames, spec, palette_frames=palette_frames, warn=_warn)
    return len(times)


def _video_spec(scene: scenes.Scene, fmt: str, path: Path, start: int, preset: str | None, colors: int = 256) -> encode.VideoSpec:
    """What to write, checked before any rendering: format rules, a writable path."""
    scene.check_output(fmt)
    spec = encode.VideoSpec(
        path=path,
        format=fmt,
        width=scene.width,
        height=scene.height,
        fps=scene.fps,
        crf=scene.output.crf,
        preset=preset or scene.output.preset,
        provenance=scene.resolved_yaml(),
        first_index=start,
        colors=colors,
    )
    encode.check_output(spec)
    return spec


def _warn(message: str) -> None:
    print(f"cppn-anim: warning: {message}", file=sys.stderr)


def cmd_still(args) -> int:
    scene = _load(args.scene, args)
    if args.frame is not None:
        if not 0 <= args.frame < scene.frame_count:
            raise UsageError(f"--frame {args.frame}: the scene has frames 0..{scene.frame_count - 1}")
        t = args.frame / scene.fps
    else:
        if not 0 <= args.time <= scene.duration:
            raise UsageError(f"--time {args.time:g}: the scene runs from 0 to {scene.duration:g} s")
        t = args.time
    path = Path(args.output)
    if path.suffix.lower() != ".png":
        raise UsageError(f"-o {args.output}: a still is a PNG; name it *.png")
    encode.check_output(encode.VideoSpec(path, "gif", scene.width, scene.height, scene.fps))
    _say_if_long(scene, 1, args.quiet)
    motion, renderer = _renderer(scene)
    began = time.perf_counter()
    bar = _progress(None, scene.height, args.quiet, "row")
    try:
        frame = renderer.render(motion.at(t), rows_done=bar.update)
    finally:
        bar.close()
    encode.write_still(frame, path, scene.resolved_yaml())
    if not args.quiet:
        print(f"wrote {path} ({scene.width}x{scene.height}, t={t:g} s) in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    return EXIT_OK


def cmd_bench(args) -> int:
    if args.scene:
        scene = _load(args.scene, args)
    else:
        scene = scenes.parse("trajectory: {keyframes: [{at: 0, z: random}]}", "<bench>", _overrides(args), default_name="bench")
    if args.frames < 1:
        raise UsageError("--frames: at least 1")
    motion, renderer = _renderer(scene)
    from .trajectory import frame_times

    count = min(args.frames, scene.frame_count)
    times = frame_times(scene, 0, count)
    renderer.render(motion.at(times[0]))  # warm-up: allocations, kernel choice
    began = time.perf_counter()
    for t in times:
        renderer.render(motion.at(t))
    took = time.perf_counter() - began
    result = {
        "megapixels_per_s": round(scene.width * scene.height * count / took / 1e6, 3),
        "frames_per_s": round(count / took, 3),
        "width": scene.width,
        "height": scene.height,
        "frames": count,
        "device": str(renderer.device),
        "precision": scene.render.precision,
        "supersample": scene.render.supersample,
        "seconds": round(took, 3),
    }
    print(f"{count} frames of {scene.width}x{scene.height} on {result['device']} ({result['precision']}):"
          f" {result['frames_per_s']} frames/s, {result['megapixels_per_s']} MP/s")
    if args.json:
        print(json.dumps(result))
    return EXIT_OK


# ------------------------------------------------------------------ exploration


PREVIEW_MAX_BYTES = 2 * 1024 * 1024


def cmd_previews(args) -> int:
    from . import gallery, sheet

    folder, out = Path(args.folder), Path(args.output)
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise UsageError(f"{folder}: no *.yaml scenes there")
    out.mkdir(parents=True, exist_ok=True)
    entries, errors, stills = [], [], []
    for path in files:
        try:
            scene = _load(str(path), args)
        except scenes.SceneError as e:
            print(e, file=sys.stderr)
            errors.append(str(e))
            continue
        began = time.perf_counter()
        small = preview_scene(scene)
        gif = out / f"{scene.name}.gif"
        colors = 256
        count = render_video(small, "gif", gif, colors=colors)
        while gif.stat().st_size > PREVIEW_MAX_BYTES and small.fps > 5:  # keep the page light
            if colors > 64:  # smooth gradients cost GIF's LZW dearly: fewer colours first,
                colors //= 2
            else:  # then fewer frames per second
                small = scenes.changed(small, fps=max(5.0, round(small.fps * 0.8, 2)))
            count = render_video(small, "gif", gif, colors=colors)
        entries.append(gallery.Entry(scene.name, gif.name, gallery.copy_scene(path, out), scene.duration, tuple(scene.size), scene.fps, count, gif.stat().st_size))
        motion, renderer = _renderer(scenes.changed(small, size=_fit(scene.size, 160)))
        stills.append(sheet.Cell(renderer.render(motion.at(scene.duration / 2)), scene.name))
        if not args.quiet:
            print(f"{gif} ({count} frames, {gif.stat().st_size / 1024:.0f} KB) in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    sheet_name = None
    if stills:
        sheet_name = "contact-sheet.png"
        sheet.compose(sheet.wrap(stills, 4), (160, 160), title="one still per scene, at half its duration").save(out / sheet_name)
    index = gallery.write_index(out, entries, errors, sheet_name)
    if not args.quiet:
        print(f"wrote {index} ({len(entries)} scenes, {len(errors)} refused)", file=sys.stderr)
    return EXIT_BAD_INPUT if errors else EXIT_OK


def _split_values(text: str) -> list[str]:
    """'a,b,[1, 2]' -> ['a', 'b', '[1, 2]']: commas inside brackets stay."""
    out, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[{" and 1 or 0
        depth -= ch in "]}" and 1 or 0
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        out.append(current.strip())
    return out


def cmd_explore(args) -> int:
    from . import sheet

    axes: list[tuple[str, list[tuple[str, list]]]] = []  # (title, [(label, overrides)])
    if args.seeds or not args.vary:
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", args.seeds or "0-7")
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise UsageError(f"--seeds {args.seeds}: write A-B, e.g. 0-7")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b - a >= 256:
            raise UsageError(f"--seeds {args.seeds}: at most 256 seeds on one sheet")
        axes.append(("seed", [(f"seed {n}", [("seed", n)]) for n in range(a, b + 1)]))
    for item in args.vary:
        key, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise UsageError(f"--vary {item}: write KEY=V1,V2,... e.g. network.activation=tanh,sin")
        key = key.strip()
        choices = []
        for v in _split_values(values):
            if key == "size":
                m = re.fullmatch(r"(\d+)[xX](\d+)", v)
                if not m:
                    raise UsageError(f"--vary size={values}: sizes are WxH")
                choices.append((f"{m.group(1)}x{m.group(2)}", [("size", [int(m.group(1)), int(m.group(2))])]))
            else:
                choices.append((f"{key.split('.')[-1]}={v}", [(key, _yaml_value(v, f"--vary {key}"))]))
        axes.append((key, choices))
    if len(axes) > 2:
        raise UsageError("explore makes a row or a grid: at most two of --seeds / --vary")
    base = _overrides(args)
    first = _load(args.scene, args)
    combos = [[c] for c in axes[0][1]] if len(axes) == 1 else [[r, c] for r in axes[0][1] for c in axes[1][1]]
    loaded = []
    for combo in combos:  # validate every cell before rendering any
        overrides = base + [o for _, os_ in combo for o in os_]
        cell_scene = scenes.load(args.scene, overrides)
        loaded.append((", ".join(label for label, _ in combo), cell_scene))
    cell = tuple(_fit(first.size, args.cell))
    path = Path(args.output) if args.output else Path(f"out/{first.name}.explore.png")
    if path.suffix.lower() != ".png":
        raise UsageError(f"-o {args.output}: a sheet is a PNG; name it *.png")
    encode.check_output(encode.VideoSpec(path, "gif", 1, 1, 1))
    cells = []
    for label, cell_scene in _progress(loaded, len(loaded), args.quiet, "still"):
        varies_size = any(k == "size" for _, choices in axes for _, os_ in choices for k, _ in os_)
        size = cell_scene.size if varies_size else list(cell)
        motion, renderer = _renderer(cell_scene, *size)
        t = min(args.time, cell_scene.duration)
        cells.append(sheet.Cell(renderer.render(motion.at(t)), label))
    if len(axes) == 1:
        grid, rows = sheet.wrap(cells, min(len(cells), 8 if axes[0][0] == "seed" else 6)), None
    else:
        n = len(axes[1][1])
        grid = [cells[i : i + n] for i in range(0, len(cells), n)]
        rows = [label for label, _ in axes[0][1]]
        grid = [[sheet.Cell(c.image, c.label.split(", ")[-1]) for c in row] for row in grid]
    title = f"{first.name} at t={args.time:g}s: " + " x ".join(title for title, _ in axes)
    image = sheet.compose(grid, cell, row_labels=rows, title=title)
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    encode.write_bytes(buffer.getvalue(), path)
    if not args.quiet:
        print(f"wrote {path} ({len(cells)} stills)", file=sys.stderr)
    return EXIT_OK


def cmd_watch(args) -> int:
    path = Path(args.scene)
    seen = None
    out = Path(args.output) if args.output else None
    print(f"watching {path} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        while True:
            try:
                stat = path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                stamp = None
            if stamp != seen:
                seen = stamp
                _watch_once(path, args, out)
            time.sleep(args.interval)
    except KeyboardInterrupt:
        print("stopped watching", file=sys.stderr)
        return EXIT_OK


def _watch_once(path: Path, args, out: Path | None) -> None:
    began = time.perf_counter()
    try:
        scene = preview_scene(_load(str(path), args))
        target = out or Path(f"out/{scene.name}.preview.gif")
        count = render_video(scene, "gif", target)
        print(f"{time.strftime('%H:%M:%S')} updated {target} ({count} frames) in {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    except (scenes.SceneError, UsageError, encode.OutputPathError) as e:
        print(f"{time.strftime('%H:%M:%S')} {e} (kept the last good preview)", file=sys.stderr, flush=True)
    except encode.EncodeError as e:
        print(f"{time.strftime('%H:%M:%S')} cppn-anim: {e} (kept the last good preview)", file=sys.stderr, flush=True)



COMMANDS = {
    "render": cmd_render,
    "still": cmd_still,
    "validate": cmd_validate,
    "schema": cmd_schema,
    "bench": cmd_bench,
    "explore": cmd_explore,
    "previews": cmd_previews,
    "watch": cmd_watch,
}


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as cleanly as for Ctrl-C (ffmpeg stopped, temporary files removed)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, scenes.SceneError, encode.OutputPathError) as e:
        print(e, file=sys.stderr)
        return EXIT_BAD_INPUT
    except encode.EncodeError as e:
        print(f"cppn-anim: {e}", file=sys.stderr)
        return EXIT_FAILED
    except Terminated:
        print("cppn-anim: terminated", file=sys.stderr)
        return 128 + 15
    except KeyboardInterrupt:
        print("cppn-anim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (MemoryError, RuntimeError) as e:
        from . import render  # loaded already if torch ran out; numpy's MemoryError: loads it now

        if isinstance(e, render.OutOfMemory):  # refused from the estimate, before any work
            print(f"cppn-anim: {e}", file=sys.stderr)
            return EXIT_FAILED
        ran_out = render.out_of_memory(e)
        if ran_out is None:
            raise
        print(f"cppn-anim: out of {ran_out} while rendering; use a smaller --size, network.width or network.depth,"
              " render.supersample, or render.precision bf16", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    except OSError as e:
        print(f"cppn-anim: {e}", file=sys.stderr)
        return EXIT_FAILED
