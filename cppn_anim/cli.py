"""The command line (the contract: shared cli.md). It only wires the stages together.

Exit status: 0 done; 2 bad scene or arguments (one line, nothing written);
1 a failure while working; 130 interrupted.
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

    p = sub.add_parser("bench", parents=[common], help="render-only throughput (no encoding)")
    p.add_argument("scene", nargs="?")
    p.add_argument("--frames", type=int, default=8, help="frames to time (default 8)")
    p.add_argument("--json", action="store_true", help="last line of stdout: one JSON object")
    return parser


def _overrides(args) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    simple = {"seed": "seed", "fps": "fps", "duration": "duration", "device": "render.device", "precision": "render.precision"}
    for flag, key in simple.items():
        value = getattr(args, flag, None)
        if value is not None:
            out.append((key, _yaml_value(value, f"--{flag}")))
    if getattr(args, "size", None):
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", args.size)
        if not m:
            raise UsageError(f"--size {args.size}: write WIDTHxHEIGHT, e.g. 1280x720")
        out.append(("size", [int(m.group(1)), int(m.group(2))]))
    for item in getattr(args, "set", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item}: write KEY=VALUE, e.g. --set network.activation=sin")
        out.append((key.strip(), _yaml_value(value, f"--set {key}")))
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
    w, h = scene.size
    factor = PREVIEW_LONG_SIDE / max(w, h)
    size = [max(1, round(w * factor)), max(1, round(h * factor))]
    return _replace(scene, size=size, fps=min(scene.fps, PREVIEW_MAX_FPS))


def _replace(scene: scenes.Scene, **changes) -> scenes.Scene:
    new = scene.model_copy(update=changes)
    new._source, new._doc, new._overrides = scene._source, scene._doc, scene._overrides
    return new


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
    weights = network.build(scene.network, scene.seed)
    renderer = render.Renderer(
        weights,
        width or scene.width,
        height or scene.height,
        supersample=scene.render.supersample,
        device=str(device),
        precision=scene.render.precision,
    )
    return trajectory.Motion(scene), renderer


def _progress(iterable, total: int, quiet: bool, what: str = "frame"):
    from tqdm import tqdm

    return tqdm(iterable, total=total, unit=what, disable=quiet or not sys.stderr.isatty(), dynamic_ncols=True, leave=False)


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
    scene.check_output(fmt)
    start, stop = _frame_range(args.frames, scene.frame_count)
    spec = encode.VideoSpec(
        path=path,
        format=fmt,
        width=scene.width,
        height=scene.height,
        fps=scene.fps,
        crf=scene.output.crf,
        preset=args.preset or scene.output.preset,
        provenance=scene.resolved_yaml(),
        first_index=start,
    )
    if args.preset and args.preset not in scenes.Output.model_fields["preset"].annotation.__args__:
        raise UsageError(f"--preset {args.preset}: use one of {', '.join(scenes.Output.model_fields['preset'].annotation.__args__)}")
    encode.check_output(spec)
    motion, renderer = _renderer(scene)
    from .trajectory import frame_times

    times = frame_times(scene, start, stop)
    began = time.perf_counter()
    frames = _progress((renderer.render(motion.at(t)) for t in times), len(times), args.quiet)

    def palette_frames():
        return [renderer.render(motion.at(times[i])) for i in encode.sample_indices(len(times))]

    encode.write(frames, spec, palette_frames=palette_frames, warn=lambda m: print(f"cppn-anim: warning: {m}", file=sys.stderr))
    if not args.quiet:
        took = time.perf_counter() - began
        print(f"wrote {path} ({len(times)} frames, {scene.width}x{scene.height}, {fmt}) in {took:.1f} s", file=sys.stderr)
    return EXIT_OK


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
    motion, renderer = _renderer(scene)
    began = time.perf_counter()
    frame = renderer.render(motion.at(t))
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


COMMANDS = {"render": cmd_render, "still": cmd_still, "validate": cmd_validate, "schema": cmd_schema, "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, scenes.SceneError, encode.OutputPathError) as e:
        print(e, file=sys.stderr)
        return EXIT_BAD_INPUT
    except encode.EncodeError as e:
        print(f"cppn-anim: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("cppn-anim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("cppn-anim: out of memory (try a smaller size)", file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:
        print(f"cppn-anim: {e}", file=sys.stderr)
        return EXIT_FAILED
